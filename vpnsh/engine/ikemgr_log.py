"""The ikemgr log (``less mp-log ikemgr.log``) and the VPN system log.

One line per negotiation step, in PAN-OS's ikemgr style::

    2026-11-29 10:02:03.123 +0000 [INFO]: {GW-SiteB: 1}: ====> IKEv2 IKE SA NEGOTIATION SUCCEEDED ...

Failures say why in plain words (the engine writes the words). The system log
keeps the subtype-vpn events that ``show log system subtype equal vpn`` lists.
Nothing secret is ever handed to these writers: the engine logs names, addresses,
SPIs and algorithm names only.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024


def _stamp(now: float) -> str:
    ms = int((now % 1) * 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{ms:03d} " + time.strftime(
        "%z", time.localtime(now))


class IkemgrLog:
    """Appends to ``log_dir/ikemgr.log`` (rotated once at 10 MiB) and keeps recent lines."""

    def __init__(self, log_dir: str | Path | None, keep: int = 2000) -> None:
        self.path = Path(log_dir) / "ikemgr.log" if log_dir else None
        self.recent: deque[str] = deque(maxlen=keep)
        self.system: deque[dict[str, object]] = deque(maxlen=keep)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, text: str, *, level: str = "INFO", gateway: str = "", now: float | None = None) -> None:
        now = time.time() if now is None else now
        where = f"{{{gateway}}}: " if gateway else ""
        line = f"{_stamp(now)} [{level}]: {where}{text}"
        self.recent.append(line)
        if self.path is None:
            return
        if self.path.exists() and self.path.stat().st_size > MAX_BYTES:
            self.path.replace(self.path.with_suffix(".log.1"))
        with self.path.open("a") as f:
            f.write(line + "\n")

    def event(self, eventid: str, description: str, *, severity: str = "informational",
              obj: str = "", now: float | None = None) -> None:
        """A system-log entry of subtype vpn (``show log system subtype equal vpn``)."""
        now = time.time() if now is None else now
        self.system.append({"time": now, "subtype": "vpn", "eventid": eventid, "object": obj,
                            "severity": severity, "description": description})

    def tail(self, lines: int = 200) -> list[str]:
        if self.path and self.path.exists():
            with self.path.open() as f:
                return list(deque(f, maxlen=lines))
        return list(self.recent)[-lines:]
