"""Stable gateway and tunnel IDs (GwID, TnID in ``show`` output).

An object keeps its ID for as long as it exists, across commits and restarts,
so deleting one tunnel never renumbers (and so never tears down) another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class IdMap:
    def __init__(self, state_dir: str | Path | None) -> None:
        self.path = Path(state_dir) / "ids.json" if state_dir else None
        self.ids: dict[str, dict[str, int]] = {"gateway": {}, "tunnel": {}}
        if self.path and self.path.exists():
            try:
                stored = json.loads(self.path.read_text())
                for kind in self.ids:
                    self.ids[kind].update({str(k): int(v) for k, v in stored.get(kind, {}).items()})
            except (OSError, ValueError):
                pass  # a damaged file only costs renumbering
        self._dirty = False
        self._top: dict[str, int] = {}  # kind -> highest ID given (None: not yet known)

    def get(self, kind: str, name: str) -> int:
        table = self.ids[kind]
        if name not in table:
            # the highest ID in use + 1, as before; kept per kind, not found by a scan (10,000
            # new tunnels would cost 10,000 scans of 10,000 IDs)
            top = self._top.get(kind)
            if top is None:
                top = max(table.values(), default=0)
            table[name] = self._top[kind] = top + 1
            self._dirty = True
        return table[name]

    def keep_only(self, kind: str, names: set[str]) -> None:
        table = self.ids[kind]
        for name in [n for n in table if n not in names]:
            del table[name]
            self._dirty = True
            self._top.pop(kind, None)  # the highest may be gone: found again when needed

    def save(self) -> None:
        if not (self.path and self._dirty):
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.ids))
        os.replace(tmp, self.path)
        self._dirty = False
