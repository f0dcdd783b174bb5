"""Firewall outputs and parsers: PAN-OS text layouts, conntrack lines, NFLOG datagrams,
session and log filters."""

from __future__ import annotations

import socket
import struct

import pytest

from tests.unit.test_firewall_policy import policy
from vpnsh.engine.firewall import nflog
from vpnsh.engine.firewall.filters import FilterError, filter_logs, filter_sessions
from vpnsh.engine.firewall.manager import rule_view
from vpnsh.engine.firewall.sessions import parse_line
from vpnsh.render import firewall as fw


def test_policy_match_block_matches_panos_layout():
    p = policy()
    rule = p.match("vpn", "trust", "10.20.0.5", "192.168.1.9", 6, 2222)[0]
    text = fw.test_security_policy_match({"rules": [rule_view(rule, p)]})
    assert text.splitlines()[2:] == [
        '"b-ssh; index: 4" {',
        "        from vpn;",
        "        source lan-b;",
        "        source-region none;",
        "        to trust;",
        "        destination lan-a;",
        "        destination-region none;",
        "        user any;",
        "        source-device any;",
        "        destination-device any;",
        "        category any;",
        "        application/service [ 0:any/tcp/any/2222 1:any/tcp/any/443 ];",
        "        action allow;",
        "        icmp-unreachable: no",
        "        terminal yes;",
        "}",
    ]
    assert fw.test_security_policy_match({"rules": []}) == ""  # only a default rule matches


def test_running_policy_labels_port_based_applications_and_negation():
    p = policy()
    out = fw.show_running_security_policy({"rules": [rule_view(r, p) for r in p.rules]})
    assert "application/service [ 0:ping/icmp/any/any 1:ping/icmp6/any/any ];" in out
    assert "        destination lan-b (negate);" in out
    assert fw.PORT_BASED_NOTE in out


def test_rule_hit_count_columns():
    row = {"name": "allow-vpn", "hit-count": 42, "last-hit-timestamp": 0,
           "last-reset-timestamp": 0, "first-hit-timestamp": 0,
           "rule-creation-timestamp": 0, "rule-modification-timestamp": 0}
    lines = fw.show_rule_hit_count({"rules": [row]}).splitlines()
    assert lines[1].startswith("Rule Name" + " " * 56 + "Hit Count   Last Hit Timestamp")
    assert lines[2] == "-" * 209
    assert lines[3].startswith("allow-vpn" + " " * 56 + "42" + " " * 10 + "-")


LINE = ("ipv4     2 tcp      6 431999 ESTABLISHED src=10.2.0.10 dst=10.1.0.10 sport=40000 "
        "dport=22 packets=5 bytes=300 src=10.1.0.10 dst=10.2.0.10 sport=22 dport=40000 "
        "packets=4 bytes=250 [ASSURED] mark=131075 use=1 id=77")


def test_conntrack_line():
    s = parse_line(LINE)
    assert s is not None
    assert (s.id, s.proto, s.state, s.src, s.dport, s.rule_id) == (77, 6, "ESTABLISHED",
                                                                   "10.2.0.10", 22, 3)
    assert (s.packets, s.bytes, s.bytes_c2s, s.bytes_s2c) == (9, 550, 300, 250)
    icmp = parse_line("[DESTROY] ipv4 2 icmp 1 src=10.2.0.10 dst=10.1.0.10 type=8 code=0 id=9 "
                      "src=10.1.0.10 dst=10.2.0.10 type=0 code=0 id=9 mark=65538 id=5")
    assert icmp is not None and icmp.event == "destroy" and icmp.icmp_type == 8
    assert parse_line("conntrack v1.4.7 (conntrack-tools): 0 flow entries") is None
    assert parse_line("ipv4 2 tcp x") is None


def test_filters():
    sessions = [{"src": "10.2.0.10", "dport": 22, "rule": "b-ssh"},
                {"src": "10.2.0.11", "dport": 80, "rule": "web"}]
    assert filter_sessions(sessions, ["destination-port", "22"]) == sessions[:1]
    assert filter_sessions(sessions, ["rule", "web", "source", "10.2.0.11"]) == sessions[1:]
    with pytest.raises(FilterError):
        filter_sessions(sessions, ["colour", "red"])
    logs = [{"src": "10.2.0.10", "action": "deny", "rule": "a"},
            {"src": "10.3.0.1", "action": "allow", "rule": "b"},
            {"src": "10.2.0.99", "action": "deny", "rule": "c"}]
    assert [e["rule"] for e in filter_logs(logs, ["src", "in", "10.2.0.0/24"])] == ["a", "c"]
    assert [e["rule"] for e in filter_logs(logs, ["action", "equal", "deny", "direction",
                                                  "equal", "backward"])] == ["c", "a"]
    with pytest.raises(FilterError):
        filter_logs(logs, ["src", "in"])


def _nl_packet(prefix: bytes, payload: bytes, indev: int = 3) -> bytes:
    attrs = (nflog._attr(nflog.NFULA_PREFIX, prefix + b"\0")
             + nflog._attr(nflog.NFULA_IFINDEX_INDEV, struct.pack(">I", indev))
             + nflog._attr(nflog.NFULA_PAYLOAD, payload))
    body = struct.pack("=BBH", socket.AF_INET, 0, socket.htons(14)) + attrs
    kind = nflog.NFNL_SUBSYS_ULOG << 8 | nflog.NFULNL_MSG_PACKET
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


def test_nflog_datagram():
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]) + bytes([10, 2, 0, 10]) + \
        bytes([10, 1, 0, 10])
    tcp = struct.pack(">HH", 41234, 2000) + b"\0" * 16
    data = _nl_packet(b"vpnsh:4 ", ip + tcp) * 2
    pkts = list(nflog.parse(data))
    assert len(pkts) == 2
    p = pkts[0]
    assert (p.prefix, p.indev, p.src, p.dst, p.proto, p.sport, p.dport) == \
        ("vpnsh:4 ", 3, "10.2.0.10", "10.1.0.10", 6, 41234, 2000)
    assert list(nflog.parse(data[:30])) == []  # truncated: nothing, no exception


FORMS = [
    ("test security-policy-match from vpn to trust source 10.2.0.10 destination 10.1.0.10 "
     "protocol 6 destination-port 22 application ssh show-all yes",
     "test security-policy-match",
     {"from": "vpn", "to": "trust", "source": "10.2.0.10", "destination": "10.1.0.10",
      "protocol": 6, "destination_port": 22, "application": "ssh", "show_all": "yes"}),
    ("show rule-hit-count vsys vsys-name vsys1 rule-base security rules all",
     "show rule-hit-count", {"vsys": "vsys1", "rule_base": "security"}),
    ("show running security-policy", "show running security-policy", {}),
    ("show session all filter source 10.2.0.10 rule b-ssh", "show session all",
     {"filter": ["source", "10.2.0.10", "rule", "b-ssh"]}),
    ("show session id 77", "show session id", {"session_id": 77}),
    ("clear session all", "clear session all", {}),
    ("clear session id 77", "clear session id", {"session_id": 77}),
    ("show log traffic action equal deny", "show log traffic",
     {"filter": ["action", "equal", "deny"]}),
]


@pytest.mark.parametrize("line, name, args", FORMS)
def test_firewall_commands_parse_and_reach_an_engine_op(line, name, args):
    from vpnsh.engine.service import _OPS
    from vpnsh.shell import opcommands
    from vpnsh.shell.parser import parse

    command = parse(line, "operational")
    assert command is not None and (command.name, command.args) == (name, args)
    found = opcommands.lookup(command.name, command.args)
    assert found is not None and found.op in _OPS


def test_show_rule_hit_count_without_vsys_name_is_invalid_syntax():
    from vpnsh.shell.parser import CommandError, parse

    with pytest.raises(CommandError):
        parse("show rule-hit-count vsys vsys1 rule-base security rules all", "operational")
