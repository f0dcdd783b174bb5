import copy

import pytest

from tests.unit.test_config_helpers import apply_lines, site_a
from vpnsh.config.factory import factory_config
from vpnsh.config.tree import delete_path
from vpnsh.config.validate import validate

GW = "set network ike gateway GW-SiteB "
TUN = "set network tunnel ipsec T-SiteB "
IKEP = "set network ike crypto-profiles ike-crypto-profiles "
ESPP = "set network ike crypto-profiles ipsec-crypto-profiles "


def test_site_a_and_factory_are_valid():
    assert validate(site_a()) == []
    assert validate(factory_config()) == []


def with_lines(text):
    return apply_lines(site_a(), text)


def without(*path):
    tree = site_a()
    delete_path(tree, list(path))
    return tree


def raw(mutate):
    tree = site_a()
    mutate(tree)
    return tree


GWP = "network -> ike -> gateway -> GW-SiteB"
TUNP = "network -> tunnel -> ipsec -> T-SiteB"

INVALID = [
    # dangling references
    (lambda: with_lines(TUN + "auto-key ike-gateway X"),
     f"{TUNP} -> auto-key -> ike-gateway 'X' is not a valid reference"),
    (lambda: with_lines(GW + "protocol ikev2 ike-crypto-profile NOPE"),
     f"{GWP} -> protocol -> ikev2 -> ike-crypto-profile 'NOPE' is not a valid reference"),
    (lambda: with_lines(TUN + "auto-key ipsec-crypto-profile NOPE"),
     f"{TUNP} -> auto-key -> ipsec-crypto-profile 'NOPE' is not a valid reference"),
    (lambda: with_lines(TUN + "tunnel-interface tunnel.9"),
     f"{TUNP} -> tunnel-interface 'tunnel.9' is not a valid reference"),
    (lambda: with_lines("set network virtual-router default routing-table ip static-route r2 "
                        "destination 10.9.0.0/16 interface tunnel.5"),
     "network -> virtual-router -> default -> routing-table -> ip -> static-route -> r2 -> "
     "interface 'tunnel.5' is not a valid reference"),
    (lambda: with_lines("set zone dmz network layer3 eth9"),
     "zone -> dmz -> network -> layer3 'eth9' is not a valid reference"),
    (lambda: with_lines(TUN + "tunnel-monitor tunnel-monitor-profile mp9"),
     f"{TUNP} -> tunnel-monitor -> tunnel-monitor-profile 'mp9' is not a valid reference"),
    (lambda: _default_ipsec_profile_deleted(),
     "network -> tunnel -> ipsec -> T2 -> auto-key -> ipsec-crypto-profile 'default' is not a "
     "valid reference"),
    # required fields
    (lambda: without("network", "ike", "gateway", "GW-SiteB", "peer-address"),
     f"{GWP} is missing 'peer-address'"),
    (lambda: without("network", "ike", "gateway", "GW-SiteB", "authentication"),
     f"{GWP} is missing 'key'"),
    (lambda: without("network", "ike", "gateway", "GW-SiteB", "local-address"),
     f"{GWP} is missing 'local-address'"),
    (lambda: without("network", "tunnel", "ipsec", "T-SiteB", "tunnel-interface"),
     f"{TUNP} is missing 'tunnel-interface'"),
    (lambda: without("network", "tunnel", "ipsec", "T-SiteB", "auto-key", "ike-gateway"),
     f"{TUNP} is missing 'ike-gateway'"),
    # algorithm combinations
    (lambda: with_lines(IKEP + "IKE-AES256 encryption aes-256-gcm"),
     "network -> ike -> crypto-profiles -> ike-crypto-profiles -> IKE-AES256 -> hash must be "
     "non-auth with aes-256-gcm encryption"),
    (lambda: with_lines(IKEP + "IKE-AES256 hash non-auth"),
     "network -> ike -> crypto-profiles -> ike-crypto-profiles -> IKE-AES256 -> hash non-auth "
     "cannot be used with aes-256-cbc encryption (GCM only)"),
    (lambda: with_lines(ESPP + "ESP-AES256 esp encryption aes-128-gcm"),
     "network -> ike -> crypto-profiles -> ipsec-crypto-profiles -> ESP-AES256 -> esp -> "
     "authentication must be none with aes-128-gcm encryption"),
    (lambda: apply_lines(site_a(), "set network ike crypto-profiles ipsec-crypto-profiles N "
                         "esp encryption null authentication none"),
     "network -> ike -> crypto-profiles -> ipsec-crypto-profiles -> N -> esp -> authentication "
     "none cannot be used with null encryption (it needs an authentication algorithm)"),
    (lambda: with_lines(GW + "protocol version ikev1\n" + GW + "protocol ikev1 "
                        "ike-crypto-profile G\n" + IKEP + "G encryption aes-128-gcm hash "
                        "non-auth dh-group group19"),
     f"{GWP} -> protocol -> ikev1 -> ike-crypto-profile 'G' uses GCM encryption, which IKEv1 "
     "does not support"),
    # local address
    (lambda: with_lines(GW + "local-address ip 198.51.100.7/24"),
     f"{GWP} -> local-address -> ip '198.51.100.7/24' is not an address of interface 'eth1'"),
    (lambda: raw(lambda t: (
        t["network"]["interface"]["ethernet"]["eth1"]["layer3"]["ip"].append("198.51.100.9/24"),
        t["network"]["ike"]["gateway"]["GW-SiteB"]["local-address"].pop("ip"))),
     f"{GWP} -> local-address is ambiguous: interface 'eth1' has 2 addresses, choose one with "
     "'ip'"),
    (lambda: raw(lambda t: t["network"]["ike"]["gateway"].__setitem__(
        "GW-Copy", copy.deepcopy(t["network"]["ike"]["gateway"]["GW-SiteB"]))),
     "network -> ike -> gateway -> GW-Copy has the same local-address, peer-address and "
     "peer-id as gateway 'GW-SiteB'"),
    # proxy ids
    (lambda: with_lines(TUN + "auto-key proxy-id PID-2 local 192.168.1.0/24 remote "
                        "10.20.0.0/24"),
     f"{TUNP} -> auto-key -> proxy-id -> PID-2 has the same local, remote and protocol as "
     "proxy-id 'PID-LAN'"),
    (lambda: with_lines(TUN + "auto-key proxy-id PID-6 local 192.168.1.0/24 remote 2001:db8::/32"),
     f"{TUNP} -> auto-key -> proxy-id -> PID-6 local and remote are of different address "
     "families"),
    (lambda: with_lines(TUN + "auto-key proxy-id PID-3 local 192.168.3.0/24"),
     f"{TUNP} -> auto-key -> proxy-id -> PID-3 is missing 'remote'"),
    (lambda: with_lines(TUN + "tunnel-monitor proxy-id PID-NONE"),
     f"{TUNP} -> tunnel-monitor -> proxy-id 'PID-NONE' is not a proxy-id of this tunnel"),
    (lambda: without("network", "tunnel", "ipsec", "T-SiteB", "tunnel-monitor",
                     "destination-ip"),
     f"{TUNP} -> tunnel-monitor is missing 'destination-ip'"),
    # types, ranges, names (a tree that did not come through set, e.g. loaded JSON)
    (lambda: raw(lambda t: t["network"]["interface"]["tunnel"]["units"]["tunnel.1"].__setitem__(
        "mtu", 70000)),
     "network -> interface -> tunnel -> units -> tunnel.1 -> mtu 70000 is out of range "
     "576-9216"),
    (lambda: raw(lambda t: t["network"]["interface"]["tunnel"]["units"].__setitem__(
        "tun2", {})),
     "network -> interface -> tunnel -> units 'tun2' is not a valid tunnel interface name "
     "(tunnel.1-tunnel.9999)"),
    (lambda: raw(lambda t: t["network"]["ike"]["gateway"]["GW-SiteB"]["authentication"][
        "pre-shared-key"].__setitem__("key", "plain")),
     f"{GWP} -> authentication -> pre-shared-key -> key is not encrypted"),
    (lambda: raw(lambda t: t["network"]["ike"]["gateway"]["GW-SiteB"].__setitem__(
        "bogus", "1")),
     f"{GWP} -> bogus is unexpected"),
    (lambda: raw(lambda t: t["network"]["ike"]["gateway"]["GW-SiteB"]["peer-address"].__setitem__(
        "dynamic", {})),
     f"{GWP} -> peer-address -> ip cannot be used together with dynamic"),
    (lambda: raw(lambda t: t["network"]["ike"]["gateway"]["GW-SiteB"]["protocol"].__setitem__(
        "version", "ikev3")),
     f"{GWP} -> protocol -> version 'ikev3' is not one of: ikev1, ikev2, ikev2-preferred"),
    # zones, routers, rules, ids
    (lambda: with_lines("set zone vpn2 network layer3 tunnel.1"),
     "zone -> vpn2 -> network -> layer3 'tunnel.1' is already in zone 'vpn'"),
    (lambda: with_lines("set network virtual-router vr2 interface eth1"),
     "network -> virtual-router -> vr2 -> interface 'eth1' is already in virtual-router "
     "'default'"),
    (lambda: with_lines("set rulebase security rules trust-to-vpn destination 10.0.0.0/8"),
     "rulebase -> security -> rules -> trust-to-vpn -> destination is invalid. 'any' should "
     "not be used with another destination"),
    (lambda: with_lines("set rulebase security rules half from trust"),
     "rulebase -> security -> rules -> half is missing 'to'"),
    (lambda: with_lines(GW + "peer-id type fqdn\n" + GW + "local-id type ipaddr id peer.x"),
     f"{GWP} -> local-id -> id 'peer.x' is not an IP address (type ipaddr)"),
    (lambda: with_lines("set network virtual-router default routing-table ip static-route "
                        "loop destination 10.8.0.0/16 nexthop next-vr default"),
     "network -> virtual-router -> default -> routing-table -> ip -> static-route -> loop -> "
     "nexthop -> next-vr must not be its own virtual-router"),
    (lambda: with_lines(IKEP + "EMPTY authentication-multiple 3"),
     "network -> ike -> crypto-profiles -> ike-crypto-profiles -> EMPTY is missing "
     "'encryption'"),
]


def _default_ipsec_profile_deleted():
    tree = apply_lines(site_a(), "set network tunnel ipsec T2 tunnel-interface tunnel.1 "
                       "auto-key ike-gateway GW-SiteB")
    delete_path(tree, ["network", "ike", "crypto-profiles", "ipsec-crypto-profiles",
                       "default"])
    return tree


@pytest.mark.parametrize("build, message", INVALID, ids=range(len(INVALID)))
def test_invalid_candidate_is_rejected_with_its_own_message(build, message):
    problems = [str(p) for p in validate(build())]
    assert message in problems, problems


def test_messages_are_distinct():
    messages = [m for _b, m in INVALID]
    assert len(set(messages)) == len(messages) >= 15


def test_dynamic_peer_with_or_without_passive_mode_is_valid():
    tree = with_lines(GW + "peer-address dynamic")
    assert validate(tree) == []
    tree = with_lines(GW + "peer-address dynamic\n" + GW + "protocol-common passive-mode yes")
    assert validate(tree) == []


def test_incremental_validate_agrees_with_full():
    running = site_a()
    for build, _message in INVALID:
        cand = build()
        full = [str(p) for p in validate(cand)]
        assert [str(p) for p in validate(cand, running=running)] == full


def test_gateways_may_share_addresses_when_peer_ids_differ() -> None:
    def two(t: dict) -> None:
        gws = t["network"]["ike"]["gateway"]
        gws["GW-Copy"] = copy.deepcopy(gws["GW-SiteB"])
        gws["GW-Copy"]["peer-id"] = {"type": "fqdn", "id": "other.example"}

    tree = raw(two)
    assert not [p for p in validate(tree) if "peer-address" in str(p)]
