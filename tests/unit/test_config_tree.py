import copy

import pytest

from tests.unit.test_config_helpers import fake_encrypt, site_a
from vpnsh.config.schema import Entries, Leaf
from vpnsh.config.tree import (
    ConfigError,
    delete_path,
    effective,
    get_path,
    move_entry,
    rename_entry,
    set_path,
)

GW = ["network", "ike", "gateway", "GW1"]
RULES = ["rulebase", "security", "rules"]


def s(tree, line, **kw):
    set_path(tree, line.split(), **kw)
    return tree


def test_leaf_value_is_canonical_and_replaced():
    t = s({}, "network interface tunnel units tunnel.1 mtu 1400")
    s(t, "network interface tunnel units tunnel.1 mtu 1438")
    assert t["network"]["interface"]["tunnel"]["units"]["tunnel.1"]["mtu"] == 1438


def test_leaflist_appends_and_takes_brackets_without_duplicates():
    t = s({}, "network ike crypto-profiles ike-crypto-profiles P hash sha1")
    s(t, "network ike crypto-profiles ike-crypto-profiles P hash [ sha256 sha1 sha384 ]")
    assert t["network"]["ike"]["crypto-profiles"]["ike-crypto-profiles"]["P"]["hash"] == [
        "sha1", "sha256", "sha384"]


def test_one_liner_security_rule_sets_every_pair():
    t = s({}, "rulebase security rules R from trust to vpn source any destination any "
              "application any service any action allow")
    rule = t["rulebase"]["security"]["rules"]["R"]
    assert rule == {"from": ["trust"], "to": ["vpn"], "source": ["any"],
                    "destination": ["any"], "application": ["any"], "service": ["any"],
                    "action": "allow"}


def test_one_liner_climbs_out_of_nested_containers():
    t = s({}, "network tunnel ipsec T auto-key proxy-id P protocol tcp local-port 22 "
              "remote-port 80 local 10.0.0.0/24 remote 10.1.0.5")
    pid = t["network"]["tunnel"]["ipsec"]["T"]["auto-key"]["proxy-id"]["P"]
    assert pid == {"protocol": {"tcp": {"local-port": 22, "remote-port": 80}},
                   "local": "10.0.0.0/24", "remote": "10.1.0.5/32"}


def test_choice_container_drops_siblings():
    t = s({}, "network ike gateway GW1 peer-address ip 192.0.2.1")
    s(t, "network ike gateway GW1 peer-address dynamic")
    assert t["network"]["ike"]["gateway"]["GW1"]["peer-address"] == {"dynamic": {}}
    s(t, "network ike gateway GW1 peer-address fqdn peer.example.net")
    assert t["network"]["ike"]["gateway"]["GW1"]["peer-address"] == {
        "fqdn": "peer.example.net"}


def test_exclusive_group_ip_and_floating_ip_but_interface_stays():
    t = s({}, "network ike gateway GW1 local-address interface eth0")
    s(t, "network ike gateway GW1 local-address ip 192.0.2.1/24")
    s(t, "network ike gateway GW1 local-address floating-ip 192.0.2.9")
    assert t["network"]["ike"]["gateway"]["GW1"]["local-address"] == {
        "interface": "eth0", "floating-ip": "192.0.2.9"}


def test_esp_and_ah_are_exclusive():
    base = "network ike crypto-profiles ipsec-crypto-profiles P "
    t = s({}, base + "esp encryption aes-128-cbc")
    s(t, base + "ah authentication sha1")
    assert "esp" not in t["network"]["ike"]["crypto-profiles"]["ipsec-crypto-profiles"]["P"]


@pytest.mark.parametrize("line, kind, message", [
    ("network interface tunnel units tunnel.1 mtu 70000", "value",
     "mtu 70000 is out of range 576-9216"),
    ("network interface tunnel units tunnel.1 mtu big", "value", "mtu 'big' is not a number"),
    ("network interface tunnel units tun1 mtu 1400", "value", "not a valid tunnel interface"),
    ("network ike crypto-profiles ike-crypto-profiles P hash sha3", "value",
     "hash 'sha3' is not one of"),
    ("network ike gateway GW1 peer-address ip 300.1.1.1", "value", "not a valid IP address"),
    ("network ike gateway GW1 bogus yes", "syntax", "'bogus' is unexpected"),
    ("network ike gateway", "syntax", "incomplete"),
    ("network ike gateway GW1 protocol", "syntax", "incomplete"),
    ("network ike gateway GW1 comment", "syntax", "incomplete"),
    ("network ike crypto-profiles ike-crypto-profiles P hash [ sha1", "syntax", "incomplete"),
    ("network ike crypto-profiles ike-crypto-profiles P lifetime [ 1 ]", "syntax", "'['"),
    ("zone z network layer3 eth0 bogus", "syntax", "'bogus' is unexpected"),
])
def test_errors_name_the_bad_token_and_kind(line, kind, message):
    t: dict = {}
    with pytest.raises(ConfigError) as exc:
        s(t, line)
    assert exc.value.kind == kind
    assert message in str(exc.value)
    assert t == {}  # all or nothing


def test_ethernet_names_are_linux_names():
    t = s({}, "network interface ethernet veth-a layer3 ip 10.0.0.1/24")
    s(t, "network interface ethernet enp0s3.100 layer3 mtu 1500")
    assert set(t["network"]["interface"]["ethernet"]) == {"veth-a", "enp0s3.100"}
    with pytest.raises(ConfigError):
        s(t, "network interface ethernet averyveryverylongname layer3 mtu 1500")


def test_secret_is_encrypted_unless_already_encrypted():
    t = s({}, "network ike gateway GW1 authentication pre-shared-key key hunter2",
          encrypt=fake_encrypt)
    key = t["network"]["ike"]["gateway"]["GW1"]["authentication"]["pre-shared-key"]["key"]
    assert key == fake_encrypt("hunter2") and "hunter2" not in key
    s(t, "network ike gateway GW1 authentication pre-shared-key key -AQ==abcd",
      encrypt=fake_encrypt)
    assert t["network"]["ike"]["gateway"]["GW1"]["authentication"]["pre-shared-key"][
        "key"] == "-AQ==abcd"


def test_secret_without_encrypt_is_refused():
    with pytest.raises(ConfigError) as exc:
        s({}, "network ike gateway GW1 authentication pre-shared-key key hunter2")
    assert "hunter2" not in str(exc.value)


def test_set_entry_alone_creates_it():
    t = s({}, "zone trust")
    assert t == {"zone": {"trust": {}}}


def test_delete_leaf_prunes_empty_containers_but_keeps_entry():
    t = s({}, "network ike gateway GW1 protocol ikev2 dpd enable yes")
    delete_path(t, GW + ["protocol", "ikev2", "dpd", "enable"])
    assert t == {"network": {"ike": {"gateway": {"GW1": {}}}}}
    delete_path(t, GW)
    assert t == {}


def test_delete_member_of_list():
    t = s({}, "rulebase security rules R application [ ping icmp ssl ]")
    delete_path(t, RULES + ["R", "application", "ping"])
    assert t["rulebase"]["security"]["rules"]["R"]["application"] == ["icmp", "ssl"]
    delete_path(t, RULES + ["R", "application", "[", "icmp", "ssl", "]"])
    assert t["rulebase"]["security"]["rules"]["R"] == {}


def test_delete_unknown_keyword_is_syntax_error():
    with pytest.raises(ConfigError) as exc:
        delete_path({}, ["network", "nope"])
    assert exc.value.kind == "syntax"


def test_rename_keeps_position_and_updates_references():
    t = site_a()
    rename_entry(t, ["network", "ike", "gateway", "GW-SiteB"], "GW-B")
    assert "GW-B" in t["network"]["ike"]["gateway"]
    assert t["network"]["tunnel"]["ipsec"]["T-SiteB"]["auto-key"]["ike-gateway"] == ["GW-B"]
    rename_entry(t, ["network", "interface", "tunnel", "units", "tunnel.1"], "tunnel.7")
    assert t["zone"]["vpn"]["network"]["layer3"] == ["tunnel.7"]
    assert t["network"]["tunnel"]["ipsec"]["T-SiteB"]["tunnel-interface"] == "tunnel.7"
    with pytest.raises(ConfigError):
        rename_entry(t, ["network", "interface", "tunnel", "units", "tunnel.7"], "tun7")
    rules = list(t["rulebase"]["security"]["rules"])
    rename_entry(t, RULES + [rules[0]], "first")
    assert list(t["rulebase"]["security"]["rules"])[0] == "first"


def test_rename_to_existing_name_fails():
    t = site_a()
    with pytest.raises(ConfigError):
        rename_entry(t, RULES + ["trust-to-vpn"], "vpn-to-trust")


def test_move_rules():
    t: dict = {}
    for name in "ABCD":
        s(t, f"rulebase security rules {name} action allow")
    order = lambda: "".join(t["rulebase"]["security"]["rules"])  # noqa: E731
    move_entry(t, RULES + ["D"], "top")
    assert order() == "DABC"
    move_entry(t, RULES + ["D"], "bottom")
    assert order() == "ABCD"
    move_entry(t, RULES + ["A"], "after", "C")
    assert order() == "BCAD"
    move_entry(t, RULES + ["D"], "before", "B")
    assert order() == "DBCA"
    with pytest.raises(ConfigError):
        move_entry(t, RULES + ["D"], "before", "Z")
    with pytest.raises(ConfigError):
        move_entry(t, ["zone", "x"], "top")


def test_get_path_returns_schema_node_and_value():
    t = site_a()
    node, value = get_path(t, GW[:3] + ["GW-SiteB", "peer-address", "ip"])
    assert isinstance(node, Leaf) and value == "203.0.113.1"
    node, value = get_path(t, GW[:3])
    assert isinstance(node, Entries) and "GW-SiteB" in value
    node, value = get_path(t, GW[:3] + ["nope"])
    assert value is None and node.name == "gateway"


def test_effective_applies_defaults():
    t = s({}, "network ike gateway GW1 peer-address ip 192.0.2.1")
    assert effective(t, GW + ["protocol", "version"]) == "ikev1"
    assert effective(t, GW + ["protocol", "ikev1", "dpd", "interval"]) == 5
    assert effective(t, GW + ["protocol-common", "nat-traversal", "keep-alive-interval"]) == 20
    assert effective(t, ["network", "ike", "gateway", "other", "disabled"]) is None
    s(t, "network tunnel ipsec T auto-key proxy-id P local 10.0.0.0/8")
    tun = effective(t, ["network", "tunnel", "ipsec", "T"])
    assert tun["anti-replay"] == "yes" and tun["anti-replay-window"] == "1024"
    assert tun["auto-key"]["ipsec-crypto-profile"] == "default"
    assert tun["auto-key"]["proxy-id"]["P"]["protocol"] == {"any": {}}
    s(t, "network ike crypto-profiles ike-crypto-profiles X hash sha1")
    prof = effective(t, ["network", "ike", "crypto-profiles", "ike-crypto-profiles", "X"])
    assert prof["lifetime"] == {"hours": 8} and prof["authentication-multiple"] == 0
    before = copy.deepcopy(t)
    effective(t, ())
    assert t == before  # effective never writes defaults into the tree


def test_error_after_unquoted_secret_does_not_echo_it():
    with pytest.raises(ConfigError) as exc:
        s({}, "network ike gateway GW1 authentication pre-shared-key key part1 part2",
          encrypt=fake_encrypt)
    assert "part1" not in str(exc.value) and "part2" not in str(exc.value)
    assert "part2" not in " ".join(exc.value.path)
