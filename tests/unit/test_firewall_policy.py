"""Security policy semantics (no kernel): first match, zones, rule types, negation, default
rules and their override, application/service matching; the nftables JSON it becomes."""

from __future__ import annotations

import pytest

from tests.unit.test_config_helpers import apply_lines, site_a
from vpnsh.config.tree import delete_path
from vpnsh.config.validate import validate
from vpnsh.engine.firewall import nft
from vpnsh.engine.firewall.policy import compile_policy

RULES = """
set address lan-b ip-netmask 10.20.0.0/24
set address lan-a ip-netmask 192.168.1.0/24
set service ssh-alt protocol tcp port 2222
set rulebase security rules b-ping from vpn to trust source lan-b destination lan-a application ping service application-default action allow
set rulebase security rules b-ssh from vpn to trust source lan-b destination lan-a application any service [ ssh-alt service-https ] action allow
set rulebase security rules b-deny from vpn to trust source any destination any application any service any action deny log-end yes
set rulebase security rules not-b from trust to vpn source any destination lan-b negate-destination yes application any service any action drop
set rulebase security rules intra-only from [ trust vpn ] to [ trust vpn ] source any destination any application ssh service application-default rule-type intrazone action reset-client
"""


def policy(extra: str = ""):
    tree = site_a()
    delete_path(tree, ["rulebase", "security", "rules", "vpn-to-trust"])
    tree = apply_lines(tree, RULES + extra)
    assert validate(tree) == []
    ids: dict[str, int] = {}
    return compile_policy(tree, lambda n: ids.setdefault(n, len(ids) + 1))


CASES = [
    # from, to, src, dst, proto, dport, icmp type -> rule
    ("vpn", "trust", "10.20.0.5", "192.168.1.9", 1, None, 8, "b-ping"),
    ("vpn", "trust", "10.20.0.5", "192.168.1.9", 1, None, 0, "b-deny"),  # echo reply: not ping
    ("vpn", "trust", "10.20.0.5", "192.168.1.9", 6, 2222, None, "b-ssh"),
    ("vpn", "trust", "10.20.0.5", "192.168.1.9", 6, 443, None, "b-ssh"),
    ("vpn", "trust", "10.20.0.5", "192.168.1.9", 6, 22, None, "b-deny"),
    ("vpn", "trust", "10.99.0.5", "192.168.1.9", 1, None, 8, "b-deny"),  # not from lan-b
    ("trust", "vpn", "192.168.1.9", "10.20.0.5", 6, 80, None, "trust-to-vpn"),
    ("trust", "trust", "192.168.1.9", "192.168.1.10", 6, 22, None, "intra-only"),
    ("trust", "trust", "192.168.1.9", "192.168.1.10", 6, 80, None, "intrazone-default"),
    ("untrust", "trust", "203.0.113.9", "192.168.1.10", 6, 80, None, "interzone-default"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{c[4]}-{c[5]}-{c[7]}" for c in CASES])
def test_first_match(case):
    f, t, s, d, proto, dport, icmp, expect = case
    p = policy()
    assert p.match(f, t, s, d, proto, dport, icmp_type=icmp)[0].name == expect


def test_negate_destination_and_move():
    p = policy("set rulebase security rules trust-to-vpn disabled yes")
    assert p.match("trust", "vpn", "192.168.1.9", "10.30.0.1", 6, 80)[0].name == "not-b"
    assert p.match("trust", "vpn", "192.168.1.9", "10.20.0.1", 6, 80)[0].name == \
        "interzone-default"


def test_default_override_and_application_filter():
    p = policy("set rulebase default-security-rules rules intrazone-default action deny")
    r = p.match("trust", "trust", "192.168.1.9", "192.168.1.10", 6, 80)[0]
    assert (r.name, r.action) == ("intrazone-default", "deny")
    # application given: a rule naming other applications does not match
    assert p.match("vpn", "trust", "10.20.0.5", "192.168.1.9", 6, 443,
                   application="ping")[0].name == "b-ssh"  # b-ssh has application any
    got = p.match("vpn", "trust", "10.20.0.5", "192.168.1.9", 1, icmp_type=8, show_all=True)
    assert [r.name for r in got] == ["b-ping", "b-deny", "interzone-default"]


def test_nft_batch_is_one_table_replaced_whole():
    batch = nft.ruleset(policy(), 5)["nftables"]
    assert batch[1] == {"add": {"table": {"family": "inet", "name": "vpnsh"}}}
    assert batch[2] == {"delete": {"table": {"family": "inet", "name": "vpnsh"}}}
    tables = {(c.get("add") or c.get("delete") or {}).get("table", {}).get("name")
              for c in batch[1:] if "table" in (c.get("add") or c.get("delete") or {})}
    assert tables == {"vpnsh"}
    others = [c for c in batch[1:] if (c.get("add") or {}).get("rule", {}).get("table",
                                                                             "vpnsh") != "vpnsh"]
    assert others == []
    comments = [c["add"]["rule"].get("comment") for c in batch if "rule" in c.get("add", {})]
    assert comments[-1] == "vpnsh:65533"  # interzone-default last


def test_no_zone_no_table():
    tree = apply_lines({}, "set rulebase security rules r from any to any source any "
                       "destination any application any service any")
    p = compile_policy(tree, lambda n: 1)
    batch = nft.ruleset(p, 1)["nftables"]
    assert [list(c)[0] for c in batch] == ["metainfo", "add", "delete"]
