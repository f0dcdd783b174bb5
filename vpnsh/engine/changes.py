"""Who changed what in the shared candidate, and the config and commit locks.

Every edit of the candidate (``set``, ``delete``, ``rename``, ``move``, ``load``) is recorded
with its admin and control connection, as a step that can be replayed on another tree.  That
gives PAN-OS's per-admin operations: ``show config list changes``, ``commit partial admin A``
(running + A's steps), ``revert config partial admin A`` (running + everyone else's steps),
and the undo of a failed script (running + every step not made by that connection).

Secrets are kept in the steps only encrypted (``-AQ==...``); a step's xpath never holds a
value.  Locks follow PAN-OS (scope ``shared`` on a single-vsys box): a config lock keeps other
admins from changing the candidate, a commit lock keeps them from committing; only the owner
removes a lock, and the owner's commit releases both.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpnsh.config import tree as config_tree
from vpnsh.config.schema import Flag, Leaf, LeafList

DEVICE = "/config/devices/entry[@name='localhost.localdomain']"
VSYS = DEVICE + "/vsys/entry[@name='vsys1']"
SCOPE = "shared"


@dataclass
class Step:
    """One recorded edit."""

    admin: str
    session: int
    verb: str  # set | delete | rename | move | load
    tokens: list[str]
    extra: dict[str, Any] = field(default_factory=dict)  # rename: new; move: where, ref; load: tree
    time: float = field(default_factory=time.time)
    action: str = "edit"  # add | edit | delete (as show config list changes says)

    def xpath(self) -> str:
        return xpath(self.tokens)


def xpath(tokens: Sequence[str]) -> str:
    """The PAN-OS xpath of the node a command names (its value, if any, left out)."""
    if not tokens:
        return "/config"
    parts: list[str] = []
    try:
        for _parent, key, node, is_entry in config_tree.steps(list(tokens)):
            parts.append(f"entry[@name='{key}']" if is_entry else key)
            if isinstance(node, Leaf | LeafList | Flag):
                break
    except config_tree.ConfigError:
        pass
    base = DEVICE if parts and parts[0] == "network" else VSYS
    return base + "/" + "/".join(parts)


_SEGMENT = re.compile(r"entry\[@name='([^']*)'\]|[^/]+")


def xpath_tokens(text: str) -> list[str]:
    """The config path (keywords and entry names) of a PAN-OS xpath as :func:`xpath` writes
    it; the device and vsys prefixes are optional.  ValueError for anything else."""
    if not text.startswith("/config"):
        raise ValueError(f"'{text}' is not an xpath under /config")
    parts = [m.group(1) if m.group(1) is not None else m.group(0)
             for m in _SEGMENT.finditer(text[len("/config"):])]
    words = [m.group(0) for m in _SEGMENT.finditer(text[len("/config"):])]
    for prefix in ("devices", "vsys"):
        if words[:1] == [prefix] and len(words) > 1 and words[1].startswith("entry["):
            parts, words = parts[2:], words[2:]
    return parts


Apply = Callable[[dict, Step], Any]


def replay(base: dict, steps: Iterable[Step], apply: Apply) -> tuple[dict, list[Step], list[str]]:
    """``base`` (copied by the caller) with ``steps`` applied in order; the steps that applied
    and one line per step that no longer applies (dropped)."""
    kept: list[Step] = []
    dropped: list[str] = []
    tree = base
    for step in steps:
        try:
            result = apply(tree, step)
        except (config_tree.ConfigError, ValueError, KeyError) as exc:
            dropped.append(f"{step.admin}: {step.verb} {step.xpath()}: {exc}")
            continue
        if isinstance(result, dict):
            tree = result
        kept.append(step)
    return tree, kept, dropped


@dataclass
class Lock:
    admin: str
    kind: str  # config | commit
    comment: str = ""
    created: float = field(default_factory=time.time)


class LockError(Exception):
    """A lock request or an edit/commit a lock refuses; the message is PAN-OS's."""


@dataclass
class Locks:
    config: dict[str, Lock] = field(default_factory=dict)  # admin -> lock
    commit: dict[str, Lock] = field(default_factory=dict)

    def _table(self, kind: str) -> dict[str, Lock]:
        return self.config if kind == "config" else self.commit

    def add(self, kind: str, admin: str, comment: str = "") -> None:
        table = self._table(kind)
        if admin in table:
            raise LockError(f"You already own a {kind} lock for scope {SCOPE}")
        others = [a for a in table if a != admin]
        if kind == "config" and others:
            raise LockError(f"Config for scope {SCOPE} is currently locked by {others[0]}")
        if kind == "commit" and others:
            raise LockError(f"Commit lock is already held by {others[0]}")
        table[admin] = Lock(admin, kind, comment)

    def remove(self, kind: str, admin: str, owner: str | None = None) -> None:
        """Remove ``owner``'s lock (default: ``admin``'s own); only the owner may."""
        table = self._table(kind)
        owner = owner or admin
        if owner not in table:
            if kind == "config":
                raise LockError(f"Config is not currently locked for scope {SCOPE}")
            raise LockError("Commit lock is not currently held")
        if owner != admin:
            raise LockError(f"{kind.capitalize()} lock is held by {owner}; only {owner} may "
                            "remove it")
        del table[owner]

    def check_edit(self, admin: str) -> None:
        others = [a for a in self.config if a != admin]
        if others:
            raise LockError(f"Config for scope {SCOPE} is currently locked by {others[0]}")

    def check_commit(self, admin: str) -> None:
        others = [a for a in self.commit if a != admin]
        if others:
            raise LockError(f"Commit lock is already held by {others[0]}")
        self.check_edit(admin)

    def released_by_commit(self, admin: str) -> None:
        self.config.pop(admin, None)
        self.commit.pop(admin, None)

    def as_data(self, kind: str) -> list[dict[str, Any]]:
        return [{"admin": lock.admin, "location": SCOPE, "type": lock.kind,
                 "created": lock.created, "comment": lock.comment}
                for lock in self._table(kind).values()]
