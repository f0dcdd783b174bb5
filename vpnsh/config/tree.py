"""Operations on a config tree (plain JSON data) guided by the schema in ``vpn_schema.ROOT``.

``tokens`` are the words of a command after its verb, already unquoted, with ``[`` and ``]``
as their own tokens.  A ``set`` line may carry several keyword/value pairs (PAN-OS one-liner):
after a value the next keyword is looked up in the innermost container first, then outwards up
to the nearest named entry (``rules R from trust to vpn action allow``).
"""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .schema import (
    Container,
    Entries,
    Flag,
    Leaf,
    LeafList,
    Node,
    Ref,
    SchemaError,
    Secret,
    parse_cached,
)
from .vpn_schema import ROOT

Path = tuple[str, ...]
Encrypt = Callable[[str], str]
_T = TypeVar("_T")
ENCRYPTED_PREFIX = "-AQ=="


class ConfigError(SchemaError):
    """A ``set``/``delete``/... the schema does not accept.

    ``kind`` is ``"syntax"`` for an unknown keyword or an incomplete path (the shell prints
    ``Invalid syntax.``) and ``"value"`` for a bad value (the message says what is wrong).
    """

    def __init__(self, path: Sequence[str], message: str, kind: str = "syntax") -> None:
        super().__init__(path, message)
        self.kind = kind


# --------------------------------------------------------------------------- the walker


@dataclass
class Frame:
    node: Container | Entries  # whose children are looked up
    path: Path  # where it sits in the tree (keywords and entry names)
    entry: bool = False  # an entry of an Entries node


@dataclass
class Assign:
    """One change a ``set`` line makes: ``value`` None means "make sure it exists"."""

    path: Path
    node: Node
    value: Any = None


@dataclass
class Walk:
    """Where the parse of a ``set`` line stands after its tokens."""

    frames: list[Frame]
    assigns: list[Assign] = field(default_factory=list)
    floor: int = 0  # keyword lookup after a value stops at this frame
    after_value: bool = False  # the last token finished a value
    expect: str = "keyword"  # keyword | name | value | member
    pending: Node | None = None  # the Entries/Leaf/LeafList waiting for a name or value
    pending_path: Path = ()
    members: list[str] = field(default_factory=list)

    @property
    def top(self) -> Frame:
        return self.frames[-1]

    @property
    def complete(self) -> bool:
        """True if the tokens so far make a whole ``set`` command."""
        return self.expect == "keyword" and (self.after_value or self.top.entry)

    def lookup(self, word: str) -> tuple[int, Node | None]:
        """Find keyword ``word``: innermost frame, and after a value outwards to the floor."""
        lowest = self.floor if self.after_value else len(self.frames) - 1
        for idx in range(len(self.frames) - 1, lowest - 1, -1):
            child = self.frames[idx].node.child(word)
            if child is not None:
                return idx, child
        return len(self.frames) - 1, None

    def keyword_frames(self) -> list[Frame]:
        """Frames whose children may come next (innermost first)."""
        lowest = self.floor if self.after_value else len(self.frames) - 1
        return [self.frames[i] for i in range(len(self.frames) - 1, lowest - 1, -1)]


def parse_value(node: Leaf | LeafList, path: Path, text: str, encrypt: Encrypt | None) -> Any:
    """Parse one value for ``node``; a ``Secret`` is encrypted unless it already is."""
    if isinstance(node.type, Secret) and text.startswith(ENCRYPTED_PREFIX):
        return text
    try:
        value = parse_cached(node.type, text)
    except ValueError as exc:
        raise ConfigError(path, f"{node.name} {exc}", "value") from None
    if isinstance(node.type, Secret):
        if encrypt is None:
            raise ConfigError(path, f"{node.name} cannot be stored without encryption", "value")
        return encrypt(str(value))
    return value


def walk(tokens: Sequence[str], *, encrypt: Encrypt | None = None) -> Walk:
    """Parse ``set`` tokens against the schema; raise ConfigError at the first bad token."""
    st = Walk(frames=[Frame(ROOT, ())])
    for tok in tokens:
        if st.expect == "keyword":
            idx, child = st.lookup(tok)
            if child is None:
                if st.assigns and isinstance(getattr(st.assigns[-1].node, "type", None), Secret):
                    # never echo what may be the rest of an unquoted secret
                    raise ConfigError(st.top.path, "unexpected word after the secret "
                                      "(quote a secret that contains spaces)")
                raise ConfigError(st.top.path + (tok,), f"'{tok}' is unexpected")
            del st.frames[idx + 1:]
            cpath = st.top.path + (child.name,)
            st.after_value = False
            if isinstance(child, Container):
                st.frames.append(Frame(child, cpath))
            elif isinstance(child, Flag):
                st.assigns.append(Assign(cpath, child, {}))
                st.after_value = True
            else:
                st.expect = "name" if isinstance(child, Entries) else "value"
                st.pending, st.pending_path = child, cpath
        elif st.expect == "name":
            assert isinstance(st.pending, Entries)
            if tok in ("[", "]"):
                raise ConfigError(st.pending_path, f"'{tok}' is unexpected")
            try:
                name = parse_cached(st.pending.key, tok)
            except ValueError as exc:
                raise ConfigError(st.pending_path, f"{st.pending.name} {exc}", "value") from None
            path = st.pending_path + (sys.intern(str(name)),)
            st.frames.append(Frame(st.pending, path, entry=True))
            st.floor = len(st.frames) - 1
            st.assigns.append(Assign(path, st.pending))
            st.expect, st.pending = "keyword", None
        elif st.expect == "value":
            node = st.pending
            assert isinstance(node, Leaf | LeafList)
            if tok == "[" and isinstance(node, LeafList):
                st.expect, st.members = "member", []
                continue
            if tok in ("[", "]"):
                raise ConfigError(st.pending_path, f"'{tok}' is unexpected")
            value = parse_value(node, st.pending_path, tok, encrypt)
            st.assigns.append(Assign(st.pending_path, node, [value] if isinstance(
                node, LeafList) else value))
            st.expect, st.pending, st.after_value = "keyword", None, True
        else:  # member
            assert isinstance(st.pending, LeafList)
            if tok == "]":
                if not st.members:
                    raise ConfigError(st.pending_path, "empty list")
                st.assigns.append(Assign(st.pending_path, st.pending, list(st.members)))
                st.expect, st.pending, st.after_value = "keyword", None, True
                continue
            if tok == "[":
                raise ConfigError(st.pending_path, "'[' is unexpected")
            st.members.append(parse_value(st.pending, st.pending_path, tok, encrypt))
    return st


# --------------------------------------------------------------------------- paths in the tree

ANY = "*"  # in a reference target path: any entry name (``ethernet * layer3 units``)


def in_order(entries: dict, names: Collection[str]) -> list[str]:
    """Those of ``names`` that are keys of ``entries``, in its order: without a pass over
    ``entries`` when they are its last keys (new entries usually are)."""
    if not names:
        return []
    tail = list(itertools.islice(reversed(entries), len(names)))
    if set(tail) == set(names):
        return tail[::-1]
    return [n for n in entries if n in names]


def grouped_in_order(entries: dict, names: Collection[str] | None,
                     results: Callable[[str], list[_T]]) -> Iterator[_T]:
    """``results(name)`` for those of ``names`` (None: every entry) that are keys of
    ``entries``, grouped in ``entries``' order as a pass over them would give, without that
    pass unless two or more names have results: the checks of a small commit usually find
    nothing, and the entry it changed need not be among the last (:func:`in_order`)."""
    if names is None:
        for name in entries:
            yield from results(name)
        return
    found = {}
    for name in names:
        if name in entries:
            got = results(name)
            if got:
                found[name] = got
    for name in (in_order(entries, found) if len(found) > 1 else found):
        yield from found[name]


def entries_at(tree: Any, path: Sequence[str]) -> dict:
    """The entries at ``path`` (``{}`` when absent).  A path with :data:`ANY` gives the
    entries under every entry at that level, merged into a new dict; one without it gives
    the stored dict itself."""
    node = tree
    for i, key in enumerate(path):
        if key == ANY:
            merged: dict = {}
            for sub in (node.values() if isinstance(node, dict) else ()):
                merged.update(entries_at(sub, path[i + 1:]))
            return merged
        if not isinstance(node, dict) or key not in node:
            return {}
        node = node[key]
    return node if isinstance(node, dict) else {}



def steps(path: Sequence[str]) -> Iterator[tuple[Container | Entries, str, Node, bool]]:
    """For each key of ``path``: (parent schema node, key, schema node, is-an-entry-name).

    For an entry name the schema node is its Entries node (whose ``child`` gives the entry's
    keywords).  Raises ConfigError(kind="syntax") for a keyword the schema does not have.
    """
    node: Container | Entries = ROOT
    entries: Entries | None = None
    for i, key in enumerate(path):
        if entries is not None:
            yield entries, key, entries, True
            node, entries = entries, None
            continue
        child = node.child(key)
        if child is None:
            raise ConfigError(tuple(path[: i + 1]), f"'{key}' is unexpected")
        yield node, key, child, False
        if isinstance(child, Entries):
            entries = child
        elif isinstance(child, Container):
            node = child
        elif i != len(path) - 1:
            raise ConfigError(tuple(path[: i + 2]), f"'{path[i + 1]}' is unexpected")


_NODE_AT: dict[tuple[str, ...], tuple[Node, bool]] = {}
_NODE_AT_MAX = 50_000  # paths; the memo is dropped whole when full


def node_at(path: Sequence[str]) -> tuple[Node, bool]:
    """The schema node at ``path`` and whether the path ends at an entry name."""
    key = tuple(path)
    hit = _NODE_AT.get(key)
    if hit is not None:
        return hit
    node: Node = ROOT
    is_entry = False
    for _parent, _key, node, is_entry in steps(key):  # noqa: B007
        pass
    if len(_NODE_AT) >= _NODE_AT_MAX:
        _NODE_AT.clear()
    _NODE_AT[key] = (node, is_entry)
    return node, is_entry


def keyword_path(path: Sequence[str]) -> Path:
    """``path`` without its entry names: the schema path (``network ike gateway``)."""
    return tuple(key for _p, key, _n, is_entry in steps(path) if not is_entry)


def _container_at(tree: dict, path: Sequence[str], create: bool) -> dict | None:
    d = tree
    for parent, key, _node, is_entry in steps(path):
        if key not in d:
            if not create:
                return None
            if not is_entry:
                for rival in parent.rivals(key):
                    d.pop(rival, None)
            d[key] = {}
        d = d[key]
    return d


def apply(tree: dict, change: Assign) -> None:
    """Apply one Assign to ``tree`` in place."""
    *head, last = change.path
    d = _container_at(tree, change.path if change.value is None else head, create=True)
    if change.value is None:
        return
    assert d is not None
    parent, _ = node_at(head) if head else (ROOT, False)
    if isinstance(parent, Container | Entries):
        for rival in parent.rivals(last):
            d.pop(rival, None)
    if isinstance(change.node, LeafList):
        members = d.setdefault(last, [])
        members.extend(v for v in change.value if v not in members)
    else:
        d[last] = change.value


# --------------------------------------------------------------------------- the verbs


def set_changes(tokens: Sequence[str], *, encrypt: Encrypt | None = None) -> list[Assign]:
    """The changes a ``set`` command's tokens make (checked whole: a bad line raises)."""
    st = walk(tokens, encrypt=encrypt)
    if not tokens or not st.complete:
        where = st.pending_path if st.pending is not None else st.top.path
        raise ConfigError(where, "incomplete command")
    return st.assigns


def set_path(tree: dict, tokens: Sequence[str], *, encrypt: Encrypt | None = None) -> None:
    """Apply a ``set`` command's tokens to ``tree`` (in place); all or nothing."""
    for change in set_changes(tokens, encrypt=encrypt):
        apply(tree, change)


def _split(tokens: Sequence[str]) -> tuple[Path, Node, list[str]]:
    """Split ``tokens`` into a node path and the values after a leaf (for ``delete``)."""
    path: list[str] = []
    node: Node = ROOT
    for i, tok in enumerate(tokens):
        path.append(tok)
        node, is_entry = node_at(path)
        if not is_entry and isinstance(node, Leaf | LeafList | Flag):
            return tuple(path), node, list(tokens[i + 1:])
    return tuple(path), node, []


def _prune(tree: dict, path: Path) -> None:
    """Drop containers left empty along ``path`` (never an entry itself)."""
    for cut in range(len(path), 0, -1):
        node, is_entry = node_at(path[:cut])
        d = _container_at(tree, path[:cut], create=False)
        if is_entry or d is None or d or isinstance(node, Flag):
            return
        parent = _container_at(tree, path[: cut - 1], create=False)
        assert parent is not None
        del parent[path[cut - 1]]


def delete_path(tree: dict, tokens: Sequence[str]) -> None:
    """Remove a node, or members of a member list (``... application [ ping icmp ]``)."""
    if not tokens:
        raise ConfigError((), "incomplete command")
    path, node, rest = _split(tokens)
    parent = _container_at(tree, path[:-1], create=False)
    if parent is None or path[-1] not in parent:
        return
    if rest:
        if not isinstance(node, LeafList):
            if isinstance(node, Leaf) and len(rest) == 1:
                if str(parent[path[-1]]) != str(node.type.parse(rest[0])):
                    return
            else:
                raise ConfigError(path + (rest[0],), f"'{rest[0]}' is unexpected")
        else:
            values = [t for t in rest if t not in ("[", "]")]
            members = parent[path[-1]]
            parent[path[-1]] = [m for m in members if m not in values]
            if parent[path[-1]]:
                return
    del parent[path[-1]]
    _prune(tree, path[:-1])


def _entries_of(tree: dict, tokens: Sequence[str]) -> tuple[Entries, dict, str]:
    if not tokens:
        raise ConfigError((), "incomplete command")
    node, is_entry = node_at(tokens)
    if not is_entry:
        raise ConfigError(tuple(tokens), "is not a named entry")
    assert isinstance(node, Entries)
    entries = _container_at(tree, tokens[:-1], create=False)
    if entries is None or tokens[-1] not in entries:
        raise ConfigError(tuple(tokens), f"'{tokens[-1]}' does not exist", "value")
    return node, entries, tokens[-1]


def rename_entry(tree: dict, tokens: Sequence[str], new_name: str) -> None:
    """Rename the entry at ``tokens`` keeping its position, and every reference to it."""
    node, entries, old = _entries_of(tree, tokens)
    try:
        new = str(node.key.parse(new_name))
    except ValueError as exc:
        raise ConfigError(tuple(tokens), f"{node.name} {exc}", "value") from None
    if new == old:
        return
    if new in entries:
        raise ConfigError(tuple(tokens), f"'{new}' already exists", "value")
    items = [(new if k == old else k, v) for k, v in entries.items()]
    entries.clear()
    entries.update(items)
    target = keyword_path(tokens)
    for path, leaf, value in iter_leaves(tree):
        if isinstance(leaf, Leaf | LeafList) and isinstance(leaf.type, Ref) \
                and target in leaf.type.targets:
            d = _container_at(tree, path[:-1], create=False)
            assert d is not None
            if isinstance(value, list):
                d[path[-1]] = [new if v == old else v for v in value]
            elif value == old:
                d[path[-1]] = new


def move_entry(tree: dict, tokens: Sequence[str], where: str, ref: str | None = None) -> None:
    """Move an entry of an ordered collection: ``top``, ``bottom``, ``before R``, ``after R``."""
    node, entries, name = _entries_of(tree, tokens)
    if not node.ordered:
        raise ConfigError(tuple(tokens), f"{node.name} cannot be reordered")
    if where not in ("top", "bottom", "before", "after"):
        raise ConfigError(tuple(tokens) + (where,), f"'{where}' is unexpected")
    if where in ("before", "after"):
        if ref is None:
            raise ConfigError(tuple(tokens) + (where,), "incomplete command")
        if ref not in entries:
            raise ConfigError(tuple(tokens) + (where, ref), f"'{ref}' does not exist", "value")
        if ref == name:
            return
    item = entries.pop(name)
    keys = list(entries)
    pos = {"top": 0, "bottom": len(keys)}.get(where)
    if pos is None:
        pos = keys.index(str(ref)) + (1 if where == "after" else 0)
    keys.insert(pos, name)
    values = {**entries, name: item}
    entries.clear()
    entries.update((k, values[k]) for k in keys)


def get_path(tree: dict, tokens: Sequence[str]) -> tuple[Node, Any]:
    """The schema node at ``tokens`` and the stored value there (None if absent).

    At an entry name the node is the Entries node's ``entry`` container.
    """
    node, is_entry = node_at(tokens)
    if is_entry:
        assert isinstance(node, Entries)
        node = node.entry
    if not tokens:
        return node, tree
    parent = _container_at(tree, tokens[:-1], create=False)
    return node, None if parent is None else parent.get(tokens[-1])


def effective(tree: dict, tokens: Sequence[str]) -> Any:
    """The value at ``tokens`` with schema defaults applied (None if an entry is missing)."""
    node, is_entry = node_at(tokens)
    d: Any = tree
    for _parent, key, _node, entry_name in steps(tokens):
        if entry_name and (not isinstance(d, dict) or key not in d):
            return None
        d = d.get(key) if isinstance(d, dict) else None
    return with_defaults(node, d, entry=is_entry)


_LEAF, _LIST, _FLAG, _CONT, _ENTS, _OTHER = range(6)


def _kind(node: Node) -> int:
    if isinstance(node, Container):
        return _CONT
    if isinstance(node, Entries):
        return _ENTS
    if isinstance(node, LeafList):
        return _LIST
    if isinstance(node, Leaf):
        return _LEAF
    return _FLAG if isinstance(node, Flag) else _OTHER


@dataclass
class _Plan:
    """How :func:`with_defaults` fills one container (or entry): its children, pre-sorted."""

    children: list[Node]  # the list it was made from, and its length: rebuilt if changed
    count: int
    choice: bool
    default: dict | None
    steps: list[tuple[str, int, Node, Any]]  # (name, kind, child, leaf default or child plan)


def _plan(node: Container | Entries) -> _Plan:
    plan = node.__dict__.get("_defaults_plan")
    if plan is None or plan.children is not node.children or plan.count != len(node.children):
        is_cont = isinstance(node, Container)
        plan = _Plan(node.children, len(node.children), is_cont and node.choice,  # type: ignore[union-attr]
                     node.default if is_cont else None, [])  # type: ignore[union-attr]
        node.__dict__["_defaults_plan"] = plan
        for child in node.children:
            kind = _kind(child)
            extra: Any = getattr(child, "default", None) if kind in (_LEAF, _LIST) else None
            plan.steps.append((child.name, kind, child, extra))
    return plan


def _filled(node: Container | Entries, value: Any) -> dict:
    """One container or entry with defaults (``with_defaults`` of a Container/Entries entry)."""
    plan = _plan(node)
    if not value and plan.default is not None:
        value = plan.default
    stored = value or {}
    out: dict = {}
    choice = plan.choice
    for name, kind, child, default in plan.steps:
        if choice and name not in stored:
            continue
        sv = stored.get(name)
        if kind == _LEAF:
            v = default if sv is None else sv
        elif kind == _CONT:
            v = _filled(child, sv)  # type: ignore[arg-type]
            if not v and name not in stored:
                continue
        elif kind == _ENTS:
            v = {k: _filled(child, e) for k, e in (sv or {}).items()}  # type: ignore[arg-type]
        elif kind == _LIST:
            if sv is None:
                v = None if default is None else list(default)
            else:
                v = sv.copy() if type(sv) is list else copy.copy(sv)
        else:
            v = sv
        if v is not None:
            out[name] = v
    return out


def with_defaults(node: Node, value: Any, *, entry: bool = False) -> Any:
    """``value`` (stored, possibly None) of ``node`` with defaults filled in."""
    if isinstance(node, Entries):
        if not entry:
            return {k: _filled(node, v) for k, v in (value or {}).items()}
        return _filled(node, value)
    if isinstance(node, Container):
        return _filled(node, value)
    if isinstance(node, LeafList):
        if value is None and node.default is not None:
            return list(node.default)
        return copy.copy(value)
    if isinstance(node, Leaf):
        return node.default if value is None else value
    return value  # Flag: {} or None


def iter_leaves(tree: Any, node: Node = ROOT, path: Path = (), *,
                entry: bool = False) -> Iterator[tuple[Path, Node | None, Any]]:
    """Every stored leaf, member list and flag as (path, schema node, value).

    Keys the schema does not know, and values of the wrong shape, are yielded with node None
    (``validate`` reports them).
    """
    if isinstance(node, Entries) and not entry:
        if not isinstance(tree, dict):
            yield path, None, tree
            return
        for name, value in tree.items():
            yield from iter_leaves(value, node, path + (name,), entry=True)
        return
    assert isinstance(node, Container | Entries)
    if not isinstance(tree, dict):
        yield path, None, tree
        return
    for key, value in tree.items():
        child = node.child(key)
        if child is None:
            yield path + (key,), None, value
        elif isinstance(child, Container | Entries):
            yield from iter_leaves(value, child, path + (key,))
        else:
            yield path + (key,), child, value
