"""Shared pieces of the fail-over tests: break a path with nftables, see which device the
kernel routes through, and a ping every 100 ms whose losses are counted afterwards.

Used by tests/integration/test_tunnel_monitor.py (vpnsh <-> vpnsh) and
tests/interop/test_tunnel_monitor_strongswan.py (vpnsh <-> two strongSwan gateways).
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.helpers.netns import BackgroundProcess, Namespace, wait_until


def drop_peer_ruleset(peer: str, table: str = "brk") -> str:
    """An nftables ruleset that drops everything to and from `peer` in the namespace it is
    loaded into (the peer's daemon stays up: only monitors notice). Remove it with
    ``ns.run("nft", "delete", "table", "inet", table)``."""
    return f"""table inet {table} {{
  chain out {{ type filter hook output priority -5; policy accept; ip daddr {peer} drop; }}
  chain in {{ type filter hook input priority -5; policy accept; ip saddr {peer} drop; }}
}}
"""


def out_dev(ns: Namespace, dst: str = "10.2.0.1", src: str = "10.1.0.1") -> str:
    """The device the kernel of `ns` routes dst (from src) through now, or ''."""
    res = ns.run("ip", "-o", "route", "get", dst, "from", src, check=False)
    m = re.search(r"\bdev (\S+)", res.stdout)
    return m.group(1) if m else ""


def start_ping(ns: Namespace, tmp: Path, src: str = "10.1.0.1", dst: str = "10.2.0.1"
               ) -> BackgroundProcess:
    """A ping every 100 ms from src to dst, time-stamped (-D), logged to tmp/ping.log."""
    return ns.spawn(["ping", "-n", "-D", "-i", "0.1", "-W", "1", "-c", "3000", "-I", src, dst],
                    log_path=tmp / "ping.log")


def stop_ping(pinger: BackgroundProcess) -> tuple[int, list[tuple[int, int]], float]:
    """SIGINT the ping (it prints its summary); (sent, runs of lost sequence numbers, the
    longest time in seconds between two replies: the outage as the traffic saw it)."""
    pinger.popen.send_signal(signal.SIGINT)
    wait_until(lambda: not pinger.running(), timeout=10, what="ping to stop")
    text = pinger.output()
    m = re.search(r"(\d+) packets transmitted", text)
    assert m, text[-500:]
    sent = int(m.group(1))
    got = {int(x) for x in re.findall(r"icmp_seq=(\d+) ", text)}
    stamps = [float(x) for x in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", text, re.M)]
    gap = max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=0.0)
    runs: list[tuple[int, int]] = []
    for seq in range(1, sent + 1):
        if seq in got:
            continue
        if runs and runs[-1][1] == seq - 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return sent, runs, gap


def lost(runs: list[tuple[int, int]]) -> int:
    return sum(b - a + 1 for a, b in runs)
