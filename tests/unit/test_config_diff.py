import copy

from tests.unit.test_config_helpers import apply_lines, site_a
from vpnsh.config.diff import diff, text_diff
from vpnsh.config.factory import factory_config
from vpnsh.config.tree import delete_path


def changed(lines, delete=None):
    before = site_a()
    after = apply_lines(copy.deepcopy(before), lines) if lines else copy.deepcopy(before)
    if delete:
        delete_path(after, delete)
    return diff(before, after)


def test_identical_configs_have_empty_diff():
    assert diff(site_a(), site_a()).empty


def test_everything_added_from_factory():
    d = diff(factory_config(), site_a())
    assert d.gateways.added == {"GW-SiteB"} and d.tunnels.added == {"T-SiteB"}
    assert d.tunnel_interfaces.added == {"tunnel.1"}
    assert d.ethernet_interfaces.added == {"eth1", "eth2"}
    assert d.routes.added == {("default", "to-SiteB")}
    assert d.ike_profiles.added == {"IKE-AES256"} and d.other
    back = diff(site_a(), factory_config())
    assert back.gateways.removed == {"GW-SiteB"} and back.routes.removed == {("default",
                                                                              "to-SiteB")}


def test_profile_change_propagates_to_gateway_and_tunnel():
    d = changed("set network ike crypto-profiles ike-crypto-profiles IKE-AES256 lifetime hours 2")
    assert d.ike_profiles.changed == {"IKE-AES256"}
    assert d.gateways.changed == {"GW-SiteB"} and d.tunnels.changed == {"T-SiteB"}
    assert not d.routes and not d.other


def test_ipsec_profile_and_tunnel_interface_change_only_the_tunnel():
    d = changed("set network ike crypto-profiles ipsec-crypto-profiles ESP-AES256 dh-group "
                "group19")
    assert d.tunnels.changed == {"T-SiteB"} and not d.gateways
    d = changed("set network interface tunnel units tunnel.1 mtu 1400")
    assert d.tunnel_interfaces.changed == {"tunnel.1"} and d.tunnels.changed == {"T-SiteB"}


def test_unrelated_profile_or_default_value_changes_nothing_else():
    d = changed("set network ike crypto-profiles ike-crypto-profiles Suite-B-GCM-256 "
                "lifetime hours 3")
    assert d.ike_profiles.changed == {"Suite-B-GCM-256"} and not d.gateways and not d.tunnels
    d = changed("set network tunnel ipsec T-SiteB anti-replay yes")  # the default
    assert d.empty


def test_route_and_rule_changes():
    d = changed("set network virtual-router default routing-table ip static-route to-SiteB "
                "metric 20")
    assert d.routes.changed == {("default", "to-SiteB")} and not d.tunnels
    d = changed("", delete=["rulebase", "security", "rules", "vpn-to-trust"])
    assert d.other and not d.tunnels and not d.gateways


def test_text_diff_set_and_brace():
    before = site_a()
    after = apply_lines(copy.deepcopy(before), "set network interface tunnel units tunnel.1 "
                        "mtu 1400")
    assert text_diff(before, after, "set") == (
        "+set network interface tunnel units tunnel.1 mtu 1400\n")
    brace = text_diff(before, after, "default")
    assert "+            mtu 1400;" in brace.splitlines()
    assert not any(line.startswith("-") for line in brace.splitlines())
    assert text_diff(before, before, "xml") == ""


def test_diff_to_dict_is_json_ready():
    import json

    d = diff(factory_config(), site_a()).to_dict()
    assert json.loads(json.dumps(d))["routes"]["added"] == [["default", "to-SiteB"]]
    assert d["gateways"] == {"added": ["GW-SiteB"], "changed": [], "removed": []}
    assert d["other"] is True
