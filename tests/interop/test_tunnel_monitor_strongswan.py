"""Tunnel monitor against strongSwan (kernel-libipsec) in namespaces: wait-recover brings the
tunnel back with new SPIs without an operator, after the path was broken with nftables
(both IKE daemons stay up: no DPD on either side).

strongSwan is policy-based here (10.2.0.0/24 <-> 10.1.0.0/24), so vpnsh's tunnel interface
address, the probes' source, lies in its LAN (10.1.0.2/32): the probes match the narrowed
selectors. The monitor destination is strongSwan's LAN address.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.netns import NetLab, netlab, wait_until  # noqa: F401
from tests.helpers.strongswan import requires_strongswan
from tests.interop.test_ikev2_strongswan import SUITES, Pair, make_pair

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan]

INTERVAL, THRESHOLD = 2, 3
MONITOR = [
    "set network interface tunnel units tunnel.1 ip 10.1.0.2/32",
    f"set network profiles monitor-profile FAST action wait-recover interval {INTERVAL} threshold {THRESHOLD}",
    "set network tunnel ipsec T tunnel-monitor enable yes",
    "set network tunnel ipsec T tunnel-monitor destination-ip 10.2.0.1",
    "set network tunnel ipsec T tunnel-monitor tunnel-monitor-profile FAST",
]


def flow(p: Pair) -> dict[str, Any]:
    return dict(p.op("vpn.flow.show", name="T")["flows"][0])


def test_wait_recover_against_strongswan_new_spis(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    p = make_pair(netlab, tmp_path, SUITES[0])
    try:
        p.vpnsh.configure(MONITOR)
        # no operator action: the probes are interesting traffic and bring the tunnel up
        p.sw.wait_for_sa(ike="s2s", child="net", timeout=20)
        wait_until(lambda: flow(p)["monitor_detail"] and flow(p)["monitor_detail"]["replies"] >= 2,
                   timeout=15, what="probe replies from strongSwan's LAN")
        before = flow(p)["local_spi"]
        left, right = p.sites.left, p.sites.right
        left.ns.nft(f"""table inet brk {{
  chain out {{ type filter hook output priority -5; policy accept; ip daddr {right.outer} drop; }}
  chain in {{ type filter hook input priority -5; policy accept; ip saddr {right.outer} drop; }}
}}
""")
        t_break = time.monotonic()
        wait_until(lambda: flow(p)["monitor"] == "down", timeout=INTERVAL * (THRESHOLD + 1) + 4,
                   what="monitor down")
        down = time.monotonic() - t_break
        detail = flow(p)["monitor_detail"]
        assert "probes in a row to 10.2.0.1 from 10.1.0.2 unanswered" in detail["reason"]
        left.ns.run("nft", "delete", "table", "inet", "brk")
        t_restore = time.monotonic()
        wait_until(lambda: flow(p)["monitor"] == "up", timeout=40, what="monitor up again")
        up = time.monotonic() - t_restore
        after = flow(p)
        print(f"\n[strongSwan wait-recover] down {down:.1f} s after the break, up {up:.1f} s after "
              f"the repair; vpnsh SPI in {before:08X} -> {after['local_spi']:08X}")
        assert after["state"] == "active" and after["local_spi"] not in (0, before)
        spis = {c.spi_out.lower().removeprefix("0x").lstrip("0") for sa in p.sw.list_sas()
                for c in sa.children}
        assert f"{after['local_spi']:x}".lstrip("0") in spis, (spis, p.debug())
        assert p.ping(), p.debug()
        log = p.vpnsh.request("log.system", filter=["subtype", "equal", "vpn"])["text"]
        assert re.search(r"tunnel-status-down\s+Tunnel T is down", log), log
        assert "tunnel-status-up" in log
    finally:
        p.vpnsh.stop()
        p.sw.stop()
