from tests.unit.test_config_helpers import site_a
from vpnsh.config.complete import ENTER, Choice, complete

GW = ["network", "ike", "gateway", "GW-SiteB"]


def words(tokens, partial="", tree=None):
    return [c.word for c in complete(site_a() if tree is None else tree, tokens, partial)]


def test_top_level_keywords_with_help():
    got = complete({}, [], "")
    assert Choice("network", "Network configuration") in got
    assert [c.word for c in got] == ["network", "zone", "address", "address-group", "service",
                                     "service-group", "rulebase", "deviceconfig",
                                     "shared"]


def test_partial_filters_keywords():
    assert words(["network"], "i") == ["ike", "interface"]
    assert words(GW, "pro") == ["protocol", "protocol-common"]


def test_entry_names_from_tree_and_name_hint():
    got = words(["network", "ike", "gateway"])
    assert got == ["GW-SiteB", "<name>"]
    assert words(["network", "interface", "tunnel", "units"]) == ["tunnel.1", "<tunnel.N>"]


def test_enum_values():
    assert words(GW + ["protocol", "version"]) == ["ikev1", "ikev2", "ikev2-preferred"]
    assert words(GW + ["protocol", "version"], "ikev2") == ["ikev2", "ikev2-preferred"]


def test_ref_names_come_from_the_target():
    got = words(GW + ["protocol", "ikev2", "ike-crypto-profile"])
    assert got[:4] == ["default", "Suite-B-GCM-128", "Suite-B-GCM-256", "IKE-AES256"]
    got = words(["network", "tunnel", "ipsec", "T", "tunnel-interface"])
    assert got == ["tunnel.1", "<tunnel.N>"]
    got = words(["zone", "z", "network", "layer3"])
    assert got == ["eth1", "eth2", "tunnel.1", "<interface>", "["]


def test_range_hint_for_free_values():
    got = complete(site_a(), ["network", "interface", "tunnel", "units", "tunnel.1", "mtu"], "")
    assert got == [Choice("<576-9216>", "Maximum Transfer Unit")]


def test_list_bracket_and_members():
    base = ["network", "ike", "crypto-profiles", "ike-crypto-profiles", "P", "dh-group"]
    assert "[" in words(base)
    inside = words(base + ["[", "group2"])
    assert "group2" not in inside and "group14" in inside and inside[-1] == "]"


def test_after_value_offers_siblings_outwards_and_enter():
    tokens = ["rulebase", "security", "rules", "R", "from", "trust"]
    got = complete(site_a(), tokens, "")
    assert "to" in [c.word for c in got] and ENTER in got
    tokens = ["network", "tunnel", "ipsec", "T", "auto-key", "proxy-id", "P", "protocol", "tcp",
              "local-port", "1"]
    got = words(tokens)
    assert got[:2] == ["local-port", "remote-port"]
    assert "local" in got and "remote" in got and "<Enter>" in got
    assert "tunnel-interface" not in got  # not above the innermost entry


def test_bad_path_gives_nothing():
    assert complete(site_a(), ["network", "nope"], "") == []


def test_enter_only_when_complete():
    assert "<Enter>" not in words(GW + ["protocol"])
    assert "<Enter>" in words(GW)
    assert "<Enter>" not in words(GW, "p")
