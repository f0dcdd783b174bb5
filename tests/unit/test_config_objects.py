"""Address and service objects: schema, resolver, and commit-time validation."""

from __future__ import annotations

import ipaddress

import pytest

from tests.unit.test_config_helpers import apply_lines, site_a
from vpnsh.config import objects
from vpnsh.config.applications import L4, TCP, UDP
from vpnsh.config.tree import ConfigError
from vpnsh.config.validate import validate

OBJECTS = """
set address lan-b ip-netmask 10.20.0.0/24
set address host-b ip-netmask 10.20.0.5
set address pool ip-range 10.30.0.1-10.30.0.6
set address www fqdn www.example.net
set address-group remote static [ lan-b pool ]
set address-group nested static [ remote host-b ]
set service ssh-alt protocol tcp port 2222,2200-2210 source-port 1024-65535
set service syslog-udp protocol udp port 514
set service-group mgmt members [ ssh-alt service-https ]
set service-group all-mgmt members [ mgmt syslog-udp ]
"""


def tree():
    return apply_lines(site_a(), OBJECTS)


def nets(*texts):
    return [ipaddress.ip_network(t) for t in texts]


def test_objects_validate():
    assert validate(tree()) == []


def test_address_resolution():
    t = tree()
    assert objects.address_networks(t, "lan-b") == nets("10.20.0.0/24")
    assert objects.address_networks(t, "host-b") == nets("10.20.0.5/32")
    assert objects.address_networks(t, "pool") == nets("10.30.0.1/32", "10.30.0.2/31",
                                                       "10.30.0.4/31", "10.30.0.6/32")
    assert objects.addresses_networks(t, ["nested"]) == nets("10.20.0.0/24", "10.30.0.1/32",
                                                              "10.30.0.2/31", "10.30.0.4/31",
                                                              "10.30.0.6/32")
    assert objects.address_networks(t, "10.9.0.0/16") == nets("10.9.0.0/16")
    assert objects.address_networks(t, "10.9.0.1-10.9.0.2") == nets("10.9.0.1/32",
                                                                     "10.9.0.2/32")
    assert objects.address_networks(t, "any") == nets("0.0.0.0/0", "::/0")
    # fqdn: nothing without a resolver, the resolver's answer with one
    assert objects.address_networks(t, "www") == []
    assert objects.address_networks(t, "www", fqdn=lambda n: ["192.0.2.7"]) == \
        nets("192.0.2.7/32")


def test_address_errors():
    t = tree()
    with pytest.raises(objects.ObjectError) as e:
        objects.address_networks(t, "nope", ("rulebase", "security", "rules", "R", "source"))
    assert str(e.value) == "rulebase -> security -> rules -> R -> source 'nope' is not a " \
        "valid reference"


def test_service_resolution():
    t = tree()
    assert objects.service_l4(t, "ssh-alt") == [L4(TCP, ((2222, 2222), (2200, 2210)),
                                                   ((1024, 65535),))]
    assert objects.service_l4(t, "service-http") == [L4(TCP, ((80, 80), (8080, 8080)))]
    assert objects.service_l4(t, "service-https") == [L4(TCP, ((443, 443),))]
    got = objects.service_l4(t, "all-mgmt")
    assert got == [L4(TCP, ((2222, 2222), (2200, 2210)), ((1024, 65535),)),
                   L4(TCP, ((443, 443),)), L4(UDP, ((514, 514),))]
    assert got[0].matches(TCP, 2205, 3000) and not got[0].matches(TCP, 2205, 80)
    assert not got[0].matches(UDP, 2222, 3000)


def test_rule_l4_application_and_service():
    t = tree()
    assert objects.rule_l4(t, ["any"], ["any"]) == [L4()]
    ping_ssh = objects.rule_l4(t, ["ping", "ssh"], ["application-default"])
    assert any(x.matches(1, icmp_type=8) for x in ping_ssh)
    assert not any(x.matches(1, icmp_type=0) for x in ping_ssh)
    assert any(x.matches(TCP, 22) for x in ping_ssh)
    assert not any(x.matches(TCP, 23) for x in ping_ssh)
    # an explicit service list decides the ports
    assert objects.rule_l4(t, ["ssh"], ["ssh-alt"]) == objects.service_l4(t, "ssh-alt")


@pytest.mark.parametrize("line, message", [
    ("set address-group loop static [ loop2 ]\nset address-group loop2 static [ loop ]",
     "address-group -> loop -> static 'loop' contains itself"),
    ("set service-group sg members [ sg2 ]\nset service-group sg2 members [ sg ]",
     "service-group -> sg -> members 'sg' contains itself"),
    ("set address-group g static [ nothing ]",
     "address-group -> g -> static 'nothing' is not a valid reference"),
    ("set service-group g members [ nothing ]",
     "service-group -> g -> members 'nothing' is not a valid reference"),
    ("set address a1 description x", "address -> a1 is missing 'ip-netmask', 'ip-range' or 'fqdn'"),
    ("set service s1 description x", "service -> s1 is missing 'protocol'"),
    ("set service s1 protocol tcp source-port 1000", "service -> s1 -> protocol -> tcp is missing "
     "'port'"),
    ("set rulebase security rules r from trust to vpn source unknown-obj destination any "
     "application any service any",
     "rulebase -> security -> rules -> r -> source 'unknown-obj' is not a valid reference"),
    ("set rulebase security rules r from trust to vpn source any destination any "
     "application any service no-svc",
     "rulebase -> security -> rules -> r -> service 'no-svc' is not a valid reference"),
    ("set rulebase security rules r from trust to nozone source any destination any "
     "application any service any",
     "rulebase -> security -> rules -> r -> to 'nozone' is not a valid reference"),
    ("set rulebase security rules r source any destination any application any service any",
     "rulebase -> security -> rules -> r is missing 'from'"),
    ("set rulebase security rules r from [ any trust ] to vpn source any destination any "
     "application any service any",
     "rulebase -> security -> rules -> r -> from is invalid. 'any' should not be used with "
     "another from"),
    ("set zone dmz network layer3 eth2",
     "zone -> dmz -> network -> layer3 'eth2' is already in zone 'trust'"),
    ("set rulebase nat rules n from trust to untrust source any destination any "
     "source-translation static-ip bi-directional yes",
     "rulebase -> nat -> rules -> n -> source-translation -> static-ip is missing "
     "'translated-address'"),
    ("set rulebase nat rules n from trust to untrust source nothing destination any",
     "rulebase -> nat -> rules -> n -> source 'nothing' is not a valid reference"),
])
def test_object_validation_errors(line, message):
    problems = [str(p) for p in validate(apply_lines(tree(), line))]
    assert message in problems, problems


@pytest.mark.parametrize("line, fragment", [
    ("set address a ip-netmask 10.0.0.0/33", "not a valid IP network"),
    ("set address a ip-range 10.0.0.9-10.0.0.1", "not a valid address range"),
    ("set service s protocol tcp port 70000", "not a valid port or port range"),
    ("set service s protocol tcp port 90-80", "not a valid port or port range"),
    ("set rulebase security rules r source 10.0.0.300", "not a valid IP network"),
    ("set rulebase security rules r application no-such-app", "is not one of"),
])
def test_bad_values_rejected_at_set(line, fragment):
    with pytest.raises(ConfigError) as e:
        apply_lines(tree(), line)
    assert fragment in str(e.value)


def test_default_rule_override_names_only_the_two_defaults():
    with pytest.raises(ConfigError):
        apply_lines(tree(), "set rulebase default-security-rules rules my-default action deny")
    t = apply_lines(tree(), "set rulebase default-security-rules rules interzone-default "
                    "action drop log-end yes")
    assert validate(t) == []


def test_address_object_replaces_its_kind():
    t = apply_lines(tree(), "set address lan-b ip-range 10.20.0.1-10.20.0.2")
    assert t["address"]["lan-b"] == {"ip-range": "10.20.0.1-10.20.0.2"}
