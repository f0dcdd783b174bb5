"""PAN-OS interface names: the schema takes them, validation checks them, and the host's
interface map binds them to Linux devices (default PCI order, or the operator's map)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vpnsh.config import formats, ifnames, tree, validate
from vpnsh.engine.ifmap import InterfaceMap, MapError, parse_map, pci_order, vlan_device
from vpnsh.engine.netif import AddressApplier, LinkSpec, desired_addresses, desired_links

PANOS_SET = """\
set network interface ethernet ethernet1/1 layer3 ip 198.51.100.1/24
set network interface ethernet ethernet1/1 layer3 ndp-proxy enabled no
set network interface ethernet ethernet1/1 layer3 lldp enable no
set network interface ethernet ethernet1/2 layer3 units ethernet1/2.110 tag 110
set network interface ethernet ethernet1/2 layer3 units ethernet1/2.110 ip 10.1.1.1/24
set network interface loopback units loopback.1 ip 192.0.2.1
set network interface tunnel units tunnel.1 ip 169.254.10.1/30
set network virtual-router default interface [ ethernet1/1 ethernet1/2.110 loopback.1 tunnel.1 ]
set zone untrust network layer3 ethernet1/1
set zone trust network layer3 [ ethernet1/2.110 loopback.1 ]
set zone vpn network layer3 tunnel.1
"""


def load(text: str) -> dict:
    return formats.parse(text, "set", encrypt=lambda s: "-AQ==" + s)


def test_panos_names_load_and_validate() -> None:
    t = load(PANOS_SET)
    assert [str(p) for p in validate.validate(t)] == []
    assert ifnames.interface_ips(t, "ethernet1/2.110") == ["10.1.1.1/24"]
    assert ifnames.interface_ips(t, "loopback.1") == ["192.0.2.1/32"]
    assert ifnames.all_interfaces(t) == ["ethernet1/1", "ethernet1/2", "ethernet1/2.110",
                                         "loopback.1", "tunnel.1"]


def test_linux_names_keep_working() -> None:
    t = load("set network interface ethernet veth-a layer3 ip 10.0.0.1/24\n"
             "set zone z network layer3 veth-a\n")
    assert validate.validate(t) == []


@pytest.mark.parametrize("line,message", [
    ("set network interface ethernet ethernet1/0 comment x", "not a valid ethernet interface name"),
    ("set network interface ethernet ethernet1/2.5 comment x", "is a subinterface"),
    ("set network interface loopback units lo.1 comment x", "not a valid loopback"),
])
def test_bad_names_are_refused_with_a_reason(line: str, message: str) -> None:
    with pytest.raises(tree.ConfigError) as err:
        load(line + "\n")
    assert message in str(err.value)


def test_subinterface_must_belong_to_its_port_and_have_a_tag() -> None:
    t = load("set network interface ethernet ethernet1/3 layer3 units ethernet1/2.5 ip 10.5.5.5/24\n"
             "set network interface ethernet ethernet1/2 layer3 units ethernet1/2.6 tag 7\n"
             "set network interface ethernet ethernet1/2 layer3 units ethernet1/2.7 tag 7\n")
    problems = [str(p) for p in validate.validate(t)]
    assert "network -> interface -> ethernet -> ethernet1/3 -> layer3 -> units -> ethernet1/2.5 " \
           "'ethernet1/2.5' is not a subinterface of 'ethernet1/3' (use ethernet1/3.<unit>)" in problems
    assert any(p.endswith("ethernet1/2.5 is missing 'tag'") for p in problems)
    assert any(p.endswith("tag 7 is already used by 'ethernet1/2.6'") for p in problems)


def test_reference_to_an_unknown_subinterface_fails_validation() -> None:
    t = load(PANOS_SET + "set zone dmz network layer3 ethernet1/2.999\n")
    assert [str(p) for p in validate.validate(t)] == [
        "zone -> dmz -> network -> layer3 'ethernet1/2.999' is not a valid reference"]


def test_local_address_interface_takes_a_subinterface() -> None:
    gw = "set network ike gateway GW "
    t = load(PANOS_SET + gw + "local-address interface ethernet1/2.110\n"
             + gw + "local-address ip 10.1.1.9/24\n")
    problems = [str(p) for p in validate.validate(t)]
    assert "network -> ike -> gateway -> GW -> local-address -> ip '10.1.1.9/24' is not an " \
           "address of interface 'ethernet1/2.110'" in problems


# --------------------------------------------------------------------------- the host's map


def fake_sysfs(root: Path, nics: dict[str, str], others: tuple[str, ...] = ()) -> str:
    """A /sys/class/net with NICs (name -> PCI address) and devices without a PCI device."""
    for name, bus in nics.items():
        (root / "devices" / bus).mkdir(parents=True)
        (root / "net" / name).mkdir(parents=True)
        (root / "net" / name / "type").write_text("1\n")
        os.symlink(root / "devices" / bus, root / "net" / name / "device")
    for name in others:
        (root / "net" / name).mkdir(parents=True)
        (root / "net" / name / "type").write_text("1\n")
    return str(root / "net")


def test_default_order_is_pci_order_first_nic_management(tmp_path: Path) -> None:
    sysfs = fake_sysfs(tmp_path, {"ens5": "0000:00:05.0", "ens3": "0000:00:03.0",
                                  "ens4": "0000:00:04.0"}, others=("veth0", "br0"))
    assert pci_order(sysfs) == ["ens3", "ens4", "ens5"]
    m = InterfaceMap(None, nics=lambda: pci_order(sysfs))
    assert m.management() == "ens3"
    assert m.ports() == {"ethernet1/1": ("ens4", "default"), "ethernet1/2": ("ens5", "default")}
    assert m.linux_name("ethernet1/2") == "ens5"
    assert m.linux_name("ethernet1/2.110") == "ens5.110"
    assert m.linux_name("ethernet1/3") is None
    assert m.linux_name("loopback.1") == "lo" and m.linux_name("veth-a") == "veth-a"
    assert m.panos_name("ens4") == "ethernet1/1" and m.panos_name("ens5.110") == "ethernet1/2.110"
    assert m.panos_name("lo") == "lo"


def test_explicit_map_wins_and_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "interface-map"
    path.write_text("# host NICs\nethernet1/2  veth-b\nethernet1/1 = veth-a   # outside\n")
    m = InterfaceMap(str(path), nics=lambda: ["ens3", "ens4"])
    assert m.reload() == []
    assert m.ports() == {"ethernet1/1": ("veth-a", "map"), "ethernet1/2": ("veth-b", "map")}
    path.write_text("ethernet1/1 veth-a\nethernet1/1 veth-c\n")
    warnings = m.reload()
    assert warnings and "bound twice" in warnings[0]
    assert m.linux_name("ethernet1/2") == "veth-b"  # the previous map stays
    path.write_text("management ens4\n")
    assert m.reload() == []
    assert m.ports() == {"ethernet1/1": ("ens3", "default")}


@pytest.mark.parametrize("text", ["ethernet1/1\n", "eth0 ens3\n", "ethernet1/1 a/b\n",
                                  "ethernet1/1 x\nethernet1/2 x\n"])
def test_bad_map_lines(text: str) -> None:
    with pytest.raises(MapError):
        parse_map(text)


def test_vlan_device_name_fits_linux() -> None:
    assert vlan_device("enp0s31f6long", 4094) == "enp0s31f6l.4094"
    assert len(vlan_device("enp0s31f6long", 4094)) == 15


def test_applier_creates_vlan_and_puts_addresses_on_it(tmp_path: Path) -> None:
    class Links:
        def __init__(self) -> None:
            self.present: dict[str, set[str]] = {"veth-a": set(), "veth-b": set(), "lo": set()}
            self.calls: list[tuple] = []

        def exists(self, n: str) -> bool:
            return n in self.present

        def addresses(self, n: str) -> set[str]:
            return set(self.present[n])

        def add(self, n: str, a: str) -> None:
            self.calls.append(("add", n, a))
            self.present[n].add(a)

        def remove(self, n: str, a: str) -> None:
            self.calls.append(("del", n, a))
            self.present[n].discard(a)

        def create(self, n: str, spec: LinkSpec) -> None:
            self.calls.append(("create", n, spec.kind, spec.parent, spec.tag))
            self.present[n] = set()

        def delete(self, n: str) -> None:
            self.calls.append(("delete", n))
            del self.present[n]

    (tmp_path / "interface-map").write_text("ethernet1/1 veth-a\nethernet1/2 veth-b\n")
    ifmap = InterfaceMap(str(tmp_path / "interface-map"))
    links = Links()
    t = load(PANOS_SET)
    assert desired_addresses(t)["ethernet1/2.110"] == {"10.1.1.1/24"}
    ifmap.reload()
    assert desired_links(t, ifmap) == {"veth-b.110": LinkSpec("vlan", "veth-b", 110)}
    applier = AddressApplier(str(tmp_path), links, ifmap)
    assert applier.apply(t) == []
    assert ("create", "veth-b.110", "vlan", "veth-b", 110) in links.calls
    assert links.present["veth-a"] == {"198.51.100.1/24"}
    assert links.present["veth-b.110"] == {"10.1.1.1/24"}
    assert links.present["lo"] == {"192.0.2.1/32"}
    # the record survives a restart; dropping the subinterface deletes its device
    applier = AddressApplier(str(tmp_path), links, ifmap)
    t2 = load(PANOS_SET.replace("ethernet1/2.110 loopback.1", "loopback.1").replace(
        " ethernet1/2.110 loopback.1 tunnel.1", " loopback.1 tunnel.1"))
    del t2["network"]["interface"]["ethernet"]["ethernet1/2"]
    assert applier.apply(t2) == []
    assert ("delete", "veth-b.110") in links.calls and "veth-b.110" not in links.present
    assert links.present["lo"] == {"192.0.2.1/32"}


def test_unbound_port_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    class NoLinks:
        def exists(self, n: str) -> bool:
            return False

    applier = AddressApplier(str(tmp_path), NoLinks(),  # type: ignore[arg-type]
                             ifmap=InterfaceMap(None, nics=lambda: []))
    t = load("set network interface ethernet ethernet1/4 layer3 ip 10.4.4.4/24\n")
    out = applier.apply(t)
    assert out == ["Warning: interface ethernet1/4 is not bound to a device on this host "
                   "(interface map default); its address(es) 10.4.4.4/24 were not applied"]


# --------------------------------------------------------------------------- address objects


OBJECTS = PANOS_SET + """\
set address SiteB-LAN ip-netmask 10.2.0.0/24
set address SiteA-LAN ip-netmask 10.1.1.0/24
set address Range ip-range 10.3.0.1-10.3.0.9
set network virtual-router default routing-table ip static-route far destination SiteB-LAN
set network virtual-router default routing-table ip static-route far interface tunnel.1
set network tunnel ipsec T auto-key proxy-id p1 local SiteA-LAN
set network tunnel ipsec T auto-key proxy-id p1 remote SiteB-LAN
"""


def test_address_objects_in_static_route_and_proxy_id() -> None:
    from vpnsh.config import netref
    from vpnsh.engine import config_map

    t = load(OBJECTS)
    assert netref.network(t, "SiteB-LAN") == "10.2.0.0/24"
    assert netref.network(t, "10.9.0.0/16") == "10.9.0.0/16"
    problems = [str(p) for p in validate.validate(t)]
    assert not any("SiteB-LAN" in p or "SiteA-LAN" in p for p in problems), problems
    routes = config_map._routes(t, {"tunnel.1"})
    assert [(r.destination, r.interface) for r in routes] == [("10.2.0.0/24", "tunnel.1")]
    sel = config_map._proxy_selectors(t, t["network"]["tunnel"]["ipsec"]["T"]["auto-key"]
                                      ["proxy-id"]["p1"])
    assert sel["local_ts"] == ("10.1.1.0/24",) and sel["remote_ts"] == ("10.2.0.0/24",)


def test_address_object_that_is_no_single_network_is_refused() -> None:
    t = load(OBJECTS.replace("destination SiteB-LAN", "destination Range") +
             "set network tunnel ipsec T auto-key proxy-id p2 local Nowhere\n"
             "set network tunnel ipsec T auto-key proxy-id p2 remote 10.2.0.0/24\n")
    problems = [str(p) for p in validate.validate(t)]
    assert "network -> virtual-router -> default -> routing-table -> ip -> static-route -> far " \
           "-> destination 'Range' is not an ip-netmask address object" in problems
    assert "network -> tunnel -> ipsec -> T -> auto-key -> proxy-id -> p2 -> local 'Nowhere' " \
           "is not a valid reference" in problems


def test_changing_an_address_object_changes_its_routes_and_tunnels() -> None:
    from vpnsh.config import diff

    before = load(OBJECTS)
    after = load(OBJECTS.replace("SiteB-LAN ip-netmask 10.2.0.0/24", "SiteB-LAN ip-netmask 10.2.0.0/23"))
    d = diff.diff(before, after)
    assert d.tunnels.changed == {"T"} and d.routes.changed == {("default", "far")}
