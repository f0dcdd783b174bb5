"""The engine the daemon owns: committed config in, SAs and packets out.

This is the asyncio shell around the sans-IO parts. It

* turns each committed running config into policies (:mod:`.config_map`) and hands
  them to the IKEv2 engine, which keeps the SAs of unchanged gateways and tunnels
  and tears down the SAs of changed or removed ones;
* moves IKE datagrams between the engine and the UDP sockets (:mod:`.udp_io`),
  and runs the engine's timers on the event loop;
* installs and removes negotiated CHILD SAs in the data plane, and turns the data
  plane's acquires (interesting traffic) and lifesize expiries into negotiations;
* answers the operational VPN commands with data (docs/operational-data.md).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vpnsh.config.secrets import SecretBox
from vpnsh.engine import config_map, counters, hostinfo
from vpnsh.engine.crypto import algorithms as alg
from vpnsh.engine.dataplane.base import DataPlane, ts_contains
from vpnsh.engine.dataplane.factory import make_dataplane
from vpnsh.engine.dataplane.ping import run_ping, run_traceroute
from vpnsh.engine.firewall.filters import FilterError, filter_logs, filter_sessions
from vpnsh.engine.firewall.manager import Firewall
from vpnsh.engine.ids import IdMap
from vpnsh.engine.ifmap import InterfaceMap
from vpnsh.engine.ike import events as ev
from vpnsh.engine.ike.sansio import KEEPALIVE
from vpnsh.engine.ikemgr_log import IkemgrLog
from vpnsh.engine.ikev1.dual import DualEngine
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.handoff import child_sa_spec
from vpnsh.engine.monitor.runner import Hooks, MonitorRunner
from vpnsh.engine.pki import ops as pki_ops
from vpnsh.engine.pki import profile as pki_profile
from vpnsh.engine.pki.store import CertStore, PkiError
from vpnsh.engine.policy import ChildPolicy, IkePolicy
from vpnsh.engine.udp_io import NATT_PORT, UdpIo

log = logging.getLogger("vpnshd.engine")

DATAPLANES = ("userspace", "kernel", "none")
TEST_TIMEOUT = 20.0  # how long `test vpn ...` waits for the outcome
TIMER_SLACK = 0.02  # seconds a wake-up may come after a deadline, to run several at once


class EngineError(Exception):
    """An operational request the engine cannot do (unknown op, unknown gateway...)."""


@dataclass(slots=True)  # one per tunnel
class TunnelStats:
    key_acquires: int = 0
    last_rekey: float | None = None
    state: str = "inactive"  # inactive | init | active


@dataclass
class Engine:
    dataplane: str = "userspace"
    raw_esp: bool = False  # user-space data plane: protocol 50 where no NAT (vpnshd --raw-esp)
    state_dir: str | None = None
    log_dir: str | None = None
    # the engines' clock: monotonic, so that an NTP step never moves DPD, rekey or
    # retransmit deadlines; times shown to people go through wall()
    clock: Callable[[], float] = time.monotonic
    running: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False

    def __post_init__(self) -> None:
        self.ike = DualEngine(clock=self.clock)  # IKEv2 and IKEv1, by each gateway's version
        self.ifmap = InterfaceMap(None)  # the daemon's map (vpnsh.engine.ifmap) replaces it
        self.ikemgr = IkemgrLog(self.log_dir)
        self.secrets = SecretBox(self.state_dir) if self.state_dir else None
        self.ids = IdMap(self.state_dir)
        # zones and security rules: compiled always, enforced (nftables) with a data plane
        # the firewall's times are for people (traffic logs, rule and hit times): wall clock
        self.firewall = Firewall(self.state_dir, enforce=self.dataplane != "none",
                                 device=lambda name: self.ifmap.linux_name(name) or name)
        self.cfg = config_map.EngineConfig()
        self.dp: DataPlane = make_dataplane(self.dataplane, raw_esp=self.raw_esp)
        self.ike.force_udp_encap = self.dp.forces_udp_encap
        self.dp.events.acquire = self._on_acquire
        self.dp.events.expire = self._on_expire
        self.io = UdpIo(on_ike=self._on_ike, on_esp=self.dp.esp_in_udp, on_batch=self._on_batch)
        self.dp.events.send_udp = self.io.send_esp
        self.tunnels: dict[str, TunnelStats] = collections.defaultdict(TunnelStats)
        self.last_failure: dict[str, tuple[float, str]] = {}  # gateway or child -> (time, reason)
        self._dp_started = False
        self.running_mapped = False  # self.cfg maps a running config (incremental maps may follow)
        self._pump_scheduled = False
        self._pump_after_batch = False  # datagrams of the batch being read await the pump
        self.debug: dict[str, Any] = {}  # debug ike levels (configd keeps the settings)
        self.pcap: Any = None  # debug ike pcap on: an IkePcap writer
        self.key_tables: Any = None  # debug ike wireshark-keys on: a KeyTables writer
        self.up_gateways: collections.Counter[str] = collections.Counter()  # established IKE SAs
        self.up_children: collections.Counter[str] = collections.Counter()  # installed CHILD SAs
        self._kernel_sockets: set[tuple[str, int]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when self._timer fires (the engines' clock)
        self._timer_ran = False  # handle_timer just ran (see _schedule)
        self._changed: asyncio.Event | None = None
        self._apply_task: asyncio.Task[None] | None = None
        # show counter global: SA events and acquires (drops are counted where they happen)
        self.event_counts: collections.Counter[str] = collections.Counter()
        self.counter_sampler = counters.Sampler(time.monotonic())
        self.monitor = MonitorRunner(Hooks(  # tunnel monitor and path monitor (engine/monitor/)
            renegotiate=self._monitor_renegotiate, routes_changed=self._monitor_routes_changed,
            event=self._monitor_event, sa_state=self._monitor_sa_state,
            bring_up=self._monitor_bring_up))
        if config_map.lifetime_scale() != 1.0:
            log.warning("VPNSH_TEST_LIFETIME_SCALE=%s: SA lifetimes are scaled (a test setting)",
                        config_map.lifetime_scale())

    # ------------------------------------------------------------------ config

    def _decrypt(self, text: str) -> str:
        if self.secrets is None:
            raise EngineError("no state dir: cannot decrypt pre-shared keys")
        return self.secrets.decrypt(text)

    def apply(self, running: dict[str, Any], diff: Any = None) -> list[str]:
        """Take a newly committed running config (the engine never modifies it).

        Applied object by object: a gateway or tunnel that cannot be used (a key that does not
        decrypt, a missing profile...) is left out and named in the list returned, with why;
        the others are applied."""
        self.running = running
        store = CertStore(self.state_dir, self.secrets) if self.state_dir is not None else None
        cfg = config_map.engine_config(running, self._decrypt, self.ids,
                                       previous=self.cfg if self.running_mapped else None, diff=diff,
                                       store=store)
        self.running_mapped = True
        old_problems = set(self.cfg.problems.values())
        for what, warning in cfg.problems.items():
            log.warning("config: %s", warning)
            if warning not in old_problems:
                self.ikemgr.event("config-error", f"{warning}: not applied", severity="high",
                                  obj=what.partition(" ")[2])
        old = self.cfg
        gone_gw = old.gateways.keys() - cfg.gateways.keys()  # set arithmetic: C speed
        gone_kids = old.children.keys() - cfg.children.keys()
        self.ike.remove_policies(  # in the config's order
            ike_names=[g for g in old.gateways if g in gone_gw] if gone_gw else [],
            child_names=[c for c in old.children if c in gone_kids] if gone_kids else [],
            now=self.clock(),
        )
        # only the policies the mapping made anew (an unchanged one is the very object of
        # the last mapping): a one-tunnel commit touches one gateway and its children
        if cfg.mapped_gateways is None or cfg.mapped_tunnels is None:
            gws, kids = list(cfg.gateways.values()), list(cfg.children.values())
        else:
            gws = [cfg.gateways[n] for n in cfg.mapped_gateways if n in cfg.gateways]
            kids = [cfg.children[c] for t in cfg.mapped_tunnels for c in cfg.child_names.get(t, ())]
        self.ike.add_policies([p for p in gws if old.gateways.get(p.name) is not p],
                              [c for c in kids if old.children.get(c.name) is not c],
                              now=self.clock())
        self.cfg = cfg
        self.monitor.configure(cfg.tunnel_monitors, cfg.path_monitors)
        warnings = cfg.warnings + self._pki_warnings(running)  # certificates (issue 16)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return warnings  # no event loop (a unit test of the mapping): nothing to bind
        previous = self._apply_task
        self._apply_task = loop.create_task(self._apply_io(cfg, previous))
        return warnings

    def _pki_warnings(self, running: dict[str, Any]) -> list[str]:
        """Certificate profiles naming CAs the certificate store lacks (issue 16)."""
        profiles = pki_profile.profiles_from_config(running)
        if not profiles or self.state_dir is None:
            return []
        return pki_profile.check_profiles(profiles, CertStore(self.state_dir, self.secrets))

    async def _apply_io(self, cfg: config_map.EngineConfig, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        if not self._dp_started:
            await self.dp.start()
            self._dp_started = True
        if self.firewall.installed:
            await self.firewall.start_events()
            self.firewall.start_deny_log()
        for addr in sorted({g.local_addr for g in cfg.gateways.values() if g.enabled}):
            try:
                await self.io.bind(addr)
                take = getattr(self.dp, "take_udp_io", None)
                if take is not None:  # the user-space data plane reads port 4500 itself
                    take(self.io, addr)
            except OSError as exc:
                log.error("cannot listen for IKE on %s: %s", addr, exc)
                self.ikemgr.write(f"cannot listen on {addr}: {exc}", level="ERROR")
        try:
            await asyncio.to_thread(self.dp.set_interfaces, cfg.tunnel_interfaces,
                                    self.monitor.routes(cfg.routes))
            if self.dataplane == "kernel":
                await asyncio.to_thread(self._kernel_setup, cfg)
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            log.error("data plane could not set tunnel interfaces, routes or traps: %s", exc)
        self._pump()

    def _kernel_setup(self, cfg: config_map.EngineConfig) -> None:
        """XFRM: IKE sockets bypass IPsec, port 4500 decapsulates ESP-in-UDP in the kernel,
        and trap policies turn interesting traffic into ACQUIREs (on-demand bring-up)."""
        from vpnsh.engine.dataplane.kernel import TrapSpec, bypass_ipsec, enable_esp_in_udp

        for (ip, port), endpoint in list(self.io.endpoints()):
            if (ip, port) in self._kernel_sockets or endpoint is None:
                continue
            sock = endpoint.get_extra_info("socket")
            bypass_ipsec(sock)
            if port == NATT_PORT:
                enable_esp_in_udp(sock)
            self._kernel_sockets.add((ip, port))
        traps = []
        for child in cfg.children.values():
            gw = cfg.gateways.get(child.gateway)
            if gw is None or gw.passive or not gw.enabled or not child.enabled or not gw.peer_addr:
                continue
            tunnel_if = cfg.placement.get(child.tunnel, ("", False))[0]
            traps.append(TrapSpec(child.name, tunnel_if, gw.local_addr, gw.peer_addr,
                                  child.local_selectors(), child.remote_selectors()))
        self.dp.set_traps(traps)  # type: ignore[attr-defined]

    async def ready(self) -> None:
        """Wait until the last commit's sockets and interfaces are in place."""
        if self._apply_task is not None:
            await asyncio.gather(self._apply_task, return_exceptions=True)

    # ------------------------------------------------------------------ I/O and timers

    def _on_ike(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        if self.pcap is not None:
            self.pcap.write(data, remote, local)
        if self.debug:
            self._dump("received", data, remote, local)
        self.ike.receive(data, local, remote, self.clock())
        # a burst of datagrams arrives in one loop iteration: answer them all in one pump,
        # at the end of the socket's batch (_on_batch) or, from elsewhere, soon
        if self.io.reading:
            self._pump_after_batch = True
        elif not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _on_batch(self) -> None:
        if self._pump_after_batch:
            self._pump_after_batch = False
            if not self._pump_scheduled:
                self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.ike.handle_timer(self.clock())
        except Exception:  # noqa: BLE001 - the timers must be scheduled again whatever happened
            log.exception("IKE timers failed")
        self._timer_ran = True
        self._pump()

    def _pump(self) -> None:
        self._pump_scheduled = False
        for data, local, remote in self.ike.datagrams_to_send():
            if data == KEEPALIVE:
                self.io.send_keepalive(local, remote)
            else:
                self.io.send_ike(data, local, remote)
                if self.pcap is not None:
                    self.pcap.write(data, local, remote)
                if self.debug:
                    self._dump("sent", data, local, remote)
        had_events = False
        while (event := self.ike.next_event()) is not None:
            had_events = True
            try:
                self._handle(event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the engine
                log.exception("handling %s failed", type(event).__name__)
        if had_events and self._changed is not None:
            self._changed.set()
            self._changed = None
        self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        when = self.ike.next_timer()
        ran, self._timer_ran = self._timer_ran, False
        if when is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        now = self.clock()
        delay = when - now
        if delay <= 0 and ran and not self.ike.v2.timers_pending:
            # still due right after handle_timer ran: a timer that failed (an internal
            # error, logged and counted) must not spin the loop. Due SAs left for the next
            # slice (timers_pending) run at once, after the loop has served what waits.
            delay = 0.05
        # coalesced: deadlines within TIMER_SLACK of each other run in one wake-up (10,000
        # SAs' DPD checks are 2,000 deadlines a second), and a wake-up already armed no
        # later than needed is kept rather than re-armed after every datagram
        at = now + max(0.0, delay) + (TIMER_SLACK if delay > 0 else 0.0)
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_later(at - now, self._on_timer)

    async def _wait_change(self, deadline: float) -> bool:
        if self._changed is None:
            self._changed = asyncio.Event()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            await asyncio.wait_for(self._changed.wait(), remaining)
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------------ events

    def _handle(self, event: ev.Event) -> None:
        now = self.clock()
        counted = _EVENT_COUNTERS.get(type(event))
        if counted is not None:
            self.event_counts[counted] += 1
        if isinstance(event, ev.LogLine):
            if event.level != "DEBUG" or self._debug_level(event.gateway) != "normal":
                self.ikemgr.write(event.text, level=event.level, gateway=event.gateway)
        elif isinstance(event, ev.ChildInstalled):
            keys = event.keys
            tunnel = keys.name.split(":", 1)[0]
            tunnel_if, copy_tos = self.cfg.placement.get(tunnel, ("", False))
            try:
                self.dp.install_child(child_sa_spec(keys, tunnel_if, copy_tos))
            except Exception as exc:  # noqa: BLE001 - e.g. a kernel without ESP
                log.error("data plane could not install CHILD SA %s: %s", keys.name, exc)
                self.ikemgr.write(f"data plane could not install {keys.name}: {exc}", level="ERROR")
            self.up_children[keys.name] += 1
            if self.key_tables is not None:
                self.key_tables.esp_sa(keys.remote_addr, keys.local_addr, keys.spi_in, keys.encr_id,
                                       keys.encr_key_in, keys.integ_id, keys.integ_key_in)
                self.key_tables.esp_sa(keys.local_addr, keys.remote_addr, keys.spi_out, keys.encr_id,
                                       keys.encr_key_out, keys.integ_id, keys.integ_key_out)
            stats = self.tunnels[keys.name]
            stats.state = "active"
            if event.rekey_of is not None:
                stats.last_rekey = now
            self.ikemgr.event(self._eventid(keys.gateway, "ikev2-nego-child-succ", "ike-nego-p2-succ"),
                              f"IKEv2 child SA negotiation succeeded: tunnel {keys.name}, "
                              f"SPI {keys.spi_in:08X}/{keys.spi_out:08X}", obj=keys.gateway)
        elif isinstance(event, ev.ChildRemoved):
            self.dp.remove_child(event.spi_in)
            self.up_children[event.name] -= 1
            if self.up_children[event.name] <= 0:
                del self.up_children[event.name]
                self.tunnels[event.name].state = "inactive"
            self.ikemgr.event(self._eventid(event.gateway, "ikev2-child-sa-delete", "ike-p2-sa-delete"), f"IKEv2 child SA deleted: tunnel {event.name}, "
                              f"{event.reason}", obj=event.gateway)
        elif isinstance(event, ev.IkeEstablished):
            self.up_gateways[event.gateway] += 1
            self.ikemgr.event(self._eventid(event.gateway, "ikev2-nego-ike-succ", "ike-nego-p1-succ"), f"IKEv2 IKE SA negotiation succeeded as "
                              f"{'initiator' if event.initiator else 'responder'}"
                              f"{', rekey' if event.rekey else ''}: gateway {event.gateway}",
                              obj=event.gateway)
        elif isinstance(event, ev.IkeFailed):
            self.last_failure[event.gateway] = (now, event.reason)
            self.ikemgr.event(self._eventid(event.gateway, "ikev2-nego-ike-fail", "ike-nego-p1-fail"), f"IKEv2 IKE SA negotiation failed: gateway "
                              f"{event.gateway}: {event.reason}", severity="high", obj=event.gateway)
        elif isinstance(event, ev.ChildFailed):
            self.last_failure[event.name] = (now, event.reason)
            self.ikemgr.event(self._eventid(event.gateway, "ikev2-nego-child-fail", "ike-nego-p2-fail"), f"IKEv2 child SA negotiation failed: tunnel "
                              f"{event.name}: {event.reason}", severity="high", obj=event.gateway)
        elif isinstance(event, ev.IkeDeleted):
            self.up_gateways[event.gateway] -= 1
            if self.up_gateways[event.gateway] <= 0:
                del self.up_gateways[event.gateway]
            self.ikemgr.event(self._eventid(event.gateway, "ikev2-ike-sa-delete", "ike-p1-sa-delete"), f"IKEv2 IKE SA deleted: gateway {event.gateway}, "
                              f"{event.reason}", obj=event.gateway)

    def _eventid(self, gateway: str, ikev2: str, ikev1: str) -> str:
        """System-log event ID: PAN-OS names IKEv1 events ike-nego-p1-*, IKEv2 ones ikev2-*."""
        try:
            return ikev1 if self.ike.uses_ikev1(gateway) else ikev2
        except KeyError:  # the gateway left the config; its last events still arrive
            return ikev2

    def _on_acquire(self, tunnel_if: str, src: str, dst: str, proto: int, dport: int) -> None:
        """Interesting traffic with no SA: negotiate the tunnel (proxy-id) it matches."""
        for child in self.cfg.children.values():
            if self.cfg.placement.get(child.tunnel, ("",))[0] != tunnel_if or not child.enabled:
                continue
            if not (any(ts_contains(ts, src, proto) for ts in child.local_selectors())
                    and any(ts_contains(ts, dst, proto, dport or None) for ts in child.remote_selectors())):
                continue
            self.tunnels[child.name].key_acquires += 1
            self.event_counts["key_acquire"] += 1
            gw = self.cfg.gateways.get(child.gateway)
            if gw is None or gw.passive or not gw.enabled:
                continue
            self.ikemgr.write(f"key acquire for {src} -> {dst} on {tunnel_if}: "
                              f"initiating tunnel {child.name}", gateway=child.gateway)
            try:
                if self.ike.initiate(child.gateway, child.name, now=self.clock()):
                    self.tunnels[child.name].state = "init"
            except KeyError:
                pass
            self._pump()
            return

    # ------------------------------------------------------------------ tunnel monitor, path monitor

    def _monitor_renegotiate(self, tunnel: str, child: str, reason: str) -> bool:
        policy = self.cfg.children.get(child)
        gw = self.cfg.gateways.get(policy.gateway) if policy else None
        if policy is None or gw is None or not gw.enabled or not policy.enabled:
            return False
        self.ikemgr.write(f"tunnel monitor: {reason}: new IKE and IPsec SAs for tunnel {child}",
                          gateway=gw.name)
        if gw.passive:  # it may not initiate: drop what may be stale, the peer renegotiates
            self.ike.delete_child(child, now=self.clock())
            self._pump()
            return False
        try:
            started = self.ike.renegotiate(gw.name, child, reason, now=self.clock())
        except KeyError:
            return False
        if started:
            self.tunnels[child].state = "init"
        self._pump()
        return started

    def _monitor_bring_up(self, tunnel_if: str, src: str, dst: str, child: str | None) -> None:
        """A monitor probe went into ``tunnel_if``: a key acquire when no SA carries it."""
        if child is None:  # a path-monitor probe: whichever tunnel on the interface matches
            if not any(self.cfg.placement.get(c.tunnel, ("",))[0] == tunnel_if
                       and c.name in self.up_children for c in self.cfg.children.values()):
                self._on_acquire(tunnel_if, src, dst, 1, 0)
            return
        if child in self.up_children:
            return
        policy = self.cfg.children.get(child)
        gw = self.cfg.gateways.get(policy.gateway) if policy else None
        if policy is None or gw is None or gw.passive or not gw.enabled or not policy.enabled:
            return
        self.tunnels[child].key_acquires += 1
        try:
            if self.ike.initiate(gw.name, child, now=self.clock()):
                self.tunnels[child].state = "init"
        except KeyError:
            return
        self._pump()

    def _monitor_routes_changed(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        previous = self._apply_task

        async def resync() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            cfg = self.cfg
            try:
                await asyncio.to_thread(self.dp.set_interfaces, cfg.tunnel_interfaces,
                                        self.monitor.routes(cfg.routes))
            except Exception as exc:  # noqa: BLE001
                log.error("data plane could not update routes for the monitors: %s", exc)

        self._apply_task = loop.create_task(resync())

    def _monitor_event(self, eventid: str, text: str, severity: str, obj: str, subtype: str) -> None:
        self.ikemgr.event(eventid, text, severity=severity, obj=obj, subtype=subtype)
        self.ikemgr.write(text, level="INFO" if severity == "informational" else "WARN")

    def _monitor_sa_state(self, child: str) -> str:
        policy = self.cfg.children.get(child)
        ike = "up" if policy is not None and policy.gateway in self.up_gateways else "down"
        return f"IKE SA {ike}, IPsec SA {'up' if child in self.up_children else 'down'}"

    def _path_monitor_show(self, args: dict[str, Any]) -> dict[str, Any]:
        vr = args.get("virtual_router")
        rows = [r for r in self.monitor.set.path_status() if vr in (None, r["vr"])]
        now = self.monitor.clock()
        for r in rows:
            hold = r.pop("hold_until")
            r["hold_remaining"] = max(0, int(hold - now)) if hold is not None else None
            r["since_seconds"] = int(now - r.pop("since"))
        return {"routes": rows}

    def _monitor_flow(self, child: ChildPolicy) -> dict[str, Any] | None:
        for spec in self.cfg.tunnel_monitors:
            if spec.tunnel == child.tunnel:
                status = self.monitor.set.tunnel_status(spec.tunnel)
                if status is None:
                    return None
                now = self.monitor.clock()
                last = status.pop("last_reply")
                status["last_reply_ago"] = None if last is None else round(now - last, 1)
                status["since_seconds"] = int(now - status.pop("since"))
                status["carrier"] = spec.child
                return status
        return None

    def _on_expire(self, spi_in: int, kind: str) -> None:
        self.ike.child_lifesize_exceeded(spi_in, hard=(kind == "hard"), now=self.clock())
        self._pump()

    # ------------------------------------------------------------------ operational

    # -- debug ike (configd hands these over; see its debug.ike op)

    def set_debug(self, settings: dict[str, Any]) -> None:
        """``debug ike global|gateway GW on debug|dump``: DEBUG lines reach ikemgr.log; with
        ``dump`` every IKE datagram's header is logged too (headers only: bodies are
        encrypted or carry nothing secret before keys exist, and are not logged)."""
        self.debug = dict(settings)

    def _debug_level(self, gateway: str = "") -> str:
        per_gw = self.debug.get("gateways", {}).get(gateway) if gateway else None
        return str(per_gw or self.debug.get("global", "normal"))

    def _dump(self, what: str, data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
        if self._debug_level() == "dump" or "dump" in self.debug.get("gateways", {}).values():
            self.ikemgr.write(f"dump: {what} {len(data)} bytes {src[0]}[{src[1]}] -> {dst[0]}[{dst[1]}]"
                              f" header {data[:28].hex()}", level="DEBUG")

    def set_ike_pcap(self, writer: Any) -> None:
        """``debug ike pcap on``: every IKE datagram in and out goes to ``writer``."""
        old, self.pcap = self.pcap, writer
        if old is not None and old is not writer:
            old.close()

    def set_key_tables(self, tables: Any) -> None:
        """``debug ike wireshark-keys on``: IKE and ESP keys in Wireshark's table formats."""
        self.key_tables = tables
        self._v2().key_log = self._log_ike_keys if tables is not None else None

    def _v2(self) -> Ikev2Engine:
        return self.ike.v2

    def _log_ike_keys(self, sa: Any) -> None:
        suite, k = sa.suite, sa.keys
        if self.key_tables is None or suite is None or k is None:
            return
        try:
            self.key_tables.ike_sa(sa.spi_i, sa.spi_r, k.sk_ei, k.sk_er, suite.encr, suite.key_bits,
                                   k.sk_ai, k.sk_ar, suite.integ)
        except ValueError as exc:  # an algorithm Wireshark cannot decrypt
            log.warning("wireshark key table: %s", exc)

    def op(self, name: str, args: dict[str, Any]) -> Any:
        """An operational request: data, not text (may return an awaitable)."""
        handler = _OPS.get(name)
        if handler is None:
            raise EngineError(f"unknown operational request {name!r}")
        return handler(self, args)

    def system_events(self) -> list[dict[str, Any]]:
        return list(self.ikemgr.system)

    async def shutdown(self) -> None:
        """SIGTERM: delete every SA politely, give the Deletes a moment, stop the data plane."""
        self.stopped = True
        self.monitor.close()  # no probe may start a negotiation while the SAs are deleted
        self.ike.shutdown(now=self.clock())
        self._pump()
        deadline = time.monotonic() + 2.0
        while self.ike.ike_sas() and time.monotonic() < deadline:
            await self._wait_change(min(deadline, time.monotonic() + 0.2))
        if self._timer is not None:
            self._timer.cancel()
        self.io.close()
        await self.firewall.stop_events()
        if self._dp_started:
            await self.dp.stop()
        log.info("engine shut down")

    # -- helpers

    def _gateway(self, name: str | None) -> IkePolicy | None:
        if name is None:
            return None
        if name not in self.cfg.gateways:
            raise EngineError(f"gateway {name} is not configured")
        return self.cfg.gateways[name]

    def _children(self, tunnel: str | None) -> list[ChildPolicy]:
        if tunnel is None:
            return list(self.cfg.children.values())
        found = [c for c in self.cfg.children.values() if tunnel in (c.name, c.tunnel)]
        if not found:
            raise EngineError(f"tunnel {tunnel} is not configured")
        return found

    def wall(self, t: float | None) -> float | None:
        """Epoch seconds for a time of the engines' (monotonic) clock: for people only."""
        return None if t is None else t + (time.time() - self.clock())

    def _gwid(self, gateway: str) -> int:
        return self.cfg.gateway_ids.get(gateway, 0)

    # -- show vpn ike-sa

    def _ike_sa_show(self, args: dict[str, Any]) -> dict[str, Any]:
        gateway = args.get("gateway")
        self._gateway(gateway)
        v2 = self._v2()
        sas = [s for s in v2.ike_sas(gateway) if s.state in ("Established", "Rekeyed")]
        children = [c for c in v2.child_sas() if gateway in (None, c.gateway)]
        v1 = self.ike.v1
        return {
            "gateways_configured": len(self.cfg.gateway_ids) if gateway is None else 1,
            **v1.show_sections(self._gwid, gateway, self.wall),
            "ikev2": [{
                "gwid": self._gwid(s.gateway), "peer": s.peer_address, "gateway": s.gateway,
                "role": s.role, "sn": s.sn, "algorithm": s.algorithm,
                "established": self.wall(s.created), "expiration": self.wall(s.expires),
                "xt": s.retransmits, "children": len(s.children),
                "state": s.state,
            } for s in sas],
            "ikev2_children": [{
                "gateway": c.gateway, "tnid": c.tunnel_id, "tunnel": c.name, "id": c.child_id,
                "parent": c.parent_sn, "role": c.role, "spi_in": c.spi_in, "spi_out": c.spi_out,
                "msgid": c.message_id, "state": c.state,
            } for c in children],
        }

    def _ike_sa_detail(self, args: dict[str, Any]) -> dict[str, Any]:
        gateway = args.get("gateway")
        policy = self._gateway(gateway)
        assert gateway is not None and policy is not None
        sas = []
        for s in self.ike.ike_sas(gateway):
            kids = [c for c in self.ike.child_sas() if c.parent_sn == s.sn and c.gateway == gateway]
            sas.append({
                "spi_i": s.spi_i, "spi_r": s.spi_r, "role": s.role, "state": s.state, "sn": s.sn,
                "auth": s.auth, "proposal": s.proposal, "local_id": s.id_local,
                "remote_id": s.id_remote, "id_i": s.id_i, "id_r": s.id_r, "nat": s.nat,
                "msgid_rx": s.message_id_rx, "msgid_tx": s.message_id_tx,
                "liveness": s.liveness_interval, "created": self.wall(s.created),
                "expires": self.wall(s.expires), "rekey_at": self.wall(s.rekey_at),
                "children": [{
                    "id": c.child_id, "tnid": c.tunnel_id, "tunnel": c.name, "role": c.role,
                    "state": c.state, "msgid": c.message_id, "parent": c.parent_sn,
                    "spi_in": c.spi_in, "spi_out": c.spi_out, "algorithm": c.proposal,
                    "ts_local": list(c.local_ts), "ts_remote": list(c.remote_ts),
                    "created": self.wall(c.created), "expires": self.wall(c.expires),
                    "rekey_at": self.wall(c.rekey_at),
                } for c in kids],
            })
        return {"gateway": gateway, "gwid": self._gwid(gateway), "local": policy.local_addr,
                "peer": policy.peer_display, "now": time.time(), "sas": sas}

    # -- show vpn ipsec-sa

    def _ipsec_sa_show(self, args: dict[str, Any]) -> dict[str, Any]:
        tunnel = args.get("tunnel")
        configured = self._children(tunnel)
        now = self.clock()
        sas = [{
            "gwid": self._gwid(c.gateway), "tnid": c.tunnel_id, "peer": c.peer_address,
            "tunnel": c.name, "gateway": c.gateway, "algorithm": c.algorithm,
            "spi_in": c.spi_in, "spi_out": c.spi_out, "life_sec": c.lifetime,
            "life_kb": c.lifesize_kb, "remain": max(0, int(c.expires - now)),
        } for c in self.ike.child_sas(tunnel) if c.state in ("Mature", "Rekeyed")]
        return {"tunnels_configured": len(configured), "sas": sas}

    # -- show vpn flow

    def _flow_show(self, args: dict[str, Any]) -> dict[str, Any]:
        name, tnid = args.get("name"), args.get("tunnel_id")
        installed = {c.name: c for c in self.ike.child_sas() if c.state == "Mature"}
        flows = []
        for child in self.cfg.children.values():
            if name is not None and name not in (child.name, child.tunnel):
                continue
            if tnid is not None and int(tnid) != child.tunnel_id:
                continue
            flows.append(self._flow(child, installed.get(child.name)))
        if (name is not None or tnid is not None) and not flows:
            raise EngineError(f"tunnel {name if name is not None else tnid} is not configured")
        n = len(self.cfg.children)
        return {"tunnels_configured": n, "ipsec_configured": n, "ipsec_shown": len(flows),
                "flows": flows, "dataplane": self.dp.info().kind}

    def _outer_if(self, gateway: str) -> str:
        """The interface the gateway's IKE and ESP leave by (``local-address interface``)."""
        gw = self.running.get("network", {}).get("ike", {}).get("gateway", {}).get(gateway, {})
        return str(gw.get("local-address", {}).get("interface", ""))

    def _flow(self, child: ChildPolicy, sa: ev.ChildSaInfo | None) -> dict[str, Any]:
        gw = self.cfg.gateways.get(child.gateway)
        tunnel_if, copy_tos = self.cfg.placement.get(child.tunnel, ("", False))
        stats = self.tunnels[child.name]
        counters = self.dp.counters(sa.spi_in) if sa else None
        prop = child.proposals[0] if child.proposals else None
        now = self.clock()
        flow: dict[str, Any] = {
            "id": child.tunnel_id, "name": child.name, "type": "IPSec",
            "gwid": self._gwid(child.gateway),
            "state": "active" if sa else ("init" if stats.state == "init" else "inactive"),
            "monitor": "off",
            "monitor_detail": None,
            "local_ip": gw.local_addr if gw else "0.0.0.0",
            "peer_ip": (sa.peer_address if sa else None) or "0.0.0.0",
            "tunnel_if": tunnel_if, "outer_if": self._outer_if(child.gateway),
            "mtu": next((t.mtu for t in self.cfg.tunnel_interfaces if t.name == tunnel_if), None),
            "soft_lifetime": int(sa.rekey_at - sa.created) if sa else 0,
            "hard_lifetime": child.lifetime,
            "lifetime_remain": f"{max(0, int(sa.expires - now))} sec" if sa else "0 sec",
            "lifesize_remain": f"{child.lifesize_kb} KB" if child.lifesize_kb else "N/A",
            "latest_rekey": f"{int(now - stats.last_rekey)} seconds ago" if stats.last_rekey else "none",
            "context": 1 if sa else 0,
            "local_spi": sa.spi_in if sa else 0, "remote_spi": sa.spi_out if sa else 0,
            "key_type": "auto key", "protocol": "ESP",
            "auth_algorithm": alg.display_name(alg.IntegId(prop.integrity[0])) if prop and prop.integrity else "NONE",
            "enc_algorithm": (alg.display_name(alg.EncrId(prop.encryption[0][0]), prop.encryption[0][1], "bracket")
                              if prop and prop.encryption else ""),
            "proxy_id": {"local": child.local_ts[0], "remote": child.remote_ts[0],
                         "protocol": child.ip_proto, "local_port": child.local_port,
                         "remote_port": child.remote_port},
            "anti_replay": "yes" if child.anti_replay else "no",
            "copy_tos": "yes" if copy_tos else "no",
            "initiator": ("yes" if sa.role == "Init" else "no") if sa else "no",
            "key_acquires": stats.key_acquires,
        }
        monitor = self._monitor_flow(child)
        if monitor is not None:
            flow["monitor"], flow["monitor_detail"] = monitor["status"], monitor
        c = counters
        flow.update({
            "encap_packets": c.encap_packets if c else 0, "decap_packets": c.decap_packets if c else 0,
            "encap_bytes": c.encap_bytes if c else 0, "decap_bytes": c.decap_bytes if c else 0,
            "auth_errors": c.auth_errors if c else 0, "decrypt_errors": c.decrypt_errors if c else 0,
            "replay_packets": c.replay_packets if c else 0,
            "send_seq": c.send_seq if c else 0, "recv_seq": c.recv_seq if c else 0,
            "selector_drops": c.selector_drops if c else 0,
        })
        return flow

    # -- configuration views

    def _gateway_show(self, args: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for name, gw in self.cfg.gateways.items():
            if args.get("gateway") not in (None, name):
                continue
            p = gw.proposals[0] if gw.proposals else None
            props = "[PSK]"
            if p:
                if p.dh_groups:
                    props += f"[DH{int(p.dh_groups[0])}]"
                if p.encryption:
                    props += f"[{alg.display_name(alg.EncrId(p.encryption[0][0]), p.encryption[0][1], 'bracket')}]"
                if p.prf:
                    props += f"[{alg.display_name(alg.PrfId(p.prf[0]))}]"
            local_id = f"({gw.local_id})" if gw.local_id else ""
            rows.append({"gwid": self._gwid(name), "name": name, "peer": gw.peer_display,
                         "local": f"{gw.local_addr}{local_id}",
                         "protocol": "IKEv1" if gw.version == "ikev1" else "IKEv2",
                         "proposals": f"{props}{gw.lifetime}-sec"})
        return {"gateways": rows}

    def _tunnel_show(self, args: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for child in self.cfg.children.values():
            if args.get("name") not in (None, child.name, child.tunnel):
                continue
            p = child.proposals[0] if child.proposals else None
            dh = f"[DH{int(child.pfs_group)}]" if child.pfs_group else "[nopfs]"
            enc = (alg.display_name(alg.EncrId(p.encryption[0][0]), p.encryption[0][1], "bracket")
                   if p and p.encryption else "NULL")
            auth = alg.display_name(alg.IntegId(p.integrity[0])) if p and p.integrity else "NONE"
            port = f"{child.ip_proto}:{child.local_port}", f"{child.ip_proto}:{child.remote_port}"
            mon = next((m for m in self.cfg.tunnel_monitors if m.tunnel == child.tunnel), None)
            rows.append({"tnid": child.tunnel_id, "name": child.name, "gateway": child.gateway,
                         # configuration, as the rest of the row (PAN-OS prints no monitor
                         # column here: reference 2.6 [V]; --output json has it)
                         "monitor": None if mon is None else {
                             "destination": mon.destination, "source": mon.source,
                             "profile": mon.profile, "action": mon.action,
                             "interval": mon.interval, "threshold": mon.threshold,
                             "carrier": mon.child},
                         "local": child.local_ts[0], "local_ptl": port[0],
                         "remote": child.remote_ts[0], "remote_ptl": port[1],
                         "proposals": f"{'ESP tunl ' + dh + '[' + enc + '][' + auth + ']':<31}"
                                      f"{child.lifetime}-sec"})
        return {"tunnels": rows}

    # -- test / clear

    async def _ike_test(self, args: dict[str, Any]) -> dict[str, Any]:
        await self.ready()
        start = self.clock()
        gateway = args.get("gateway")
        names = [gateway] if gateway else [n for n, g in self.cfg.gateways.items() if g.enabled]
        self._gateway(gateway)
        errors: list[str] = []
        started = []
        for name in names:
            gw = self.cfg.gateways[name]
            if gw.passive:
                errors.append(f"gateway {name} is in passive mode: it only responds")
            elif self.ike.initiate(name, now=self.clock()):
                started.append(name)
            else:
                errors.append(f"gateway {name} did not initiate (see ikemgr.log)")
        self._pump()
        errors += await self._outcome(started, start, lambda: set(self.up_gateways))
        return {"start": self.wall(start), "initiated": len(started), "errors": errors}

    async def _ipsec_test(self, args: dict[str, Any]) -> dict[str, Any]:
        await self.ready()
        start = self.clock()
        children = self._children(args.get("tunnel"))
        errors: list[str] = []
        started = []
        for child in children:
            gw = self.cfg.gateways.get(child.gateway)
            if gw is None:
                errors.append(f"tunnel {child.name}: gateway {child.gateway} is not usable")
            elif gw.passive:
                errors.append(f"gateway {child.gateway} is in passive mode: it only responds")
            elif self.ike.initiate(child.gateway, child.name, now=self.clock()):
                started.append(child.name)
                self.tunnels[child.name].state = "init"
        self._pump()
        errors += await self._outcome(started, start, lambda: set(self.up_children),
                                      gateway_of={c.name: c.gateway for c in children})
        return {"start": self.wall(start), "tunnels": started, "errors": errors}

    async def _outcome(self, names: list[str], start: float, up: Callable[[], set[str]],
                       gateway_of: dict[str, str] | None = None) -> list[str]:
        """Wait (bounded) until each name is up or has failed; the reasons of failures.

        ``up()`` gives the names that are up now; it is asked once per wake-up.
        """
        deadline = time.monotonic() + TEST_TIMEOUT
        pending = list(names)
        errors: list[str] = []
        while pending:
            done = up()
            for name in list(pending):
                keys = [name] + ([gateway_of[name]] if gateway_of and name in gateway_of else [])
                failure = next((self.last_failure[k] for k in keys
                                if k in self.last_failure and self.last_failure[k][0] >= start), None)
                if name in done:
                    pending.remove(name)
                elif failure is not None:
                    errors.append(f"{name}: {failure[1]}")
                    pending.remove(name)
            if pending and not await self._wait_change(deadline):
                errors += [f"{n}: no answer yet after {int(TEST_TIMEOUT)} seconds "
                           "(negotiation goes on; see show vpn ike-sa / ikemgr.log)" for n in pending]
                break
        return errors

    def _ike_clear(self, args: dict[str, Any]) -> dict[str, Any]:
        gateway = args.get("gateway")
        self._gateway(gateway)
        v1 = self.ike.v1.delete_ike(gateway, now=self.clock())
        v2 = self._v2().delete_ike(gateway, now=self.clock())
        self._pump()
        return {"gateway": gateway, "gwid": self._gwid(gateway) if gateway else None,
                "cleared": v1 + v2, "ikev1": v1, "ikev2": v2}

    def _ipsec_clear(self, args: dict[str, Any]) -> dict[str, Any]:
        tunnel = args.get("tunnel")
        self._children(tunnel)
        v1 = self.ike.v1.delete_child(tunnel, now=self.clock())
        v2 = self._v2().delete_child(tunnel, now=self.clock())
        self._pump()
        return {"tunnel": tunnel, "cleared": v1 + v2, "ikev1": v1, "ikev2": v2}

    # -- show counter global (issue 11: IKE and ESP drops by reason, SA events, acquires)

    def _counter_global(self, args: dict[str, Any]) -> dict[str, Any]:
        values: collections.Counter[str] = collections.Counter()
        defs: dict[str, counters.CounterDef] = {}
        for version, engine in (("ikev2", self.ike.v2), ("ikev1", self.ike.v1)):
            for reason, n in engine.drops.items():
                d = counters.ike_drop(version, reason)
                defs[d.name] = d
                values[d.name] += n
        dp_counters = getattr(self.dp, "global_counters", None)
        if dp_counters is not None:
            values.update(dp_counters())
        values.update(self.event_counts)
        severity = args.get("severity")
        try:
            return self.counter_sampler.show(
                dict(values), defs, time.monotonic(), session=str(args.get("session", "")),
                delta=args.get("delta") == "yes", severity=str(severity) if severity else None)
        except ValueError as exc:
            raise EngineError(str(exc)) from None

    async def _ping(self, args: dict[str, Any]) -> dict[str, Any]:
        await self.ready()
        source = args.get("source")
        return await run_ping(None if source is None else str(source), str(args["host"]),
                              int(args.get("count", 5)))

    # -- everyday host commands: show interface, routing, arp, clock, resources, traceroute

    async def _host_view(self) -> hostinfo.HostView:
        await self.ready()
        snap = await asyncio.to_thread(hostinfo.snapshot)
        return hostinfo.HostView(self.running, self.ifmap, snap)

    async def _interface_show(self, args: dict[str, Any]) -> dict[str, Any]:
        view = await self._host_view()
        name = args.get("name")
        if name in (None, "all"):
            return view.interfaces()
        known = {i["name"] for i in view.interfaces()["logical"]}
        if name not in known:
            raise EngineError(f"Invalid interface {name}")
        return view.interface(str(name))

    async def _routing_route(self, args: dict[str, Any]) -> dict[str, Any]:
        view = await self._host_view()
        return {"virtual_routers": [{"name": vr, "id": i, "routes": view.routes() if i == 1 else []}
                                    for i, vr in enumerate(self._virtual_routers(), 1)]}

    async def _routing_fib(self, args: dict[str, Any]) -> dict[str, Any]:
        view = await self._host_view()
        names = [i["name"] for i in view.interfaces()["logical"] if i["vr"]]
        return {"virtual_routers": [{"name": vr, "interfaces": [n for n in names
                                                                if view.vr_of.get(n) == vr],
                                     "entries": view.fib() if i == 1 else []}
                                    for i, vr in enumerate(self._virtual_routers(), 1)]}

    async def _fib_lookup(self, args: dict[str, Any]) -> dict[str, Any]:
        ip = str(args["ip"])
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise EngineError(f"'{ip}' is not a valid IP address") from None
        vr = str(args.get("virtual_router", "default"))
        if vr not in self._virtual_routers():
            raise EngineError(f"virtual-router {vr} does not exist")
        view = await self._host_view()
        hit = await asyncio.to_thread(hostinfo.lookup, ip)
        out: dict[str, Any] = {"virtual_router": vr, "destination": ip, "found": hit is not None}
        if hit is not None:
            routes = [r for r in view.routes() if "H" not in r["flags"]
                      and ip_in(ip, r["destination"])]
            best = max(routes, key=lambda r: int(r["destination"].split("/")[1]), default=None)
            out.update(interface=view.name_of(hit["oif"]), nexthop=hit["gateway"] or "0.0.0.0",
                       source=hit["src"] or "", metric=best["metric"] if best else 0)
        return out

    async def _arp_show(self, args: dict[str, Any]) -> dict[str, Any]:
        view = await self._host_view()
        entries = view.arp()
        name = args.get("interface", args.get("name"))
        if name not in (None, "all"):
            entries = [e for e in entries if e["interface"] == name]
        return {"max": hostinfo.ARP_MAX, "timeout": hostinfo.ARP_TIMEOUT,
                "total": len(view.arp()), "entries": entries}

    def _clock(self, args: dict[str, Any]) -> dict[str, Any]:
        return hostinfo.clock()

    async def _resources(self, args: dict[str, Any]) -> dict[str, Any]:
        return await hostinfo.resources()

    async def _traceroute(self, args: dict[str, Any]) -> dict[str, Any]:
        await self.ready()
        source = args.get("source")
        return await run_traceroute(str(args["host"]), None if source is None else str(source))

    def _virtual_routers(self) -> list[str]:
        vrs = list(((self.running.get("network") or {}).get("virtual-router")) or {})
        return vrs or ["default"]


# -- certificates (issue 16): the certificate store's commands (vpnsh.engine.pki.ops)

def _pki_op(name: str) -> Callable[[Engine, dict[str, Any]], Any]:
    def run(engine: Engine, args: dict[str, Any]) -> Any:
        if engine.state_dir is None:
            raise EngineError("no state dir: no certificate store")
        store = CertStore(engine.state_dir, engine.secrets)  # cheap: it reads files on use
        try:
            return pki_ops.OPS[name](store, args)
        except (PkiError, ValueError) as exc:  # ValueError: the master key cannot decrypt
            raise EngineError(str(exc)) from None
    return run


# ---------------------------------------------------------------- firewall (issue 14):
# zones, security rules, rule hit counts, sessions and the traffic log


def _fw_policy_match(engine: Engine, args: dict[str, Any]) -> Any:
    return engine.firewall.match(args)


def _fw_hit_count(engine: Engine, args: dict[str, Any]) -> Any:
    return {"vsys": "vsys1", "rule-base": "security", "rules": engine.firewall.hit_counts()}


def _fw_running_policy(engine: Engine, args: dict[str, Any]) -> Any:
    return engine.firewall.running_policy()


def _fw_sessions(engine: Engine, args: dict[str, Any]) -> Any:
    try:
        found = filter_sessions(engine.firewall.sessions(), _words(args.get("filter")))
    except FilterError as exc:
        raise EngineError(str(exc)) from None
    return {"sessions": found}


def _fw_session(engine: Engine, args: dict[str, Any]) -> Any:
    sid = int(args["session_id"])
    found = [s for s in engine.firewall.sessions() if s["id"] == sid]
    if not found:
        raise EngineError(f"session {sid} does not exist")
    return {"session": found[0]}


def _fw_clear_sessions(engine: Engine, args: dict[str, Any]) -> Any:
    sid = args.get("session_id")
    return {"cleared": engine.firewall.clear_sessions(None if sid is None else int(sid))}


def _fw_traffic_log(engine: Engine, args: dict[str, Any]) -> Any:
    try:
        return {"logs": filter_logs(list(engine.firewall.traffic_log), _words(args.get("filter")))}
    except FilterError as exc:
        raise EngineError(str(exc)) from None


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


_FIREWALL_OPS: dict[str, Callable[[Engine, dict[str, Any]], Any]] = {
    "security-policy-match.show": _fw_policy_match,
    "rule-hit-count.show": _fw_hit_count,
    "security-policy.show": _fw_running_policy,
    "session.show": _fw_sessions,
    "session.detail": _fw_session,
    "session.clear": _fw_clear_sessions,
    "log.traffic.show": _fw_traffic_log,
}

# The engine ops of the operational commands declared in vpnsh/shell/op_table.py (``engine``
# and variants' ``op``); tests/unit/test_op_table.py checks the two agree, key for key.
_OPS: dict[str, Callable[[Engine, dict[str, Any]], Any]] = {
    "vpn.ike-sa.show": Engine._ike_sa_show,
    "vpn.ike-sa.detail": Engine._ike_sa_detail,
    "vpn.ipsec-sa.show": Engine._ipsec_sa_show,
    "vpn.flow.show": Engine._flow_show,
    "vpn.gateway.show": Engine._gateway_show,
    "vpn.tunnel.show": Engine._tunnel_show,
    "vpn.ike-sa.test": Engine._ike_test,
    "vpn.ipsec-sa.test": Engine._ipsec_test,
    "vpn.ike-sa.clear": Engine._ike_clear,
    "vpn.ipsec-sa.clear": Engine._ipsec_clear,
    "ping": Engine._ping,
    # everyday host commands (show interface, routing, arp, clock, resources, traceroute)
    "host.interface.show": Engine._interface_show,
    "host.routing.route.show": Engine._routing_route,
    "host.routing.fib.show": Engine._routing_fib,
    "host.routing.fib-lookup": Engine._fib_lookup,
    "host.arp.show": Engine._arp_show,
    "host.clock.show": Engine._clock,
    "host.resources.show": Engine._resources,
    "traceroute": Engine._traceroute,
    # show counter global (issue 11)
    "counter.global.show": Engine._counter_global,
    # tunnel monitor, path monitor (engine/monitor/)
    "routing.path-monitor.show": Engine._path_monitor_show,
    # certificates (issue 16)
    **{name: _pki_op(name) for name in pki_ops.OPS},
    **_FIREWALL_OPS,
}

_EVENT_COUNTERS: dict[type, str] = {
    ev.IkeEstablished: "ike_sa_established", ev.IkeFailed: "ike_sa_failed",
    ev.IkeDeleted: "ike_sa_deleted", ev.ChildInstalled: "ipsec_sa_installed",
    ev.ChildFailed: "ipsec_sa_failed", ev.ChildRemoved: "ipsec_sa_deleted",
}


def ip_in(ip: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False
