"""The monitors in the daemon: :class:`~.state.MonitorSet` on the event loop, with
:class:`~.probe_io.ProbeIO` for the packets, and what each event makes the engine do.

* tunnel monitor down: a system-log event (``tunnel-status-down``, with the reason and
  what IKE says of the tunnel); ``fail-over``: the routes through the tunnel interface
  leave the kernel (a backup route with a higher metric takes the traffic);
* renegotiate (both actions, when the tunnel goes down and again while it stays down):
  new IKE and CHILD SAs for the tunnel's gateway;
* tunnel monitor up: ``tunnel-status-up``; ``fail-over``: the routes come back;
* path monitor: the static route leaves the kernel when its destinations fail and comes
  back after its hold time (``path-monitor-failure`` / ``path-monitor-recovery``).

The engine hands in callables (:class:`Hooks`), so this module imports nothing of it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpnsh.engine.dataplane.base import Route

from .probe_io import ProbeIO
from .state import (
    FAIL_OVER,
    MonitorSet,
    PathMonitorSpec,
    Renegotiate,
    RouteRestored,
    RouteWithdrawn,
    TunnelDown,
    TunnelMonitorSpec,
    TunnelUp,
)

log = logging.getLogger("vpnshd.monitor")


@dataclass
class Hooks:
    # (tunnel, child, reason) -> whether a negotiation started
    renegotiate: Callable[[str, str, str], bool]
    # the set of routes that must not be in the kernel changed: re-sync them
    routes_changed: Callable[[], None]
    # system-log event: (eventid, description, severity, object, subtype)
    event: Callable[[str, str, str, str, str], None]
    # what IKE says of a runtime tunnel, for the reason text: "IKE SA up, IPsec SA up"
    sa_state: Callable[[str], str]
    # a probe went into a runtime tunnel: negotiate it if it has no SA (probes are
    # interesting traffic; the data plane does not see them so, as they come from a
    # link-local 169.254/16 tunnel address as often as not)
    # (interface, source, destination, runtime tunnel of a tunnel monitor or None)
    bring_up: Callable[[str, str, str, str | None], None] = lambda *a: None


class MonitorRunner:
    def __init__(self, hooks: Hooks, clock: Callable[[], float] = time.monotonic) -> None:
        self.hooks = hooks
        self.clock = clock
        self.set = MonitorSet(phase=lambda interval: random.uniform(0.0, interval))
        self.io = ProbeIO(self._on_reply)
        self._timer: asyncio.TimerHandle | None = None
        self.renegotiations: dict[str, int] = {}

    # ------------------------------------------------------------------ config

    def configure(self, tunnels: list[TunnelMonitorSpec], paths: list[PathMonitorSpec]) -> None:
        before = self._withdrawn()
        self.set.configure(tunnels, paths, self.clock())
        self.io.keep({(t.interface, t.source) for t in tunnels}
                     | {(p.route.interface, d.source) for p in paths for d in p.destinations})
        if self._withdrawn() != before:
            self.hooks.routes_changed()
        self._schedule()

    def _withdrawn(self) -> tuple[frozenset[str], frozenset[Route]]:
        return frozenset(self.set.withdrawn_interfaces()), frozenset(self.set.withdrawn_routes())

    def routes(self, routes: list[Route]) -> list[Route]:
        """The routes that belong in the kernel now."""
        ifs, gone = self._withdrawn()
        return [r for r in routes if r.interface not in ifs and r not in gone]

    # ------------------------------------------------------------------ loop

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.set.next_timer()
        if when is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(max(0.0, when - self.clock()), self._tick)

    def _tick(self) -> None:
        self._timer = None
        try:
            carriers = {t.spec.interface: t.spec.child for t in self.set.tunnels.values()}
            for probe in self.set.poll(self.clock()):
                self.io.send(probe)
                self.hooks.bring_up(probe.interface, probe.source, probe.destination,
                                    carriers.get(probe.interface))
            self._drain()
        except Exception:  # noqa: BLE001 - the monitors keep running
            log.exception("tunnel monitor tick")
        self._schedule()

    def _on_reply(self, ident: int, seq: int) -> bool:
        ok = self.set.reply(ident, seq, self.clock())
        if ok:
            self._drain()
            self._schedule()
        return ok

    def _drain(self) -> None:
        before = self._withdrawn()
        routes_event = False
        while (e := self.set.next_event()) is not None:
            try:
                routes_event |= self._handle(e)
            except Exception:  # noqa: BLE001
                log.exception("monitor event %s", type(e).__name__)
        if routes_event or self._withdrawn() != before:
            self.hooks.routes_changed()

    def _handle(self, e: Any) -> bool:
        h = self.hooks
        if isinstance(e, TunnelDown):
            spec = self.set.tunnels[e.tunnel].spec
            text = f"Tunnel {e.tunnel} is down: tunnel monitor: {e.reason}; {h.sa_state(spec.child)}"
            if e.action == FAIL_OVER:
                text += f"; action fail-over: routes via {spec.interface} withdrawn"
            else:
                text += "; action wait-recover: renegotiating"
            log.warning("%s", text)
            h.event("tunnel-status-down", text, "critical", e.tunnel, "vpn")
            return e.action == FAIL_OVER
        if isinstance(e, TunnelUp):
            spec = self.set.tunnels[e.tunnel].spec
            text = f"Tunnel {e.tunnel} is up: tunnel monitor: {spec.destination} answers again " \
                   f"after {e.down_for:.1f} s"
            if e.action == FAIL_OVER:
                text += f"; routes via {spec.interface} restored"
            log.info("%s", text)
            h.event("tunnel-status-up", text, "informational", e.tunnel, "vpn")
            return e.action == FAIL_OVER
        if isinstance(e, Renegotiate):
            self.renegotiations[e.tunnel] = self.renegotiations.get(e.tunnel, 0) + 1
            started = h.renegotiate(e.tunnel, e.child,
                                    f"tunnel monitor: {e.tunnel} is down (attempt {e.attempt})")
            h.event("tunnel-monitor-renegotiate",
                    f"Tunnel {e.tunnel}: tunnel monitor renegotiates IKE and IPsec SAs "
                    f"(attempt {e.attempt}){'' if started else ': the gateway may not initiate'}",
                    "informational", e.tunnel, "vpn")
            return False
        if isinstance(e, RouteWithdrawn):
            text = (f"Path monitor: static route {e.name} ({e.route.destination} via "
                    f"{e.route.interface}) withdrawn in virtual router {e.vr}: {e.reason}")
            log.warning("%s", text)
            h.event("path-monitor-failure", text, "critical", e.name, "routing")
            return True
        if isinstance(e, RouteRestored):
            text = (f"Path monitor: static route {e.name} ({e.route.destination} via "
                    f"{e.route.interface}) restored in virtual router {e.vr} after hold time "
                    f"{e.hold_time:.0f} s")
            log.info("%s", text)
            h.event("path-monitor-recovery", text, "informational", e.name, "routing")
            return True
        return False

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.io.close()
