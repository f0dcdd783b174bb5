"""The monitors of one running config, sans-IO.

``MonitorSet.configure(tunnels, paths, now)`` takes what the config asks for (monitors
whose spec did not change keep their state); ``poll(now)`` gives the ICMP probes due;
``reply(ident, seq, now)`` takes an echo reply; ``next_timer()`` says when to poll next;
``next_event()`` hands out what changed:

* :class:`TunnelDown` / :class:`TunnelUp`: a tunnel monitor's status (``threshold``
  probes lost in a row / a reply again);
* :class:`Renegotiate`: bring up new IKE and CHILD SAs for the tunnel (both profile
  actions: when the tunnel goes down, and again after each further ``threshold`` losses
  while it stays down);
* :class:`RouteWithdrawn` / :class:`RouteRestored`: a path-monitored static route failed
  (``failure-condition any|all`` of its destinations down) / has been healthy again for
  its hold time.

What the engine does with them (withdraw the routes of a ``fail-over`` tunnel's interface,
renegotiate, log) lives in the engine; :meth:`MonitorSet.withdrawn_interfaces` and
:meth:`MonitorSet.withdrawn_routes` say which routes must not be in the kernel now.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vpnsh.engine.dataplane.base import Route

from .heartbeat import Heartbeat

WAIT_RECOVER = "wait-recover"
FAIL_OVER = "fail-over"


# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class TunnelMonitorSpec:
    tunnel: str  # the IPsec tunnel (config name)
    child: str  # the runtime tunnel that carries the probes: "T" or "T:PROXYID"
    interface: str  # tunnel.N
    source: str  # the tunnel interface's address
    destination: str
    profile: str = "default"
    action: str = WAIT_RECOVER
    interval: int = 3
    threshold: int = 5


@dataclass(frozen=True)
class MonitorDestination:
    name: str
    source: str
    destination: str
    interval: int = 3
    count: int = 5
    enabled: bool = True


@dataclass(frozen=True)
class PathMonitorSpec:
    vr: str
    name: str  # the static route's name
    route: Route  # as the data plane installs it
    destinations: tuple[MonitorDestination, ...]
    failure_condition: str = "any"  # any | all
    hold_time: float = 120.0  # seconds (configured in minutes)

    @property
    def key(self) -> tuple[str, str]:
        return self.vr, self.name


# ---------------------------------------------------------------------------- out


@dataclass(frozen=True)
class Probe:
    ident: int  # ICMP echo identifier (one per probed destination)
    seq: int
    source: str
    destination: str
    interface: str  # sent through this interface, whatever the routing table says


@dataclass(frozen=True)
class TunnelDown:
    tunnel: str
    action: str
    reason: str
    at: float


@dataclass(frozen=True)
class TunnelUp:
    tunnel: str
    action: str
    at: float
    down_for: float  # seconds it had been down


@dataclass(frozen=True)
class Renegotiate:
    tunnel: str
    child: str
    at: float
    attempt: int  # 1 at the transition to down, then 2, 3... while it stays down


@dataclass(frozen=True)
class RouteWithdrawn:
    vr: str
    name: str
    route: Route
    reason: str
    at: float


@dataclass(frozen=True)
class RouteRestored:
    vr: str
    name: str
    route: Route
    at: float
    hold_time: float


Event = TunnelDown | TunnelUp | Renegotiate | RouteWithdrawn | RouteRestored


# ---------------------------------------------------------------------------- state


@dataclass
class _Tunnel:
    spec: TunnelMonitorSpec
    beat: Heartbeat
    ident: int
    reason: str = ""
    attempts: int = 0
    misses_at_attempt: int = 0


@dataclass
class _Dest:
    spec: MonitorDestination
    beat: Heartbeat
    ident: int


@dataclass
class _Path:
    spec: PathMonitorSpec
    dests: dict[str, _Dest]
    installed: bool = True
    hold_until: float | None = None  # healthy again, restored at this time
    reason: str = ""
    changed_at: float = 0.0

    def failed(self) -> bool:
        live = [d for d in self.dests.values() if d.spec.enabled]
        if not live:
            return False
        down = [not d.beat.up for d in live]
        return any(down) if self.spec.failure_condition == "any" else all(down)


def _idents(start: int = 0x5600) -> itertools.cycle[int]:
    return itertools.cycle(range(start, start + 0x1000))


@dataclass
class MonitorSet:
    tunnels: dict[str, _Tunnel] = field(default_factory=dict)
    paths: dict[tuple[str, str], _Path] = field(default_factory=dict)
    _events: collections.deque[Event] = field(default_factory=collections.deque)
    _by_ident: dict[int, _Tunnel | _Dest] = field(default_factory=dict)
    _ids: itertools.cycle[int] = field(default_factory=_idents)
    # where in its first interval a new monitor's first probe goes (0: at once). The daemon
    # picks at random, so that two peers monitoring each other do not probe, renegotiate
    # and so initiate in step (two IKE SAs where one would do)
    phase: Callable[[float], float] = field(default=lambda interval: 0.0)

    # ------------------------------------------------------------------ config

    def _ident(self) -> int:
        for _ in range(0x1000):
            ident = next(self._ids)
            if ident not in self._by_ident:
                return ident
        raise RuntimeError("no free ICMP identifier for another monitor")

    def configure(self, tunnels: list[TunnelMonitorSpec], paths: list[PathMonitorSpec],
                  now: float) -> None:
        """The monitors the running config asks for; unchanged ones keep their state."""
        want_t = {t.tunnel: t for t in tunnels}
        for name in [n for n, t in self.tunnels.items() if want_t.get(n) != t.spec]:
            self._by_ident.pop(self.tunnels.pop(name).ident, None)
        for name, spec in want_t.items():
            if name not in self.tunnels:
                ident = self._ident()
                start = now + self.phase(spec.interval)
                mon = _Tunnel(spec, Heartbeat(spec.interval, spec.threshold, start), ident)
                self.tunnels[name] = mon
                self._by_ident[ident] = mon
        want_p = {p.key: p for p in paths}
        for key in [k for k, p in self.paths.items() if want_p.get(k) != p.spec]:
            for d in self.paths.pop(key).dests.values():
                self._by_ident.pop(d.ident, None)
        for key, pspec in want_p.items():
            if key in self.paths:
                continue
            dests: dict[str, _Dest] = {}
            for md in pspec.destinations:
                ident = self._ident()
                dest = _Dest(md, Heartbeat(md.interval, md.count, now + self.phase(md.interval)), ident)
                dests[md.name] = dest
                self._by_ident[ident] = dest
            self.paths[key] = _Path(pspec, dests, changed_at=now)

    # ------------------------------------------------------------------ time and packets

    def next_timer(self) -> float | None:
        times = [t.beat.next_due() for t in self.tunnels.values()]
        for p in self.paths.values():
            times += [d.beat.next_due() for d in p.dests.values() if d.spec.enabled]
            if p.hold_until is not None:
                times.append(p.hold_until)
        return min(times) if times else None

    def poll(self, now: float) -> list[Probe]:
        probes: list[Probe] = []
        for mon in self.tunnels.values():
            seq, changed = mon.beat.tick(now)
            if seq is None:
                continue
            s = mon.spec
            probes.append(Probe(mon.ident, seq, s.source, s.destination, s.interface))
            if changed:  # went down
                mon.reason = (f"{mon.beat.misses} probes in a row to {s.destination} from "
                              f"{s.source} unanswered (interval {s.interval} s, threshold "
                              f"{s.threshold})")
                self._events.append(TunnelDown(s.tunnel, s.action, mon.reason, now))
                mon.attempts, mon.misses_at_attempt = 1, mon.beat.misses
                self._events.append(Renegotiate(s.tunnel, s.child, now, 1))
            elif not mon.beat.up and mon.beat.misses - mon.misses_at_attempt >= s.threshold:
                mon.attempts += 1
                mon.misses_at_attempt = mon.beat.misses
                self._events.append(Renegotiate(s.tunnel, s.child, now, mon.attempts))
        for path in self.paths.values():
            for dest in path.dests.values():
                if not dest.spec.enabled:
                    continue
                seq, _ = dest.beat.tick(now)
                if seq is not None:
                    d = dest.spec
                    probes.append(Probe(dest.ident, seq, d.source, d.destination,
                                        path.spec.route.interface))
            self._path_state(path, now)
        return probes

    def reply(self, ident: int, seq: int, now: float) -> bool:
        """An ICMP echo reply; False when it answers no probe of ours."""
        mon = self._by_ident.get(ident)
        if mon is None:
            return False
        if isinstance(mon, _Tunnel):
            down_since = mon.beat.changed_at
            if mon.beat.reply(seq, now):
                mon.reason = ""
                self._events.append(TunnelUp(mon.spec.tunnel, mon.spec.action, now, now - down_since))
            return True
        mon.beat.reply(seq, now)
        for path in self.paths.values():
            if path.dests.get(mon.spec.name) is mon:
                self._path_state(path, now)
        return True

    def _path_state(self, path: _Path, now: float) -> None:
        failed = path.failed()
        s = path.spec
        if failed:
            path.hold_until = None
            if path.installed:
                down = [d for d in path.dests.values() if d.spec.enabled and not d.beat.up]
                path.reason = "; ".join(
                    f"{d.spec.name}: {d.beat.misses} pings to {d.spec.destination} unanswered"
                    for d in down) + f" (failure-condition {s.failure_condition})"
                path.installed, path.changed_at = False, now
                self._events.append(RouteWithdrawn(s.vr, s.name, s.route, path.reason, now))
        elif not path.installed:
            if path.hold_until is None:
                path.hold_until = now + s.hold_time
            if now >= path.hold_until:
                path.installed, path.hold_until, path.reason, path.changed_at = True, None, "", now
                self._events.append(RouteRestored(s.vr, s.name, s.route, now, s.hold_time))

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------ what is down now

    def withdrawn_interfaces(self) -> set[str]:
        """Tunnel interfaces of fail-over tunnels that are monitor-down: no routes."""
        return {t.spec.interface for t in self.tunnels.values()
                if t.spec.action == FAIL_OVER and not t.beat.up}

    def withdrawn_routes(self) -> set[Route]:
        return {p.spec.route for p in self.paths.values() if not p.installed}

    # ------------------------------------------------------------------ views

    def tunnel_status(self, tunnel: str) -> dict[str, Any] | None:
        mon = self.tunnels.get(tunnel)
        if mon is None:
            return None
        s, b = mon.spec, mon.beat
        return {"status": "up" if b.up else "down", "destination": s.destination,
                "source": s.source, "interface": s.interface, "profile": s.profile,
                "action": s.action, "interval": s.interval, "threshold": s.threshold,
                "sent": b.sent, "replies": b.replies, "lost_in_row": b.misses,
                "last_reply": b.last_reply, "since": b.changed_at, "reason": mon.reason,
                "renegotiations": mon.attempts if not b.up else 0}

    def path_status(self) -> list[dict[str, Any]]:
        out = []
        for p in self.paths.values():
            s = p.spec
            out.append({
                "vr": s.vr, "name": s.name, "destination": s.route.destination,
                "nexthop": s.route.nexthop, "interface": s.route.interface,
                "metric": s.route.metric, "failure_condition": s.failure_condition,
                "hold_time": s.hold_time, "status": "up" if p.installed else "down",
                "installed": p.installed, "hold_until": p.hold_until, "reason": p.reason,
                "since": p.changed_at,
                "monitors": [{
                    "name": d.spec.name, "enabled": d.spec.enabled, "source": d.spec.source,
                    "destination": d.spec.destination, "interval": d.spec.interval,
                    "count": d.spec.count, "status": "up" if d.beat.up else "down",
                    "sent": d.beat.sent, "replies": d.beat.replies, "lost_in_row": d.beat.misses,
                } for d in p.dests.values()],
            })
        return out
