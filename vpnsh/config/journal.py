"""The commit journal: what each commit changed, appended to one file, on top of a snapshot.

A commit at 10,000 tunnels rewrote and fsynced ~6 MB (the running config) and as much again
(its history record): ~55 ms of a one-tunnel commit. Instead the store appends the commit's
delta here (a few hundred bytes, one ``fdatasync``) and rewrites the whole config only when
the journal has grown past a bound, when the daemon has been idle for a while and when it
stops (:meth:`vpnsh.config.store.ConfigStore.compact`).

The file: records, each ``length`` (4 bytes, big-endian) + ``crc32`` of the payload (4 bytes)
+ the payload (compact JSON). The first record is the header, ``{"base": N, "sha256": ...}``:
the commit number of the snapshot (``running.json``) it continues and the digest of that
file. A snapshot with another digest (a crash between writing the snapshot and the new
journal, or a file put there by hand) means the journal is not its continuation: it is
ignored, said in the log. Each further record is a commit, ``{"n", "time", "description",
"changes"}``; a torn or damaged last record (a crash mid-append) ends the replay, is logged,
and is cut off before the next append.

A delta is a list of changes at paths: ``[path, value]`` puts ``value`` at ``path`` (a new
key goes last, as ``set`` puts it), ``[path, value, after]`` puts a new key right after the
key ``after`` (``None``: first; what undoing a delete needs), ``[path]`` deletes it. :func:`delta` finds them by
identity first (the candidate shares every subtree it did not edit with running, see
:mod:`vpnsh.config.cow`), and keeps key order exact: a dict whose keys were reordered
(``move``) is put whole, so replaying gives the very bytes an export of the tree gives.
Secrets are in the tree encrypted, so they are in the journal encrypted too.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from typing import Any

import orjson

from . import cow

_HEAD = struct.Struct(">II")  # length, crc32
MAX_RECORD = 1 << 30

Change = list[Any]  # [path] or [path, value]


def frame(payload: Any) -> bytes:
    """One record: length, crc32 and the JSON payload."""
    data = orjson.dumps(payload)
    return _HEAD.pack(len(data), zlib.crc32(data)) + data


def records(data: bytes) -> tuple[list[Any], int, str]:
    """The records in ``data``, the length of the good part, and why the rest is not
    (``""``: nothing left over)."""
    out: list[Any] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEAD.size:
            return out, pos, f"a torn record head at byte {pos}"
        length, crc = _HEAD.unpack_from(data, pos)
        body = data[pos + _HEAD.size: pos + _HEAD.size + length]
        if length > MAX_RECORD or len(body) < length:
            return out, pos, f"a torn record at byte {pos} ({len(body)} of {length} bytes)"
        if zlib.crc32(body) != crc:
            return out, pos, f"a record with a bad checksum at byte {pos}"
        try:
            out.append(orjson.loads(body))
        except orjson.JSONDecodeError:
            return out, pos, f"an undecodable record at byte {pos}"
        pos += _HEAD.size + length
    return out, pos, ""


_ABSENT = object()


SAME, INSERTED, MOVED = 0, 1, 2


def _order(old: dict, new: dict) -> int:
    """How ``new``'s keys are ordered against ``old``'s: SAME (those kept in their order,
    the added ones after them: what putting and deleting keys one by one gives), INSERTED
    (those kept in their order, some added among them) or MOVED (reordered: ``move``).
    C-speed passes: a 10,000-entry dict is looked at on every one-tunnel commit."""
    n = len(old)
    if len(new) >= n and list(itertools.islice(new, n)) == list(old):
        return SAME  # the common cases: same keys, or some added at the end
    kept = list(filter(new.__contains__, old))
    if list(filter(old.__contains__, new)) != kept:
        return MOVED
    if list(itertools.islice(new, len(kept))) == kept:
        return SAME
    return INSERTED


def delta(old: dict, new: dict) -> list[Change]:
    """The changes that make ``old`` into ``new`` (both dicts)."""
    if old is new:
        return []
    order = _order(old, new)
    if order == MOVED:
        return [[[], new]]
    out: list[Change] = []
    _delta(old, new, [], out, order)
    return out


def _delta(old: dict, new: dict, path: list[str], out: list[Change], order: int) -> None:
    get = old.get
    # what is not the very object it was (most of a large dict is)
    moved = cow.moved(old, new)
    keys = list(new) if order == INSERTED else []
    added = 0
    for key in moved:
        value = new[key]
        was = get(key, _ABSENT)
        if was is _ABSENT:
            if order == INSERTED:  # [path, value, the key it follows (None: first)]
                i = keys.index(key)
                out.append([[*path, key], value, keys[i - 1] if i else None])
            else:
                out.append([[*path, key], value])
            added += 1
        elif type(was) is dict and type(value) is dict:
            inner = _order(was, value)
            if inner == MOVED:
                out.append([[*path, key], value])
            else:
                _delta(was, value, [*path, key], out, inner)
        elif type(was) is not type(value) or was != value:
            out.append([[*path, key], value])
    if len(new) - added != len(old):  # some keys of old are gone
        out.extend([[*path, key]] for key in itertools.filterfalse(new.__contains__, old))


def _put(node: dict, change: Change) -> None:
    key = change[0][-1]
    if len(change) == 2 or key in node:
        node[key] = change[1]
        return
    items = list(node.items())  # in among the others: after the key named
    after = change[2]
    at = 0 if after is None else next((i + 1 for i, (k, _) in enumerate(items) if k == after),
                                      len(items))
    items.insert(at, (key, change[1]))
    node.clear()
    node.update(items)


def applied(tree: dict, changes: list[Change]) -> dict:
    """``tree`` with ``changes`` replayed, as a new tree: the containers along the changed
    paths are copied, every other subtree is shared (``tree`` itself is left as it was)."""
    out = dict(tree)
    for change in changes:
        path = change[0]
        if not path:
            out = dict(change[1])
            continue
        node = out
        orig: Any = tree
        for key in path[:-1]:
            sub: Any = node.get(key)
            src: Any = orig.get(key) if type(orig) is dict else None
            if type(sub) is not dict:
                sub = node[key] = {}
            elif sub is src:
                sub = node[key] = dict(src)
            node, orig = sub, src
        if len(change) >= 2:
            _put(node, change)
        else:
            node.pop(path[-1], None)
    return out


def apply(tree: dict, changes: list[Change]) -> None:
    """Replay ``changes`` on ``tree`` (in place)."""
    for change in changes:
        path = change[0]
        if not path:  # the whole tree, its keys reordered
            tree.clear()
            tree.update(change[1])
            continue
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if len(change) >= 2:
            _put(node, change)
        else:
            node.pop(path[-1], None)
