"""Copy on write between the candidate and the running config.

After a commit the candidate *is* the running tree. An edit does not copy the whole tree
(a 10,000-tunnel config is ~25 ms to copy, and every later comparison with running would then
walk both trees deep): it copies only the containers along the path it writes, so every
subtree it does not touch stays the very object running holds. Comparing the two
(validation's delta, the commit diff, the engine's mapping) then skips those subtrees by
identity, and a one-tunnel commit costs one tunnel.

The rule that keeps running intact: a tree edited in place must first be made its own along
each path the edit writes (:func:`unshare`); an edit that may write anywhere (``rename``,
which rewrites references) takes a deep copy instead.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

BIG = 64  # entries of a dict for its moved keys to be remembered
_ABSENT = object()
_remembered: dict[tuple[int, int], tuple[dict, dict, list]] | None = None


def unshare(tree: dict, base: Any, path: Sequence[str]) -> None:
    """Make the containers of ``tree`` along ``path`` its own: each dict (and a list at the
    end) that is the very object ``base`` holds at the same path is replaced by a shallow
    copy. ``tree`` itself must already be its own (not ``base``)."""
    d: Any = tree
    b: Any = base
    for key in path:
        sub: Any = d.get(key)
        if not isinstance(sub, dict | list):
            return
        bsub = b.get(key) if isinstance(b, dict) else None
        if sub is bsub:
            sub = copy.copy(sub)  # a shallow copy of the dict or list
            d[key] = sub
        if isinstance(sub, list):
            return
        d, b = sub, bsub


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """While a commit compares running with its candidate: :func:`moved` answers once per
    pair of large dicts (the commit diff and the journal's delta both ask, the journal in
    both directions). Nothing may edit the trees meanwhile."""
    global _remembered
    _remembered = {}
    try:
        yield
    finally:
        _remembered = None


def moved(old: dict, new: dict) -> list:
    """The keys of ``new`` whose value is not the very object ``old`` holds there (added or
    replaced), in ``new``'s order: one pass, by identity (an edit shares every entry it did
    not write). Within :func:`remembering`, the answer for a large pair is kept, and the
    reverse pair's is made from it."""
    memo = _remembered
    if memo is None or len(new) < BIG:
        get = old.get
        return [k for k, v in new.items() if get(k, _ABSENT) is not v]
    hit = memo.get((id(old), id(new)))
    if hit is not None and hit[0] is old and hit[1] is new:
        return hit[2]
    rev = memo.get((id(new), id(old)))
    if rev is not None and rev[0] is new and rev[1] is old:
        # the keys replaced, then those only ``new`` has, in its order
        keys = [k for k in rev[2] if k in new]
        if len(new) != len(old) - (len(rev[2]) - len(keys)):
            keys += itertools.filterfalse(old.__contains__, new)
    else:
        get = old.get
        keys = [k for k, v in new.items() if get(k, _ABSENT) is not v]
    memo[(id(old), id(new))] = (old, new, keys)
    return keys
