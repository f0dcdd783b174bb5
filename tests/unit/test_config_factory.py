from vpnsh.config.factory import factory_config
from vpnsh.config.tree import effective
from vpnsh.config.validate import validate

IKE = ("network", "ike", "crypto-profiles", "ike-crypto-profiles")
ESP = ("network", "ike", "crypto-profiles", "ipsec-crypto-profiles")


def test_factory_profiles_as_reference_4_1():
    t = factory_config()
    assert list(effective(t, IKE)) == ["default", "Suite-B-GCM-128", "Suite-B-GCM-256"]
    assert effective(t, IKE + ("default",)) == {
        "encryption": ["aes-128-cbc", "3des"], "hash": ["sha1"], "dh-group": ["group2"],
        "lifetime": {"hours": 8}, "authentication-multiple": 0}
    assert effective(t, IKE + ("Suite-B-GCM-256", "hash")) == ["sha384"]
    assert effective(t, ESP + ("Suite-B-GCM-128",)) == {
        "esp": {"encryption": ["aes-128-gcm"], "authentication": ["none"]},
        "dh-group": "group19", "lifetime": {"hours": 1}}
    assert effective(t, ("network", "profiles", "monitor-profile", "default")) == {
        "interval": 3, "threshold": 5, "action": "wait-recover"}
    assert "default" in t["network"]["virtual-router"]
    assert validate(t) == []


def test_factory_config_is_a_fresh_copy():
    a = factory_config()
    a["network"]["virtual-router"]["x"] = {}
    assert "x" not in factory_config()["network"]["virtual-router"]
