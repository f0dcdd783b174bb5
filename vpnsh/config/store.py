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


def _write_tmp(path: Path, data: bytes) -> Path:
    """``data`` in a fsynced temporary file next to ``path`` (mode 0600); its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
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


def _record(n: int, when: float, description: str, config: bytes) -> bytes:
    """A history record around already-encoded config bytes, "config" last."""
    head = _encode({"n": n, "time": when, "description": description})
    return head[:-1] + _CONFIG_KEY + config + b"}\n"


def _delta_record(rec: dict) -> bytes:
    """The history record of a journal commit: its delta from the commit before."""
    return _encode({"n": rec["n"], "time": rec["time"], "description": rec["description"],
                    "base": rec["n"] - 1, "changes": rec["changes"]}) + b"\n"


def _is_delta(path: Path) -> bool:
    with contextlib.suppress(OSError, ValueError):
        return "config" not in json.loads(path.read_bytes())
    return False


def _write_plain(path: Path, data: bytes) -> None:
    """``data`` in ``path`` by a rename (never half a file), without an fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)


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


JOURNAL_RECORDS = 64  # commits the journal holds before a commit compacts it
JOURNAL_BYTES = 4 << 20  # or bytes


class ConfigStore:
    """The running config is ``running.json`` (a snapshot) plus ``running.journal`` (the
    commits since, see :mod:`vpnsh.config.journal`); a commit appends its delta to the
    journal and writes its history record as the same delta (``{"n", "time",
    "description", "base", "changes"}``), so it costs what it changed. The whole config is
    written (snapshot, a new journal, and a full history record) by :meth:`compact`: when
    the journal holds :data:`JOURNAL_RECORDS` commits or :data:`JOURNAL_BYTES`, and when the
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
        self.keep: int | None = None  # versions the history shows (the last commit's keep)
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
            journal.apply(tree, _interned(rec["changes"]))
            self._last = int(rec["n"])
            self._rewrite_history(rec)
        self._journal_good, self._journal_records = good, len(recs) - 1
        return tree

    def _rewrite_history(self, rec: dict) -> None:
        """The history record of a journal commit, if a crash lost it (it is written without
        an fsync: the journal is what makes the commit durable)."""
        path = self.history_dir / f"{int(rec['n'])}.json"
        if not path.exists():
            _write_plain(path, _delta_record(rec))

    def _numbers(self) -> list[int]:
        if not self.history_dir.is_dir():
            return []
        return sorted(int(p.stem) for p in self.history_dir.glob("*.json") if p.stem.isdigit())

    def commit(self, tree: dict, description: str = "", keep: int | None = None) -> int:
        """Make ``tree`` the running config; return its commit number (1, 2, ...).

        ``keep``: how many versions the history keeps (the newest; PAN-OS's
        max-rollback-version); older ones are removed once the new one is on disk, but for
        the full record a kept delta is based on."""
        if self._running is None and self.running_path.exists():
            self.running()
        numbers = self._numbers()
        n = max((numbers or [0])[-1], self._last) + 1
        when = time.time()
        if keep is not None and keep >= 1:
            self.keep = keep
        if self._running is None or self._journal_good is None:
            self._write_full(tree, n, when, description)
        else:
            rec = {"n": n, "time": when, "description": description,
                   "changes": journal.delta(self._running, tree)}
            self._append(journal.frame(rec))
            _write_plain(self.history_dir / f"{n}.json", _delta_record(rec))
            self._running, self._last = tree, n
            if self._journal_records >= JOURNAL_RECORDS or (self._journal_good or 0) >= JOURNAL_BYTES:
                self.compact()
        if self.keep is not None:
            self._prune([*numbers, n])
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

    def _write_full(self, tree: dict, n: int, when: float, description: str) -> None:
        config = self.encoder.encode(tree)  # one serialisation for both files
        write_atomic(self.history_dir / f"{n}.json", _record(n, when, description, config))
        self._snapshot(config, n)
        self._running, self._last = tree, n

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
        """Write the running config whole: the snapshot, an empty journal, and the last
        commit's history record in full (deltas of later commits are based on it)."""
        if self._running is None or not self._journal_records:
            return
        config = self.encoder.encode(self._running)
        path = self.history_dir / f"{self._last}.json"
        head: dict[str, Any] = (_record_head(path) if path.exists()
                                else {"time": time.time(), "description": ""})
        write_atomic(path, _record(self._last, head["time"], head["description"], config))
        self._snapshot(config, self._last)

    def _prune(self, numbers: list[int]) -> None:
        """Remove the versions older than the newest ``keep``, but for the full record the
        oldest kept one needs (and the deltas after it)."""
        assert self.keep is not None
        old = numbers[:-self.keep]
        if not old:
            return
        first = numbers[-self.keep]
        base = first
        while base > 0 and not self._is_full(base):
            base -= 1
        for m in old:
            if m < base:
                with contextlib.suppress(FileNotFoundError):
                    (self.history_dir / f"{m}.json").unlink()

    def _is_full(self, n: int) -> bool:
        path = self.history_dir / f"{n}.json"
        if not path.exists():
            return True  # nothing before it can help
        with open(path, "rb") as f:
            return _CONFIG_KEY in f.read(4096) or not _is_delta(path)

    def _shown(self) -> list[int]:
        numbers = self._numbers()
        return numbers[-self.keep:] if self.keep is not None else numbers

    def history(self) -> list[dict]:
        """Commits, oldest first: ``{"n", "time", "description"}``."""
        out = []
        for n in self._shown():
            out.append(_record_head(self.history_dir / f"{n}.json"))
        return out

    def version(self, n: int) -> dict:
        """The config of commit ``n`` (KeyError if there is none)."""
        n = int(n)
        if n not in self._shown():
            raise KeyError(n)
        deltas: list[Any] = []
        m = n
        while True:
            path = self.history_dir / f"{m}.json"
            if not path.exists():
                raise KeyError(n)
            record = json.loads(path.read_bytes())
            if "config" in record:
                break
            deltas.append(record["changes"])
            m = int(record["base"])
        tree = _interned(record["config"])
        for changes in reversed(deltas):
            journal.apply(tree, _interned(changes))
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

    def save_candidate(self, tree: dict) -> None:
        write_atomic(self.root / "candidate.json", _dump(tree))

    def load_candidate(self) -> dict | None:
        path = self.root / "candidate.json"
        return _load(path) if path.exists() else None
