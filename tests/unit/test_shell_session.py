"""Session logic: modes, prompts, the edit level, commit and error texts, pipes, JSON."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_shell_fake_client import FakeClient
from vpnsh.shell.session import Session


@pytest.fixture
def client() -> FakeClient:
    return FakeClient(hostname="PA-VM")


@pytest.fixture
def session(client: FakeClient) -> Session:
    return Session(client, user="admin")


def run(session: Session, *lines: str) -> list:
    return [session.execute(line) for line in lines]


def test_prompts_and_context_lines(session: Session) -> None:
    assert session.prompt() == "admin@PA-VM> "
    assert session.context_line() is None
    out = session.execute("configure")
    assert out.ok and out.output == "Entering configuration mode\n"
    assert session.prompt() == "admin@PA-VM# "
    assert session.context_line() == "[edit]"


def test_hostname_falls_back_to_local_name_without_daemon(client: FakeClient) -> None:
    import socket

    client.fail("system.info", "cannot reach vpnshd", "connect")
    assert Session(client, user="u").prompt() == f"u@{socket.gethostname()}> "


def test_edit_up_top_paths(session: Session, client: FakeClient) -> None:
    run(session, "configure", "edit network ike gateway GW1")
    assert session.context_line() == "[edit network ike gateway GW1]"
    assert session.execute("set protocol version ikev2").ok
    assert client.requests[-1] == (
        "config.set", {"tokens": ["network", "ike", "gateway", "GW1", "protocol", "version", "ikev2"]})
    session.execute("edit protocol ikev2")
    assert session.context_line() == "[edit network ike gateway GW1 protocol ikev2]"
    session.execute("up")
    assert session.edit_path == ["network", "ike", "gateway", "GW1", "protocol"]
    session.execute("up")
    assert session.context_line() == "[edit network ike gateway GW1]"
    session.execute("up")  # "gateway GW1" is one level
    assert session.context_line() == "[edit network ike]"
    session.execute("top")
    assert session.context_line() == "[edit]"
    session.execute("up")  # at the top, up stays there
    assert session.context_line() == "[edit]"


def test_edit_quotes_names_with_blanks(session: Session) -> None:
    run(session, "configure", 'edit network tunnel ipsec "T one"')
    assert session.context_line() == '[edit network tunnel ipsec "T one"]'


def test_edit_into_leaf_or_unknown_keyword_is_invalid(session: Session) -> None:
    session.execute("configure")
    out = session.execute("edit network bogus")
    assert (out.ok, out.error) == (False, "Invalid syntax.")
    out = session.execute("edit network ike gateway GW1 disabled")
    assert (out.ok, out.error) == (False, "Invalid syntax.")
    assert session.edit_path == []


def test_exit_leaves_a_level_then_configure_mode(session: Session) -> None:
    run(session, "configure", "edit network ike")
    session.execute("exit")
    assert session.mode == "configure" and session.context_line() == "[edit network]"
    run(session, "top", "exit")
    assert session.mode == "operational" and not session.finished
    session.execute("exit")
    assert session.finished


def test_show_in_configure_mode_is_relative_and_uses_format(session: Session, client: FakeClient) -> None:
    run(session, "configure", "set network ike gateway GW1 peer-address ip 203.0.113.1",
        "edit network ike gateway GW1")
    out = session.execute("show")
    assert out.ok
    assert client.requests[-1] == ("config.show", {
        "which": "candidate", "path": ["network", "ike", "gateway", "GW1"], "format": "default"})
    assert "peer-address {" in out.output and "203.0.113.1" in out.output
    run(session, "top", "run set cli config-output-format set")
    out = session.execute("show network ike gateway")
    assert "set network ike gateway GW1 peer-address ip 203.0.113.1" in out.output


def test_secret_is_shown_encrypted_only(session: Session) -> None:
    run(session, "configure", "set network ike gateway GW1 authentication pre-shared-key key Sup3rSecret")
    out = session.execute("show network ike gateway GW1")
    assert "-AQ==" in out.output and "Sup3rSecret" not in out.output


def test_commit_prints_panos_lines(session: Session, client: FakeClient) -> None:
    run(session, "configure", "set network ike gateway GW1 peer-address ip 203.0.113.1")
    out = session.execute('commit description "first"')
    assert out.ok
    assert out.output.splitlines() == [
        "Commit job 1 is in progress. Use Ctrl+C to return to command prompt",
        "...........98%..............100%",
        "Configuration committed successfully",
    ]
    assert client.requests[-1] == ("config.commit", {"description": "first"})


def test_commit_from_job_and_status_result(session: Session, client: FakeClient) -> None:
    session.execute("configure")
    client.results["config.commit"] = {"job": 7, "result": "OK"}
    out = session.execute("commit")
    assert out.output.splitlines() == [
        "Commit job 7 is in progress. Use Ctrl+C to return to command prompt",
        "...........98%..............100%",
        "Configuration committed successfully",
    ]
    client.results["config.commit"] = {"job": 8, "result": "FAIL",
                                       "details": ["network -> ike -> gateway -> GW1 is missing 'peer-address'"]}
    out = session.execute("commit")
    assert not out.ok
    assert out.error.splitlines() == [
        "Commit job 8 is in progress. Use Ctrl+C to return to command prompt",
        "...........98%..............100%",
        "Validation Error:", " network -> ike -> gateway -> GW1 is missing 'peer-address'",
        "Commit failed"]


def test_validation_error_from_daemon(session: Session, client: FakeClient) -> None:
    session.execute("configure")
    client.fail("config.commit", "Validation Error:\nnetwork -> tunnel -> ipsec -> T -> auto-key -> "
                "ike-gateway 'X' is not a valid reference", "validation")
    out = session.execute("commit")
    assert not out.ok
    assert out.error == ("Validation Error:\n network -> tunnel -> ipsec -> T -> auto-key -> "
                         "ike-gateway 'X' is not a valid reference")
    client.fail("config.validate", "a -> b bad\nc -> d worse", "validation")
    out = session.execute("validate full")
    assert out.error == "Validation Error:\n a -> b bad\n c -> d worse"
    # the daemon's own text (job, progress, reasons, verdict) is printed as it is
    text = ("Commit job 3 is in progress. Use Ctrl+C to return to command prompt\n"
            "...........98%..............100%\nValidation Error:\n a -> b bad\nCommit failed")
    client.fail("config.commit", text, "validation")
    assert session.execute("commit").error == text


def test_server_error_and_syntax_error_texts(session: Session, client: FakeClient) -> None:
    session.execute("configure")
    out = session.execute("set network ike gateway GW1 bogus 1")
    assert not out.ok and out.error.splitlines()[0] == "Invalid syntax."
    client.fail("config.set", "destination  is invalid", "server")
    out = session.execute("set network ike gateway GW1 disabled yes")
    assert out.error == "Server error : destination  is invalid"


def test_connect_error_is_passed_through(session: Session, client: FakeClient) -> None:
    client.fail("engine.op", "cannot reach vpnshd at /x: No such file", "connect")
    out = session.execute("show vpn flow")
    assert out.error == "cannot reach vpnshd at /x: No such file"


def test_vpn_commands_go_to_the_engine(session: Session, client: FakeClient) -> None:
    out = session.execute("show vpn ike-sa gateway GW1")
    assert out.ok and "There is no IKEv2 SA found." in out.output
    assert client.requests[-1] == ("engine.op", {"name": "vpn.ike-sa.show", "args": {"gateway": "GW1"}})
    session.execute("show vpn ike-sa detail gateway GW1")
    assert client.requests[-1] == ("engine.op", {"name": "vpn.ike-sa.detail", "args": {"gateway": "GW1"}})
    session.execute("show vpn flow tunnel-id 3")
    assert client.requests[-1] == ("engine.op", {"name": "vpn.flow.show", "args": {"tunnel_id": 3}})
    session.execute("clear vpn ipsec-sa tunnel T1")
    assert client.requests[-1] == ("engine.op", {"name": "vpn.ipsec-sa.clear", "args": {"tunnel": "T1"}})
    run(session, "configure")
    session.execute("run test vpn ike-sa gateway GW1")
    assert client.requests[-1] == ("engine.op", {"name": "vpn.ike-sa.test", "args": {"gateway": "GW1"}})


def test_pipes_filter_output(session: Session) -> None:
    out = session.execute("show system info | match host")
    assert out.output == "hostname: PA-VM\n"
    out = session.execute("show system info | except host")
    assert out.output == "uptime: 0 days, 0:00:01\n"
    out = session.execute("show system info | match (")
    assert not out.ok and out.error.startswith("Invalid syntax.")


def test_json_output_for_show_commands(client: FakeClient) -> None:
    session = Session(client, user="admin", output_json=True)
    out = session.execute("show vpn flow")
    assert json.loads(out.output)["op"] == "vpn.flow.show"
    out = session.execute("show system info")
    assert json.loads(out.output)["hostname"] == "PA-VM"
    session.execute("configure")
    session.execute("set network ike gateway GW1 peer-address ip 203.0.113.1")
    out = session.execute("show network ike gateway")
    assert client.requests[-1][1]["format"] == "json"
    assert json.loads(out.output)


def test_cli_settings(session: Session) -> None:
    run(session, "set cli config-output-format xml", "set cli pager off",
        "set cli scripting-mode on", "set cli terminal width 200")
    s = session.settings
    assert (s.config_output_format, s.pager, s.scripting_mode, s.terminal_width) == ("xml", False, True, 200)
    assert session.execute("set cli terminal width 5").error == "Invalid syntax."


def test_rename_and_move_requests(session: Session, client: FakeClient) -> None:
    run(session, "configure", "set rulebase security rules A action allow",
        "set rulebase security rules B action allow")
    assert session.execute("move rulebase security rules B before A").ok
    assert client.requests[-1] == ("config.move", {
        "tokens": ["rulebase", "security", "rules", "B"], "where": "before", "ref": "A"})
    assert list(client.candidate["rulebase"]["security"]["rules"]) == ["B", "A"]
    assert session.execute("rename rulebase security rules A to C").ok
    assert list(client.candidate["rulebase"]["security"]["rules"]) == ["B", "C"]


def test_show_jobs_all(session: Session) -> None:
    out = session.execute("show jobs all")
    lines = out.output.splitlines()
    assert lines[0].startswith("Enqueued") and "Commit" in lines[2] and "OK" in lines[2]


def test_unsupported_daemon_op_is_a_server_error(session: Session) -> None:
    out = session.execute("show log system subtype equal vpn")
    assert out.error == "Server error : unknown op 'log.system'"


def test_show_config_works_in_both_modes(session: Session, client: FakeClient) -> None:
    session.execute("show config running")
    assert client.requests[-1] == ("config.show", {"which": "running", "path": [], "format": "default"})
    session.execute("configure")
    session.execute("edit network ike")
    session.execute("show config candidate")
    assert client.requests[-1] == ("config.show", {"which": "candidate", "path": [], "format": "default"})
    session.execute("run set cli config-output-format set")
    session.execute("show config diff")
    assert client.requests[-1] == ("config.diff", {"format": "set"})
