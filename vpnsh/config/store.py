"""Durable storage of the running config, its numbered history and named snapshots.

Every write goes to a temporary file which is fsynced and renamed over the target, then the
directory is fsynced: after a crash (even ``kill -9``) a file is either the old or the new one.

Layout of ``state_dir``::

    running.json          the running config
    history/N.json        {"n", "time", "description", "config"} for commit N
    saved/NAME.json       ``save config to NAME``
    candidate.json        the candidate (optional, see save_candidate)
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from .factory import factory_config

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it is the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1) + "\n").encode()


class ConfigStore:
    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.root = Path(state_dir)
        self.history_dir = self.root / "history"
        self.saved_dir = self.root / "saved"

    # ------------------------------------------------------------------ running + history

    def running(self) -> dict:
        """The running config; the factory config if nothing was ever committed."""
        path = self.root / "running.json"
        if not path.exists():
            return factory_config()
        return json.loads(path.read_text())

    def _numbers(self) -> list[int]:
        if not self.history_dir.is_dir():
            return []
        return sorted(int(p.stem) for p in self.history_dir.glob("*.json") if p.stem.isdigit())

    def commit(self, tree: dict, description: str = "") -> int:
        """Make ``tree`` the running config; return its commit number (1, 2, ...)."""
        n = (self._numbers() or [0])[-1] + 1
        record = {"n": n, "time": time.time(), "description": description, "config": tree}
        write_atomic(self.history_dir / f"{n}.json", _dump(record))
        write_atomic(self.root / "running.json", _dump(tree))
        return n

    def history(self) -> list[dict]:
        """Commits, oldest first: ``{"n", "time", "description"}``."""
        out = []
        for n in self._numbers():
            record = json.loads((self.history_dir / f"{n}.json").read_text())
            out.append({k: record[k] for k in ("n", "time", "description")})
        return out

    def version(self, n: int) -> dict:
        """The config of commit ``n`` (KeyError if there is none)."""
        path = self.history_dir / f"{int(n)}.json"
        if not path.exists():
            raise KeyError(n)
        return json.loads(path.read_text())["config"]

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
        return json.loads(path.read_text())

    def list_named(self) -> list[str]:
        if not self.saved_dir.is_dir():
            return []
        return sorted(p.stem for p in self.saved_dir.glob("*.json"))

    # ------------------------------------------------------------------ candidate

    def save_candidate(self, tree: dict) -> None:
        write_atomic(self.root / "candidate.json", _dump(tree))

    def load_candidate(self) -> dict | None:
        path = self.root / "candidate.json"
        return json.loads(path.read_text()) if path.exists() else None
