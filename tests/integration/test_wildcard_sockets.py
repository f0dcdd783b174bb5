"""One daemon serves two gateways on two local addresses from its wildcard IKE sockets:
each peer is answered from the address it wrote to (IP_PKTINFO), on 500 and on 4500."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import NetLab, netlab, tool_missing, two_sites  # noqa: F401

PSK = "wildcard-bench-key-1"
SECOND = "198.51.100.3"


def site_lines(ifname: str, addr: str, gateways: list[tuple[str, str, str, str, str]]) -> str:
    """`gateways`: (name, local address, peer address, local id, peer id)."""
    p = "set network ike crypto-profiles"
    lines = [*(f"set network interface ethernet {ifname} layer3 ip {a}/24"
               for a in sorted({addr, *(g[1] for g in gateways)})),
             "set network interface tunnel units tunnel.1 mtu 1400",
             f"{p} ike-crypto-profiles B encryption aes-128-gcm", f"{p} ike-crypto-profiles B hash non-auth",
             f"{p} ike-crypto-profiles B dh-group group19",
             f"{p} ipsec-crypto-profiles B esp encryption aes-128-gcm",
             f"{p} ipsec-crypto-profiles B esp authentication none",
             f"{p} ipsec-crypto-profiles B dh-group no-pfs"]
    for n, (name, local, peer, lid, rid) in enumerate(gateways):
        gw, t = f"set network ike gateway {name}", f"set network tunnel ipsec t-{name}"
        lnet, rnet = (f"10.1.{n}.0/24", f"10.2.{n}.0/24") if lid.startswith("left") else \
            (f"10.2.{n}.0/24", f"10.1.{n}.0/24")
        lines += [f"{gw} protocol version ikev2", f"{gw} protocol ikev2 ike-crypto-profile B",
                  f"{gw} local-address interface {ifname}", f"{gw} local-address ip {local}/24",
                  f"{gw} peer-address ip {peer}", f"{gw} authentication pre-shared-key key {PSK}",
                  f"{gw} local-id type fqdn", f"{gw} local-id id {lid}",
                  f"{gw} peer-id type fqdn", f"{gw} peer-id id {rid}",
                  f"{t} tunnel-interface tunnel.1", f"{t} auto-key ike-gateway {name}",
                  f"{t} auto-key ipsec-crypto-profile B",
                  f"{t} auto-key proxy-id p local {lnet} remote {rnet}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def daemons(netlab: NetLab, tmp_path: Path) -> Iterator[tuple]:  # noqa: F811
    missing = tool_missing("dumpcap", "tshark")
    if missing:
        pytest.skip(missing)
    sites = two_sites(netlab)
    sites.right.ns.add_address(sites.right.outer_if, f"{SECOND}/24")
    left = Daemon(tmp_path / "left", dataplane="userspace", netns=sites.left.ns.name)
    right = Daemon(tmp_path / "right", dataplane="userspace", netns=sites.right.ns.name)
    started = []
    try:
        for d in (right, left):
            d.start()
            started.append(d)
        yield sites, left, right
    finally:
        for d in started:
            d.stop()


def test_two_gateways_on_two_local_addresses_answer_from_their_own(daemons: tuple, tmp_path: Path
                                                                  ) -> None:
    sites, left, right = daemons
    lo, ro = sites.left.outer, sites.right.outer
    right.request("config.load", format="set", text=site_lines(sites.right.outer_if, ro, [
        ("a", ro, lo, "right-a.example", "left-a.example"),
        ("b", SECOND, lo, "right-b.example", "left-b.example")]))
    right.request("config.commit", description="two local addresses")
    left.request("config.load", format="set", text=site_lines(sites.left.outer_if, lo, [
        ("a", lo, ro, "left-a.example", "right-a.example"),
        ("b", lo, SECOND, "left-b.example", "right-b.example")]))
    left.request("config.commit", description="two peers")
    # the responder holds four wildcard sockets, not two per address
    pid = right.proc_pid()
    assert pid is not None
    fds = os.listdir(f"/proc/{pid}/fd")
    cap = sites.right.ns.capture(sites.right.outer_if, tmp_path / "right.pcapng",
                                 "udp port 500 or udp port 4500")
    left.request("engine.op", name="vpn.ike-sa.test", args={})

    def both_up() -> bool:
        sas = left.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"]
        return len(sas) >= 2

    wait_for(both_up, 30, "both tunnels up")
    shown = right.request("engine.op", name="vpn.ike-sa.show", args={})["ikev2"]
    assert len(shown) == 2
    rows = cap.fields("ip.src", "udp.srcport", "ip.dst", "udp.dstport",
                      display_filter=f"ip.src == {lo}")
    asked = {(r[2], int(r[3])) for r in rows}  # what the initiator wrote to
    rows = cap.fields("ip.src", "udp.srcport", "ip.dst", "udp.dstport",
                      display_filter=f"ip.dst == {lo}")
    answered = {(r[0], int(r[1])) for r in rows}
    # both addresses were asked on 500 and (NAT-T: the user-space data plane floats) 4500,
    # and every one answered from itself: without IP_PKTINFO all would leave from .2
    assert {(ro, 500), (SECOND, 500)} <= asked
    assert answered == asked, (asked, answered)
    assert {(ro, 4500), (SECOND, 4500)} <= answered
    sockets_after = os.listdir(f"/proc/{pid}/fd")
    assert len(sockets_after) <= len(fds) + 2  # no per-address sockets appeared
