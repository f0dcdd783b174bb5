"""The everyday host commands on real host data: a vpnshd in a namespace whose ethernet1/1 is
the veth `wan0` (interface map), a tunnel unit with a static route, a peer on the wire.
Each command is checked in text (PAN-OS layout, real values) and with --output json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import Namespace, NetLab, netlab  # noqa: F401

pytestmark = [pytest.mark.netns]

CONFIG = [
    "set network interface ethernet ethernet1/1 layer3 ip 198.51.100.1/24",
    "set network interface tunnel units tunnel.1 ip 169.254.10.1/30",
    "set zone untrust network layer3 ethernet1/1",
    "set zone vpn network layer3 tunnel.1",
    "set network virtual-router default interface [ ethernet1/1 tunnel.1 ]",
    "set network virtual-router default routing-table ip static-route r1 destination 10.2.0.0/24",
    "set network virtual-router default routing-table ip static-route r1 interface tunnel.1",
]


@pytest.fixture
def gw(netlab: NetLab, tmp_path: Path) -> Iterator[tuple[Daemon, Namespace, str]]:  # noqa: F811
    gw, peer = netlab.add_host("gw"), netlab.add_host("peer")
    netlab.connect(gw, None, peer, "198.51.100.2/24", left_if="wan0", right_if="wan-peer")
    peer.sysctl("net.ipv4.icmp_ratelimit", 0)  # every traceroute probe gets its answer
    d = Daemon(tmp_path / "d", dataplane="userspace", netns=gw.name, hostname="PA-VM")
    d.state_dir.mkdir(parents=True)
    (d.state_dir / "interface-map").write_text("ethernet1/1 wan0\n")
    d.start()
    try:
        d.configure(CONFIG)
        wait_for(lambda: "10.2.0.0/24" in gw.run("ip", "route").stdout, 10, "the static route")
        gw.run("ping", "-c", "1", "-W", "2", "198.51.100.2")  # an ARP entry
        mac = gw.run("cat", "/sys/class/net/wan0/address").stdout.strip()
        yield d, gw, mac
    finally:
        d.stop()


def run(d: Daemon, command: str, *, as_json: bool = False) -> str:
    r = d.shell(*(["--output", "json"] if as_json else []), "-c", command)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_host_commands_text_and_json(gw: tuple[Daemon, Namespace, str]) -> None:
    d, ns, mac = gw
    # show interface all: the port by its PAN-OS name, zone, vr and address from the host
    lines = run(d, "show interface all").splitlines()
    hw = next(line for line in lines if line.startswith("ethernet1/1 ") and mac in line)
    assert hw.index(mac) == 56 and hw[24:26] == "16"
    row = next(line for line in lines if line.startswith("ethernet1/1 ") and "vr:" in line)
    assert row.split() == ["ethernet1/1", "16", "1", "untrust", "vr:default", "0", "198.51.100.1/24"]
    tun = next(line for line in lines if line.startswith("tunnel.1 "))
    assert tun.split()[3:] == ["vpn", "vr:default", "0", "169.254.10.1/30"]
    data = json.loads(run(d, "show interface all", as_json=True))
    assert [i["name"] for i in data["logical"]] == ["ethernet1/1", "tunnel.1"]
    # show interface NAME: counters from the kernel
    detail = run(d, "show interface ethernet1/1").splitlines()
    assert detail[1] == "Name: ethernet1/1, ID: 16"
    assert f"  Port MAC address {mac}" in detail and "Zone: untrust, virtual system: vsys1" in detail
    rx = int(next(line for line in detail if line.startswith("packets received")).split()[-1])
    assert rx >= 1
    one = json.loads(run(d, "show interface ethernet1/1", as_json=True))
    assert one["device"] == "wan0" and one["counters"]["rx_packets"] >= rx
    r = d.shell("-c", "show interface ethernet1/9")
    assert r.returncode == 1 and "Invalid interface ethernet1/9" in r.stderr
    # show routing route: connected, host and the static route into tunnel.1
    routes = run(d, "show routing route").splitlines()
    static = next(line for line in routes if line.startswith("10.2.0.0/24"))
    assert static[91:94] == "A S" and static[108:] == "tunnel.1" and static[84:86] == "10"
    conn = next(line for line in routes if line.startswith("198.51.100.0/24"))
    assert conn.split() == ["198.51.100.0/24", "198.51.100.1", "0", "A", "C", "ethernet1/1"]
    assert "198.51.100.1/32" in run(d, "show routing route")
    assert json.loads(run(d, "show routing route", as_json=True))["virtual_routers"][0]["name"] \
        == "default"
    # show routing fib
    fib = run(d, "show routing fib").splitlines()
    assert "   ethernet1/1 tunnel.1" in fib
    entry = next(line for line in fib if " 10.2.0.0/24 " in f" {line} ")
    assert entry.split()[1:] == ["10.2.0.0/24", "0.0.0.0", "u", "tunnel.1", "1500"]
    assert json.loads(run(d, "show routing fib", as_json=True))["virtual_routers"][0]["entries"]
    # test routing fib-lookup: the kernel's choice
    look = run(d, "test routing fib-lookup virtual-router default ip 10.2.0.9").splitlines()
    assert " via 0.0.0.0 interface tunnel.1, source 169.254.10.1, metric 10" in look
    look = run(d, "test routing fib-lookup virtual-router default ip 198.51.100.2").splitlines()
    assert " via 0.0.0.0 interface ethernet1/1, source 198.51.100.1, metric 0" in look
    none = run(d, "test routing fib-lookup virtual-router default ip 192.0.2.1").splitlines()
    assert none[-2] == "result:"
    assert json.loads(run(d, "test routing fib-lookup ip 192.0.2.1 virtual-router default",
                          as_json=True))["found"] is False
    # show arp all: the peer's entry
    arp = run(d, "show arp all").splitlines()
    peer_mac = ns.run("ip", "neigh", "show", "198.51.100.2").stdout.split()[4]
    row = next(line for line in arp if line.startswith("ethernet1/1 "))
    assert row[18:30] == "198.51.100.2" and row[34:51] == peer_mac
    assert json.loads(run(d, "show arp all", as_json=True))["entries"][0]["mac"] == peer_mac
    # show clock, show system resources
    clock = run(d, "show clock").strip()
    assert len(clock.split()) == 6 and clock.split()[-1].isdigit()
    assert "epoch" in json.loads(run(d, "show clock", as_json=True))
    res = run(d, "show system resources")
    assert res.startswith("top - ") and "PID USER" in res
    assert len(json.loads(run(d, "show system resources", as_json=True))["load_average"]) == 3
    # ping host, traceroute host (the daemon's namespace)
    out = run(d, "ping host 198.51.100.2 count 2")
    assert out.startswith("PING 198.51.100.2 (198.51.100.2) 56(84) bytes of data.")
    assert "2 packets transmitted, 2 received, 0% packet loss" in out
    assert json.loads(run(d, "ping host 198.51.100.2 count 1", as_json=True))["received"] == 1
    out = run(d, "traceroute host 198.51.100.2").splitlines()
    assert out[0].startswith("traceroute to 198.51.100.2 (198.51.100.2), 30 hops max")
    assert out[1].split()[:2] == ["1", "198.51.100.2"]
    assert json.loads(run(d, "traceroute host 198.51.100.2", as_json=True))["hops"][-1][1][:1] == \
        ["198.51.100.2"]
