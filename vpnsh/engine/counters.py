"""``show counter global``: vpnsh's own counters with PAN-OS's columns.

IKE drops by reason (each engine's ``drops``), ESP and tunnel-interface drops (the data
plane's ``global_counters()``), and SA events and key acquires (the daemon's engine).
Each counter has PAN-OS's columns: name, value, rate, severity, category, aspect,
description. ``delta yes`` shows the change since the same CLI session's previous run;
the rate is per second over the time since that run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("info", "warn", "error", "drop")
MAX_SESSIONS = 64  # CLI sessions whose previous sample is kept


@dataclass(frozen=True)
class CounterDef:
    name: str
    severity: str
    category: str
    aspect: str
    description: str


_DEFS = (
    CounterDef("esp_drop_unknown_spi", "drop", "tunnel", "pktproc", "ESP dropped: no SA for the SPI"),
    CounterDef("esp_drop_short", "drop", "tunnel", "parse", "ESP dropped: packet too short"),
    CounterDef("esp_drop_wrong_path", "drop", "tunnel", "pktproc",
               "ESP dropped: raw ESP for a UDP-encapsulated SA or the other way round"),
    CounterDef("esp_drop_expired_sa", "drop", "tunnel", "pktproc", "ESP dropped: SA past its hard lifetime"),
    CounterDef("esp_drop_auth_fail", "drop", "tunnel", "pktproc", "ESP dropped: ICV did not verify"),
    CounterDef("esp_drop_replay", "drop", "tunnel", "pktproc", "ESP dropped: replayed or too old"),
    CounterDef("esp_drop_bad_padding", "drop", "tunnel", "parse", "ESP dropped: bad padding"),
    CounterDef("esp_drop_malformed", "drop", "tunnel", "parse", "ESP dropped: malformed packet"),
    CounterDef("esp_drop_selector", "drop", "tunnel", "pktproc",
               "ESP dropped: inner packet outside the SA's proxy IDs"),
    CounterDef("esp_drop_no_policy", "drop", "tunnel", "pktproc", "ESP dropped: no policy"),
    CounterDef("esp_encap_drop", "drop", "tunnel", "pktproc",
               "Packets not encrypted: SA lifesize or sequence number exhausted"),
    CounterDef("esp_send_error", "error", "tunnel", "pktproc", "ESP packets the socket did not send"),
    CounterDef("tun_drop_no_sa", "drop", "tunnel", "pktproc",
               "Packets dropped: no SA for the tunnel (queue full or too old)"),
    CounterDef("tun_drop_not_ip", "drop", "tunnel", "parse", "Packets dropped: not IPv4 or IPv6"),
    CounterDef("tun_drop_link_scoped", "drop", "tunnel", "pktproc",
               "Packets dropped: link-local or multicast with no SA"),
    CounterDef("tun_write_error", "error", "tunnel", "pktproc", "Packets the tunnel interface refused"),
    CounterDef("dataplane_worker_restart", "error", "tunnel", "system",
               "Data-plane worker processes that died and were started again"),
    CounterDef("key_acquire", "info", "tunnel", "session", "Key acquires: traffic for a tunnel with no SA"),
    CounterDef("key_acquire_error", "error", "tunnel", "session", "Key acquires that failed"),
    CounterDef("ike_sa_established", "info", "ike", "session", "IKE SAs established"),
    CounterDef("ike_sa_failed", "warn", "ike", "session", "IKE SA negotiations failed"),
    CounterDef("ike_sa_deleted", "info", "ike", "session", "IKE SAs deleted"),
    CounterDef("ipsec_sa_installed", "info", "ike", "session", "IPSec SAs installed"),
    CounterDef("ipsec_sa_failed", "warn", "ike", "session", "IPSec SA negotiations failed"),
    CounterDef("ipsec_sa_deleted", "info", "ike", "session", "IPSec SAs deleted"),
)
KNOWN: dict[str, CounterDef] = {d.name: d for d in _DEFS}


def ike_drop(version: str, reason: str) -> CounterDef:
    """The counter of an IKE engine's drop reason (``SansIoEngine.drops`` key)."""
    slug = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "other"
    words = "IKEv2" if version == "ikev2" else "IKEv1"
    if slug == "internal_error":
        return CounterDef(f"{version}_internal_error", "error", "ike", "pktproc",
                          f"{words} datagrams or timers that met an internal error (see vpnshd.log)")
    aspect = "parse" if slug.startswith("parse") else "pktproc"
    return CounterDef(f"{version}_drop_{slug}", "drop", "ike", aspect,
                      f"{words} dropped: {reason}")


@dataclass
class _Sample:
    at: float
    values: dict[str, int]


class Sampler:
    """The previous run of each CLI session, for ``delta yes`` and the rate column."""

    def __init__(self, started: float) -> None:
        self.started = started
        self._last: dict[str, _Sample] = {}

    def show(self, values: dict[str, int], defs: dict[str, CounterDef], now: float,
             session: str = "", delta: bool = False, severity: str | None = None) -> dict[str, Any]:
        if severity is not None and severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        last = self._last.pop(session, None)
        self._last[session] = _Sample(now, dict(values))
        if len(self._last) > MAX_SESSIONS:
            del self._last[next(iter(self._last))]
        before = last.values if last is not None else {}
        elapsed = max(0.0, now - (last.at if last is not None else self.started))
        rows = []
        for name in sorted(values):
            d = defs.get(name) or KNOWN.get(name) or CounterDef(name, "info", "tunnel", "pktproc", name)
            if severity is not None and d.severity != severity:
                continue
            change = values[name] - before.get(name, 0)
            value = change if delta else values[name]
            if value <= 0:
                continue  # PAN-OS lists counters that are not zero
            rate = max(0, int(change / elapsed)) if elapsed > 0 else 0
            rows.append({"name": name, "value": value, "rate": rate, "severity": d.severity,
                         "category": d.category, "aspect": d.aspect, "description": d.description})
        return {"elapsed": round(elapsed, 3), "delta": delta, "counters": rows}
