"""``Ikev1Engine``: the sans-IO IKEv1 state machine (RFC 2409) for all gateways.

The public shape is that of :class:`vpnsh.engine.ikev2.engine.Ikev2Engine`, and it
emits the same events (``vpnsh.engine.ike.events``), so the daemon drives both
alike. Datagrams and the time come in (``receive``, ``handle_timer``); datagrams,
the next timer and events go out. A datagram to or from port 4500 is an ISAKMP
message without the non-ESP marker (the I/O layer adds and strips it).

Phase 1 is main mode (6 messages) or aggressive mode (3) with pre-shared keys, or
main mode with RSA signatures (``tasks/auth.py``);
phase 2 is quick mode with proxy IDs as ID payloads. NAT-T follows RFC 3947, DPD
RFC 3706. Phase 2 SAs belong to the gateway, not to one phase 1 SA: they outlive
the phase 1 that made them (IKEv1 allows it); when one needs a rekey and no
phase 1 is up, a new phase 1 is negotiated first.

The exchanges are tasks (``ikev1/tasks/``), run by one task manager per ISAKMP SA
(``ikev1/task_manager.py``: message IDs, retransmission, the SA's timers). The engine
keeps the tables (ISAKMP SAs by cookie, phase 2 SAs), routes each datagram to its SA's
manager (a first message makes the SA), routes due timers to managers, and is the
tasks' context (``tasks/base.py`` ``Context``).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from ..ike import retransmit as backoff
from ..ike.events import (
    ChildFailed,
    ChildRemoved,
    IkeDeleted,
    IkeEstablished,
    IkeFailed,
    LogLine,
)
from ..ike.liveness import quiet_allowed
from ..ike.pacing import InitiationWindow, Lane
from ..ike.policy_index import PolicyIndex
from ..ike.retransmit import Retransmit
from ..ike.sansio import SansIoEngine, nat_words
from ..ike.spi import SpiAllocator
from ..ike.timers import TimerHeap
from ..ikefrag.ikev1 import PAYLOAD_FRAGMENT
from ..policy import ChildPolicy, IkePolicy
from . import fragments, show
from . import message as m
from .message import Exchange, NotifyPayload, NotifyType, ParseError, ProtocolId
from .protection import header
from .sa import (
    REKEY_JITTER_INITIATOR,
    REKEY_JITTER_RESPONDER,
    Address,
    Child,
    ChildState,
    Ikev1ChildInfo,
    Ikev1SaInfo,
    P1State,
    Phase1,
)
from .task_manager import Ikev1TaskManager
from .tasks import reauth
from .tasks.informational import Delete
from .tasks.phase1 import HALF_OPEN_LIMIT, half_open_refusal


class _OfGateway(Protocol):
    @property
    def gateway(self) -> str: ...


K = TypeVar("K")
V = TypeVar("V", bound=_OfGateway)


class _Registry(dict[K, V]):
    """The SA table: an SA put in it is handed to ``on_add`` (to join the timer heap). It
    keeps its SAs by gateway, too (:meth:`of`): one gateway's SAs are found without a scan
    of every SA (quadratic with 10,000 gateways). Add with ``t[k] = sa``, remove with
    ``del t[k]`` (the other dict mutators would bypass the index: not used)."""

    def __init__(self, on_add: Callable[[object], None]) -> None:
        super().__init__()
        self._on_add = on_add
        # gateway -> its one SA's key, or a dict of its SAs (a gateway mostly has one: a
        # one-entry dict for each of 10,000 gateways would take 2.3 MB a table)
        self._by_gateway: dict[str, K | dict[K, V]] = {}

    def __setitem__(self, key: K, value: V) -> None:
        old = self.get(key)
        if old is not None:
            self._unindex(key, old)
        super().__setitem__(key, value)
        by, gw = self._by_gateway, value.gateway
        mine = by.get(gw)
        if mine is None:
            by[gw] = key
        elif isinstance(mine, dict):
            mine[key] = value
        else:
            by[gw] = {mine: self[mine], key: value}
        self._on_add(value)

    def __delitem__(self, key: K) -> None:
        value = self[key]
        super().__delitem__(key)
        self._unindex(key, value)

    def _unindex(self, key: K, value: V) -> None:
        by, gw = self._by_gateway, value.gateway
        mine = by.get(gw)
        if isinstance(mine, dict):
            mine.pop(key, None)
            if len(mine) == 1:
                by[gw] = next(iter(mine))
        elif mine is not None and mine == key:
            del by[gw]

    def of(self, gateway: str) -> list[V]:
        """The SAs of ``gateway``, oldest first."""
        mine = self._by_gateway.get(gateway)
        if mine is None:
            return []
        return list(mine.values()) if isinstance(mine, dict) else [self[mine]]


class Ikev1Engine(SansIoEngine):
    version = "ikev1"
    """All IKEv1 SAs of one daemon. Not thread-safe: call it from one task."""

    parse_error = ParseError

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        retransmit: Retransmit | None = None,
        initiations: InitiationWindow | None = None,
    ) -> None:
        super().__init__(clock)
        self.rng = rng or random.Random()
        self.retransmit = retransmit or backoff.IKEV1
        # timers: one heap per table, by each SA's earliest deadline (ike/timers.py), so
        # next_timer does not scan every SA; an SA's setters touch it (sa.py)
        self._seq = 0  # orders SAs by creation (handle_timer acts on them in that order)
        self.sas: _Registry[bytes, Phase1] = _Registry(self._track_p1)  # by CKY-I
        self.children: _Registry[int, Child] = _Registry(self._track_child)
        self._half_open: dict[bytes, Phase1] = {}  # responder SAs not yet up, by CKY-I
        self._p1_heap: TimerHeap[Phase1] = TimerHeap(
            self._p1_deadlines, lambda sa: self.sas.get(sa.cky_i) is sa, lambda: len(self.sas))
        self._child_heap: TimerHeap[Child] = TimerHeap(
            self._child_deadlines, lambda c: self.children.get(c.child_id) is c,
            lambda: len(self.children))
        self.next_sn = 1
        self.next_child_id = 1
        self.spis = SpiAllocator()
        # IKEv1 picks a gateway by address only (the ID comes encrypted, after the choice)
        self._index: PolicyIndex[object] = PolicyIndex(self._ike_policies, "ikev2", lambda _id: None)
        self.half_open_limit = HALF_OPEN_LIMIT
        # our phase 1 SAs negotiating at once, the others waiting their turn (ike/pacing.py);
        # ``initiations``: the window of the daemon, shared with its IKEv2 engine
        self._initiations: Lane[Phase1] = (initiations or InitiationWindow()).lane(
            lambda sa: self.sas.get(sa.cky_i) is sa and sa.state == P1State.CONNECTING,
            self._start_one)
        # announce and read NAT-T (RFC 3947); False plays a peer without it (tests)
        self.nat_traversal = True

    # ------------------------------------------------------------------ config
    def _teardown_gateway(self, gateway: str, reason: str, now: float) -> None:
        for c in self.children.of(gateway):
            self._delete_child_sa(c, reason, now)
        for sa in self.sas.of(gateway):
            self._delete_p1(sa, reason, now)

    # --------------------------------------------------------------- commands
    def initiate(self, gateway: str, child: str | None = None, *, now: float) -> bool:
        """Starts phase 1 of ``gateway`` (if needed) and phase 2 of its tunnels (or ``child``).

        Returns False (and logs why) when the gateway may not initiate.
        Raises KeyError for an unknown gateway or tunnel.
        """
        policy = self._ike_policies[gateway]
        if child is not None and child not in self._child_policies:
            raise KeyError(child)
        why = self._cannot_initiate(policy)
        if why:
            self.log(None, why, gateway=gateway)
            return False
        if child is not None:
            wanted = [self._child_policies[child]]
        else:
            wanted = self.child_candidates(gateway)
        installed = {c.policy.name for g in {c.gateway for c in wanted}
                     for c in self.children.of(g) if c.state == ChildState.INSTALLED}
        todo = [c for c in wanted if c.name not in installed]
        self._want(policy, [(c, None) for c in todo], now, force_p1=child is None)
        return True

    def _want(self, policy: IkePolicy, items: list[tuple[ChildPolicy, Child | None]],
              now: float, force_p1: bool = False) -> None:
        """Negotiate ``items`` (phase 2) on an established phase 1, starting one if needed."""
        sa = self._active_p1(policy.name)
        if sa is not None and sa.state == P1State.ESTABLISHED:
            for c, old in items:
                if not self._manager(sa).quick_pending(c.name):
                    self._manager(sa).start_quick(c, old, now)
            return
        if sa is None:
            if not items and not force_p1:
                return
            sa = self.start_phase1(policy, now)
        pending = self._manager(sa).pending
        names = {c.name for c, _ in pending}
        pending.extend((c, o) for c, o in items if c.name not in names)

    def delete_ike(self, gateway: str | None = None, *, now: float) -> int:
        """Deletes the phase 1 SAs of ``gateway`` (all if None); phase 2 SAs stay (IKEv1)."""
        sas = list(self.sas.values()) if gateway is None else self.sas.of(gateway)
        for sa in sas:
            self._delete_p1(sa, "cleared by administrator", now)
        return len(sas)

    def delete_child(
        self, name: str | None = None, *, now: float, exact: bool = False
    ) -> int:
        """Deletes phase 2 SAs of tunnel or proxy-id ``name`` (``TUNNEL`` matches ``TUNNEL:*``)."""
        count = 0
        policy = self._child_policies.get(name) if name is not None and exact else None
        # one proxy ID's SAs are among its gateway's: no scan of every SA (remove_policies
        # calls this once a tunnel: quadratic with 10,000 tunnels)
        pool = self.children.of(policy.gateway) if policy is not None else list(
            self.children.values())
        for c in pool:
            if name is None or c.policy.name == name or (not exact and c.policy.tunnel == name):
                count += 1
                self._delete_child_sa(c, "cleared by administrator", now)
        return count

    def shutdown(self, *, now: float) -> None:
        """Deletes every SA politely (SIGTERM)."""
        self.delete_child(None, now=now)
        self.delete_ike(None, now=now)

    def child_lifesize_exceeded(self, spi_in: int, hard: bool, *, now: float) -> None:
        """The data plane saw the soft (rekey) or hard (expire) lifesize of a phase 2 SA."""
        for c in list(self.children.values()):
            if c.spi_in == spi_in:
                if hard:
                    self._delete_child_sa(c, "lifesize expired", now)
                elif c.state == ChildState.INSTALLED and not c.rekeying:
                    c.rekey_at = now
                    self._child_timers(c, now)

    # ----------------------------------------------------------------- timers
    def next_timer(self) -> float | None:
        if self._initiations.window.has_room():
            return 0.0  # due at once: handle_timer starts the phase 1 SAs that wait
        times = [t for t in (self._p1_heap.next_deadline(), self._child_heap.next_deadline(),
                             self.repeats_due()) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Acts on the due phase 1 SAs, then the due phase 2 SAs, each in creation order
        (as a scan of all of them would); SAs made meanwhile wait for the next call."""
        last_seq = self._seq
        self._run_due(self._p1_heap, now, last_seq, lambda sa: self.sas.get(sa.cky_i) is sa,
                      lambda sa: self._guarded(f"ISAKMP SA {sa.sn}", now, self._p1_check,
                                               sa, now))
        last_seq = self._seq  # phase 2 SAs made by phase 1 timers are checked now, too
        self._run_due(self._child_heap, now, last_seq,
                      lambda c: self.children.get(c.child_id) is c,
                      lambda c: self._guarded(f"IPsec SA {c.child_id}", now,
                                              self._child_timers, c, now))
        self.flush_repeats(now)
        self._initiations.start_due(now)

    @staticmethod
    def _run_due(heap: TimerHeap, now: float, last_seq: int,
                 alive: Callable[[Any], bool], act: Callable[[Any], None]) -> None:
        heap.refresh()
        due: list[tuple[int, Any]] = []
        queued: set[int] = set()
        heap.pop_due(now, -1, last_seq, due, queued)
        while due:
            seq, item = heapq.heappop(due)
            if alive(item):
                heap.touch(item)
                act(item)
            # acting on one SA may make a later one due: only one queued again at or
            # before now (refresh says the earliest deadline it queued)
            if heap.refresh() <= now:
                heap.pop_due(now, seq, last_seq, due, queued)

    # -------------------------------------------------------------- queries
    def ike_sas(self, gateway: str | None = None) -> list[Ikev1SaInfo]:
        sas = list(self.sas.values()) if gateway is None else self.sas.of(gateway)
        return [show.p1_info(sa, [c for c in self.children.of(sa.gateway)
                                  if c.parent_sn == sa.sn])
                for sa in sorted(sas, key=lambda s: s.sn)]

    def show_sections(self, gwid: Callable[[str], int], gateway: str | None = None,
                      wall: Callable[[float | None], float | None] = lambda t: t,
                      ) -> dict[str, list[dict[str, Any]]]:
        """The IKEv1 rows of ``show vpn ike-sa [gateway]`` (``show.ike_sa_sections``)."""
        sas = self.sas.values() if gateway is None else self.sas.of(gateway)
        children = self.children.values() if gateway is None else self.children.of(gateway)
        return show.ike_sa_sections(sas, children, gwid, gateway, wall)

    def child_sas(self, tunnel: str | None = None) -> list[Ikev1ChildInfo]:
        return [show.child_info(c) for c in sorted(self.children.values(),
                                                  key=lambda c: c.child_id)
                if tunnel is None or tunnel in (c.policy.name, c.policy.tunnel)]

    @property
    def policies(self) -> dict[str, IkePolicy]:
        return dict(self._ike_policies)

    # ======================================================== internals
    def log(self, sa: Phase1 | None, text: str, *, gateway: str = "", level: str = "INFO") -> None:
        gw = sa.gateway if sa is not None else gateway
        where = (f"{sa.local[0]}[{sa.local[1]}] - {sa.remote[0]}[{sa.remote[1]}] "
                 f"cookie:{sa.cky_i.hex()}:{sa.cky_r.hex()}: " if sa is not None else "")
        self.emit(LogLine(f"{where}{text}", gw, level))

    def child_candidates(self, gateway: str) -> list[ChildPolicy]:
        return [c for c in self._child_policies_of(gateway) if c.enabled]

    def policy_for_address(self, local_ip: str, remote_ip: str) -> IkePolicy | None:
        return self._index.for_address(local_ip, remote_ip)

    def phase1_sas(self, gateway: str) -> list[Phase1]:
        return self.sas.of(gateway)

    def children_of(self, gateway: str) -> list[Child]:
        """The phase 2 SAs of ``gateway``."""
        return self.children.of(gateway)

    def _active_p1(self, gateway: str) -> Phase1 | None:
        best: Phase1 | None = None
        for sa in self.sas.of(gateway):
            if sa.state == P1State.DEAD:
                continue
            if sa.state == P1State.CONNECTING and not sa.initiator:
                continue
            if best is None or (sa.state == P1State.ESTABLISHED,
                                sa.sn) > (best.state == P1State.ESTABLISHED, best.sn):
                best = sa
        return best

    @staticmethod
    def _manager(sa: Phase1) -> Ikev1TaskManager:
        return cast(Ikev1TaskManager, sa.manager)  # set by _new_sa

    def _policies_changed(self) -> None:
        self._index.invalidate()

    # ------------------------------------------------------------- receive
    def send(self, data: bytes, local: Address, remote: Address) -> None:
        """One datagram out; a phase 1 message kept as fragments goes as its fragments."""
        if len(data) > 1200:
            pieces = fragments.fragments_for(self.sas.get(data[0:8]), data)
            if pieces:
                self.log(self.sas[data[0:8]], f"message of {len(data)} octets sent as "
                         f"{len(pieces)} IKEv1 fragments (packets of at most "
                         f"{fragments.FRAGMENT_SIZE})")
                for piece in pieces:
                    super().send(piece, local, remote)
                return
        super().send(data, local, remote)

    def receive(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        super().receive(data, local, remote, now)
        self._initiations.start_due(now)  # one of ours may have been established or failed

    def _receive(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        if len(data) > 16 and data[16] == PAYLOAD_FRAGMENT:  # IKEv1 fragmentation (issue 16)
            whole = fragments.reassemble(self, self.sas.get(data[0:8]), data, now)
            if whole is None:
                return
            data = whole
        h = m.parse_header(data)
        # the SHA-1 that recognises a retransmitted phase 1 or quick mode message; an
        # informational (DPD: 2,000 a second at 10,000 tunnels) is never answered again
        digest = b"" if h.exchange == Exchange.INFORMATIONAL else hashlib.sha1(data).digest()
        if h.exchange in (Exchange.MAIN, Exchange.AGGRESSIVE) and h.cky_r == bytes(8):
            sa = self.sas.get(h.cky_i)
            if sa is not None and not sa.initiator:
                if not self._manager(sa).duplicate(digest):
                    self.drop("unexpected first message")
                return
            if sa is None:
                self._respond_first(data, h, local, remote, now, digest)
                return
        sa = self.sas.get(h.cky_i)
        if sa is None or (sa.cky_r != bytes(8) and sa.cky_r != h.cky_r and
                          not (sa.initiator and self._manager(sa).p1_step == 1)):
            self.drop("message for an unknown ISAKMP SA")
            return
        sa.timers_changed()  # whatever the exchange does to it, its deadlines are recomputed
        self._manager(sa).receive(data, h, local, remote, now, digest)

    def _respond_first(self, data: bytes, h: m.Header, local: Address, remote: Address,
                       now: float, digest: bytes) -> None:
        """A first phase 1 message from a peer: admission, then a new ISAKMP SA whose
        task manager makes the responder task of the exchange type."""
        if h.message_id != 0:
            self.drop("first message with a message ID")
            return
        # the peer first, the payloads after: a stranger's datagram costs no parsing
        policy = self.policy_for_address(local[0], remote[0])
        if policy is None:
            self.drop("no gateway for peer")
            self.log_limited("IKEv1 requests from peers with no configuration",
                             f"IKEv1 {Exchange(h.exchange).name.lower()} mode request from "
                             f"{remote[0]} ignored: no IKEv1 gateway is configured for this "
                             f"peer", now)
            return
        aggressive = h.exchange == Exchange.AGGRESSIVE
        refused = half_open_refusal(self._half_open.values(), self.half_open_limit, policy,
                                    aggressive, remote[0])
        if refused:
            self.drop("half-open limit")
            self.log_limited("IKEv1 requests refused at the half-open limit",
                             f"IKEv1 {Exchange(h.exchange).name.lower()} mode request from "
                             f"{remote[0]} refused: {refused}", now, gateway=policy.name,
                             level="WARN")
            return
        msg = m.parse_plain(data)
        sa = self._new_sa(policy, False, aggressive, h.cky_i, self.spis.ike_spi(self.sas),
                          local, remote, now)
        self.log(sa, f"====> IKE phase-1 negotiation is started as responder, "
                     f"{sa.mode_words}. Initiator: {remote[0]}[{remote[1]}] "
                     f"Responder: {local[0]}[{local[1]}]  <====")
        self._manager(sa).respond_phase1(msg, h, digest, now)

    def _new_sa(self, policy: IkePolicy, initiator: bool, aggressive: bool, cky_i: bytes,
                cky_r: bytes, local: Address, remote: Address, now: float) -> Phase1:
        sa = Phase1(sn=self.next_sn, policy=policy, initiator=initiator, aggressive=aggressive,
                    cky_i=cky_i, cky_r=cky_r, local=local, remote=remote, created=now,
                    last_rx=now)
        sa.manager = Ikev1TaskManager(self, sa)
        self.next_sn += 1
        self.sas[sa.cky_i] = sa
        if not initiator:
            self._half_open[sa.cky_i] = sa
        return sa

    # ------------------------------------------------- the tasks' context (tasks/base.py)
    def start_phase1(self, policy: IkePolicy, now: float) -> Phase1:
        """A new ISAKMP SA of ours for ``policy``: its phase 1 task sends message 1 now, or
        when the initiation window (ike/pacing.py) has room for it."""
        assert policy.peer_addr is not None
        sa = self._new_sa(policy, True, policy.exchange_mode == "aggressive",
                          self.spis.ike_spi(self.sas), bytes(8),
                          (policy.local_addr, policy.local_port),
                          (policy.peer_addr, policy.peer_port), now)
        if self._initiations.admit(sa):
            self._send_first(sa, now)
        else:
            self.log(sa, f"{sa.mode_words} message 1 waits its turn: "
                         f"{self._initiations.window.size} IKE SAs of ours are negotiating",
                     level="DEBUG")
        return sa

    def _send_first(self, sa: Phase1, now: float) -> None:
        self.log(sa, f"====> IKE phase-1 negotiation is started as initiator, "
                     f"{sa.mode_words}. Initiator: {sa.local[0]}[{sa.local[1]}] "
                     f"Responder: {sa.remote[0]}[{sa.remote[1]}]  <====")
        self._manager(sa).start_phase1(now)

    def _start_one(self, sa: Phase1, now: float) -> None:
        """A phase 1 SA that waited for room in the window: its time to complete counts
        from now (``created``, the half-open timeout)."""
        sa.created = now
        self._guarded(f"ISAKMP SA {sa.sn}", now, self._send_first, sa, now)

    def half_open_count(self) -> int:
        return len(self._half_open)

    def auth_failed(self, sa: Phase1, detail: str, now: float) -> None:
        self.fail_p1(sa, f"authentication failed: {detail} (pre-shared key mismatch)",
                     notify=NotifyType.AUTHENTICATION_FAILED if sa.initiator is False else None)

    def established(self, sa: Phase1, now: float) -> None:
        assert sa.suite is not None
        sa.state = P1State.ESTABLISHED
        sa.dh = None  # spent once SKEYID is made (a key pair an SA: 10,000 of them kept)
        self._initiations.done(sa)
        self._half_open_done(sa)
        sa.established = now
        sa.expires = now + sa.suite.lifetime
        sa.last_rx = now
        if sa.policy.dpd_enabled and sa.peer_dpd and sa.policy.dpd_interval > 0:
            sa.dpd_next = now + quiet_allowed(sa.policy.dpd_interval, sa.initiator)
        if sa.nat_local and sa.policy.keepalive_interval > 0:
            sa.next_keepalive = now + sa.policy.keepalive_interval
        if not self._cannot_initiate(sa.policy):
            jitter = REKEY_JITTER_INITIATOR if sa.initiator else REKEY_JITTER_RESPONDER
            sa.rekey_at = now + int(sa.suite.lifetime * self.rng.uniform(*jitter))
        reauth.new_sa_up(self, sa, now)
        role = "initiator" if sa.initiator else "responder"
        self.log(sa, f"====> IKE phase-1 negotiation is succeeded as {role}, {sa.mode_words}. "
                     f"Established SA: {sa.local[0]}[{sa.local[1]}]-{sa.remote[0]}"
                     f"[{sa.remote[1]}] cookie:{sa.cky_i.hex()}:{sa.cky_r.hex()} "
                     f"lifetime {sa.suite.lifetime} Sec  <==== {sa.suite.long()}, NAT "
                     f"{self._nat_words(sa)}")
        self.emit(IkeEstablished(sa.gateway, sa.sn, sa.initiator))
        manager = self._manager(sa)
        pending, manager.pending = manager.pending, []
        for c, old in pending:
            if c.name in self._child_policies and not manager.quick_pending(c.name):
                manager.start_quick(c, old, now)

    @staticmethod
    def _nat_words(sa: Phase1) -> str:
        return nat_words(sa.nat_local, sa.nat_remote, sa.nat_fake)

    def fail_p1(self, sa: Phase1, reason: str, notify: int | None = None) -> None:
        role = "initiator" if sa.initiator else "responder"
        self.log(sa, f"====> IKE phase-1 negotiation is failed as {role}, {sa.mode_words}. "
                     f"{reason} <====", level="ERROR")
        self.emit(IkeFailed(sa.gateway, reason))
        if notify is not None:
            # unprotected: the peer may not share our keys
            data = m.encode(header(sa, Exchange.INFORMATIONAL),
                            [NotifyPayload(notify, ProtocolId.ISAKMP, sa.cky_i + sa.cky_r)])
            self.send(data, sa.local, sa.remote)
        manager = self._manager(sa)
        for c, _ in manager.pending:
            self.emit(ChildFailed(sa.gateway, c.name, f"phase 1 failed: {reason}"))
        manager.pending = []
        self.remove_p1(sa, reason, announce=False)

    def remove_p1(self, sa: Phase1, reason: str, announce: bool = True) -> None:
        was = sa.state
        sa.state = P1State.DEAD
        self._initiations.done(sa)
        self._half_open_done(sa)
        if self.sas.get(sa.cky_i) is sa:
            del self.sas[sa.cky_i]
        for q in self._manager(sa).quick_tasks():
            if q.initiator and q.rekey_of is not None:
                q.rekey_of.rekeying = False
        if announce and was == P1State.ESTABLISHED:
            self.log(sa, f"IKE phase-1 SA deleted: {reason}")
            self.emit(IkeDeleted(sa.gateway, sa.sn, reason))
        elif announce and sa.initiator:
            self.emit(IkeFailed(sa.gateway, reason))

    def _half_open_done(self, sa: Phase1) -> None:
        if self._half_open.get(sa.cky_i) is sa:
            del self._half_open[sa.cky_i]

    def _delete_p1(self, sa: Phase1, reason: str, now: float) -> None:
        self._manager(sa).delete_sa(reason, now)

    def child_failed(self, sa: Phase1, name: str, reason: str) -> None:
        self.log(sa, f"====> IKE phase-2 negotiation is failed as initiator, quick mode; "
                     f"tunnel {name or '?'}. {reason} <====", level="ERROR")
        self.emit(ChildFailed(sa.gateway, name, reason))

    def new_child_id(self) -> int:
        self.next_child_id += 1
        return self.next_child_id - 1

    def install_child(self, child: Child) -> None:
        self.children[child.child_id] = child

    def remove_child(self, c: Child, reason: str) -> None:
        if self.children.get(c.child_id) is not c:
            return
        del self.children[c.child_id]
        self.spis.release(c.spi_in)
        self.emit(LogLine(f"IPsec SA {c.policy.name} SPI 0x{c.spi_in:08X}/0x{c.spi_out:08X} "
                          f"removed: {reason}", c.gateway))
        self.emit(ChildRemoved(c.gateway, c.policy.name, c.child_id, c.spi_in, c.spi_out, reason))

    # ------------------------------------------------------------- children
    def _delete_child_sa(self, c: Child, reason: str, now: float) -> None:
        sa = self._active_p1(c.gateway)
        if sa is not None and sa.state == P1State.ESTABLISHED:
            self._manager(sa).run(Delete(sa, [c.spi_in]), now)
        self.remove_child(c, reason)

    def _child_timers(self, c: Child, now: float) -> None:
        if now >= c.expires:
            self._delete_child_sa(c, "lifetime expired", now)
            return
        if now >= c.delete_at:
            self._delete_child_sa(c, "rekeyed", now)
            return
        if c.state == ChildState.INSTALLED and not c.rekeying and now >= c.rekey_at:
            policy = self._child_policies.get(c.policy.name)
            gw = self._ike_policies.get(c.gateway)
            if policy is None or gw is None or not policy.enabled or self._cannot_initiate(gw):
                c.rekey_at = math.inf  # cannot rekey: it expires
                return
            c.rekeying = True
            c.rekey_at = math.inf
            self._want(gw, [(policy, c)], now)

    # ---------------------------------------------------------------- timers
    def _tick(self) -> int:
        self._seq += 1
        return self._seq

    def _track_p1(self, sa: object) -> None:
        assert isinstance(sa, Phase1)
        if sa.timer_watch is None:
            sa.created_seq = self._tick()
            sa.timer_watch = self._p1_heap.touch
        self._p1_heap.touch(sa)

    def _track_child(self, c: object) -> None:
        assert isinstance(c, Child)
        if c.timer_watch is None:
            c.created_seq = self._tick()
            c.timer_watch = self._child_heap.touch
        self._child_heap.touch(c)

    def _p1_deadlines(self, sa: Phase1) -> list[float]:
        return [t for t in self._manager(sa).deadlines() if math.isfinite(t)]

    @staticmethod
    def _child_deadlines(c: Child) -> list[float]:
        t = [c.expires, c.delete_at]
        if c.state == ChildState.INSTALLED and not c.rekeying:
            t.append(c.rekey_at)
        return [x for x in t if math.isfinite(x)]

    def _p1_check(self, sa: Phase1, now: float) -> None:
        self._manager(sa).on_timer(now)
