"""The interactive loop driven through prompt_toolkit's pipe input (no terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tests.unit.test_shell_fake_client import FakeClient
from vpnsh.shell import interactive
from vpnsh.shell.session import Session


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HOME", str(tmp_path))
    yield tmp_path


def drive(session: Session, keys: str) -> None:
    with create_pipe_input() as inp:
        inp.send_text(keys)
        inp.close()  # end of input: the loop sees EOF if the keys did not end it
        with create_app_session(input=inp, output=DummyOutput()):
            interactive.run_interactive(session)


def test_commands_context_lines_and_history(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = Session(FakeClient(hostname="fw"), user="admin")
    drive(session, "configure\redit network ike gateway GW1\rtop\rexit\rexit\r")
    out = capsys.readouterr().out
    assert "Entering configuration mode\n[edit]\n" in out
    assert "[edit network ike gateway GW1]\n" in out
    assert session.finished
    history = (home / ".vpnsh_history").read_text()
    assert "edit network ike gateway GW1" in history


def test_question_mark_lists_choices_without_enter(capsys: pytest.CaptureFixture[str]) -> None:
    session = Session(FakeClient(hostname="fw"), user="admin")
    drive(session, "show vpn ?\x15exit\r")  # ?, then Ctrl-U clears the line, then exit
    out = capsys.readouterr().out
    assert "admin@fw> show vpn ?\n" in out
    assert "> ike-sa     show IKE SA\n" in out
    assert session.finished


def test_question_mark_inside_quotes_is_text() -> None:
    assert interactive.inside_quotes('set x comment "what')
    assert not interactive.inside_quotes('set x comment "what" ')


def test_errors_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    session = Session(FakeClient(hostname="fw"), user="admin")
    drive(session, "bogus\rexit\r")
    assert "Unknown command: bogus\n" in capsys.readouterr().out
