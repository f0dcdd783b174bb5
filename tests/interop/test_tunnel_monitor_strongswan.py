"""Tunnel monitor against strongSwan (kernel-libipsec) in namespaces: wait-recover brings the
tunnel back with new SPIs without an operator, after the path was broken with nftables
(both IKE daemons stay up: no DPD on either side); fail-over moves the traffic to a backup
tunnel to a second strongSwan gateway and back.

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

from tests.helpers.daemon import Daemon
from tests.helpers.failover import drop_peer_ruleset, lost, out_dev, start_ping, stop_ping
from tests.helpers.netns import NetLab, netlab, wait_until  # noqa: F401
from tests.helpers.strongswan import Child, Connection, StrongSwan, requires_strongswan
from tests.integration.test_tunnel_monitor import MARGIN, Side, flows, site_lines, system_log
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
        left.ns.nft(drop_peer_ruleset(right.outer))
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


# --- fail-over between two strongSwan gateways ---------------------------------------
#
#   [a] vpnsh  wan1 198.51.100.1 ===== 198.51.100.2 [b1] charon 1 (primary peer)
#              wan2 192.0.2.1    ===== 192.0.2.2    [b2] charon 2 (backup peer)
#   LAN 10.1.0.1 (lo)                               LAN 10.2.0.1 (lo) behind each gateway
#
# Two separate gateways, each with its own charon (own namespace, own /run), as a real
# site B with a primary and a backup firewall: each holds one tunnel with the selectors
# 10.2.0.0/24 <-> 10.1.0.0/24, so no policy table holds two tunnels with the same selectors.
# The ping target 10.2.0.1 is reachable through either (each gateway's LAN has it).
# vpnsh: tunnel.1 (10.1.0.2/32) to b1 with a fail-over monitor, tunnel.2 (10.1.0.3/32) to b2
# with a wait-recover monitor that keeps it up; static routes to 10.2.0.0/24 through
# tunnel.1 metric 10 and tunnel.2 metric 20.

SW_IKE, SW_ESP = "aes128-sha256-modp2048", "aes128gcm16"  # site_lines' IKE and ESP profiles
FAILOVER_PSK = "monitor-test-key-0123"  # site_lines' key



def test_fail_over_to_a_second_strongswan_gateway_and_back(netlab: NetLab,  # noqa: F811
                                                           tmp_path: Path) -> None:
    na, b1, b2 = netlab.add_host("a"), netlab.add_host("b1"), netlab.add_host("b2")
    netlab.connect(na, "198.51.100.1/24", b1, "198.51.100.2/24", left_if="wan1")
    netlab.connect(na, "192.0.2.1/24", b2, "192.0.2.2/24", left_if="wan2")
    na.add_loopback_address("10.1.0.1")
    gateways = []
    for ns, outer, vpnsh_outer in ((b1, "198.51.100.2", "198.51.100.1"),
                                   (b2, "192.0.2.2", "192.0.2.1")):
        ns.add_loopback_address("10.2.0.1")
        conn = Connection("s2s", [outer], [vpnsh_outer], FAILOVER_PSK,
                          [Child("net", ["10.2.0.0/24"], ["10.1.0.0/24"], [SW_ESP])],
                          proposals=[SW_IKE])
        gateways.append(StrongSwan(ns, tmp_path / ns.name, connections=[conn]))
    a = Side(na, "10.1.0.1", ("198.51.100.1", "192.0.2.1"), ("198.51.100.2", "192.0.2.2"),
             ("10.1.0.2", "10.1.0.3"), ("10.2.0.1", "10.2.0.1"), "10.2.0.0/24")
    da = Daemon(tmp_path / "a", dataplane="userspace", netns=na.name, hostname="site-a")
    pinger = None
    try:
        for sw in gateways:
            sw.start()
            sw.load_all()
        da.start()
        da.configure(site_lines(a, t1_monitor="fail-over", tun_len=32))
        sw1, sw2 = gateways

        def debug() -> str:
            log = da.log_dir / "ikemgr.log"
            text = log.read_text()[-3000:] if log.exists() else ""
            return f"\n--- vpnsh ikemgr.log ---\n{text}{sw1.log_tail()}{sw2.log_tail()}"

        # no operator action: the monitors' probes are interesting traffic
        for sw in gateways:
            sw.wait_for_sa(ike="s2s", child="net", timeout=30)
        wait_until(lambda: all(flows(da)[t]["state"] == "active" for t in ("T1", "T2")),
                   timeout=30, what="both tunnels up")
        assert out_dev(na) == "tunnel.1"
        pinger = start_ping(na, tmp_path)

        def packets_in(sw: StrongSwan) -> int:
            return sum(c.counter("packets-in") for sa in sw.list_sas() for c in sa.children)

        b1_in = packets_in(sw1)
        wait_until(lambda: packets_in(sw1) >= b1_in + 10, timeout=10,
                   what="pings through tunnel.1 into gateway b1")
        wait_until(lambda: (lambda m: bool(m) and m["replies"] >= 2 and m["lost_in_row"] == 0)(
            flows(da)["T1"]["monitor_detail"]), timeout=3 * INTERVAL + 2,
            what="the primary's monitor to have answers and no loss")

        na.nft(drop_peer_ruleset("198.51.100.2"))  # both charons stay up
        t_break = time.monotonic()
        wait_until(lambda: out_dev(na) == "tunnel.2", timeout=INTERVAL * THRESHOLD + MARGIN + 5,
                   interval=0.05, what="the route to move to tunnel.2")
        moved = time.monotonic() - t_break
        b2_in = packets_in(sw2)
        t2_decap = flows(da)["T2"]["decap_packets"]
        wait_until(lambda: packets_in(sw2) >= b2_in + 10
                   and flows(da)["T2"]["decap_packets"] >= t2_decap + 10, timeout=10,
                   what="pings and their replies through tunnel.2 and gateway b2")
        print(f"\n[strongSwan fail-over] primary broken: traffic on tunnel.2 (gateway b2) after "
              f"{moved:.1f} s (bound: interval {INTERVAL} x threshold {THRESHOLD} + margin "
              f"{MARGIN} s)")
        assert INTERVAL * (THRESHOLD - 1) <= moved <= INTERVAL * THRESHOLD + MARGIN, debug()
        f1 = flows(da)["T1"]
        assert f1["monitor"] == "down" and "unanswered" in f1["monitor_detail"]["reason"]
        text = system_log(da, "subtype", "equal", "vpn")
        assert "tunnel-status-down" in text and "routes via tunnel.1 withdrawn" in text
        assert sw1.list_sas(), "gateway b1 kept its SA: only the monitor noticed"

        na.run("nft", "delete", "table", "inet", "brk")
        t_restore = time.monotonic()
        wait_until(lambda: out_dev(na) == "tunnel.1", timeout=40, interval=0.05,
                   what="the route to come back to tunnel.1")
        back = time.monotonic() - t_restore
        b1_in = packets_in(sw1)
        wait_until(lambda: packets_in(sw1) >= b1_in + 10, timeout=10,
                   what="pings through tunnel.1 into gateway b1 again")
        assert na.ping("10.2.0.1", source="10.1.0.1", count=3, wait=1), debug()
        sent, runs, gap = stop_ping(pinger)
        pinger = None
        print(f"[strongSwan fail-over] path restored: traffic back on tunnel.1 (gateway b1) "
              f"after {back:.1f} s")
        print(f"[strongSwan fail-over] pings sent {sent}, lost {lost(runs)}: runs of lost "
              f"sequence numbers {runs}; longest time without a reply {gap:.1f} s")
        assert "tunnel-status-up" in system_log(da, "subtype", "equal", "vpn")
        assert len([r for r in runs if r[1] - r[0] >= 3]) == 1, runs
        assert gap <= INTERVAL * THRESHOLD + MARGIN + 1.0
    finally:
        if pinger is not None:
            pinger.stop()
        da.stop()
        for sw in gateways:
            sw.stop()
