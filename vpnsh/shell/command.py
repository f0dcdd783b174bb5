"""What a command line parses to (:class:`Command`), and the shell's parse errors.

Cheap to import (the standard library only): the one-shot shell's operational matcher
(:mod:`vpnsh.shell.op_match`) makes these without loading Lark; :mod:`vpnsh.shell.parser`
(the full grammar) makes the same and re-exports them.
"""

from __future__ import annotations

import re
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


# Plain classes that behave as the dataclasses they were (==, repr; a Pipe is frozen):
# a one-shot vpnsh imports this module at each start, and dataclasses costs it ~5 ms of
# imports (inspect, ast, dis...).


class Pipe:
    __slots__ = ("kind", "regex")

    def __init__(self, kind: str, regex: str) -> None:
        object.__setattr__(self, "kind", kind)  # "match" | "except"
        object.__setattr__(self, "regex", regex)

    kind: str
    regex: str

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipe) and (self.kind, self.regex) == (other.kind, other.regex)

    def __hash__(self) -> int:
        return hash((self.kind, self.regex))

    def __repr__(self) -> str:
        return f"Pipe(kind={self.kind!r}, regex={self.regex!r})"


class Command:
    """A parsed command.  ``name`` is its keywords ("show vpn ike-sa", "set")."""

    __slots__ = ("name", "args", "pipes", "inner")

    def __init__(self, name: str, args: dict[str, Any] | None = None,
                 pipes: list[Pipe] | None = None, inner: Command | None = None) -> None:
        self.name = name
        self.args: dict[str, Any] = {} if args is None else args
        self.pipes: list[Pipe] = [] if pipes is None else pipes
        self.inner = inner  # the operational command of ``run``

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Command) and (self.name, self.args, self.pipes, self.inner) \
            == (other.name, other.args, other.pipes, other.inner)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Command(name={self.name!r}, args={self.args!r}, pipes={self.pipes!r}, "
                f"inner={self.inner!r})")


def unquote(text: str) -> str:
    """``"a b"`` -> ``a b`` (backslash escapes ``\\"`` and ``\\\\``); bare words unchanged."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text
