"""TAB and ``?`` through prompt_toolkit's completion API and the ? formatter."""

from __future__ import annotations

from typing import Any

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from tests.unit.test_shell_fake_client import FakeClient
from vpnsh.shell.completion import ShellCompleter, help_items, question_mark_text
from vpnsh.shell.session import Session


@pytest.fixture
def session() -> Session:
    client = FakeClient()
    s = Session(client, user="admin")
    for line in ("configure",
                 "set network ike gateway GW1 peer-address ip 203.0.113.1",
                 "set network ike gateway GW2 peer-address ip 203.0.113.2",
                 "set network tunnel ipsec T1 tunnel-interface tunnel.1",
                 "set network interface tunnel units tunnel.1 mtu 1400",
                 "set network interface tunnel units tunnel.7 mtu 1400"):
        assert s.execute(line).ok, line
    s.execute("exit")
    return s


def words(session: Session, text: str) -> list[str]:
    completer = ShellCompleter(session, session.candidate_tree)
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def metas(session: Session, text: str) -> dict[str, Any]:
    completer = ShellCompleter(session, session.candidate_tree)
    return {c.text: c.display_meta_text
            for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))}


def test_show_vpn_keywords_with_help(session: Session) -> None:
    meta = metas(session, "show vpn ")
    assert sorted(meta) == ["flow", "gateway", "ike-sa", "ipsec-sa", "tunnel"]
    assert meta["flow"] == "Show dataplane IPSec-VPN tunnel information"
    assert meta["ike-sa"] == "show IKE SA"


def test_partial_keyword_completes_with_start_position(session: Session) -> None:
    completer = ShellCompleter(session, session.candidate_tree)
    comps = list(completer.get_completions(Document("show vpn ip"), CompleteEvent()))
    assert [(c.text, c.start_position) for c in comps] == [("ipsec-sa", -2)]


def test_first_words_of_each_mode(session: Session) -> None:
    assert words(session, "c") == ["clear", "configure"]
    session.execute("configure")
    assert words(session, "c") == ["commit"]
    assert "validate" in words(session, "")


def test_operational_gateway_names(session: Session) -> None:
    assert words(session, "show vpn ike-sa gateway ") == ["GW1", "GW2"]
    assert words(session, "test vpn ipsec-sa tunnel ") == ["T1"]


def test_set_ike_gateway_lists_existing_gateways(session: Session) -> None:
    session.execute("configure")
    assert words(session, "set network ike gateway ") == ["GW1", "GW2"]
    assert words(session, "set network ike gateway G") == ["GW1", "GW2"]


def test_protocol_version_values(session: Session) -> None:
    session.execute("configure")
    assert words(session, "set network ike gateway GW1 protocol version ") == [
        "ikev1", "ikev2", "ikev2-preferred"]


def test_tunnel_ike_gateway_is_a_reference_to_existing_gateways(session: Session) -> None:
    session.execute("configure")
    got = words(session, "set network tunnel ipsec T auto-key ike-gateway ")
    assert "GW1" in got and "GW2" in got


def test_tunnel_units_names(session: Session) -> None:
    session.execute("configure")
    assert words(session, "set network interface tunnel units ") == ["tunnel.1", "tunnel.7"]


def test_completion_is_relative_to_the_edit_level(session: Session) -> None:
    session.execute("configure")
    session.execute("edit network ike gateway GW1")
    got = words(session, "set protocol ")
    assert {"version", "ikev1", "ikev2"} <= set(got)


def test_run_completes_operational_commands(session: Session) -> None:
    session.execute("configure")
    assert words(session, "run show vpn i") == ["ike-sa", "ipsec-sa"]


def test_pipe_keywords(session: Session) -> None:
    assert words(session, "show vpn flow | ") == ["except", "match"]


def test_names_with_blanks_are_quoted(session: Session) -> None:
    session.execute("configure")
    assert session.execute('set network ike gateway "GW three" peer-address ip 198.51.100.9').ok
    assert '"GW three"' in words(session, "set network ike gateway ")


# ------------------------------------------------------------------ the ? listing


def q(session: Session, text: str) -> str:
    return question_mark_text(text, session.mode, session.edit_path, session.candidate_tree)


def test_question_mark_show_vpn_layout(session: Session) -> None:
    assert q(session, "show vpn ").splitlines() == [
        "> flow       Show dataplane IPSec-VPN tunnel information",
        "> gateway    show list of IKE gateway configuration",
        "> ike-sa     show IKE SA",
        "> ipsec-sa   show IPSec SA",
        "> tunnel     show list of auto-key IPSec tunnel configuration",
    ]


def test_question_mark_lists_names_value_enter_and_pipe(session: Session) -> None:
    lines = q(session, "show vpn ike-sa detail gateway ").splitlines()
    assert lines == ["  GW1       GW1", "  GW2       GW2", "  <value>   Show for given IKE gateway"]
    optional = q(session, "show vpn ike-sa ").splitlines()
    assert optional[-2:] == ["  <Enter>   Finish input", "  |         Pipe through a command"]
    assert optional[0].startswith("> detail")


def test_question_mark_config_path_marks_nested_levels(session: Session) -> None:
    session.execute("configure")
    lines = q(session, "set network ike gateway GW1 ").splitlines()
    assert any(line.startswith("> protocol ") for line in lines)
    assert any(line.startswith("  disabled ") for line in lines)


def test_question_mark_errors(session: Session) -> None:
    assert q(session, "bogus ") == "Unknown command: bogus\n"
    assert q(session, "show vpn bogus ") == "Invalid syntax.\n"


def test_help_items_hints_are_not_insertable(session: Session) -> None:
    items = help_items("show vpn flow tunnel-id ", "operational", [], session.candidate_tree)
    assert [i.word for i in items] == ["<value>"]
    assert not items[0].insertable
    assert words(session, "show vpn flow tunnel-id ") == []
