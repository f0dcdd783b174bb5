"""A PAN-OS set config with ethernet1/1, ethernet1/2 (untagged, or a VLAN subinterface) and
address objects (the static route's destination is one),
pasted into a vpnshd whose interface map binds the ports to the namespace's veths: it
commits, addresses land on the mapped devices (the VLAN device is made), and a LAN host
pings the far site through the tunnel.  The far site keeps Linux names."""

from __future__ import annotations

import functools
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.netns import NetLab, TwoSites, netlab, two_sites, wait_until  # noqa: F401
from tests.interop.test_ikev2_strongswan import SUITES, vpnsh_config

pytestmark = [pytest.mark.netns]


@functools.cache
def kernel_has_vlans() -> bool:
    """Whether this kernel makes 802.1Q devices (tried in a throwaway namespace)."""
    ns = f"vt-vlanprobe-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        return False
    try:
        cmd = ["ip", "-n", ns, "link", "add", "link", "lo", "name", "lo.5", "type", "vlan", "id", "5"]
        return subprocess.run(cmd, capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)

PSK = "panos-paste-secret-1"


def panos_site(outer: str, peer: str, vlan: bool) -> list[str]:
    """The left site as `show config running` (set format) of a PA-VM prints it."""
    p = "set network ike crypto-profiles"
    gw = "set network ike gateway GW"
    lan = "ethernet1/2.110" if vlan else "ethernet1/2"
    if vlan:
        lan_lines = [
            "set network interface ethernet ethernet1/2 layer3 units ethernet1/2.110 tag 110",
            "set network interface ethernet ethernet1/2 layer3 units ethernet1/2.110 ip 10.1.1.1/24",
        ]
    else:
        lan_lines = ["set network interface ethernet ethernet1/2 layer3 ip 10.1.1.1/24"]
    return [
        f"set network interface ethernet ethernet1/1 layer3 ip {outer}/24",
        "set network interface ethernet ethernet1/1 layer3 ndp-proxy enabled no",
        "set network interface ethernet ethernet1/1 layer3 lldp enable no",
        *lan_lines,
        "set network interface tunnel units tunnel.1 mtu 1400",
        "set zone untrust network layer3 ethernet1/1",
        f"set zone trust network layer3 {lan}",
        "set zone vpn network layer3 tunnel.1",
        f"set network virtual-router default interface [ ethernet1/1 {lan} tunnel.1 ]",
        "set address SiteB-LAN ip-netmask 10.2.0.0/24",
        "set address SiteA-LAN ip-netmask 10.1.1.0/24",
        "set address-group LANs static [ SiteA-LAN SiteB-LAN ]",
        "set network virtual-router default routing-table ip static-route far destination SiteB-LAN",
        "set network virtual-router default routing-table ip static-route far interface tunnel.1",
        f"{p} ike-crypto-profiles IKE encryption aes-256-cbc",
        f"{p} ike-crypto-profiles IKE hash sha256",
        f"{p} ike-crypto-profiles IKE dh-group group14",
        f"{p} ipsec-crypto-profiles ESP esp encryption aes-256-cbc",
        f"{p} ipsec-crypto-profiles ESP esp authentication sha256",
        f"{p} ipsec-crypto-profiles ESP dh-group no-pfs",
        f"{gw} protocol version ikev2",
        f"{gw} protocol ikev2 ike-crypto-profile IKE",
        f"{gw} local-address interface ethernet1/1",
        f"{gw} local-address ip {outer}/24",
        f"{gw} peer-address ip {peer}",
        f"{gw} authentication pre-shared-key key {PSK}",
        f"{gw} local-id type ipaddr",
        f"{gw} local-id id {outer}",
        f"{gw} peer-id type ipaddr",
        f"{gw} peer-id id {peer}",
        f"{gw} protocol-common nat-traversal enable yes",
        "set network tunnel ipsec T tunnel-interface tunnel.1",
        "set network tunnel ipsec T auto-key ike-gateway GW",
        "set network tunnel ipsec T auto-key ipsec-crypto-profile ESP",
    ]


@pytest.mark.parametrize("vlan", [False, True], ids=["untagged", "vlan110"])
def test_pasted_panos_config_carries_traffic(netlab: NetLab, tmp_path: Path,  # noqa: F811
                                             vlan: bool) -> None:
    if vlan and not kernel_has_vlans():
        pytest.skip("this kernel has no 802.1Q VLAN support (module 8021q)")
    sites = two_sites(netlab)
    left, right = sites.left, sites.right
    lan = netlab.add_host("lan")
    netlab.connect(left.ns, None, lan, None, left_if="lan-port", right_if="lan-host")
    left.ns.sysctl("net.ipv4.ip_forward", 1)
    host_if, gw_if = ("lan-host.110", "lan-port.110") if vlan else ("lan-host", "lan-port")
    if vlan:
        lan.ip("link", "add", "link", "lan-host", "name", host_if, "type", "vlan", "id", "110")
        lan.ip("link", "set", host_if, "up")
    lan.add_address(host_if, "10.1.1.10/24")
    lan.add_route("10.2.0.0/24", via="10.1.1.1")

    a = Daemon(tmp_path / "a", dataplane="userspace", netns=left.ns.name)
    a.state_dir.mkdir(parents=True)
    (a.state_dir / "interface-map").write_text(
        f"# PAN-OS port  Linux device\nethernet1/1  {left.outer_if}\nethernet1/2  lan-port\n")
    a.start()
    # the far site keeps Linux names
    mirrored = TwoSites(right, left)
    b = Daemon(tmp_path / "b", dataplane="userspace", netns=right.ns.name)
    b.start()
    try:
        a.configure(panos_site(left.outer, right.outer, vlan))
        lines = vpnsh_config(mirrored, SUITES[1])
        b.configure([*_with_psk(lines), "set network virtual-router default routing-table ip "
                     "static-route lan destination 10.1.1.0/24",
                     "set network virtual-router default routing-table ip static-route lan "
                     "interface tunnel.1"])
        if vlan:
            link = left.ns.run("ip", "-d", "-o", "link", "show", gw_if).stdout
            assert "vlan protocol 802.1Q id 110" in link
        assert "10.1.1.1/24" in left.ns.run("ip", "-o", "addr", "show", "dev", gw_if).stdout
        assert f"{left.outer}/24" in left.ns.run("ip", "-o", "addr", "show", "dev",
                                                 left.outer_if).stdout

        def pings() -> bool:
            r = lan.run("ping", "-n", "-c", "1", "-W", "1", "10.2.0.1", check=False)
            return r.returncode == 0

        wait_until(pings, timeout=20, what="a ping from the LAN through the tunnel")
        r = lan.run("ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "10.2.0.1", check=False)
        assert " 0% packet loss" in r.stdout, r.stdout
        flow = a.request("engine.op", name="vpn.flow.show", args={"name": "T"})["flows"][0]
        assert flow["encap_packets"] >= 3 and flow["decap_packets"] >= 3
        # dropping the port takes its address (and the VLAN device vpnsh made) away
        lan_if = "ethernet1/2.110" if vlan else "ethernet1/2"
        a.configure([f"delete network virtual-router default interface {lan_if}",
                     "delete zone trust",
                     "delete network interface ethernet ethernet1/2"])
        if vlan:
            assert left.ns.run("ip", "link", "show", gw_if, check=False).returncode != 0
        else:
            assert "10.1.1.1/24" not in left.ns.run("ip", "-o", "addr", "show", "dev",
                                                    gw_if).stdout
    finally:
        a.stop()
        b.stop()


def _with_psk(lines: list[str]) -> list[str]:
    return [ln.rsplit(" ", 1)[0] + f" {PSK}" if "pre-shared-key key" in ln else ln for ln in lines]


def test_vlan_subinterface_commits_on_any_kernel(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    """The pasted VLAN subinterface always commits; the VLAN device is made where the kernel
    has 802.1Q, else the commit says why it is missing (a warning, not a failure)."""
    gw, peer = netlab.add_host("gw"), netlab.add_host("peer")
    netlab.connect(gw, None, peer, None, left_if="lan-port", right_if="lan-host")
    d = Daemon(tmp_path / "d", netns=gw.name)
    d.state_dir.mkdir(parents=True)
    (d.state_dir / "interface-map").write_text("ethernet1/2 lan-port\n")
    d.start()
    try:
        for line in ("network interface ethernet ethernet1/2 layer3 units ethernet1/2.110 tag 110",
                     "network interface ethernet ethernet1/2 layer3 units ethernet1/2.110 ip "
                     "10.1.1.1/24",
                     "zone trust network layer3 ethernet1/2.110"):
            d.set(line)
        out = d.request("config.commit")
        assert "Configuration committed successfully" in out["lines"]
        if kernel_has_vlans():
            assert out["warnings"] == []
            assert "10.1.1.1/24" in gw.run("ip", "-o", "addr", "show", "dev", "lan-port.110").stdout
        else:
            assert any("could not create lan-port.110" in w and "802.1Q" in w
                       for w in out["warnings"]), out["warnings"]
        shown = d.shell("-c", "show interface all").stdout
        row = next(line for line in shown.splitlines() if line.startswith("ethernet1/2.110 "))
        assert row.split()[3:] == ["trust", "N/A", "110", "10.1.1.1/24"]
    finally:
        d.stop()
