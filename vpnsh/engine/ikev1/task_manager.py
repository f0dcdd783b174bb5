"""The task manager of one ISAKMP SA (strongSwan's ``task_manager_v1.c``).

It owns what the exchanges of the SA share and no task should: the phase 1 exchange (its
tasks, our last message in flight, the peer's last message to recognise a duplicate), the
quick mode exchanges by message ID (each our last message and the peer's), the message IDs
used (quick mode and informational, RFC 2408 3.1: random, never reused), the informational
messages we send, and the timers of the SA. Retransmission and the answer to a duplicate
are the shared ones (``ike/task_manager.py`` ``resend_due``, ``answer_again``).

Responder tasks are made from the exchange type of the peer's message: main mode ->
:class:`MainMode`, aggressive -> :class:`AggressiveMode` (with :class:`Vendor` and
:class:`NatD` filling the same messages), quick mode with a new message ID ->
:class:`QuickMode`, informational -> :class:`Informational`. Initiator tasks come from the
engine (phase 1, quick mode on demand, Delete) and from the SA's timers (DPD, Reauth).
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass

from ..crypto.keymat import Ikev1Keys
from ..ike import task_manager as flights
from ..ike.sansio import KEEPALIVE
from ..policy import ChildPolicy
from . import fragments
from . import message as m
from .message import Exchange, Header, NotifyPayload, ParseError, Payload, ProtocolId
from .protection import decrypt_exchange, encrypt_with_hash, hash1, header, p2_iv, verify_hash_first
from .sa import Address, Child, Flight, P1State, Phase1
from .tasks import dpd, informational
from .tasks.aggressive_mode import AggressiveMode
from .tasks.base import Context, Incoming, Outgoing, Status
from .tasks.dpd import Dpd
from .tasks.informational import Delete, Informational
from .tasks.main_mode import MainMode
from .tasks.natd import NatD
from .tasks.phase1 import Phase1Task
from .tasks.quick_mode import QuickMode
from .tasks.reauth import Reauth, retire_due
from .tasks.vendor import Vendor

HALF_OPEN_TIMEOUT = 30.0  # a phase 1 or quick mode not complete by then fails
DONE_QUICK_KEEP = 60.0  # a finished quick mode's last message is answered again this long


@dataclass(slots=True)
class QuickSlot:
    """A quick mode exchange in progress: its task, our last message, the peer's."""

    task: QuickMode
    flight: Flight
    last_rx_digest: bytes = b""


class Ikev1TaskManager:
    # one an ISAKMP SA: slots, and its sets and dicts made when first needed
    __slots__ = ("ctx", "sa", "phase1", "mode", "flight", "last_rx_digest", "pending", "quick",
                 "done_quick", "used_msgids")

    def __init__(self, ctx: Context, sa: Phase1) -> None:
        self.ctx = ctx
        self.sa = sa
        self.phase1: list[MainMode | AggressiveMode | Vendor | NatD] = []
        self.mode: Phase1Task | None = None  # phase1[0]: main or aggressive mode
        self.flight: Flight | None = None  # our last phase 1 message
        self.last_rx_digest = b""  # the peer's last phase 1 message (SHA-1)
        # phase 2 SAs to negotiate once phase 1 is up: (policy, the SA it rekeys)
        self.pending: list[tuple[ChildPolicy, Child | None]] = []
        self.quick: dict[int, QuickSlot] = {}
        self.done_quick: dict[int, tuple[bytes, bytes, float]] = {}  # digest, answer, when
        # a tuple while few (a set of one is 216 bytes), then a set
        self.used_msgids: tuple[int, ...] | set[int] = ()

    # --- phase 1 ------------------------------------------------------------------------
    @property
    def p1_step(self) -> int:
        """The number of the last phase 1 message sent or received."""
        mode = self.mode
        return mode.step if mode is not None else 0

    def _phase1_tasks(self, initiator: bool) -> None:
        sa, ctx = self.sa, self.ctx
        mode = (AggressiveMode if sa.aggressive else MainMode)(ctx, sa, initiator)
        self.mode = mode
        self.phase1 = [mode, Vendor(ctx, sa, initiator), NatD(ctx, sa, initiator)]

    def start_phase1(self, now: float) -> None:
        """Initiator: phase 1 message 1."""
        self._phase1_tasks(True)
        self._build_phase1(now)

    def respond_phase1(self, msg: m.Message, h: Header, digest: bytes, now: float) -> None:
        """Responder: the peer's message 1 (the exchange type picked the task)."""
        self.last_rx_digest = digest
        self._phase1_tasks(False)
        self._process_phase1(Incoming(1, msg, now, h, False, self.sa.iv), now)

    def _process_phase1(self, inc: Incoming, now: float) -> None:
        mode, sa = self.mode, self.sa
        status = Status.MORE
        for t in self.phase1:
            st = t.process(inc)
            if t is mode:
                status = st
            if st in (Status.FAILED, Status.DROPPED) or sa.state == P1State.DEAD:
                return
        if status is Status.DONE:
            self.flight = None
            sa.timers_changed()
            self._established(now)
            return
        self._build_phase1(now)

    def _established(self, now: float) -> None:
        """Phase 1 is done: the engine's part, then what only its exchange needed goes (a
        tunnel's worth: its tasks, the Diffie-Hellman values, nonces, SA payload, SKEYID
        and SKEYID_e; 10,000 SAs held them all their life)."""
        sa = self.sa
        self.ctx.established(sa, now)
        self.phase1, self.mode = [], None
        sa.dh, sa.g_xi, sa.g_xr, sa.ni, sa.nr, sa.sai_b, sa.offered = None, b"", b"", b"", b"", b"", ()
        keys = sa.keys
        if keys is not None:
            sa.keys = Ikev1Keys(b"", keys.skeyid_d, keys.skeyid_a, b"")

    def _build_phase1(self, now: float) -> None:
        mode, sa, ctx = self.mode, self.sa, self.ctx
        assert mode is not None
        out = Outgoing(mode.step + 1, now=now)
        status = Status.MORE
        for t in self.phase1:
            st = t.build(out)
            if t is mode:
                status = st
            if st is Status.FAILED:
                return
        exchange = Exchange.AGGRESSIVE if sa.aggressive else Exchange.MAIN
        if out.encrypted:
            assert sa.cipher is not None
            first, parts = m.encode_payloads(out.payloads)
            data, sa.iv = m.encrypt_body(header(sa, exchange), first, parts, sa.cipher, sa.iv)
        else:
            data = m.encode(header(sa, exchange), out.payloads)
        self.flight = Flight(data, f"{mode.mode_words} message {out.number}",
                             now + ctx.retransmit.timeout(0) if out.retransmit else math.inf)
        sa.timers_changed()
        fragments.prepare(sa, data)  # too big for one packet: the engine sends its fragments
        ctx.send(data, sa.local, sa.remote)
        if status is Status.DONE:
            self._established(now)

    def _peer_past_phase1(self) -> None:
        """A protected message of the peer after phase 1 (quick mode, informational): it
        has our last phase 1 message, which we kept to send again if it asked; no more."""
        flight = self.flight
        if (flight is None or not math.isfinite(flight.next_at)) and \
                self.sa.state == P1State.ESTABLISHED:
            self.flight, self.last_rx_digest = None, b""

    def duplicate(self, digest: bytes) -> bool:
        """A retransmission of the peer's last phase 1 message: our answer to it again."""
        if self.last_rx_digest == digest:
            if self.flight is not None and not math.isfinite(self.flight.next_at):
                flights.answer_again(self.ctx, self.sa, self.flight.data)
            self.ctx.drop("retransmitted message")
            return True
        return False

    # --- the peer's messages ----------------------------------------------------------------
    def receive(self, data: bytes, h: Header, local: Address, remote: Address, now: float,
                digest: bytes) -> None:
        """A message of this SA (not a first message), routed by exchange type."""
        sa, ctx = self.sa, self.ctx
        if h.exchange in (Exchange.MAIN, Exchange.AGGRESSIVE):
            if h.exchange != (Exchange.AGGRESSIVE if sa.aggressive else Exchange.MAIN) or (
                    h.message_id != 0):
                ctx.drop("unexpected exchange type")
                return
            if self.duplicate(digest):
                return
            self._phase1_in(data, h, local, remote, now, digest)
        elif h.exchange == Exchange.QUICK:
            self._quick_in(data, h, local, remote, now, digest)
        elif h.exchange == Exchange.INFORMATIONAL:
            self._informational_in(data, h, local, remote, now)
        else:
            ctx.drop(f"unsupported exchange type {h.exchange}")

    def follow_peer(self, local: Address, remote: Address) -> None:
        sa = self.sa
        if (sa.local, sa.remote) != (local, remote) and (
            not sa.initiator or remote[1] == m.NATT_PORT
        ):
            sa.local, sa.remote = local, remote

    def _phase1_in(self, data: bytes, h: Header, local: Address, remote: Address, now: float,
                   digest: bytes) -> None:
        sa, ctx, mode = self.sa, self.ctx, self.mode
        if sa.state != P1State.CONNECTING:
            ctx.drop("phase 1 message on an established SA")
            return
        if mode is None:  # ours, still waiting for room to send its message 1
            ctx.drop("phase 1 message before our first")
            return
        if h.encrypted:
            if sa.cipher is None:
                ctx.drop("encrypted message before keys")
                return
            try:
                msg, next_iv = m.decrypt_body(data, sa.cipher, sa.iv, h)
            except ParseError as exc:
                ctx.log(sa, f"decrypting {sa.mode_words} message {mode.step + 1}: {exc}",
                        level="DEBUG")
                ctx.auth_failed(sa, f"cannot decrypt {sa.mode_words} message {mode.step + 1}",
                                now)
                return
        else:
            msg = m.parse_plain(data)
            next_iv = sa.iv
        self.last_rx_digest = digest
        sa.last_rx = now
        if not sa.initiator or sa.nat or remote[1] == m.NATT_PORT:
            self.follow_peer(local, remote)
        self._process_phase1(Incoming(mode.step + 1, msg, now, h, h.encrypted, next_iv), now)

    # --- quick mode ---------------------------------------------------------------------
    def new_msgid(self, record: bool = True) -> int:
        """A random message ID not used in this SA's quick modes. An informational's
        (``record`` False) is not kept: a one-message exchange that nothing recognises
        later, and kept they were 720 an hour per SA and side with DPD every 5 s (57
        million in the sets of 10,000 SAs over an 8-hour lifetime)."""
        while True:
            v = struct.unpack("!I", os.urandom(4))[0]
            if v and v not in self.used_msgids:
                if record:
                    self._use_msgid(v)
                return v

    def _use_msgid(self, msgid: int) -> None:
        used = self.used_msgids
        if isinstance(used, set):
            used.add(msgid)
        elif len(used) < 8:
            self.used_msgids = (*used, msgid)
        else:
            self.used_msgids = {*used, msgid}

    def quick_pending(self, name: str) -> bool:
        """A quick mode of ours for proxy-id ``name`` is under way."""
        return any(s.task.initiator and s.task.policy is not None and s.task.policy.name == name
                   for s in self.quick.values())

    def start_quick(self, policy: ChildPolicy, rekey_of: Child | None, now: float) -> None:
        sa = self.sa
        msgid = self.new_msgid()
        task = QuickMode(self.ctx, sa, msgid, True, p2_iv(sa, msgid), now, policy, rekey_of)
        out = Outgoing(1, now=now)
        if task.build(out) is Status.FAILED:
            return
        assert out.data is not None
        self.quick[msgid] = QuickSlot(task, Flight(out.data, "quick mode message 1",
                                                   now + self.ctx.retransmit.timeout(0)))
        sa.timers_changed()
        self.ctx.send(out.data, sa.local, sa.remote)

    def _quick_in(self, data: bytes, h: Header, local: Address, remote: Address, now: float,
                  digest: bytes) -> None:
        sa, ctx, msgid = self.sa, self.ctx, h.message_id
        done = self.done_quick.get(msgid)
        if done is not None:
            if done[0] == digest and done[1]:
                flights.answer_again(ctx, sa, done[1])
            ctx.drop("retransmitted quick mode message")
            return
        slot = self.quick.get(msgid)
        if slot is not None and slot.last_rx_digest == digest:
            if not slot.task.initiator:
                flights.answer_again(ctx, sa, slot.flight.data)
            ctx.drop("retransmitted quick mode message")
            return
        if slot is None:
            self._quick_respond(data, h, local, remote, now, digest)
            return
        task = slot.task
        msg, next_iv = decrypt_exchange(sa, data, task.iv, h)
        self._peer_past_phase1()
        sa.last_rx = now
        self.follow_peer(local, remote)
        slot.last_rx_digest = digest
        status = task.process(Incoming(3 - task.initiator, msg, now, h, True, next_iv))
        if status is Status.DROPPED:
            return
        if status is Status.FAILED:
            self._forget(msgid)
            return
        answer = b""
        if task.initiator:
            out = Outgoing(3, now=now)
            task.build(out)
            assert out.data is not None
            answer = out.data
            ctx.send(answer, sa.local, sa.remote)
        self._forget(msgid)
        self.done_quick[msgid] = (digest, answer, now)
        sa.timers_changed()
        task.install(now)

    def _quick_respond(self, data: bytes, h: Header, local: Address, remote: Address,
                       now: float, digest: bytes) -> None:
        """The peer's quick mode message 1: a responder task."""
        sa, ctx, msgid = self.sa, self.ctx, h.message_id
        if msgid == 0 or msgid in self.used_msgids:
            ctx.drop("quick mode with a used message ID")
            return
        iv = p2_iv(sa, msgid) if sa.state == P1State.ESTABLISHED else b""
        msg, next_iv = decrypt_exchange(sa, data, iv, h)
        sa.last_rx = now
        self.follow_peer(local, remote)
        if not verify_hash_first(msg, hash1(sa, msgid, msg.raw_after_first())):
            ctx.drop("quick mode HASH(1) does not verify")
            return
        self._peer_past_phase1()
        self._use_msgid(msgid)
        task = QuickMode(ctx, sa, msgid, False, next_iv, now)
        status = task.process(Incoming(1, msg, now, h, True, next_iv))
        if status is Status.FAILED and task.reject is not None:
            self.done_quick[msgid] = (b"", b"", now)
            sa.timers_changed()
            self.send_info([NotifyPayload(task.reject[0], ProtocolId.ESP, b"")], now)
            return
        if status is not Status.MORE:
            return
        out = Outgoing(2, now=now)
        task.build(out)
        assert out.data is not None
        self.quick[msgid] = QuickSlot(task, Flight(out.data, "quick mode message 2",
                                                   now + ctx.retransmit.timeout(0)), digest)
        sa.timers_changed()
        ctx.send(out.data, sa.local, sa.remote)

    def _forget(self, msgid: int) -> None:
        self.quick.pop(msgid, None)
        if not self.quick:
            self.quick = {}  # an emptied dict keeps its table
        self.sa.timers_changed()

    def quick_tasks(self) -> list[QuickMode]:
        return [s.task for s in self.quick.values()]

    # --- informational ------------------------------------------------------------------
    def send_info(self, payloads: list[Payload], now: float) -> None:
        """One protected informational message with a new message ID (none before phase 1
        is up)."""
        sa = self.sa
        if sa.state != P1State.ESTABLISHED or sa.cipher is None:
            return
        msgid = self.new_msgid(record=False)
        data, _ = encrypt_with_hash(sa, Exchange.INFORMATIONAL, msgid, p2_iv(sa, msgid),
                                    lambda b: hash1(sa, msgid, b), payloads)
        self.ctx.send(data, sa.local, sa.remote)

    def run(self, task: Delete | Dpd, now: float) -> Status:
        """An initiator task of one informational message (Delete, DPD): built and sent."""
        out = Outgoing(1, now=now)
        status = task.build(out)
        if out.payloads:
            self.send_info(out.payloads, now)
        return status

    def delete_sa(self, reason: str, now: float) -> None:
        """Our Delete of this ISAKMP SA (when up), then it is gone."""
        if self.sa.state == P1State.ESTABLISHED:
            self.run(Delete(self.sa), now)
        self.ctx.remove_p1(self.sa, reason)

    def _informational_in(self, data: bytes, h: Header, local: Address, remote: Address,
                          now: float) -> None:
        sa, ctx = self.sa, self.ctx
        if not h.encrypted or sa.state != P1State.ESTABLISHED:
            informational.before_established(ctx, sa, data, h, self.p1_step, now)
            return
        msg, _ = decrypt_exchange(sa, data, p2_iv(sa, h.message_id), h)
        if not verify_hash_first(msg, hash1(sa, h.message_id, msg.raw_after_first())):
            ctx.drop("informational HASH does not verify")
            return
        self._peer_past_phase1()
        sa.last_rx = now
        self.follow_peer(local, remote)
        task = Informational(ctx, sa)
        task.process(Incoming(1, msg, now, h, True))
        for name, words in task.quick_errors:
            pending = [s.task for s in self.quick.values() if s.task.initiator]
            if not pending:
                ctx.log(sa, f"peer sent {name}: {words}", level="ERROR")
            for q in pending:
                q.fail(words)
                self._forget(q.message_id)
        for reply in task.replies:
            self.send_info(reply, now)

    # --- timers -------------------------------------------------------------------------
    def deadlines(self) -> list[float]:
        sa = self.sa
        t: list[float] = []
        if self.flight is not None:
            t.append(self.flight.next_at)
        if sa.state == P1State.CONNECTING and self.mode is not None:  # not waiting its turn
            t.append(sa.created + HALF_OPEN_TIMEOUT)
        if sa.state == P1State.ESTABLISHED:
            if sa.expires is not None:
                t.append(sa.expires)
            t += [sa.rekey_at, sa.retire_at, dpd.next_check(sa), sa.next_keepalive]
        for s in self.quick.values():
            t.append(s.flight.next_at)
            t.append(s.task.created + HALF_OPEN_TIMEOUT)
        if self.done_quick:
            t.append(min(x[2] for x in self.done_quick.values()) + DONE_QUICK_KEEP)
        return t

    def on_timer(self, now: float) -> None:
        """Whatever of this SA is due at ``now``: retransmissions, time-outs, phase 1
        renegotiation (:class:`Reauth`), retirement and expiry, keepalives, DPD."""
        sa, ctx = self.sa, self.ctx
        flight = self.flight
        if (flight is not None and math.isfinite(flight.next_at)
                and flights.resend_due(ctx, sa, flight, now) is False):
            mode = self.mode
            hint = (f" ({mode.auth.hint}?)" if mode is not None and self.p1_step == 5
                    and not sa.aggressive else "")
            ctx.fail_p1(sa, f"no answer from peer {sa.remote[0]} to {flight.what} "
                            f"after {ctx.retransmit.tries} tries{hint}")
            return
        if sa.state == P1State.CONNECTING:
            if now >= sa.created + HALF_OPEN_TIMEOUT and self.mode is not None:
                hint = (" (the peer may have rejected our HASH_R: pre-shared key mismatch?)"
                        if sa.aggressive and not sa.initiator else "")
                ctx.fail_p1(sa, f"phase 1 did not complete within {int(HALF_OPEN_TIMEOUT)} "
                                f"seconds ({sa.mode_words} message {self.p1_step} was the "
                                f"last){hint}")
            return
        for msgid, (_d, _data, at) in list(self.done_quick.items()):
            if now >= at + DONE_QUICK_KEEP:
                del self.done_quick[msgid]
        if not self.done_quick:
            self.done_quick = {}  # an emptied dict keeps its table: 232 bytes an SA
        for slot in list(self.quick.values()):
            q = slot.task
            if (math.isfinite(slot.flight.next_at)
                    and flights.resend_due(ctx, sa, slot.flight, now) is False):
                if q.initiator:
                    q.fail(f"no answer from peer to {slot.flight.what} after "
                           f"{ctx.retransmit.tries} tries")
                self._forget(q.message_id)
                continue
            if now >= q.created + HALF_OPEN_TIMEOUT and q.message_id in self.quick:
                if q.initiator:
                    q.fail("quick mode did not complete in time")
                self._forget(q.message_id)
        if now >= sa.rekey_at and not sa.replaced:
            Reauth(ctx, sa).start(now)
        if retire_due(sa, now):
            self.delete_sa("replaced by a new phase 1 SA", now)
            return
        if sa.expires is not None and now >= sa.expires:
            ctx.log(sa, "IKE phase-1 SA lifetime expired")
            self.delete_sa("lifetime expired", now)
            return
        if now >= sa.next_keepalive:
            ctx.send(KEEPALIVE, sa.local, sa.remote)
            sa.next_keepalive = now + max(sa.policy.keepalive_interval, 1)
        if now >= dpd.next_check(sa):
            self.run(Dpd(ctx, sa), now)
