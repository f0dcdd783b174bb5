"""The configure-mode edit level: ``edit``, ``up``, ``top`` and the ``[edit ...]`` line.

An edit level is a list of path tokens (keywords and entry names) that names a
container or an entry in the schema.  One *level* of the hierarchy is a
container keyword, or an entries keyword together with the entry's name
(``gateway GW1``), so ``up`` from ``[edit network ike gateway GW1]`` goes to
``[edit network ike]``.  The schema (vpnsh.config) decides what is a keyword.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from vpnsh.config.schema import Container, Entries, Node


class EditPathError(ValueError):
    """A path that does not name something ``edit`` can enter."""


@lru_cache(maxsize=1)
def schema_root() -> Container:
    from vpnsh.config.vpn_schema import ROOT

    return ROOT


def levels(tokens: Sequence[str], root: Container | None = None) -> list[list[str]]:
    """Group an editable path into levels; raise :class:`EditPathError` if not editable."""
    node: Node = root or schema_root()
    out: list[list[str]] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if not isinstance(node, Container):
            raise EditPathError(f"'{word}' is unexpected")
        child = node.child(word)
        if child is None:
            raise EditPathError(f"'{word}' is unexpected")
        if isinstance(child, Entries):
            if i + 1 < len(tokens):
                out.append([word, tokens[i + 1]])
                node = child.entry
                i += 2
                continue
            out.append([word])  # the collection itself: [edit network ike gateway]
            node = child
            i += 1
            continue
        if not isinstance(child, Container):
            raise EditPathError(f"'{word}' is not a container")
        out.append([word])
        node = child
        i += 1
    return out


def enter(current: Sequence[str], tokens: Sequence[str]) -> list[str]:
    """The new edit level after ``edit TOKENS`` at ``current``."""
    new = [*current, *tokens]
    levels(new)
    return new


def up(current: Sequence[str]) -> list[str]:
    """One level up; at the top stays at the top."""
    groups = levels(current)
    return [word for group in groups[:-1] for word in group]


def quote(word: str) -> str:
    """A path word as it is typed back: quoted when it holds blanks or is empty."""
    if not word or any(c.isspace() for c in word) or '"' in word:
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def context_line(current: Sequence[str]) -> str:
    """``[edit]`` or ``[edit network ike gateway GW1]``."""
    if not current:
        return "[edit]"
    return "[edit " + " ".join(quote(w) for w in current) + "]"
