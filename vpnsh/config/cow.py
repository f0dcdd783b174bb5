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

import copy
from collections.abc import Sequence
from typing import Any


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
