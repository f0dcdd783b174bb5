"""Tunnel monitor and path monitor, vpnsh <-> vpnsh in namespaces, with real packets.

Topology (two WAN links between the same two gateways, one tunnel over each):

    [a] wan1 198.51.100.1 ===== 198.51.100.2 wan1 [b]     tunnel.1 169.254.10.1 <-> .2 (metric 10)
        wan2 192.0.2.1    ===== 192.0.2.2    wan2         tunnel.2 169.254.20.1 <-> .2 (metric 20)
    LAN 10.1.0.1 (on lo)                       LAN 10.2.0.1 (on lo)

A ping every 100 ms runs from 10.1.0.1 to 10.2.0.1. The primary path is broken by an
nftables rule in ``a`` that drops everything to and from 198.51.100.2: both IKE daemons
stay up, so only the monitors notice. Each test prints how many pings were lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.failover import drop_peer_ruleset, lost, out_dev, start_ping, stop_ping
from tests.helpers.netns import Namespace, NetLab, netlab, wait_until  # noqa: F401

pytestmark = [pytest.mark.netns]

INTERVAL, THRESHOLD = 2, 3  # the monitor profile of these tests (PAN-OS minimums are 2 and 2)
# detection takes threshold x interval after the first lost probe, which goes out up to one
# interval after the break; the margin covers that interval plus route install and a ping gap
MARGIN = INTERVAL + 2.0
PSK = "monitor-test-key-0123"
BREAK = drop_peer_ruleset("198.51.100.2")


@dataclass
class Side:
    ns: Namespace
    lan: str
    wan: tuple[str, str]  # our addresses on wan1, wan2
    peer: tuple[str, str]
    tun: tuple[str, str]  # our tunnel.1, tunnel.2 addresses
    peer_tun: tuple[str, str]
    peer_lan_net: str


def site_lines(s: Side, *, t1_monitor: str, path_monitor: bool = False,
               t1_destination: str | None = None, tun_len: int = 30) -> list[str]:
    """Site `s`'s config: tunnel.1 over wan1 (metric 10), tunnel.2 over wan2 (metric 20).
    `tun_len` is the tunnel interfaces' prefix length (32 against a policy-based peer, whose
    selectors the probes' source, the tunnel address, must fall in)."""
    lines = [
        f"set network interface ethernet wan1 layer3 ip {s.wan[0]}/24",
        f"set network interface ethernet wan2 layer3 ip {s.wan[1]}/24",
        "set network ike crypto-profiles ike-crypto-profiles IKE encryption aes-128-cbc",
        "set network ike crypto-profiles ike-crypto-profiles IKE hash sha256",
        "set network ike crypto-profiles ike-crypto-profiles IKE dh-group group14",
        "set network ike crypto-profiles ipsec-crypto-profiles ESP esp encryption aes-128-gcm",
        "set network ike crypto-profiles ipsec-crypto-profiles ESP esp authentication none",
        "set network ike crypto-profiles ipsec-crypto-profiles ESP dh-group no-pfs",
        f"set network profiles monitor-profile FAST action {t1_monitor} interval {INTERVAL} "
        f"threshold {THRESHOLD}",
        f"set network profiles monitor-profile KEEP action wait-recover interval {INTERVAL} "
        f"threshold {THRESHOLD}",
    ]
    for i in (0, 1):
        n = i + 1
        gw = f"set network ike gateway GW{n}"
        lines += [
            f"set network interface tunnel units tunnel.{n} ip {s.tun[i]}/{tun_len}",
            f"set network interface tunnel units tunnel.{n} mtu 1400",
            f"{gw} protocol version ikev2",
            f"{gw} protocol ikev2 ike-crypto-profile IKE",
            f"{gw} local-address interface wan{n}",
            f"{gw} local-address ip {s.wan[i]}/24",
            f"{gw} peer-address ip {s.peer[i]}",
            f"{gw} authentication pre-shared-key key {PSK}",
            f"{gw} protocol-common nat-traversal enable yes",
            f"set network tunnel ipsec T{n} tunnel-interface tunnel.{n}",
            f"set network tunnel ipsec T{n} auto-key ike-gateway GW{n}",
            f"set network tunnel ipsec T{n} auto-key ipsec-crypto-profile ESP",
            f"set network virtual-router default routing-table ip static-route r{n} "
            f"destination {s.peer_lan_net} interface tunnel.{n} metric {10 * n}",
        ]
    # the backup tunnel's monitor keeps it up (probes are interesting traffic)
    lines += [
        "set network tunnel ipsec T2 tunnel-monitor enable yes",
        f"set network tunnel ipsec T2 tunnel-monitor destination-ip {s.peer_tun[1]}",
        "set network tunnel ipsec T2 tunnel-monitor tunnel-monitor-profile KEEP",
    ]
    if path_monitor:
        r1 = "set network virtual-router default routing-table ip static-route r1 path-monitor"
        lines += [
            f"{r1} enable yes",
            f"{r1} failure-condition any",
            f"{r1} hold-time 1",
            f"{r1} monitor-destinations D1 source {s.tun[0]}/30",
            f"{r1} monitor-destinations D1 destination {s.peer_tun[0]}",
            f"{r1} monitor-destinations D1 interval {INTERVAL}",
            f"{r1} monitor-destinations D1 count {THRESHOLD}",
        ]
    else:
        lines += [
            "set network tunnel ipsec T1 tunnel-monitor enable yes",
            f"set network tunnel ipsec T1 tunnel-monitor destination-ip {t1_destination or s.peer_tun[0]}",
            "set network tunnel ipsec T1 tunnel-monitor tunnel-monitor-profile FAST",
        ]
    return lines


@dataclass
class Lab:
    a: Side
    b: Side
    da: Daemon
    db: Daemon


def build(netlab: NetLab, tmp: Path, **kw: Any) -> Lab:  # noqa: F811
    na, nb = netlab.add_host("a"), netlab.add_host("b")
    netlab.connect(na, "198.51.100.1/24", nb, "198.51.100.2/24", left_if="wan1", right_if="wan1")
    netlab.connect(na, "192.0.2.1/24", nb, "192.0.2.2/24", left_if="wan2", right_if="wan2")
    na.add_loopback_address("10.1.0.1")
    nb.add_loopback_address("10.2.0.1")
    a = Side(na, "10.1.0.1", ("198.51.100.1", "192.0.2.1"), ("198.51.100.2", "192.0.2.2"),
             ("169.254.10.1", "169.254.20.1"), ("169.254.10.2", "169.254.20.2"), "10.2.0.0/24")
    b = Side(nb, "10.2.0.1", ("198.51.100.2", "192.0.2.2"), ("198.51.100.1", "192.0.2.1"),
             ("169.254.10.2", "169.254.20.2"), ("169.254.10.1", "169.254.20.1"), "10.1.0.0/24")
    da = Daemon(tmp / "a", dataplane="userspace", netns=na.name, hostname="site-a").start()
    db = Daemon(tmp / "b", dataplane="userspace", netns=nb.name, hostname="site-b").start()
    b_kw = {k: v for k, v in kw.items() if k != "t1_destination"}
    da.configure(site_lines(a, **kw))
    db.configure(site_lines(b, **b_kw))
    return Lab(a, b, da, db)


@pytest.fixture
def stop_daemons() -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for d in daemons:
        d.stop()


def flows(d: Daemon) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in d.request("engine.op", name="vpn.flow.show", args={})["flows"]}


def both_up(lab: Lab) -> bool:
    fa, fb = flows(lab.da), flows(lab.db)
    return all(f[t]["state"] == "active" for f in (fa, fb) for t in ("T1", "T2"))


def healthy(d: Daemon, mode: str) -> bool:
    """The primary's monitor has had replies and has lost nothing since the last one."""
    if mode == "tunnel-monitor":
        m = flows(d)["T1"]["monitor_detail"]
        return bool(m) and m["replies"] >= 2 and m["lost_in_row"] == 0
    rows = d.request("engine.op", name="routing.path-monitor.show", args={})["routes"]
    mons = [m for r in rows if r["name"] == "r1" for m in r["monitors"]]
    return bool(mons) and all(m["replies"] >= 2 and m["lost_in_row"] == 0 for m in mons)


def system_log(d: Daemon, *words: str) -> str:
    return str(d.request("log.system", filter=list(words))["text"])


@pytest.mark.parametrize("mode", ["tunnel-monitor", "path-monitor"])
def test_fail_over_to_the_backup_tunnel_and_back(netlab: NetLab, tmp_path: Path,  # noqa: F811
                                                 stop_daemons: list[Daemon], mode: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    hold = 6.0  # path monitor: hold-time 1 minute, scaled by 0.1
    monkeypatch.setenv("VPNSH_TEST_HOLD_TIME_SCALE", str(hold / 60))
    lab = build(netlab, tmp_path, t1_monitor="fail-over", path_monitor=mode == "path-monitor")
    stop_daemons += [lab.da, lab.db]
    a = lab.a.ns
    wait_until(lambda: both_up(lab), timeout=30, what="both tunnels up on both sides")
    assert out_dev(a) == "tunnel.1"
    pinger = start_ping(a, tmp_path)
    # the traffic itself, not a flow's counters: when both sides renegotiated at once the
    # flow may show the other SA pair of the two (see the restore step below)
    wait_until(lambda: a.ping("10.2.0.1", source="10.1.0.1", count=1, wait=1), timeout=10,
               what="pings through tunnel.1")

    wait_until(lambda: healthy(lab.da, mode), timeout=3 * INTERVAL + 2,
               what="the primary's monitor to have answers and no loss")
    a.nft(BREAK)
    t_break = time.monotonic()
    wait_until(lambda: out_dev(a) == "tunnel.2", timeout=INTERVAL * THRESHOLD + MARGIN + 5,
               interval=0.05, what="the route to move to tunnel.2")
    moved = time.monotonic() - t_break
    # the route is on tunnel.2 and tunnel.1's path drops everything: a reply came that way
    wait_until(lambda: a.ping("10.2.0.1", source="10.1.0.1", count=1, wait=1), timeout=10,
               what="ping replies through tunnel.2")
    print(f"\n[{mode}] primary broken: traffic on tunnel.2 after {moved:.1f} s "
          f"(bound: interval {INTERVAL} x threshold {THRESHOLD} + margin {MARGIN} s)")
    assert moved <= INTERVAL * THRESHOLD + MARGIN
    # and not before threshold probes could have been lost (the last answered one went out
    # at most an interval before the break)
    assert moved >= INTERVAL * (THRESHOLD - 1)
    if mode == "tunnel-monitor":
        f1 = flows(lab.da)["T1"]
        assert f1["monitor"] == "down" and "unanswered" in f1["monitor_detail"]["reason"]
        text = system_log(lab.da, "subtype", "equal", "vpn")
        assert "tunnel-status-down" in text and "routes via tunnel.1 withdrawn" in text
    else:
        [row] = [r for r in lab.da.request("engine.op", name="routing.path-monitor.show",
                                           args={})["routes"] if r["name"] == "r1"]
        assert row["status"] == "down" and "D1: " in row["reason"]
        assert "path-monitor-failure" in system_log(lab.da, "subtype", "equal", "routing")

    a.run("nft", "delete", "table", "inet", "brk")
    t_restore = time.monotonic()
    wait_until(lambda: out_dev(a) == "tunnel.1", timeout=40, interval=0.05,
               what="the route to come back to tunnel.1")
    back = time.monotonic() - t_restore
    # both sides renegotiated at once: the flow shows one of the SA pairs, the data plane
    # sends on the newest, so ask the traffic itself
    assert a.ping("10.2.0.1", source="10.1.0.1", count=3, wait=1)
    sent, runs, gap = stop_ping(pinger)
    lost_pings = lost(runs)
    print(f"[{mode}] path restored: traffic back on tunnel.1 after {back:.1f} s"
          + (f" (hold time {hold:.0f} s)" if mode == "path-monitor" else ""))
    print(f"[{mode}] pings sent {sent}, lost {lost_pings}: runs of lost sequence numbers {runs}; "
          f"longest time without a reply {gap:.1f} s")
    if mode == "path-monitor":
        assert back >= hold  # preemption waits for the hold time
        assert "path-monitor-recovery" in system_log(lab.da, "subtype", "equal", "routing")
    else:
        assert "tunnel-status-up" in system_log(lab.da, "subtype", "equal", "vpn")
    # one outage, no longer than detection allows (ping slows down while replies are
    # missing, so the time between replies is the measure, not the count)
    # (a lone lost ping elsewhere is the noise of a loaded 2-core machine, not an outage)
    assert len([r for r in runs if r[1] - r[0] >= 3]) == 1, runs
    assert gap <= INTERVAL * THRESHOLD + MARGIN + 1.0


def test_wait_recover_renegotiates_new_spis_without_operator(netlab: NetLab,  # noqa: F811
                                                             tmp_path: Path,
                                                             stop_daemons: list[Daemon]) -> None:
    lab = build(netlab, tmp_path, t1_monitor="wait-recover")
    stop_daemons += [lab.da, lab.db]
    a = lab.a.ns
    wait_until(lambda: both_up(lab), timeout=30, what="both tunnels up on both sides")
    before = flows(lab.da)["T1"]["local_spi"]
    pinger = start_ping(a, tmp_path)
    a.nft(BREAK)
    wait_until(lambda: flows(lab.da)["T1"]["monitor"] == "down",
               timeout=INTERVAL * THRESHOLD + MARGIN + 5, what="T1 monitor down")
    assert out_dev(a) == "tunnel.1"  # wait-recover keeps the tunnel's routes
    assert "action wait-recover: renegotiating" in system_log(lab.da, "subtype", "equal", "vpn")
    a.run("nft", "delete", "table", "inet", "brk")
    t_restore = time.monotonic()
    wait_until(lambda: flows(lab.da)["T1"]["monitor"] == "up", timeout=40,
               what="T1 monitor up again")
    after = flows(lab.da)["T1"]
    print(f"\n[wait-recover] up {time.monotonic() - t_restore:.1f} s after the path came back; "
          f"SPI {before:08X} -> {after['local_spi']:08X}")
    assert after["state"] == "active" and after["local_spi"] not in (0, before)
    # LAN to LAN through the new SAs (both sides may have renegotiated: the flow shows one
    # SA pair, the data plane sends on the newest)
    assert a.ping("10.2.0.1", source="10.1.0.1", count=3, wait=1)
    sent, runs, gap = stop_ping(pinger)
    print(f"[wait-recover] pings sent {sent}, lost {lost(runs)}: {runs}; "
          f"longest time without a reply {gap:.1f} s")


def test_destination_that_never_answers_is_monitor_down_with_reason(netlab: NetLab,  # noqa: F811
                                                                    tmp_path: Path,
                                                                    stop_daemons: list[Daemon]) -> None:
    lab = build(netlab, tmp_path, t1_monitor="wait-recover", t1_destination="169.254.10.99")
    stop_daemons += [lab.da, lab.db]
    t0 = time.monotonic()
    wait_until(lambda: flows(lab.da)["T1"]["monitor"] == "down",
               timeout=INTERVAL * THRESHOLD + MARGIN + 10, what="T1 monitor down")
    print(f"\n[never answers] monitor down after {time.monotonic() - t0:.1f} s")
    text = system_log(lab.da, "subtype", "equal", "vpn", "eventid", "equal", "tunnel-status-down")
    assert "Tunnel T1 is down: tunnel monitor: 3 probes in a row to 169.254.10.99 from " \
           "169.254.10.1 unanswered" in text
    assert "IKE SA up, IPsec SA up" in text  # the peer is fine: the monitor says why it is down
    res = lab.da.shell("-c", "show vpn flow")
    row = next(line for line in res.stdout.splitlines() if line.split()[1:2] == ["T1"])
    assert row.split()[3] == "down"
    detail = lab.da.shell("-c", "show vpn flow name T1").stdout
    assert "monitor status:       down" in detail and "monitor down reason:" in detail
    assert flows(lab.da)["T2"]["monitor"] == "up"
