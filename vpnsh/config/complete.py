"""Completion of config paths for TAB and ``?``, derived from the schema and the tree.

``complete(tree, tokens, partial)`` lists what may follow ``tokens`` (the words already typed
after the verb, relative paths joined to the edit level by the caller) and starts with
``partial``.  Words in angle brackets are hints, not insertable: ``<value>``-style hints for
free values (``<1-65535>``, ``<ip/netmask>``, ``<name>``) and ``<Enter>`` when the command is
already complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .schema import Entries, Enum, Leaf, LeafList, Ref, ValueType, hint_of
from .tree import ENCRYPTED_PREFIX, ConfigError, Walk, entries_at, walk


@dataclass(frozen=True)
class Choice:
    word: str
    help: str

    @property
    def is_hint(self) -> bool:
        return self.word.startswith("<")


ENTER = Choice("<Enter>", "Finish input")


def _names(tree: dict, path: Sequence[str]) -> list[str]:
    return list(entries_at(tree, path))


def _value_choices(tree: dict, vt: ValueType, help: str) -> list[Choice]:
    if isinstance(vt, Enum):
        return [Choice(v, v) for v in vt.values]
    out: list[Choice] = []
    if isinstance(vt, Ref):
        out = [Choice(v, v) for v in vt.extra]
        for target in vt.targets:
            out.extend(Choice(n, n) for n in _names(tree, target))
    return [*out, Choice(hint_of(vt), help)]


def choices(tree: dict, st: Walk) -> list[Choice]:
    """Every choice at the walk's position, unfiltered."""
    if st.expect == "keyword":
        seen: set[str] = set()
        out: list[Choice] = []
        for frame in st.keyword_frames():
            for child in frame.node.children:
                if child.name not in seen:
                    seen.add(child.name)
                    out.append(Choice(child.name, child.describe()))
        return out + ([ENTER] if st.complete else [])
    node = st.pending
    if isinstance(node, Entries):
        names = [Choice(n, n) for n in _names(tree, st.pending_path)]
        return [*names, Choice(hint_of(node.key), node.describe())]
    assert isinstance(node, Leaf | LeafList)
    values = _value_choices(tree, node.type, node.describe())
    if st.expect == "member":
        taken = set(st.members)
        return [c for c in values if c.word not in taken] + [Choice("]", "End a list of values")]
    if isinstance(node, LeafList):
        return [*values, Choice("[", "Start a list of values")]
    return values


def complete(tree: dict, tokens: Sequence[str], partial: str = "") -> list[Choice]:
    """What may come after ``tokens``, starting with ``partial`` (hints always included)."""
    try:
        st = walk(tokens, encrypt=lambda _plain: ENCRYPTED_PREFIX)
    except ConfigError:
        return []
    return [c for c in choices(tree, st)
            if c.word.startswith(partial) or (c.is_hint and c is not ENTER)
            or (c is ENTER and not partial)]
