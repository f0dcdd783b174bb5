"""The shell's history: ``~/.vpnsh_history`` (mode 0600), with every secret masked.

A line goes into the history (in memory and on disk) with the values of the schema's
Secret leaves replaced by ``******`` (:mod:`vpnsh.config.redact`), in the edit path the
line was typed in; the rest of the line is kept as typed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

from prompt_toolkit.history import FileHistory, History, InMemoryHistory

from vpnsh.config.redact import MASK, secret_positions
from vpnsh.shell.parser import unquote, word_spans

HISTORY_FILE = "~/.vpnsh_history"
SET_VERBS = ("set",)


def mask_line(line: str, base: Sequence[str] = ()) -> str:
    """``line`` with the clear secret values of a ``set`` command masked."""
    spans = word_spans(line)
    words = [line[a:b] for a, b in spans]
    if _PASSPHRASE_VERB in words[:2]:  # certificates (issue 16): scp import ... passphrase P
        return _mask_after(line, spans, words, "passphrase")
    if not words or words[0] not in SET_VERBS:
        return line
    hide = secret_positions([unquote(w) for w in words[1:]], base)
    if not hide:
        return line
    out, at = [], 0
    for i, (a, b) in enumerate(spans[1:]):
        if i in hide:
            out += [line[at:a], MASK]
            at = b
    return "".join([*out, line[at:]])


_PASSPHRASE_VERB = "scp"


def _mask_after(line: str, spans: Sequence[tuple[int, int]], words: Sequence[str],
                keyword: str) -> str:
    """``line`` with the word after each ``keyword`` masked."""
    out, at = [], 0
    for i in range(1, len(words)):
        if words[i - 1] == keyword:
            a, b = spans[i]
            out += [line[at:a], MASK]
            at = b
    return "".join([*out, line[at:]])


class MaskedHistory(FileHistory):
    """A FileHistory that stores (and recalls) lines with their secrets masked."""

    def __init__(self, path: str, edit_path: Callable[[], Sequence[str]]) -> None:
        super().__init__(path)
        self.edit_path = edit_path

    def append_string(self, string: str) -> None:
        super().append_string(mask_line(string, self.edit_path()))


def private_history(edit_path: Callable[[], Sequence[str]],
                    path: str = HISTORY_FILE) -> History:
    """The history file, created or narrowed to mode 0600; in memory if it cannot be."""
    path = os.path.expanduser(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError:
        return InMemoryHistory()
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return MaskedHistory(path, edit_path)
