"""Ethernet layer3 addresses: the plan (pure) and the real thing in a namespace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import Namespace, NetLab, netns_missing
from vpnsh.engine.netif import AddressApplier, desired_addresses, plan

# --------------------------------------------------------------------------- pure


def tree_with(addrs: dict[str, list[str]]) -> dict:
    return {"network": {"interface": {"ethernet": {n: {"layer3": {"ip": a}} for n, a in addrs.items()}}}}


def test_desired_addresses_reads_layer3_ip() -> None:
    t = tree_with({"eth0": ["10.0.0.1/24", "fd00::1/64"], "eth1": []})
    assert desired_addresses(t) == {"eth0": {"10.0.0.1/24", "fd00::1/64"}}
    assert desired_addresses({}) == {}


def test_plan_adds_missing_and_removes_only_its_own() -> None:
    p = plan(
        desired={"eth0": {"10.0.0.1/24"}},
        present={"eth0": {"10.0.0.9/24", "10.0.1.1/24"}, "eth1": {"10.5.0.1/24"}},
        added_before={"eth0": {"10.0.1.1/24", "10.0.2.1/24"}},
    )
    assert p.add == [("eth0", "10.0.0.1/24")]
    # 10.0.1.1 was ours and is no longer wanted; 10.0.2.1 is ours but already gone;
    # 10.0.0.9 and eth1's address were never ours.
    assert p.remove == [("eth0", "10.0.1.1/24")]


class FakeLinks:
    def __init__(self, present: dict[str, set[str]]) -> None:
        self.present = present
        self.calls: list[tuple[str, str, str]] = []

    def exists(self, ifname: str) -> bool:
        return ifname in self.present

    def addresses(self, ifname: str) -> set[str]:
        return set(self.present.get(ifname, set()))

    def add(self, ifname: str, addr: str) -> None:
        self.calls.append(("add", ifname, addr))
        self.present[ifname].add(addr)

    def remove(self, ifname: str, addr: str) -> None:
        self.calls.append(("del", ifname, addr))
        self.present[ifname].discard(addr)


def test_applier_remembers_what_it_added(tmp_path: Path) -> None:
    links = FakeLinks({"eth0": {"192.0.2.9/24"}})
    a = AddressApplier(str(tmp_path), links)
    warnings = a.apply(tree_with({"eth0": ["192.0.2.1/24", "192.0.2.9/24"], "nope0": ["10.1.1.1/24"]}))
    assert links.calls == [("add", "eth0", "192.0.2.1/24")]
    assert len(warnings) == 1 and "nope0: no such interface" in warnings[0]
    # A new applier (a restarted daemon) reads the record back.
    b = AddressApplier(str(tmp_path), links)
    assert b.apply(tree_with({})) == []
    assert links.calls[-1] == ("del", "eth0", "192.0.2.1/24")
    assert links.present["eth0"] == {"192.0.2.9/24"}  # never ours, never touched


# --------------------------------------------------------------------------- in a namespace


@pytest.fixture
def lab() -> Iterator[NetLab]:
    missing = netns_missing()
    if missing:
        pytest.skip(f"needs network namespaces: {missing}")
    with NetLab("netif") as lab:
        yield lab


def addrs(ns: Namespace, ifname: str) -> set[str]:
    out = ns.run("ip", "-o", "addr", "show", "dev", ifname).stdout
    return {line.split()[3] for line in out.splitlines() if line.split()[2] in ("inet", "inet6")
            and not line.split()[3].startswith("fe80:")}


@pytest.mark.netns
def test_commit_applies_and_removes_addresses_in_a_namespace(
    lab: NetLab, daemon_factory: Callable[..., Daemon]
) -> None:
    gw, peer = lab.add_host("gw"), lab.add_host("peer")
    lab.connect(gw, None, peer, None, left_if="veth-a", right_if="veth-b")
    gw.add_address("veth-a", "10.77.0.9/24")  # put there by someone else
    d = daemon_factory(netns=gw.name).start()

    for ip in ("10.77.0.1/24", "10.77.1.1/24", "10.77.0.9/24", "fd77::1/64"):
        d.set(f"network interface ethernet veth-a layer3 ip {ip}")
    out = d.request("config.commit")
    assert out["warnings"] == []
    assert addrs(gw, "veth-a") == {"10.77.0.1/24", "10.77.1.1/24", "10.77.0.9/24", "fd77::1/64"}

    d.delete("network interface ethernet veth-a layer3 ip 10.77.1.1/24")
    d.delete("network interface ethernet veth-a layer3 ip 10.77.0.9/24")
    d.request("config.commit")
    assert addrs(gw, "veth-a") == {"10.77.0.1/24", "10.77.0.9/24", "fd77::1/64"}

    d.restart()  # the record of what vpnsh added survives
    d.delete("network interface ethernet veth-a")
    d.request("config.commit")
    assert addrs(gw, "veth-a") == {"10.77.0.9/24"}
    assert addrs(peer, "veth-b") == set()


@pytest.mark.netns
def test_start_restores_addresses_after_kill9(lab: NetLab, daemon_factory: Callable[..., Daemon]) -> None:
    """Issue 11 item 3: the host follows the running config at start, no commit (force) needed."""
    gw, peer = lab.add_host("gw"), lab.add_host("peer")
    lab.connect(gw, None, peer, None, left_if="veth-a", right_if="veth-b")
    d = daemon_factory(netns=gw.name, dataplane="userspace").start()
    d.set("network interface ethernet veth-a layer3 ip 10.78.0.1/24")
    d.set("network interface tunnel units tunnel.1 ip 169.254.78.1/30")
    d.set("network virtual-router default interface tunnel.1")
    d.set("network virtual-router default routing-table ip static-route r1 destination "
          "10.79.0.0/24 interface tunnel.1")
    d.request("config.commit")
    assert addrs(gw, "veth-a") == {"10.78.0.1/24"}
    wait_for(lambda: "tunnel.1" in gw.run("ip", "route", "show", "10.79.0.0/24").stdout, 10,
             "the route into tunnel.1")

    d.kill9()
    gw.run("ip", "addr", "del", "10.78.0.1/24", "dev", "veth-a")
    assert addrs(gw, "veth-a") == set()
    d.start()
    assert addrs(gw, "veth-a") == {"10.78.0.1/24"}  # back, before any commit
    # the tunnel interface (a TUN device, gone with the killed process) and its route too
    wait_for(lambda: "tunnel.1" in gw.run("ip", "route", "show", "10.79.0.0/24").stdout, 10,
             "the route into tunnel.1 after the restart")
    assert "169.254.78.1/30" in gw.run("ip", "addr", "show", "dev", "tunnel.1").stdout
    assert d.request("config.commit")["lines"] == ["There are no changes to commit."]
    # and the record of what vpnsh added still lets a later commit remove it
    d.delete("network interface ethernet veth-a")
    d.request("config.commit")
    assert addrs(gw, "veth-a") == set()
