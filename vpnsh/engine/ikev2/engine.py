"""``Ikev2Engine``: the sans-IO IKEv2 state machine for all gateways.

Datagrams and the time come in (``receive``, ``handle_timer``), datagrams,
the next timer and events go out (``datagrams_to_send``, ``next_timer``,
``next_event``). Times are monotonic seconds (``time.monotonic()`` or a fake clock).

Addresses are ``(ip, port)``. A datagram to or from port 4500 is an IKE message
without the non-ESP marker: the I/O layer adds the marker on sending (except to
the one-byte NAT keepalive ``b"\\xff"``) and strips it on receiving.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..ike.events import (
    ChildFailed,
    ChildRemoved,
    ChildSaInfo,
    IkeDeleted,
    IkeEstablished,
    IkeFailed,
    IkeSaInfo,
    LogLine,
)
from ..ike.pacing import InitiationWindow, Lane
from ..ike.policy_index import PolicyIndex
from ..ike.retransmit import Retransmit
from ..ike.sansio import SansIoEngine
from ..ike.spi import SpiAllocator
from ..ike.timers import TimerHeap
from ..policy import ChildPolicy, IkePolicy
from . import (
    collision,
    deadlines,
    fragments,
    identity,
    keys,
    liveness,
    message,
    passive,
    rekey,
    show,
    task_manager,
)
from .children import REKEY_JITTER
from .constants import NATT_PORT, ExchangeType, NotifyType, ProtocolId
from .cookies import CookieJar
from .payloads import (
    CriticalPayloadError,
    DeletePayload,
    IdPayload,
    NotifyPayload,
    ParseError,
    Payload,
)
from .proposals import IkeSuite
from .sa import Address, ChildSa, ChildState, IkeSa, IkeState, Task
from .tasks.child_create import ChildCreateTask
from .tasks.ike_init import IkeInitTask
from .tasks.informational import ChildDeleteTask, IkeDeleteTask

# SAs one handle_timer call acts on at most (~25-45 us each for a DPD check: a few ms)
TIMER_SLICE = 128


class Ikev2Engine(SansIoEngine):
    version = "ikev2"
    """All IKEv2 SAs of one daemon. Not thread-safe: call it from one task."""

    parse_error = ParseError

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        retransmit: Retransmit | None = None,
        half_open_limit: int = 50,
        initiations: InitiationWindow | None = None,
    ) -> None:
        super().__init__(clock)
        self.rng = rng or random.Random()
        self.retransmit = retransmit or Retransmit()
        self.half_open_limit = half_open_limit
        self.cookies = CookieJar()
        self._sas: dict[bytes, IkeSa] = {}  # by our SPI
        self._half_open: dict[tuple[bytes, str], IkeSa] = {}  # (SPIi, peer IP) of responder SAs
        # our new IKE SAs negotiating at once, the others waiting their turn (ike/pacing.py);
        # ``initiations``: the window of the daemon, shared with its IKEv1 engine
        self._initiations: Lane[IkeSa] = (initiations or InitiationWindow()).lane(
            lambda sa: self.alive(sa) and sa.state == IkeState.CONNECTING, self._start_one)
        self._next_sn = 1
        self.next_child_id = 1
        self._seq = 0  # orders SA creation and establishment (the clock may stand still)
        # the last handle_timer stopped at TIMER_SLICE SAs with others still due: call again
        # at once (not a timer that failed and must not spin)
        self.timers_pending = False
        # the due SAs of that batch not yet acted on, by creation (ike/timers.py pop_due)
        self._backlog: list[tuple[int, IkeSa]] = []
        self._backlog_ids: set[int] = set()
        self._backlog_last_seq = 0
        self.spis = SpiAllocator()
        # called with each IKE SA whose keys were just derived (Wireshark key tables); None: off
        self.key_log: Callable[[IkeSa], None] | None = None
        # timers: one heap of IKE SAs by their earliest deadline (ike/timers.py)
        self._timers: TimerHeap[IkeSa] = TimerHeap(
            self._sa_timers, self.alive, lambda: len(self._sas), self._index_gateway,
            earliest=deadlines.earliest,
        )
        # gateway -> its SAs (by id); kept up to date from the dirty SAs, checked on use
        # (a list: 64 bytes for the one SA most gateways have, where a dict took 232)
        self._gw_index: dict[str, list[IkeSa]] = {}
        # lookups of gateways by address and by peer ID, rebuilt when the policies change
        self._index = PolicyIndex(self._ike_policies, "ikev1", identity.match_key)

    # ------------------------------------------------------------------ config
    def _policies_changed(self) -> None:
        self._index.invalidate()

    def _teardown_gateway(self, gateway: str, reason: str, now: float) -> None:
        for sa in self._sas_of(gateway):
            if sa.state in (IkeState.ESTABLISHED, IkeState.REKEYED):
                task_manager.queue(self, sa, IkeDeleteTask(reason), now)
            else:
                self.remove_ike(sa, reason)

    # --------------------------------------------------------------- commands
    def initiate(self, gateway: str, child: str | None = None, *, now: float) -> bool:
        """Starts the IKE SA of ``gateway`` (and its CHILD SAs, or just ``child``).

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
        assert policy.peer_addr is not None  # a dynamic peer cannot initiate (above)
        wanted = [self._child_policies[child]] if child else self.child_candidates(gateway)
        sa = self._active_sa(gateway)
        if sa is not None:
            installed = {
                c.policy.name for c in sa.children.values() if c.state == ChildState.INSTALLED
            }
            for c in wanted:
                if c.name not in installed and c.name not in sa.pending_children:
                    sa.pending_children.add(c.name)
                    task_manager.queue(self, sa, ChildCreateTask(c), now)
            return True
        local = (policy.local_addr, policy.local_port)
        remote = (policy.peer_addr, policy.peer_port)
        sa = self.new_sa(policy, initiator=True, local=local, remote=remote, now=now)
        sa.first_child = wanted[0] if wanted else None
        sa.pending_children = {c.name for c in wanted}
        self.log(
            sa,
            f"====> IKEv2 IKE SA NEGOTIATION STARTED AS INITIATOR, non-rekey; "
            f"gateway {gateway} <====",
        )
        group = policy.proposals[0].dh_groups[0] if policy.proposals else 0
        sa.tasks.append(IkeInitTask(group))
        for c in wanted[1:]:
            sa.tasks.append(ChildCreateTask(c))
        if self._initiations.admit(sa):
            task_manager.kick(self, sa, now)
        else:
            self.log(sa, f"IKE_SA_INIT waits its turn: {self._initiations.window.size} IKE "
                     "SAs of ours are negotiating", level="DEBUG")
        return True

    def _start_one(self, sa: IkeSa, now: float) -> None:
        """Sends the IKE_SA_INIT of an SA that waited for room in the initiation window."""
        self._guarded(f"IKE SA {sa.sn}", now, task_manager.kick, self, sa, now)

    def _start_waiting(self, now: float) -> None:
        """Starts the IKE SAs (of either engine) that waited for room in the window."""
        self._initiations.start_due(now)

    def delete_ike(self, gateway: str | None = None, *, now: float) -> int:
        """Deletes the IKE SAs of ``gateway`` (all if None) with their CHILD SAs."""
        count = 0
        for sa in self._unique_sas() if gateway is None else self._sas_of(gateway):
            if sa.state in (IkeState.DELETING, IkeState.DEAD):
                continue
            if sa.state != IkeState.REKEYED:
                count += 1
            if sa.state == IkeState.CONNECTING:
                # IKE_AUTH may be on the wire already: tell the peer, then forget
                self._send_delete_once(sa)
                self.remove_ike(sa, "cleared by administrator")
            else:
                sa.tasks.clear()
                task_manager.queue(self, sa, IkeDeleteTask("cleared by administrator"), now)
        return count

    def abandon_ike(self, gateway: str, reason: str) -> int:
        """Tunnel monitor: forget the IKE SAs of ``gateway`` at once (one Delete is sent, not
        retransmitted: the path may be broken), so that a new one can be negotiated now."""
        count = 0
        for sa in self._sas_of(gateway):
            if sa.state == IkeState.DEAD:
                continue
            count += 1
            self._send_delete_once(sa)
            self.remove_ike(sa, reason)
        return count

    def delete_child(
        self, name: str | None = None, *, now: float, exact: bool = False
    ) -> int:
        """Deletes CHILD SAs of tunnel or proxy-id ``name`` (``TUNNEL`` matches ``TUNNEL:*``)."""
        count = 0
        for sa in list(self._unique_sas()):
            doomed = [
                c
                for c in sa.children.values()
                if c.state != ChildState.DELETING
                and (
                    name is None or c.policy.name == name or (not exact and c.policy.tunnel == name)
                )
            ]
            if doomed:
                count += len(doomed)
                task_manager.queue(self, sa, ChildDeleteTask(doomed, "cleared by administrator"), now)
        return count

    def shutdown(self, *, now: float) -> None:
        """Deletes every SA politely (SIGTERM)."""
        self.delete_ike(None, now=now)

    def child_lifesize_exceeded(self, spi_in: int, hard: bool, *, now: float) -> None:
        """The data plane saw the soft (rekey) or hard (expire) lifesize of a CHILD SA."""
        for sa in self._unique_sas():
            for c in list(sa.children.values()):
                if c.spi_in == spi_in:
                    if hard:
                        task_manager.queue(self, sa, ChildDeleteTask([c], "lifesize expired"), now)
                    else:
                        c.rekey_at = now
                        self.touch(sa)
                        self._check_timers(sa, now)

    # ------------------------------------------------------------------ I/O



    def next_timer(self) -> float | None:
        if self._backlog or self._initiations.window.has_room():
            return 0.0  # due at once: the rest of a batch of timers, or IKE SAs that wait
        t = self._timers.next_deadline()
        repeats = self.repeats_due()
        if t is None or repeats is None:
            return t if repeats is None else repeats
        return min(t, repeats)

    def handle_timer(self, now: float) -> None:
        """Acts on the due timers, SA by SA in creation order (as a scan of all SAs would),
        at most ``TIMER_SLICE`` SAs a call: the SAs still due then wait in ``_backlog``
        (``timers_pending``; next_timer says "at once") so that the caller's event loop can
        serve its sockets, operator commands and commits between slices (a batch of DPD
        checks at 10,000 tunnels, a rekey wave)."""
        self._refresh_timers()
        due, queued = self._backlog, self._backlog_ids
        if not due:
            # SAs made while handling these timers wait for the next batch
            self._backlog_last_seq = self._seq
        last_seq = self._backlog_last_seq
        self._timers.pop_due(now, -1, last_seq, due, queued)
        budget = TIMER_SLICE
        while due and budget > 0:
            budget -= 1
            seq, sa = heapq.heappop(due)
            queued.discard(id(sa))
            if self._sas.get(sa.local_spi) is sa:
                try:  # not _guarded: no text made for each SA when nothing fails
                    self._check_timers(sa, now)
                except Exception as exc:  # noqa: BLE001 - one SA's bug must not stop the others
                    self.internal_error(f"in the timers of IKE SA {sa.sn}", exc, now)
            # acting on one SA may make a later one due (children moved to it, ...): only
            # an SA queued again at or before now can be (refresh says the earliest it queued)
            if self._timers.refresh() <= now:
                self._timers.pop_due(now, seq, last_seq, due, queued)
        self.timers_pending = bool(due)
        self.flush_repeats(now)
        self._start_waiting(now)

    # -------------------------------------------------------------- queries
    def ike_sas(self, gateway: str | None = None) -> list[IkeSaInfo]:
        sas = self._unique_sas() if gateway is None else self._sas_of(gateway)
        return [show.ike_info(sa) for sa in sorted(sas, key=lambda s: s.sn)]

    def child_sas(self, tunnel: str | None = None) -> list[ChildSaInfo]:
        out = []
        for sa in sorted(self._unique_sas(), key=lambda s: s.sn):
            for c in sorted(sa.children.values(), key=lambda c: c.child_id):
                if tunnel is not None and tunnel not in (c.policy.name, c.policy.tunnel):
                    continue
                out.append(show.child_info(sa, c))
        return out

    @property
    def policies(self) -> dict[str, IkePolicy]:
        return dict(self._ike_policies)

    # ======================================================== internals

    def _unique_sas(self) -> list[IkeSa]:
        return list(self._sas.values())

    def _sas_of(self, gateway: str) -> list[IkeSa]:
        """The live SAs of ``gateway`` in creation order (the order of ``_unique_sas``)."""
        self._refresh_timers()  # indexes SAs that are new or changed gateway
        bucket = self._gw_index.get(gateway)
        if not bucket:
            return []
        sas = self._sas
        out = [sa for sa in bucket if sas.get(sa.local_spi) is sa and sa.policy.name == gateway]
        if len(out) > 1:  # an SA that left the gateway and came back is in twice
            out = list({id(sa): sa for sa in out}.values())
            out.sort(key=lambda s: s.created_seq)
        if len(out) != len(bucket):  # the others are gone, or now under another gateway
            if out:
                bucket[:] = out
            else:
                del self._gw_index[gateway]
        return list(out)

    def _active_sa(self, gateway: str) -> IkeSa | None:
        for sa in self._sas_of(gateway):
            if (
                sa.state in (IkeState.CONNECTING, IkeState.ESTABLISHED)
                and (sa.state == IkeState.ESTABLISHED or sa.initiator)
                and sa.superseded_by is None
            ):
                return sa
        return None

    def send(self, data: bytes, local: Address, remote: Address) -> None:
        """One datagram out; a message kept as RFC 7383 fragments goes as its fragments."""
        if len(data) > fragments.NEVER_FRAGMENTED:  # else no SA has fragments of it
            sa = self._sas.get(data[8:16]) or self._sas.get(data[0:8])
            pieces = fragments.fragments_for(sa, data)
            if pieces:
                assert sa is not None
                self.log(sa, f"IKE message of {len(data)} octets sent as {len(pieces)} "
                         f"fragments (RFC 7383, packets of at most {fragments.FRAGMENT_SIZE})")
                for piece in pieces:
                    super().send(piece, local, remote)
                return
        super().send(data, local, remote)

    def receive(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        try:  # a liveness check or its answer: the short path (thousands a second)
            if liveness.receive(self, data, local, remote, now):
                return
        except ParseError as exc:
            self.drop(f"parse error: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - as SansIoEngine.receive
            self.internal_error(f"on a datagram from {remote[0]}[{remote[1]}]", exc, now)
            return
        super().receive(data, local, remote, now)
        self._start_waiting(now)  # one of ours may have been established or failed

    def sa_by_spi(self, spi: bytes) -> IkeSa | None:
        """Our IKE SA whose SPI (ours: SPIi as initiator, SPIr as responder) is ``spi``."""
        return self._sas.get(spi)

    def _receive(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        if fragments.is_fragment(data):  # RFC 7383: whole once all fragments are in
            is_init = bool(data[19] & 0x08)
            sa_f = self._sas.get(data[8:16] if is_init else data[0:8])
            reassembled = fragments.reassemble(self, sa_f, data, now)
            if reassembled is None:
                return
            parsed = reassembled
        else:
            parsed = message.parse(data)
        msg = parsed.message
        if msg.exchange == ExchangeType.IKE_SA_INIT:
            if not msg.is_response:
                half = self._half_open.get((msg.spi_i, remote[0]))
                if half is not None:
                    if half.last_response is not None:
                        self.send(half.last_response[1], half.local, half.remote)
                    return
                passive.respond_init(self, parsed, local, remote, now)
                return
            sa = self._sas.get(msg.spi_i)
            if (
                sa is None
                or not sa.initiator
                or sa.state != IkeState.CONNECTING
                or sa.outstanding is None
                or sa.outstanding.exchange != ExchangeType.IKE_SA_INIT
            ):
                self.drop("unexpected IKE_SA_INIT response")
                return
            sa.last_rx = now
            task_manager.complete(self, sa, parsed, now)
            return
        our_spi = msg.spi_r if msg.is_initiator else msg.spi_i
        sa = self._sas.get(our_spi)
        if sa is None or sa.protection is None:
            self.drop("message for an unknown IKE SA")
            return
        self.touch(sa)  # last_rx moves the DPD timer
        if msg.is_initiator == sa.initiator or (msg.spi_i, msg.spi_r) != (sa.spi_i, sa.spi_r):
            self.drop("IKE SPI or initiator flag mismatch")
            return
        if msg.is_response:
            if not task_manager.response_expected(self, sa, msg):
                return
            message.decrypt(parsed, sa.protection)
            sa.last_rx = now
            self.follow(sa, local, remote)
            task_manager.complete(self, sa, parsed, now)
            return
        if task_manager.retransmitted_request(sa, msg):
            message.decrypt(parsed, sa.protection)
            sa.last_rx = now
            task_manager.resend_response(self, sa)
            return
        if not task_manager.request_expected(self, sa, msg):
            return
        try:
            message.decrypt(parsed, sa.protection)
        except CriticalPayloadError as exc:  # RFC 7296 2.5: reject the request, keep the SA
            self.drop(f"unsupported critical payload: {exc.payload_type}")
            reply: list[Payload] = [
                NotifyPayload(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, bytes([exc.payload_type]))
            ]
            self.send(sa.respond(msg, reply), sa.local, sa.remote)
            return
        sa.last_rx = now
        self.follow(sa, local, remote)
        passive.respond(self, sa, msg, now)

    def follow(self, sa: IkeSa, local: Address, remote: Address) -> None:
        """Follows the peer to port 4500 / a new NAT mapping (RFC 7296 2.23)."""
        moved = sa.remote != remote or sa.local != local
        if sa.nat and moved and (not sa.initiator or remote[1] == NATT_PORT):
            sa.remote = remote
            sa.local = local

    # --------------------------------------------------------------- timers
    def touch(self, sa: IkeSa) -> None:
        """The timers of ``sa`` may have changed: recompute them before the heap is read."""
        self._timers.touch(sa)

    def _refresh_timers(self) -> None:
        self._timers.refresh()

    def alive(self, sa: IkeSa) -> bool:
        return self._sas.get(sa.local_spi) is sa

    def _index_gateway(self, sa: IkeSa) -> None:
        name = sa.policy.name
        if sa.gw_indexed == name:  # indexed already (the usual case: every DPD exchange);
            return  # a policy change touches the SA, so the refresh before a read sees it
        sa.gw_indexed = name
        bucket = self._gw_index.get(name)
        if bucket is None:
            self._gw_index[name] = [sa]
        else:
            bucket.append(sa)

    def _sa_timers(self, sa: IkeSa) -> list[float]:
        return deadlines.of(sa)

    def _check_timers(self, sa: IkeSa, now: float) -> None:
        deadlines.act(self, sa, now)

    # ----------------------------------------------------- used by the tasks


    def log(self, sa: IkeSa | None, text: str, *, gateway: str = "", level: str = "INFO") -> None:
        if sa is not None:
            self.touch(sa)
        gw = sa.gateway if sa is not None else gateway
        where = (
            f"{sa.local[0]}[{sa.local[1]}] - {sa.remote[0]}[{sa.remote[1]}] SN {sa.sn}: "
            if sa is not None
            else ""
        )
        self.emit(LogLine(f"{where}{text}", gw, level))


    def half_open_count(self) -> int:
        return len(self._half_open)

    def half_open_done(self, sa: IkeSa) -> None:
        """The peer sent IKE_AUTH: ``sa`` no longer counts as half-open."""
        self._half_open.pop((sa.spi_i, sa.remote[0]), None)

    def policy_for_address(self, local_ip: str, remote_ip: str) -> IkePolicy | None:
        """A gateway for a new IKE SA: the peer's address first, then dynamic peers."""
        return self._index.for_address(local_ip, remote_ip)

    def policy_for_identity(self, sa: IkeSa, idi: IdPayload) -> IkePolicy | None:
        """The gateway that matches the peer's address and ID (for dynamic peers)."""
        if identity.matches(sa.policy.peer_id, idi):
            return sa.policy
        assert sa.suite is not None
        for p in self._index.for_peer_id(identity.payload_key(idi)):
            if p.enabled and p.local_addr == sa.local[0] and p.peer_addr in (None, sa.remote[0]):
                return p
        return None

    def child_candidates(self, gateway: str) -> list[ChildPolicy]:
        return [c for c in self._child_policies_of(gateway) if c.enabled]

    def new_ike_spi(self) -> bytes:
        return self.spis.ike_spi(self._sas)

    def new_child_spi(self) -> int:
        return self.spis.child_spi()

    def new_sa(
        self,
        policy: IkePolicy,
        *,
        initiator: bool,
        local: Address,
        remote: Address,
        now: float,
        spi_i: bytes = b"",
    ) -> IkeSa:
        spi = self.new_ike_spi()
        sa = IkeSa(
            sn=self._next_sn,
            policy=policy,
            initiator=initiator,
            spi_i=spi if initiator else spi_i,
            spi_r=bytes(8) if initiator else spi,
            local=local,
            remote=remote,
            created=now,
            last_rx=now,
        )
        self._next_sn += 1
        sa.created_seq = self._tick()
        self._sas[spi] = sa
        sa.timer_watch = self._timers.touch  # what self.touch does, one call less
        self.touch(sa)
        if not initiator:
            self._half_open[(spi_i, remote[0])] = sa
        return sa

    def derive_ike_keys(self, sa: IkeSa, shared: bytes) -> None:
        keys.derive(sa, shared)
        self._protect(sa)

    def _protect(self, sa: IkeSa) -> None:
        if self.key_log is not None:  # debug ike wireshark-keys on: the daemon writes them out
            self.key_log(sa)
        keys.protect(sa)

    def _lifetimes(self, sa: IkeSa, now: float) -> None:
        self.touch(sa)
        life = sa.policy.lifetime
        sa.established = now
        sa.expires = now + life
        sa.rekey_at = now + int(life * self.rng.uniform(*REKEY_JITTER))
        sa.last_rx = now
        if sa.nat_local and sa.policy.keepalive_interval > 0:
            sa.next_keepalive = now + sa.policy.keepalive_interval

    def _tick(self) -> int:
        self._seq += 1
        return self._seq

    def establish_ike(self, sa: IkeSa, now: float) -> None:
        self.touch(sa)
        sa.state = IkeState.ESTABLISHED
        sa.dh = None  # spent once SKEYSEED is made: ~2.4 KB an SA (24 MB at 10,000 tunnels)
        # both IKE_SA_INIT messages are signed by AUTH and by nothing after it (both roles
        # are established after their AUTH is made and checked): ~600 bytes an SA
        sa.init_request = sa.init_response = b""
        self._initiations.done(sa)
        sa.established_seq = self._tick()
        self._half_open.pop((sa.spi_i, sa.remote[0]), None)
        self._lifetimes(sa, now)
        role = "INITIATOR" if sa.initiator else "RESPONDER"
        assert sa.suite is not None
        self.log(
            sa,
            f"====> IKEv2 IKE SA NEGOTIATION SUCCEEDED AS {role}, non-rekey; gateway "
            f"{sa.gateway} <==== {sa.suite.long()}, SPI "
            f"{sa.spi_i.hex().upper()}:{sa.spi_r.hex().upper()}, lifetime "
            f"{sa.policy.lifetime} sec",
        )
        self.emit(IkeEstablished(sa.gateway, sa.sn, sa.initiator))
        collision.established(self, sa, self._sas_of(sa.gateway), now)

    def emit_failed(self, gateway: str, reason: str) -> None:
        self.emit(IkeFailed(gateway, reason))

    def fail_ike(
        self, sa: IkeSa, reason: str, *, send_delete: bool = False, quiet: bool = False
    ) -> None:
        """Negotiation failed: log why in plain words, tell the integrator, drop the SA.

        ``quiet``: we are answering a request and the caller sends the error notify.
        """
        role = "INITIATOR" if sa.initiator else "RESPONDER"
        self.log(
            sa,
            f"====> IKEv2 IKE SA NEGOTIATION FAILED AS {role}, non-rekey; gateway "
            f"{sa.gateway} <==== {reason}",
            level="ERROR",
        )
        self.emit(IkeFailed(sa.gateway, reason, at_sa_init=self._at_sa_init(sa)))
        if send_delete:
            self._send_delete_once(sa)
        if quiet:
            sa.doomed = True
            sa.delete_reason = reason
            return
        self.remove_ike(sa, reason, announce=False)

    def _send_delete_once(self, sa: IkeSa) -> None:
        """A Delete for an IKE SA we abandon, not retransmitted (the peer may think it is up)."""
        if sa.protection is None or not sa.initiator and sa.state == IkeState.CONNECTING:
            return
        self.touch(sa)
        sa.tasks.clear()
        msgid = sa.outstanding.message_id + 1 if sa.outstanding else sa.next_request_id
        msg = sa.new_message(ExchangeType.INFORMATIONAL, msgid, False)
        msg.payloads = [DeletePayload(ProtocolId.IKE)]
        self.send(sa.encode(msg), sa.local, sa.remote)

    def peer_dead(self, sa: IkeSa, what: str) -> None:
        reason = (
            f"peer {sa.remote[0]} is dead: no answer to {what} after {self.retransmit.tries} tries"
        )
        self.log(sa, reason, level="ERROR")
        self.remove_ike(sa, reason)

    def remove_ike(self, sa: IkeSa, reason: str, announce: bool = True) -> None:
        """Forgets an IKE SA and its CHILD SAs locally (no message to the peer)."""
        was = sa.state
        self.touch(sa)
        sa.state = IkeState.DEAD
        self._initiations.done(sa)
        if self._sas.get(sa.local_spi) is sa:
            del self._sas[sa.local_spi]
        self._half_open.pop((sa.spi_i, sa.remote[0]), None)
        sa.outstanding = None
        successor = rekey.successor(self, sa)
        if successor is not None:  # deleted after a rekey: the CHILD SAs live on
            rekey.move_children(self, sa, successor)
        if sa.then_delete is not None:  # a redundant SA is gone: now the old one can go
            rekey.delete_old(self, sa.then_delete, self._clock())
            sa.then_delete = None
        sa.tasks.clear()
        for c in list(sa.children.values()):
            self.remove_child(sa, c, reason)
        if announce and was in (IkeState.ESTABLISHED, IkeState.REKEYED, IkeState.DELETING):
            self.log(sa, f"IKE SA deleted: {reason}")
            self.emit(IkeDeleted(sa.gateway, sa.sn, reason, replaced=sa.replaced))
        elif announce and was == IkeState.CONNECTING and sa.initiator:
            self.emit(IkeFailed(sa.gateway, reason, at_sa_init=self._at_sa_init(sa)))

    @staticmethod
    def _at_sa_init(sa: IkeSa) -> bool:
        """Our own IKE_SA_INIT never completed (see ``IkeFailed.at_sa_init``)."""
        return sa.initiator and sa.protection is None and not sa.rekey

    def initial_contact(self, sa: IkeSa) -> None:
        """The peer rebooted: forget our other IKE SAs with it (RFC 7296 2.4).

        Only SAs established before this one began: one that came up since is the
        peer's own simultaneous initiation, which it still holds.
        """
        for other in self._sas_of(sa.gateway):
            if (
                other is not sa
                and other.remote[0] == sa.remote[0]
                and other.state == IkeState.ESTABLISHED
                and 0 < other.established_seq < sa.created_seq
            ):
                self.remove_ike(other, "peer sent INITIAL_CONTACT")

    def is_initial_contact(self, sa: IkeSa) -> bool:
        """No other IKE SA with this gateway, in any state: a half-open one means the peer is
        initiating at the same time, and INITIAL_CONTACT would make it drop ours."""
        return not any(o is not sa for o in self._sas_of(sa.gateway))

    def child_failed(self, sa: IkeSa, name: str, reason: str) -> None:
        self.log(
            sa,
            f"====> IKEv2 CHILD SA NEGOTIATION FAILED; tunnel {name or '?'} <==== {reason}",
            level="ERROR",
        )
        self.emit(ChildFailed(sa.gateway, name, reason))
        sa.pending_children.discard(name)

    def owner_of(self, child: ChildSa) -> IkeSa | None:
        """The IKE SA that holds ``child`` now."""
        for sa in self._unique_sas():
            if sa.children.get(child.child_id) is child:
                return sa
        return None

    def remove_child(self, sa: IkeSa, child: ChildSa, reason: str) -> None:
        if sa.children.get(child.child_id) is not child:
            return
        del sa.children[child.child_id]
        self.touch(sa)
        self.spis.release(child.spi_in)
        self.log(
            sa,
            f"CHILD SA {child.policy.name} {child.spi_in:08X}/{child.spi_out:08X} "
            f"removed: {reason}",
        )
        self.emit(
            ChildRemoved(
                sa.gateway, child.policy.name, child.child_id, child.spi_in, child.spi_out, reason
            )
        )

    def queue_task(self, sa: IkeSa, task: Task, now: float) -> None:
        """``TaskQueue`` for the tasks: queue more work on ``sa`` (a rekey's Delete)."""
        task_manager.queue(self, sa, task, now)

    def kick_tasks(self, sa: IkeSa, now: float) -> None:
        task_manager.kick(self, sa, now)

    def rekeyed_sa(
        self,
        old: IkeSa,
        *,
        initiator: bool,
        spi_i: bytes,
        spi_r: bytes,
        suite: IkeSuite,
        ni: bytes,
        nr: bytes,
        shared: bytes,
        now: float,
    ) -> IkeSa:
        """The IKE SA that a CREATE_CHILD_SA rekey made (RFC 7296 2.18)."""
        rekeyed = keys.rekeyed(old, suite, shared, ni, nr, spi_i, spi_r)
        sa = IkeSa(
            sn=self._next_sn,
            policy=old.policy,
            initiator=initiator,
            spi_i=spi_i,
            spi_r=spi_r,
            local=old.local,
            remote=old.remote,
            created=now,
            state=IkeState.ESTABLISHED,
            suite=suite,
            keys=rekeyed,
            ni=ni,
            nr=nr,
            nat_local=old.nat_local,
            nat_remote=old.nat_remote,
            nat_fake=old.nat_fake,
            rekey=True,
        )
        # IDs: the same identities, in the roles of the new SA
        local_id = old.id_i if old.initiator else old.id_r
        remote_id = old.id_r if old.initiator else old.id_i
        sa.id_i, sa.id_r = (local_id, remote_id) if initiator else (remote_id, local_id)
        self._next_sn += 1
        sa.created_seq = sa.established_seq = self._tick()
        self._protect(sa)
        self._sas[sa.local_spi] = sa
        sa.timer_watch = self._timers.touch  # what self.touch does, one call less
        self.touch(sa)
        self._lifetimes(sa, now)
        return sa

    # ----------------------------------------------------------- snapshots


if TYPE_CHECKING:
    from .sa import TaskContext

    def _satisfies(engine: Ikev2Engine) -> TaskContext:  # mypy: the engine is the tasks' context
        return engine
