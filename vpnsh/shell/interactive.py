"""The interactive shell: a prompt_toolkit session around :class:`Session`.

``?`` lists the next choices at once (a key binding, no Enter), TAB completes,
history lives in memory and in ``~/.vpnsh_history`` (secrets masked, mode 0600), long output goes through
a pager when the pager is on and stdout is a terminal.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from vpnsh.shell.completion import ShellCompleter, question_mark_text
from vpnsh.shell.history import private_history
from vpnsh.shell.parser import inside_quotes
from vpnsh.shell.session import Session

TREE_CACHE_SECONDS = 2.0


class CachedTree:
    """The candidate tree for completion, fetched at most every few seconds."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._tree: dict[str, Any] = {}
        self._at = 0.0

    def __call__(self) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._at > TREE_CACHE_SECONDS:
            try:
                self._tree = self.session.candidate_tree()
            except Exception:
                self._tree = {}
            self._at = now
        return self._tree

    def invalidate(self) -> None:
        self._at = 0.0


def key_bindings(session: Session, tree: CachedTree) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("?")
    def _question(event: KeyPressEvent) -> None:
        buf = event.app.current_buffer
        before = buf.document.text_before_cursor
        if inside_quotes(before):
            buf.insert_text("?")
            return
        text = question_mark_text(before, session.mode, session.edit_path, tree)
        echo = f"{session.prompt()}{before}?"

        def show() -> None:
            print(echo)
            print(text, end="")

        run_in_terminal(show)

    return kb


def page(text: str, session: Session) -> None:
    """Print ``text``; through ``less`` when the pager is on and it does not fit."""
    rows = shutil.get_terminal_size().lines
    use_pager = (
        session.settings.pager
        and not session.settings.scripting_mode
        and sys.stdout.isatty()
        and text.count("\n") >= rows - 1
        and shutil.which("less")
    )
    if use_pager:
        try:
            subprocess.run(["less", "-FRX"], input=text, text=True, check=False)
            return
        except OSError:
            pass
    sys.stdout.write(text)
    sys.stdout.flush()


def _stream(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run_interactive(session: Session) -> int:
    tree = CachedTree(session)
    session.on_change = tree.invalidate
    session.stream = _stream  # tail follow yes mp-log: lines as they come, until Ctrl-C
    prompt: PromptSession[str] = PromptSession(
        # secrets masked, mode 0600; the edit path as when the line is entered
        history=private_history(lambda: session.edit_path if session.mode == "configure" else ()),
        completer=ShellCompleter(session, tree),
        key_bindings=key_bindings(session, tree),
        complete_while_typing=False,
    )
    while not session.finished:
        context = session.context_line()
        if context:
            print(context)
        try:
            line = prompt.prompt(session.prompt())
        except KeyboardInterrupt:
            continue
        except EOFError:
            if session.mode == "configure":
                session.execute("top")
                session.execute("exit")
                print()
                continue
            break
        try:
            outcome = session.execute(line)
        except KeyboardInterrupt:
            # back to the prompt; the daemon's answer to the abandoned request is dropped
            # with the connection (the next request reconnects)
            close = getattr(session.client, "close", None)
            if close is not None:
                close()
            print()
            continue
        if outcome.output:
            page(outcome.output, session)
        if outcome.notice:
            print(outcome.notice, end="", file=sys.stderr)
        if not outcome.ok:
            print(outcome.error)
    return 0
