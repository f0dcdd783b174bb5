"""The command grammar: every command form parses to the right command and args."""

from __future__ import annotations

import pytest

from vpnsh.shell.parser import (
    CONFIGURE,
    OPERATIONAL,
    CommandError,
    Pipe,
    first_words,
    parse,
    split_for_completion,
    unquote,
)

OP_FORMS = [
    ("configure", "configure", {}),
    ("exit", "exit", {}),
    ("quit", "exit", {}),
    ("show vpn ike-sa", "show vpn ike-sa", {}),
    ("show vpn ike-sa gateway GW1", "show vpn ike-sa", {"gateway": "GW1"}),
    ("show vpn ike-sa detail gateway GW1", "show vpn ike-sa", {"detail": True, "gateway": "GW1"}),
    ("show vpn ipsec-sa", "show vpn ipsec-sa", {}),
    ("show vpn ipsec-sa tunnel T1", "show vpn ipsec-sa", {"tunnel": "T1"}),
    ("show vpn ipsec-sa tunnel T1:PID", "show vpn ipsec-sa", {"tunnel": "T1:PID"}),
    ("show vpn ipsec-sa summary", "show vpn ipsec-sa", {"summary": True}),
    ("show vpn flow", "show vpn flow", {}),
    ("show vpn flow name T1", "show vpn flow", {"name": "T1"}),
    ("show vpn flow tunnel-id 4", "show vpn flow", {"tunnel_id": 4}),
    ("show vpn gateway", "show vpn gateway", {}),
    ("show vpn gateway gateway GW1", "show vpn gateway", {"gateway": "GW1"}),
    ("show vpn tunnel", "show vpn tunnel", {}),
    ("show vpn tunnel name T1", "show vpn tunnel", {"name": "T1"}),
    ("show running tunnel flow", "show running tunnel flow", {}),
    ("show running tunnel flow all", "show running tunnel flow", {"all": True}),
    ("show running tunnel flow info", "show running tunnel flow", {"info": True}),
    ("show running tunnel flow tunnel-id 2", "show running tunnel flow", {"tunnel_id": 2}),
    ("test vpn ike-sa", "test vpn ike-sa", {}),
    ("test vpn ike-sa gateway GW1", "test vpn ike-sa", {"gateway": "GW1"}),
    ("test vpn ipsec-sa", "test vpn ipsec-sa", {}),
    ("test vpn ipsec-sa tunnel T1", "test vpn ipsec-sa", {"tunnel": "T1"}),
    ("clear vpn ike-sa", "clear vpn ike-sa", {}),
    ("clear vpn ike-sa gateway GW1", "clear vpn ike-sa", {"gateway": "GW1"}),
    ("clear vpn ipsec-sa", "clear vpn ipsec-sa", {}),
    ("clear vpn ipsec-sa tunnel T1", "clear vpn ipsec-sa", {"tunnel": "T1"}),
    ("show config running", "show config", {"which": "running"}),
    ("show config candidate", "show config", {"which": "candidate"}),
    ("show config diff", "show config", {"which": "diff"}),
    ("show system info", "show system info", {}),
    ("show jobs all", "show jobs", {}),
    ("set cli config-output-format set", "set cli config-output-format", {"format": "set"}),
    ("set cli config-output-format default", "set cli config-output-format", {"format": "default"}),
    ("set cli config-output-format xml", "set cli config-output-format", {"format": "xml"}),
    ("set cli config-output-format json", "set cli config-output-format", {"format": "json"}),
    ("set cli pager off", "set cli pager", {"state": "off"}),
    ("set cli pager on", "set cli pager", {"state": "on"}),
    ("set cli scripting-mode on", "set cli scripting-mode", {"state": "on"}),
    ("set cli terminal width 999", "set cli terminal width", {"width": 999}),
    ("ping source 10.0.0.1 host 10.0.0.2", "ping", {"source": "10.0.0.1", "host": "10.0.0.2"}),
    ("ping source 10.0.0.1 host 10.0.0.2 count 3", "ping",
     {"source": "10.0.0.1", "host": "10.0.0.2", "count": 3}),
    ("less mp-log ikemgr.log", "less mp-log", {"file": "ikemgr.log"}),
    ("show log system", "show log system", {}),
    ("show log system subtype equal vpn", "show log system", {"filter": ["subtype", "equal", "vpn"]}),
]


@pytest.mark.parametrize(("line", "name", "args"), OP_FORMS)
def test_operational_forms(line: str, name: str, args: dict) -> None:
    command = parse(line, OPERATIONAL)
    assert command is not None
    assert command.name == name
    assert command.args == args
    assert command.pipes == []


CFG_FORMS = [
    ("set network ike gateway GW1 protocol version ikev2", "set",
     {"path": ["network", "ike", "gateway", "GW1", "protocol", "version", "ikev2"]}),
    ('set network tunnel ipsec "T 1" comment "to site B"', "set",
     {"path": ["network", "tunnel", "ipsec", "T 1", "comment", "to site B"]}),
    ("set network ike crypto-profiles ike-crypto-profiles P hash [ sha512 sha384 ]", "set",
     {"path": ["network", "ike", "crypto-profiles", "ike-crypto-profiles", "P", "hash",
               "[", "sha512", "sha384", "]"]}),
    # "to" and "top" are plain words inside a set path
    ("set rulebase security rules R from trust to vpn action allow", "set",
     {"path": ["rulebase", "security", "rules", "R", "from", "trust", "to", "vpn", "action", "allow"]}),
    ("delete network ike gateway GW1", "delete", {"path": ["network", "ike", "gateway", "GW1"]}),
    ("edit network ike gateway GW1", "edit", {"path": ["network", "ike", "gateway", "GW1"]}),
    ("up", "up", {}),
    ("top", "top", {}),
    ("exit", "exit", {}),
    ("quit", "exit", {}),
    ("show", "show", {}),
    ("show network ike", "show", {"path": ["network", "ike"]}),
    ('rename rulebase security rules "A b" to B', "rename",
     {"path": ["rulebase", "security", "rules", "A b"], "new_name": "B"}),
    ("move rulebase security rules R top", "move", {"path": ["rulebase", "security", "rules", "R"], "top": True}),
    ("move rulebase security rules R bottom", "move",
     {"path": ["rulebase", "security", "rules", "R"], "bottom": True}),
    ("move rulebase security rules R before X", "move",
     {"path": ["rulebase", "security", "rules", "R"], "before": "X"}),
    ("move rulebase security rules R after X", "move",
     {"path": ["rulebase", "security", "rules", "R"], "after": "X"}),
    ("commit", "commit", {}),
    ("commit force", "commit", {"force": True}),
    ('commit description "first tunnel"', "commit", {"description": "first tunnel"}),
    ('commit force description "x"', "commit", {"force": True, "description": "x"}),
    ("validate full", "validate", {}),
    ("revert config", "revert", {}),
    ("save config to snap1", "save", {"file": "snap1"}),
    ("load config from snap1", "load", {"file": "snap1"}),
]


@pytest.mark.parametrize(("line", "name", "args"), CFG_FORMS)
def test_configure_forms(line: str, name: str, args: dict) -> None:
    command = parse(line, CONFIGURE)
    assert command is not None
    assert (command.name, command.args) == (name, args)


def test_run_wraps_an_operational_command() -> None:
    command = parse("run show vpn ike-sa gateway GW1 | match GW", CONFIGURE)
    assert command is not None and command.name == "run"
    assert command.inner is not None
    assert (command.inner.name, command.inner.args) == ("show vpn ike-sa", {"gateway": "GW1"})
    assert command.pipes == [Pipe("match", "GW")]


def test_pipes_chain_in_order_and_take_quoted_regexes() -> None:
    command = parse('show vpn flow | match "tunnel [0-9]" | except down', OPERATIONAL)
    assert command is not None
    assert command.pipes == [Pipe("match", "tunnel [0-9]"), Pipe("except", "down")]


def test_unquoted_regex_may_hold_brackets() -> None:
    command = parse("show system info | match ^[a-z]+:", OPERATIONAL)
    assert command is not None and command.pipes == [Pipe("match", "^[a-z]+:")]


def test_keyword_text_is_a_name_where_a_name_is_expected() -> None:
    command = parse("show vpn ike-sa gateway detail", OPERATIONAL)
    assert command is not None and command.args == {"gateway": "detail"}


def test_blank_line_is_no_command() -> None:
    assert parse("   ", OPERATIONAL) is None


@pytest.mark.parametrize(("line", "mode", "message"), [
    ("bogus", OPERATIONAL, "Unknown command: bogus"),
    ("sho vpn flow", OPERATIONAL, "Unknown command: sho"),
    ("commit", OPERATIONAL, "Unknown command: commit"),
    ("configure", CONFIGURE, "Unknown command: configure"),
    ("frobnicate network", CONFIGURE, "Unknown command: frobnicate"),
    ("show", OPERATIONAL, "Invalid syntax."),
    ("show vpn", OPERATIONAL, "Invalid syntax."),
    ("show vpn ike-sa gateway", OPERATIONAL, "Invalid syntax."),
    ("show vpn ike-sa bogus", OPERATIONAL, "Invalid syntax."),
    ("show vpn flow tunnel-id x", OPERATIONAL, "Invalid syntax."),
    ("set cli pager maybe", OPERATIONAL, "Invalid syntax."),
    ("set cli config-output-format yaml", OPERATIONAL, "Invalid syntax."),
    ("show vpn flow |", OPERATIONAL, "Invalid syntax."),
    ("show vpn flow | grep x", OPERATIONAL, "Invalid syntax."),
    ("set", CONFIGURE, "Invalid syntax."),
    ("rename rulebase security rules A", CONFIGURE, "Invalid syntax."),
    ("move rulebase security rules A", CONFIGURE, "Invalid syntax."),
    ("validate", CONFIGURE, "Invalid syntax."),
    ("run bogus", CONFIGURE, "Invalid syntax."),
    ('set network ike gateway "unterminated', CONFIGURE, "Invalid syntax."),
])
def test_errors_are_panos_strings(line: str, mode: str, message: str) -> None:
    with pytest.raises(CommandError) as info:
        parse(line, mode)
    assert str(info.value) == message


def test_first_words_per_mode() -> None:
    assert {"configure", "show", "test", "clear", "set", "exit", "ping", "less"} <= first_words(OPERATIONAL)
    assert "commit" not in first_words(OPERATIONAL)
    assert {"set", "delete", "edit", "up", "top", "commit", "run", "rename", "move"} <= first_words(CONFIGURE)
    assert "configure" not in first_words(CONFIGURE)


def test_unquote_and_completion_split() -> None:
    assert unquote('"a \\"b\\" c"') == 'a "b" c'
    assert unquote("plain") == "plain"
    assert split_for_completion("show vp") == ("show ", ["show"], "vp")
    assert split_for_completion("show vpn ") == ("show vpn ", ["show", "vpn"], "")
