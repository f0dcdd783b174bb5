"""Durable storage of the running config, its numbered history and named snapshots.

Every write goes to a temporary file which is fsynced and renamed over the target, then the
directory is fsynced: after a crash (even ``kill -9``) a file is either the old or the new one.

Layout of ``state_dir``::

    running.json          the running config
    history/N.json        {"n", "time", "description", "config"} for commit N ("config" last)
    saved/NAME.json       ``save config to NAME``
    candidate.json        the candidate (optional, see save_candidate)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from . import journal
from .factory import factory_config

log = logging.getLogger("vpnshd")

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _write_tmp(path: Path, data: bytes, *, fsync: bool = True) -> Path:
    """``data`` in a temporary file next to ``path`` (mode 0600), fsynced unless told not
    to; its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _fsync_dir(path: Path) -> None:
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it is the old or the new content, never half."""
    os.replace(_write_tmp(path, data), path)
    _fsync_dir(path.parent)


def _encode(obj: Any) -> bytes:
    """Compact JSON (orjson: ~6x faster than the json module on a 1,000-tunnel tree, the
    largest part of a commit's store step). Non-ASCII text is written as UTF-8."""
    return orjson.dumps(obj)


class TreeEncoder:
    """:func:`_encode` of config trees, with the entries of large collections (gateways,
    tunnels...) encoded once: an entry that is the very object encoded last time (running
    and candidate share unchanged entries, see :mod:`vpnsh.config.cow`, and committed trees
    are never edited in place) reuses its bytes. A 10,000-tunnel tree: ~35 ms with orjson
    alone, a few ms when one tunnel changed. The bytes are those ``_encode`` gives."""

    BIG = 64  # entries in a collection for its members to be cached
    DEPTH = 6  # how deep large collections are looked for

    def __init__(self) -> None:
        # id(entry) -> (entry, its name, b'"name":{...}')
        self._cache: dict[int, tuple[Any, str, bytes]] = {}
        self._next: dict[int, tuple[Any, str, bytes]] = {}

    def encode(self, tree: Any) -> bytes:
        self._next = {}
        try:
            return self._enc(tree, 0)
        finally:
            self._cache, self._next = self._next, {}

    def _enc(self, obj: Any, depth: int) -> bytes:
        if type(obj) is not dict or not obj:
            return orjson.dumps(obj)
        if len(obj) >= self.BIG:
            parts = []
            cache, nxt = self._cache, self._next
            for key, value in obj.items():
                hit = cache.get(id(value))
                if hit is None or hit[0] is not value or hit[1] != key:
                    hit = (value, key, orjson.dumps(key) + b":" + orjson.dumps(value))
                if type(value) is dict:
                    nxt[id(value)] = hit
                parts.append(hit[2])
            return b"{" + b",".join(parts) + b"}"
        if depth >= self.DEPTH:
            return orjson.dumps(obj)
        return b"{" + b",".join(orjson.dumps(k) + b":" + self._enc(v, depth + 1)
                                for k, v in obj.items()) + b"}"


def _dump(obj: Any) -> bytes:
    return _encode(obj) + b"\n"


def _interned(obj: Any) -> Any:
    """``obj`` with its strings interned, as trees built by ``set`` have them (shared
    strings make comparing a candidate with running ~3x faster); ~40 ms a 1,000-tunnel tree.
    """
    t = type(obj)
    if t is dict:
        return {sys.intern(k): _interned(v) for k, v in obj.items()}
    if t is list:
        return [sys.intern(v) if type(v) is str else _interned(v) for v in obj]
    if t is str:
        return sys.intern(obj)
    return obj


def _load(path: Path) -> Any:
    return _interned(json.loads(path.read_bytes()))


_CONFIG_KEY = b',"config":'


def _record(n: int, when: float, description: str, config: bytes, undo: Any = None) -> bytes:
    """A history record around already-encoded config bytes, "config" last (after the
    "undo" back to the commit before, when there was one)."""
    head = _encode({"n": n, "time": when, "description": description}
                   | ({} if undo is None else {"undo": undo}))
    return head[:-1] + _CONFIG_KEY + config + b"}\n"


def _undo_record(n: int, when: float, description: str, undo: list) -> bytes:
    """The history record of a journal commit: what turns its config back into the one
    before (so the oldest records can go without the others needing them)."""
    return _encode({"n": n, "time": when, "description": description, "undo": undo}) + b"\n"


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def _write_plain(path: Path, data: bytes) -> None:
    """``data`` in ``path`` by a rename (never half a file), without an fsync."""
    os.replace(_write_tmp(path, data, fsync=False), path)


def _record_head(path: Path) -> dict:
    """``{"n", "time", "description"}`` of a history record without decoding its config.

    In a record :func:`_record` wrote, the first ``,"config":`` is the key (inside a JSON
    string every ``"`` is escaped); anything else is decoded whole.
    """
    with open(path, "rb") as f:
        data = f.read(4096)
        if data.startswith(b'{"n":'):
            while _CONFIG_KEY not in data:
                more = f.read(65536)
                if not more:
                    break
                data += more
            cut = data.find(_CONFIG_KEY)
            if cut > 0:
                with contextlib.suppress(ValueError):
                    head = json.loads(data[:cut] + b"}")
                    if isinstance(head, dict) and {"n", "time", "description"} <= head.keys():
                        return head
        data += f.read()
    record = json.loads(data)
    return {k: record[k] for k in ("n", "time", "description")}


CANDIDATE_DELTA = "vpnsh:candidate-changes"  # the key of a candidate written as a delta
JOURNAL_RECORDS = 64  # commits the journal holds before a commit compacts it
JOURNAL_BYTES = 4 << 20  # or bytes


class ConfigStore:
    """The running config is ``running.json`` (a snapshot) plus ``running.journal`` (the
    commits since, see :mod:`vpnsh.config.journal`). A commit appends its delta to the
    journal and writes its history record as the delta back to the config before
    (``{"n", "time", "description", "undo"}``; the first commit's record, and those written
    before the journal, hold the whole ``"config"``): it costs what it changed. Commit ``k``'s
    config is the running config with the undos of the commits after ``k`` applied, newest
    first. The snapshot and a new journal are written whole by :meth:`compact`: when the
    journal holds :data:`JOURNAL_RECORDS` commits or :data:`JOURNAL_BYTES`, and when the
    daemon is idle or stops. Trees given to :meth:`commit` are never edited in place
    afterwards (the daemon's copy-on-write, :mod:`vpnsh.config.cow`): the next commit's delta
    is found by identity against the last one."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.root = Path(state_dir)
        self.history_dir = self.root / "history"
        self.saved_dir = self.root / "saved"
        self.running_path = self.root / "running.json"
        self.journal_path = self.root / "running.journal"
        self.encoder = TreeEncoder()  # committed trees share entries: encoded once each
        self._running: dict | None = None  # the tree of the last commit (or as loaded)
        self._last = 0  # its commit number
        self._journal_good: int | None = None  # bytes of the journal that continue running.json
        self._journal_records = 0

    # ------------------------------------------------------------------ running + history

    def running(self) -> dict:
        """The running config; the factory config if nothing was ever committed."""
        if not self.running_path.exists():
            return factory_config()
        data = self.running_path.read_bytes()
        tree = _interned(json.loads(data))
        self._running, self._last = tree, 0
        self._journal_good, self._journal_records = None, 0
        try:
            log_data = self.journal_path.read_bytes()
        except FileNotFoundError:
            return tree
        recs, good, why = journal.records(log_data)
        head = recs[0] if recs else None
        if not isinstance(head, dict) or head.get("sha256") != hashlib.sha256(data).hexdigest():
            if log_data:
                log.warning("%s does not continue %s (a crash while compacting, or a snapshot "
                            "put there by hand): the journal is ignored", self.journal_path,
                            self.running_path)
            return tree
        if why:
            log.warning("%s: %s: ignored (a commit cut short by a crash was never reported "
                        "done)", self.journal_path, why)
        self._last = int(head.get("base", 0))
        for rec in recs[1:]:
            before, tree = tree, journal.applied(tree, _interned(rec["changes"]))
            n = self._last = int(rec["n"])
            path = self.history_dir / f"{n}.json"
            if not _parses(path):  # written without an fsync: a crash may have lost it
                _write_plain(path, _undo_record(n, rec["time"], rec["description"],
                                                journal.delta(tree, before)))
        self._running = tree
        self._journal_good, self._journal_records = good, len(recs) - 1
        return tree

    def _numbers(self) -> list[int]:
        if not self.history_dir.is_dir():
            return []
        return sorted(int(p.stem) for p in self.history_dir.glob("*.json") if p.stem.isdigit())

    def commit(self, tree: dict, description: str = "", keep: int | None = None) -> int:
        """Make ``tree`` the running config; return its commit number (1, 2, ...).

        ``keep``: how many versions the history keeps (the newest; PAN-OS's
        max-rollback-version); older ones are removed once the new one is on disk."""
        if self._running is None and self.running_path.exists():
            self.running()
        numbers = self._numbers()
        n = max((numbers or [0])[-1], self._last) + 1
        when = time.time()
        if self._running is None or self._journal_good is None:
            config = self.encoder.encode(tree)  # one serialisation for both files
            undo = None if self._running is None else journal.delta(tree, self._running)
            # the snapshot first: a crash between the two never leaves a record of a commit
            # that did not happen (a missing record only ends the way back, see version)
            self._snapshot(config, n)
            write_atomic(self.history_dir / f"{n}.json", _record(n, when, description, config, undo))
        else:
            old = self._running
            self._append(journal.frame({"n": n, "time": when, "description": description,
                                        "changes": journal.delta(old, tree)}))
            _write_plain(self.history_dir / f"{n}.json",
                         _undo_record(n, when, description, journal.delta(tree, old)))
        self._running, self._last = tree, n
        if self._journal_records >= JOURNAL_RECORDS or (self._journal_good or 0) >= JOURNAL_BYTES:
            self.compact()
        if keep is not None and keep >= 1:
            for old_n in [*numbers, n][:-keep]:
                with contextlib.suppress(FileNotFoundError):
                    (self.history_dir / f"{old_n}.json").unlink()
        return n

    def _append(self, record: bytes) -> None:
        """``record`` at the end of the journal's good part, on disk before this returns."""
        fd = os.open(self.journal_path, os.O_WRONLY)
        try:
            good = self._journal_good or 0
            if os.fstat(fd).st_size != good:
                os.ftruncate(fd, good)  # a torn tail (or a failed append) goes first
            os.lseek(fd, good, os.SEEK_SET)
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view):]
            os.fdatasync(fd)
        finally:
            os.close(fd)
        self._journal_good = good + len(record)
        self._journal_records += 1

    def _snapshot(self, config: bytes, n: int) -> None:
        """``config`` (commit ``n``) as running.json, and an empty journal continuing it.
        A crash between the two leaves the old journal, whose digest no longer matches:
        it is ignored, and the snapshot already holds all it said."""
        data = config + b"\n"
        write_atomic(self.running_path, data)
        head = journal.frame({"base": n, "sha256": hashlib.sha256(data).hexdigest()})
        write_atomic(self.journal_path, head)
        self._journal_good, self._journal_records = len(head), 0

    def pending(self) -> int:
        """Commits in the journal since the last snapshot."""
        return self._journal_records

    def compact(self) -> None:
        """Write the running config whole (the snapshot) and start an empty journal."""
        if self._running is None or not self._journal_records:
            return
        self._snapshot(self.encoder.encode(self._running), self._last)

    def history(self) -> list[dict]:
        """Commits, oldest first: ``{"n", "time", "description"}``."""
        out = []
        for n in self._numbers():
            out.append(_record_head(self.history_dir / f"{n}.json"))
        return out

    def version(self, n: int) -> dict:
        """The config of commit ``n`` (KeyError if there is none): its record's, or the
        nearest newer whole config (a record's, or running) with the undos back to ``n``."""
        n = int(n)
        numbers = self._numbers()
        if n not in numbers:
            raise KeyError(n)
        record = json.loads((self.history_dir / f"{n}.json").read_bytes())
        if "config" in record:
            return _interned(record["config"])
        undos: list[Any] = []
        later = numbers[numbers.index(n) + 1:]
        if later != list(range(n + 1, n + 1 + len(later))):
            raise KeyError(n)  # a record missing on the way back (a crash): not rebuilt
        for m in later:
            later = json.loads((self.history_dir / f"{m}.json").read_bytes())
            if "undo" not in later:
                raise KeyError(n)  # a record of the old format in between: no way back
            undos.append(later["undo"])
        if self._running is None:
            self.running()
        if self._last != numbers[-1]:
            raise KeyError(n)  # the history is ahead of the running config: not rebuilt
        tree: Any = orjson.loads(orjson.dumps(self._running))  # the caller's own copy
        tree = _interned(tree)
        for undo in reversed(undos):
            tree = journal.applied(tree, _interned(undo))
        return tree

    # ------------------------------------------------------------------ named snapshots

    @staticmethod
    def check_name(name: str) -> str:
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"'{name}' is not a valid file name "
                             "(letters, digits, '.', '_', '-'; at most 64)")
        return name

    def save_named(self, name: str, tree: dict) -> None:
        write_atomic(self.saved_dir / f"{self.check_name(name)}.json", _dump(tree))

    def load_named(self, name: str) -> dict:
        path = self.saved_dir / f"{self.check_name(name)}.json"
        if not path.exists():
            raise FileNotFoundError(f"{name} does not exist")
        return _load(path)

    def list_named(self) -> list[str]:
        if not self.saved_dir.is_dir():
            return []
        return sorted(p.stem for p in self.saved_dir.glob("*.json"))

    # ------------------------------------------------------------------ candidate

    def save_candidate(self, tree: dict, running: dict | None = None) -> None:
        """The candidate to disk. Given ``running`` (the running config the candidate was
        edited from, sharing what it did not change), only what differs from it is
        written: a one-line edit at 10,000 tunnels writes that line's worth, not 6 MB."""
        if running is not None and running is self._running:
            data = _dump({CANDIDATE_DELTA: {"base": self._last,
                                            "changes": journal.delta(running, tree)}})
        else:
            data = _dump(tree)
        write_atomic(self.root / "candidate.json", data)

    def load_candidate(self) -> dict | None:
        path = self.root / "candidate.json"
        if not path.exists():
            return None
        data = _load(path)
        if not (isinstance(data, dict) and CANDIDATE_DELTA in data):
            return data
        if self._running is None:
            self.running()
        rec = data[CANDIDATE_DELTA]
        if self._running is None or rec.get("base") != self._last:
            log.warning("%s holds the changes to commit %s, not to the running config (commit "
                        "%s): starting from running", path, rec.get("base"), self._last)
            return None
        return journal.applied(self._running, rec["changes"])
