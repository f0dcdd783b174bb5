"""Issue 11, "Done when": a daemon with a real tunnel up takes a stream of hostile
datagrams while pings go through the tunnel.

Two vpnshd (user-space data plane) in namespaces hold an IKEv2 tunnel. From the right
namespace a sender process (``python -m vpnsh.engine.hostile``) sends 120,000 random and
mutated IKEv1, IKEv2 and ESP-in-UDP datagrams to the left daemon, from the peer's own
address and three others, with a 64 KB worst shape every 200th, some aimed at the live
IKE SA's SPIs and the live ESP SPI. Pings run through the tunnel meanwhile. Wanted: no
crash, no lost tunnel (same SAs), pings answered, no internal error, drops counted by
reason in ``show counter global``; the daemon's CPU per datagram is printed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.netns import Namespace, NetLab, netlab, wait_until  # noqa: F401
from tests.interop.test_esp_traffic import vpnsh_pair

pytestmark = [pytest.mark.netns, pytest.mark.slow]

COUNT = 120_000
RATE = 20_000  # datagrams a second: fast, and within what the daemon's socket can queue
EXTRA_SOURCES = ("198.51.100.10", "198.51.100.11", "198.51.100.12")


def _children(d: Daemon) -> list[dict[str, Any]]:
    return list(d.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"])


def _ike(d: Daemon) -> list[dict[str, Any]]:
    return list(d.request("engine.op", name="vpn.ike-sa.detail", args={"gateway": "GW"})["sas"])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _udp(ns: Namespace) -> dict[str, int]:
    lines = [line.split() for line in ns.run("cat", "/proc/net/snmp").stdout.splitlines()
             if line.startswith("Udp:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:], strict=True)}


def _queued(ns: Namespace) -> int:
    """Bytes waiting in the UDP sockets' receive queues (ss Recv-Q)."""
    rows = [line.split() for line in ns.run("ss", "-H", "-u", "-a", "-n").stdout.splitlines()]
    return sum(int(r[1]) for r in rows if len(r) > 1 and r[1].isdigit())


def _socket_drops(ns: Namespace) -> dict[str, int]:
    """Datagrams each UDP socket dropped at a full queue (ss -m: skmem d)."""
    out: dict[str, int] = {}
    lines = ns.run("ss", "-H", "-u", "-a", "-n", "-m").stdout.splitlines()
    for head, mem in zip(lines[::2], lines[1::2], strict=False):
        m = re.search(r"\bd(\d+)", mem)
        if m and len(head.split()) > 3:
            out[head.split()[3]] = int(m.group(1))
    return out


def _counters(d: Daemon) -> dict[str, int]:
    result = d.request("engine.op", name="counter.global.show",
                       args={"session": "hostile-test", "delta": "yes"})
    return {r["name"]: r["value"] for r in result["counters"]}


def test_hostile_stream_while_pings_flow(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites, a, b = vpnsh_pair(netlab, tmp_path)
    try:
        left, right = sites.left, sites.right
        a.shell("-c", "test vpn ike-sa gateway GW")
        wait_until(lambda: _children(a) and _children(b), timeout=20, what="the tunnel")
        assert left.ns.ping(right.inner, source=left.inner, count=2, wait=2)
        child, ike = _children(a)[0], _ike(a)[0]
        for addr in EXTRA_SOURCES:
            right.ns.add_address(right.outer_if, f"{addr}/24")
        assert a.proc is not None
        pid = a.proc.pid
        _counters(a)  # the sample the deltas start from
        cpu0, udp0 = _cpu_seconds(pid), _udp(left.ns)

        pinger = left.ns.spawn(["ping", "-n", "-i", "0.05", "-c", "160", "-W", "1", "-I",
                                left.inner, right.inner], log_path=tmp_path / "ping.log")
        sender = right.ns.run(
            sys.executable, "-m", "vpnsh.engine.hostile", "--target", left.outer,
            "--sources", ",".join([right.outer, *EXTRA_SOURCES]), "--count", str(COUNT),
            "--rate", str(RATE), "--esp-spi", f"{child['spi_in']:08x}",
            "--ike-spi", f"{ike['spi_i']}:{ike['spi_r']}", timeout=120)
        sent = json.loads(sender.stdout.strip().splitlines()[-1])
        wait_until(lambda: not pinger.running(), timeout=60, what="the pings")
        # the daemon has read what its sockets queued
        wait_until(lambda: _queued(left.ns) == 0, timeout=30, what="the daemon to drain its sockets")
        cpu, udp = _cpu_seconds(pid) - cpu0, _udp(left.ns)
        received = udp["InDatagrams"] - udp0["InDatagrams"]
        queue_drops = udp["RcvbufErrors"] - udp0["RcvbufErrors"]
        counters = _counters(a)

        print(f"\nhostile stream: {sent['sent']} datagrams ({sent['big']} of 64 KB) from "
              f"{1 + len(EXTRA_SOURCES)} addresses in {sent['seconds']} s; the daemon's UDP "
              f"sockets took {received} ({queue_drops} dropped by full queues); daemon CPU "
              f"{cpu:.2f} s = {cpu / max(received, 1) * 1e6:.0f} us per datagram taken")
        print("socket drops:", _socket_drops(left.ns))
        print("show counter global filter delta yes:",
              ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))

        # no crash
        assert a.proc.poll() is None and b.proc is not None and b.proc.poll() is None
        assert sent["sent"] >= 100_000 and sent["big"] >= 500
        # no lost tunnel: the same SAs, still carrying traffic
        assert [c["spi_in"] for c in _children(a)] == [child["spi_in"]]
        assert [(s["spi_i"], s["spi_r"]) for s in _ike(a)] == [(ike["spi_i"], ike["spi_r"])]
        summary = re.search(r"(\d+) packets transmitted, (\d+) received", pinger.output())
        assert summary, pinger.output()
        transmitted, answered = int(summary.group(1)), int(summary.group(2))
        assert answered >= 0.9 * transmitted, pinger.output()[-400:]
        assert left.ns.ping(right.inner, source=left.inner, count=2, wait=2)
        # every datagram was a counted drop of some reason, never an internal error
        assert not [k for k in counters if k.endswith("internal_error")], counters
        assert counters.get("ikev2_drop_parse_error", 0) > 0
        assert counters.get("esp_drop_unknown_spi", 0) > 0
        assert counters.get("esp_drop_auth_fail", 0) > 0
        # the daemon keeps up with 20,000 hostile datagrams a second. Its port-500 queue (4 MB)
        # holds some 30 datagrams of 64 KB, so it overflows when another process holds the
        # CPU for a few hundred ms: 0-12% seen on a busy 2-core box (before issue 11, with
        # 64 KB ones costing up to 50 ms each, 38% were lost). A sanity bound, not a figure.
        assert queue_drops <= 0.3 * sent["sent"], queue_drops
        assert received > 0.7 * sent["sent"]
    finally:
        a.stop()
        b.stop()
