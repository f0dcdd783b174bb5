"""What a command line parses to (:class:`Command`), and the shell's parse errors.

Cheap to import (the standard library only): the one-shot shell's operational matcher
(:mod:`vpnsh.shell.op_match`) makes these without loading Lark; :mod:`vpnsh.shell.parser`
(the full grammar) makes the same and re-exports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

OPERATIONAL = "operational"
CONFIGURE = "configure"

UNKNOWN_COMMAND = "Unknown command: {}"
INVALID_SYNTAX = "Invalid syntax."


class CommandError(Exception):
    """A line that is not a command; ``str()`` is the PAN-OS message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Pipe:
    kind: str  # "match" | "except"
    regex: str


@dataclass
class Command:
    """A parsed command.  ``name`` is its keywords ("show vpn ike-sa", "set")."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    pipes: list[Pipe] = field(default_factory=list)
    inner: Command | None = None  # the operational command of ``run``


def unquote(text: str) -> str:
    """``"a b"`` -> ``a b`` (backslash escapes ``\\"`` and ``\\\\``); bare words unchanged."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text
