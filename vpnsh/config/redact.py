"""Which words of a ``set`` line are secrets: the schema's :class:`~.schema.Secret` leaves say.

Used wherever a typed line may be kept or printed (the shell's history file, the daemon's
request log, error messages): the value of a Secret leaf is masked, whatever the leaf is
called, and no other word is (``ssh password login for admin`` stays as it is).

The walk follows :func:`vpnsh.config.tree.walk` but never raises: on an unknown word it
stops, except right after a secret, where every word left may be the rest of an unquoted
secret with spaces, so they are masked too.  Encrypted values (``-AQ==...``) are not masked.
"""

from __future__ import annotations

from collections.abc import Sequence

from .schema import Container, Entries, Flag, Leaf, LeafList, Secret
from .tree import ENCRYPTED_PREFIX, Frame, Walk
from .vpn_schema import ROOT

MASK = "******"


def _is_secret(node: object) -> bool:
    return isinstance(node, Leaf | LeafList) and isinstance(node.type, Secret)


def secret_positions(tokens: Sequence[str], base: Sequence[str] = ()) -> set[int]:
    """Indexes in ``tokens`` (the words after ``set``, unquoted, ``[``/``]`` words of their
    own) that are clear secret values; ``base`` is the edit path the line is typed in."""
    words = [*map(str, base), *map(str, tokens)]
    skip = len(base)
    st = Walk(frames=[Frame(ROOT, ())])
    found: set[int] = set()
    last_secret = False
    for i, tok in enumerate(words):
        if st.expect == "keyword":
            idx, child = st.lookup(tok)
            if child is None:
                if last_secret:  # the rest of an unquoted secret with spaces, perhaps
                    found.update(range(i, len(words)))
                break
            last_secret = False
            del st.frames[idx + 1:]
            cpath = st.top.path + (child.name,)
            st.after_value = False
            if isinstance(child, Container):
                st.frames.append(Frame(child, cpath))
            elif isinstance(child, Flag):
                st.after_value = True
            else:
                st.expect = "name" if isinstance(child, Entries) else "value"
                st.pending, st.pending_path = child, cpath
        elif st.expect == "name":
            assert isinstance(st.pending, Entries)
            st.frames.append(Frame(st.pending, st.pending_path + (tok,), entry=True))
            st.floor = len(st.frames) - 1
            st.expect, st.pending = "keyword", None
        elif st.expect == "value":
            node = st.pending
            if tok == "[" and isinstance(node, LeafList):
                st.expect = "member"
                continue
            if _is_secret(node) and not tok.startswith(ENCRYPTED_PREFIX):
                found.add(i)
            last_secret = _is_secret(node)
            st.expect, st.pending, st.after_value = "keyword", None, True
        else:  # member
            if tok == "]":
                last_secret = _is_secret(st.pending)
                st.expect, st.pending, st.after_value = "keyword", None, True
            elif _is_secret(st.pending) and not tok.startswith(ENCRYPTED_PREFIX):
                found.add(i)
    return {i - skip for i in found if i >= skip}


def mask_tokens(tokens: Sequence[str], base: Sequence[str] = ()) -> list[str]:
    """``tokens`` with every clear secret value replaced by ``******``."""
    hide = secret_positions(tokens, base)
    return [MASK if i in hide else str(t) for i, t in enumerate(tokens)]


def _secret_keywords() -> frozenset[str]:
    """The names of every secret leaf in the schema: a line with none of them holds no secret."""
    names: set[str] = set()
    todo: list[object] = [ROOT]
    seen: set[int] = set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if _is_secret(node):
            names.add(node.name)  # type: ignore[attr-defined]
        todo.extend(getattr(node, "children", ()) or ())
    return frozenset(names)


_SECRET_KEYWORDS: frozenset[str] | None = None


def may_hold_secret(tokens: Sequence[str], base: Sequence[str] = ()) -> bool:
    """False when no word of the line names a secret leaf (a cheap test before the walk)."""
    global _SECRET_KEYWORDS
    if _SECRET_KEYWORDS is None:
        _SECRET_KEYWORDS = _secret_keywords()
    return not _SECRET_KEYWORDS.isdisjoint(map(str, tokens)) or \
        not _SECRET_KEYWORDS.isdisjoint(map(str, base))


def secret_values(tokens: Sequence[str], base: Sequence[str] = ()) -> list[str]:
    """The clear secret values among ``tokens`` (to scrub them from error messages)."""
    if not may_hold_secret(tokens, base):
        return []
    return [str(tokens[i]) for i in sorted(secret_positions(tokens, base))]


class KnownSecrets:
    """The clear secrets recently typed (bounded), for the log filter to scrub from any line:
    a secret can reach a log message only after a request carried it in."""

    MIN_LEN = 4  # shorter values would mask innocent text everywhere; the schema masks them
    KEEP = 256

    def __init__(self) -> None:
        self._values: dict[str, None] = {}

    def remember(self, values: Sequence[str]) -> None:
        for v in values:
            if len(v) >= self.MIN_LEN and not v.startswith(ENCRYPTED_PREFIX):
                self._values.pop(v, None)
                self._values[v] = None
        while len(self._values) > self.KEEP:
            del self._values[next(iter(self._values))]

    def scrub(self, text: str) -> str:
        for v in sorted(self._values, key=len, reverse=True):
            if v in text:
                text = text.replace(v, MASK)
        return text


KNOWN = KnownSecrets()
