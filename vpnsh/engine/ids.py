"""Stable gateway and tunnel IDs (GwID, TnID in ``show`` output).

An object keeps its ID for as long as it exists, across commits and restarts,
so deleting one tunnel never renumbers (and so never tears down) another.

On disk: ``ids.json`` (the whole map) and ``ids.log``, one JSON line per ID given or
dropped since (``["+", kind, name, id]`` / ``["-", kind, name]``). A commit appends its
few lines: a one-tunnel commit at 10,000 tunnels writes one line, not the 20,000-entry map
(~20 ms); the map is rewritten (and the log emptied) once the log outgrows it. A damaged
or half-written line ends the replay: it only costs renumbering what it named.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

LOG_MIN = 1024  # lines the log may always hold before the map is rewritten


class IdMap:
    def __init__(self, state_dir: str | Path | None) -> None:
        self.path = Path(state_dir) / "ids.json" if state_dir else None
        self.log_path = Path(state_dir) / "ids.log" if state_dir else None
        self.ids: dict[str, dict[str, int]] = {"gateway": {}, "tunnel": {}}
        self._log_lines = 0
        if self.path and self.path.exists():
            try:
                stored = json.loads(self.path.read_text())
                for kind in self.ids:
                    self.ids[kind].update({str(k): int(v) for k, v in stored.get(kind, {}).items()})
            except (OSError, ValueError):
                pass  # a damaged file only costs renumbering
        if self.log_path and self.log_path.exists():
            self._replay(self.log_path)
        self._pending: list[list[object]] = []  # log lines not yet written
        self._top: dict[str, int] = {}  # kind -> highest ID given (None: not yet known)

    def _replay(self, path: Path) -> None:
        try:
            lines = path.read_bytes().split(b"\n")
        except OSError:
            return
        for line in lines:
            if not line:
                continue
            try:
                op = json.loads(line)
                if op[0] == "+":
                    self.ids[op[1]][str(op[2])] = int(op[3])
                elif op[0] == "-":
                    self.ids[op[1]].pop(str(op[2]), None)
                else:
                    break
            except (ValueError, LookupError, TypeError):
                # a torn last line (or garbage): what follows is not trusted, and the next
                # save rewrites the map rather than appending after it
                self._log_lines = 1 << 30
                break
            self._log_lines += 1

    def get(self, kind: str, name: str) -> int:
        table = self.ids[kind]
        if name not in table:
            # the highest ID in use + 1, as before; kept per kind, not found by a scan (10,000
            # new tunnels would cost 10,000 scans of 10,000 IDs)
            top = self._top.get(kind)
            if top is None:
                top = max(table.values(), default=0)
            table[name] = self._top[kind] = top + 1
            self._pending.append(["+", kind, name, table[name]])
        return table[name]

    def drop(self, kind: str, names: Iterable[str]) -> None:
        """Forget the IDs of ``names`` (objects gone from the config)."""
        table = self.ids[kind]
        for name in names:
            if name in table:
                del table[name]
                self._pending.append(["-", kind, name])
                self._top.pop(kind, None)  # the highest may be gone: found again when needed

    def given(self, kind: str) -> list[str]:
        """The names given an ID of ``kind`` since the last :meth:`save`."""
        return [str(op[2]) for op in self._pending if op[0] == "+" and op[1] == kind]

    def keep_only(self, kind: str, names: set[str]) -> None:
        self.drop(kind, [n for n in self.ids[kind] if n not in names])

    def save(self) -> None:
        if not (self.path and self.log_path and self._pending):
            return
        if self._log_lines + len(self._pending) > max(LOG_MIN, sum(map(len, self.ids.values()))):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.ids))
            os.replace(tmp, self.path)
            self.log_path.unlink(missing_ok=True)
            self._log_lines = 0
        else:
            with open(self.log_path, "ab") as f:
                f.write(b"".join(json.dumps(op).encode() + b"\n" for op in self._pending))
            self._log_lines += len(self._pending)
        self._pending = []
