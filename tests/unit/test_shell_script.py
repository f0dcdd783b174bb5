"""Scripts: -c, -f, stdin; exit statuses, line numbers, --keep-going; flags; lab dispatch."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.unit.test_shell_fake_client import FakeClient
from vpnsh.shell import main as shell_main
from vpnsh.shell.script import run_script
from vpnsh.shell.session import Session


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    fake = FakeClient()
    monkeypatch.setattr(shell_main, "make_client", lambda path: fake)
    return fake


def test_c_commands_run_in_one_session(client: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    rc = shell_main.main(["-c", "configure",
                          "-c", "set network ike gateway GW1 peer-address ip 203.0.113.1",
                          "-c", "commit"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert out.splitlines()[-1] == "Configuration committed successfully"
    assert "GW1" in client.candidate["network"]["ike"]["gateway"]


def test_script_stops_at_first_failure_naming_the_line(client: FakeClient,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc = shell_main.main(["-c", "configure", "-c", "set network ike gateway GW1 disabled yes",
                          "-c", "set network ike", "-c", "commit"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert err.splitlines()[0] == "line 3: Invalid syntax."
    assert "config.commit" not in client.ops()


def test_keep_going_runs_every_line_and_still_fails(client: FakeClient,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rc = shell_main.main(["--keep-going", "-c", "bogus", "-c", "configure", "-c", "commit"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert err.splitlines() == ["line 1: Unknown command: bogus"]
    assert "config.commit" in client.ops()


def test_file_script_counts_blank_and_comment_lines(client: FakeClient, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.txt"
    script.write_text("# a comment\n\nconfigure\nset network ike gateway GW1 bogus\ncommit\n")
    rc = shell_main.main(["-f", str(script)])
    _, err = capsys.readouterr()
    assert rc == 1 and err.startswith("line 4: Invalid syntax.")


def test_stdin_when_not_a_terminal(client: FakeClient, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("show system info | match hostname\n"))
    rc = shell_main.main([])
    out, _ = capsys.readouterr()
    assert rc == 0 and out == "hostname: fw1\n"


def test_output_json(client: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    rc = shell_main.main(["--output", "json", "-c", "show vpn ipsec-sa"])
    out, _ = capsys.readouterr()
    assert rc == 0 and json.loads(out)["op"] == "vpn.ipsec-sa.show"


def test_validation_error_in_a_script(client: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    client.fail("config.commit", "Validation Error:\nnetwork -> ike -> gateway -> GW1 is missing 'peer-address'",
                "validation")
    rc = shell_main.main(["-c", "configure", "-c", "commit"])
    _, err = capsys.readouterr()
    assert rc == 1
    assert err.splitlines() == ["line 2: Validation Error:",
                                " network -> ike -> gateway -> GW1 is missing 'peer-address'"]


def test_exit_ends_the_script() -> None:
    fake = FakeClient()
    out, err = io.StringIO(), io.StringIO()
    rc = run_script(Session(fake, user="u"), ["exit", "bogus"], out, err)
    assert rc == 0 and err.getvalue() == ""


def test_c_and_f_together_are_refused(client: FakeClient) -> None:
    with pytest.raises(SystemExit):
        shell_main.main(["-c", "show system info", "-f", "x"])


def test_socket_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPNSH_SOCKET", "/tmp/from-env.sock")
    assert shell_main.make_client(None).path == "/tmp/from-env.sock"
    assert shell_main.make_client("/tmp/flag.sock").path == "/tmp/flag.sock"
    monkeypatch.delenv("VPNSH_SOCKET")
    assert shell_main.make_client(None).path == "/run/vpnsh/vpnsh.sock"


def test_lab_dispatches_to_vpnsh_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    import vpnsh.lab

    seen: list[list[str]] = []
    monkeypatch.setattr(vpnsh.lab, "main", lambda argv: seen.append(argv) or 0)
    assert shell_main.main(["lab", "shell", "site-a"]) == 0
    assert seen == [["shell", "site-a"]]


def test_lab_missing_module_says_so(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "vpnsh.lab", None)
    assert shell_main.main(["lab", "up"]) == 2
    assert "no module vpnsh.lab" in capsys.readouterr().err
