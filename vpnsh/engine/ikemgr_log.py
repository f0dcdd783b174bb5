"""The ikemgr log (``less mp-log ikemgr.log``) and the VPN system log.

One line per negotiation step, in PAN-OS's ikemgr style::

    2026-11-29 10:02:03.123 +0000 [INFO]: {GW-SiteB: 1}: ====> IKEv2 IKE SA NEGOTIATION SUCCEEDED ...

Failures say why in plain words (the engine writes the words). The system log
keeps the subtype-vpn events that ``show log system subtype equal vpn`` lists.
Nothing secret is ever handed to these writers: the engine logs names, addresses,
SPIs and algorithm names only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import TextIO

from vpnsh.engine import logfiles

log = logging.getLogger("vpnsh.ikemgr")

# lines come in bursts: each second's date, time and zone are formatted once
_last_second: tuple[int, str, str] = (-1, "", "")


def _stamp(now: float) -> str:
    global _last_second
    ms = int((now % 1) * 1000)
    second = int(now // 1)
    last = _last_second
    if last[0] != second:
        local = time.localtime(second)
        last = _last_second = (second, time.strftime("%Y-%m-%d %H:%M:%S", local),
                               time.strftime("%z", local))
    return f"{last[1]}.{ms:03d} {last[2]}"


class IkemgrLog:
    """Appends to ``log_dir/ikemgr.log`` (rotated by size, :mod:`vpnsh.engine.logfiles`)
    and keeps recent lines.

    The file stays open between lines (flushed after each, so ``tail`` and readers see
    every line at once); it is reopened when it was rotated or removed under us.
    """

    def __init__(self, log_dir: str | Path | None, keep: int = 2000,
                 rotation: logfiles.Rotation | None = None) -> None:
        self.path = Path(log_dir) / "ikemgr.log" if log_dir else None
        self.rotation = rotation or logfiles.default_rotation()
        self.recent: deque[str] = deque(maxlen=keep)
        self.system: deque[dict[str, object]] = deque(maxlen=keep)
        self._file: TextIO | None = None
        self._size = 0
        self._ino = 0
        self._checked = 0.0  # monotonic time of the last check that the file is still ours
        self._write_failed = False  # the last write failed (logged once, retried on the next)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, text: str, *, level: str = "INFO", gateway: str = "", now: float | None = None) -> None:
        now = time.time() if now is None else now
        where = f"{{{gateway}}}: " if gateway else ""
        line = f"{_stamp(now)} [{level}]: {where}{text}"
        self.recent.append(line)
        if self.path is None:
            return
        data = line + "\n"
        try:
            f = self._open()
            f.write(data)
            f.flush()
        except OSError as exc:
            # a full disk or no file descriptor left (EMFILE): the line stays in `recent`,
            # the daemon keeps serving; the file is opened again on the next write
            self.close()
            if not self._write_failed:
                log.error("cannot write %s: %s (kept in memory; will retry)", self.path, exc)
            self._write_failed = True
            return
        if self._write_failed:
            self._write_failed = False
            log.warning("writing %s again", self.path)
        self._size += len(data.encode()) if not data.isascii() else len(data)

    def _open(self) -> TextIO:
        assert self.path is not None
        f = self._file
        mono = time.monotonic()
        if f is not None and mono - self._checked > 1.0:
            # once a second at most: was the file moved or removed by someone else?
            self._checked = mono
            try:
                st = self.path.stat()
                if st.st_ino != self._ino:
                    f = None
                else:
                    self._size = st.st_size
            except FileNotFoundError:
                f = None
            if f is None:
                self.close()
        limit = self.rotation.max_bytes
        if f is not None and self._size >= limit:
            self.close()
            logfiles.rotate(str(self.path), self.rotation.keep)
            f = None
        if f is None:
            if self.path.exists() and self.path.stat().st_size >= limit:
                logfiles.rotate(str(self.path), self.rotation.keep)
            f = self._file = self.path.open("a")
            with contextlib.suppress(OSError):
                os.fchmod(f.fileno(), logfiles.LOG_MODE)
            st = os.fstat(f.fileno())
            self._size, self._ino, self._checked = st.st_size, st.st_ino, mono
        return f

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def event(self, eventid: str, description: str, *, severity: str = "informational",
              obj: str = "", now: float | None = None, subtype: str = "vpn") -> None:
        """A system-log entry, of subtype vpn unless told (``show log system subtype equal vpn``)."""
        now = time.time() if now is None else now
        self.system.append({"time": now, "subtype": subtype, "eventid": eventid, "object": obj,
                            "severity": severity, "description": description})

    def tail(self, lines: int = 200) -> list[str]:
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                return logfiles.tail_lines(str(self.path), lines, self.rotation.keep)
        return list(self.recent)[-lines:]
