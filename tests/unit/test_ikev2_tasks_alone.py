"""Issue 12: the IKEv2 tasks alone, each against a small fake context (no engine).

Each task is typed against its own narrow context (``DpdContext``, ``ChildCreateContext``,
...; the small protocols are in ``ikev2/sa.py``). :class:`FakeContext` implements those
members and records what a task sends, logs, emits, installs, removes and queues. Messages
go through the codec (encode, then parse), so what a task builds is what a peer would read.
"""

from __future__ import annotations

import os
import random
import struct
from typing import Any

import pytest

from vpnsh.engine.ike.events import ChildInstalled
from vpnsh.engine.ike.retransmit import Retransmit
from vpnsh.engine.ike.spi import SpiAllocator
from vpnsh.engine.ikev2 import keys, message
from vpnsh.engine.ikev2.constants import ExchangeType, NotifyType, ProtocolId
from vpnsh.engine.ikev2.cookies import CookieJar
from vpnsh.engine.ikev2.message import Message
from vpnsh.engine.ikev2.natd import natd_hash
from vpnsh.engine.ikev2.payloads import (
    DeletePayload,
    KePayload,
    NoncePayload,
    NotifyPayload,
    Payload,
    SaPayload,
    TsPayload,
)
from vpnsh.engine.ikev2.proposals import IkeSuite
from vpnsh.engine.ikev2.sa import ChildSa, ChildState, IkeSa, IkeState, Task
from vpnsh.engine.ikev2.tasks.child_create import ChildCreateTask, Refusal
from vpnsh.engine.ikev2.tasks.ike_auth import IkeAuthTask
from vpnsh.engine.ikev2.tasks.ike_init import ZERO_SPI, IkeInitTask
from vpnsh.engine.ikev2.tasks.informational import ChildDeleteTask, DpdTask, IkeDeleteTask
from vpnsh.engine.ikev2.testing import child_policy, ike_policy
from vpnsh.engine.policy import ChildPolicy, IkePolicy, IkeProposal

A, B = "192.0.2.1", "192.0.2.2"
NOW = 100.0


class FakeContext:
    """The members the tasks' contexts name, recording every call."""

    def __init__(self, candidates: list[ChildPolicy] | None = None) -> None:
        self.rng = random.Random(1)
        self.spis = SpiAllocator()
        self.next_child_id = 1
        self.force_udp_encap = False
        self.retransmit = Retransmit()
        self.candidates = candidates or []
        self.policies: dict[str, IkePolicy] = {}  # by peer address
        self.logs: list[tuple[str, str]] = []
        self.events: list[Any] = []
        self.sent: list[bytes] = []
        self.dropped: list[str] = []
        self.touched = 0
        self.dead: list[str] = []
        self.ike_removed: list[str] = []
        self.child_removed: list[tuple[ChildSa, str]] = []
        self.child_failures: list[tuple[str, str]] = []
        self.ike_failures: list[str] = []
        self.queued: list[tuple[IkeSa, Task]] = []
        self.kicked: list[IkeSa] = []
        self.sas: list[IkeSa] = []  # the table, for owner_of and alive

    # Log, Events, Wire
    def log(self, sa: IkeSa | None, text: str, *, gateway: str = "", level: str = "INFO") -> None:
        self.logs.append((level, text))

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def send(self, data: bytes, local: Any, remote: Any) -> None:
        self.sent.append(data)

    def drop(self, why: str) -> None:
        self.dropped.append(why)

    # ChildIds, SaWatch, ChildPolicies
    def new_child_spi(self) -> int:
        return self.spis.child_spi()

    def touch(self, sa: IkeSa) -> None:
        self.touched += 1

    def alive(self, sa: IkeSa) -> bool:
        return sa in self.sas

    def child_candidates(self, gateway: str) -> list[ChildPolicy]:
        return [c for c in self.candidates if c.gateway == gateway]

    def child_failed(self, sa: IkeSa, name: str, reason: str) -> None:
        self.child_failures.append((name, reason))

    # IkeKeying, IkeFail, Teardown, Children, TaskQueue
    def derive_ike_keys(self, sa: IkeSa, shared: bytes) -> None:
        keys.derive(sa, shared)

    def fail_ike(self, sa: IkeSa, reason: str, *, send_delete: bool = False,
                 quiet: bool = False) -> None:
        self.ike_failures.append(reason)

    def emit_failed(self, gateway: str, reason: str) -> None:
        self.ike_failures.append(reason)

    def peer_dead(self, sa: IkeSa, what: str) -> None:
        self.dead.append(what)

    def remove_ike(self, sa: IkeSa, reason: str, announce: bool = True) -> None:
        self.ike_removed.append(reason)

    def owner_of(self, child: ChildSa) -> IkeSa | None:
        return next((s for s in self.sas if s.children.get(child.child_id) is child), None)

    def remove_child(self, sa: IkeSa, child: ChildSa, reason: str) -> None:
        if sa.children.get(child.child_id) is child:
            del sa.children[child.child_id]
            self.child_removed.append((child, reason))

    def queue_task(self, sa: IkeSa, task: Task, now: float) -> None:
        self.queued.append((sa, task))

    def kick_tasks(self, sa: IkeSa, now: float) -> None:
        self.kicked.append(sa)

    # the IKE_SA_INIT responder: Gateways, HalfOpen, NewSas
    cookies = CookieJar(b"k" * 32)
    half_open_limit = 10

    def policy_for_address(self, local_ip: str, remote_ip: str) -> IkePolicy | None:
        return self.policies.get(remote_ip)

    def policy_for_identity(self, sa: IkeSa, idi: Any) -> IkePolicy | None:
        raise AssertionError("not used by these tasks")

    def half_open_count(self) -> int:
        return sum(1 for s in self.sas if s.state == IkeState.CONNECTING)

    def half_open_done(self, sa: IkeSa) -> None:
        raise AssertionError("not used by these tasks")

    def new_sa(self, policy: IkePolicy, *, initiator: bool, local: Any, remote: Any, now: float,
               spi_i: bytes = b"") -> IkeSa:
        sa = IkeSa(sn=len(self.sas) + 1, policy=policy, initiator=initiator, spi_i=spi_i,
                   spi_r=b"\x33" * 8, local=local, remote=remote, created=now)
        self.sas.append(sa)
        return sa

    def rekeyed_sa(self, old: IkeSa, **kw: Any) -> IkeSa:
        raise AssertionError("not used by these tasks")

    def log_limited(self, kind: str, text: str, now: float, gateway: str = "",
                    level: str = "ERROR") -> None:
        self.logs.append((level, text))


def _sa(initiator: bool, spi_i: bytes = b"\x11" * 8, spi_r: bytes = b"\x22" * 8,
        state: IkeState = IkeState.ESTABLISHED) -> IkeSa:
    """One side of an IKE SA with real keys (the same on both sides for the same inputs)."""
    local, remote = ((A, 500), (B, 500)) if initiator else ((B, 500), (A, 500))
    sa = IkeSa(sn=1, policy=ike_policy("G", local[0], remote[0]), initiator=initiator,
               spi_i=spi_i, spi_r=spi_r, local=local, remote=remote, created=0.0, state=state)
    sa.suite = IkeSuite(encr=12, key_bits=128, prf=5, integ=12, dh=14)
    sa.ni, sa.nr = b"\x01" * 32, b"\x02" * 32
    keys.derive(sa, b"\x03" * 256)
    return sa


def _wire(sa: IkeSa, payloads: list[Payload], message_id: int, response: bool,
          exchange: int = ExchangeType.CREATE_CHILD_SA) -> Message:
    """What the peer reads of a message of ``sa``'s side (cleartext through the codec)."""
    msg = Message(exchange, message_id, sa.spi_i, sa.spi_r, response, sa.initiator, payloads)
    return message.parse(message.encode(msg)).message


def _pair() -> tuple[FakeContext, IkeSa, FakeContext, IkeSa, ChildPolicy]:
    tunnel = child_policy("T", "G", local_ts=("10.1.0.0/16",), remote_ts=("10.2.0.0/16",))
    mirror = child_policy("T", "G", local_ts=("10.2.0.0/16",), remote_ts=("10.1.0.0/16",))
    ctx_i, ctx_r = FakeContext([tunnel]), FakeContext([mirror])
    sa_i, sa_r = _sa(True), _sa(False)
    ctx_i.sas.append(sa_i)
    ctx_r.sas.append(sa_r)
    return ctx_i, sa_i, ctx_r, sa_r, tunnel


def _create(ctx_i: FakeContext, sa_i: IkeSa, ctx_r: FakeContext, sa_r: IkeSa,
            task: ChildCreateTask, message_id: int = 1) -> tuple[list[Payload], list[Payload]]:
    request = task.build_i(ctx_i, sa_i, NOW)
    assert request is not None
    responder = ChildCreateTask()
    responder.process_r(ctx_r, sa_r, _wire(sa_i, request, message_id, False), NOW)
    reply = responder.build_r(ctx_r, sa_r, NOW)
    task.process_i(ctx_i, sa_i, _wire(sa_r, reply, message_id, True), NOW)
    return request, reply


# ------------------------------------------------------------------ ChildCreateTask
def test_child_create_both_roles_install_one_sa_with_crossed_spis_and_keys() -> None:
    ctx_i, sa_i, ctx_r, sa_r, tunnel = _pair()
    task = ChildCreateTask(tunnel)
    request, reply = _create(ctx_i, sa_i, ctx_r, sa_r, task)

    # the request: ESP proposal with our SPI, a 32-byte nonce, our proxy-id as TSi/TSr
    sa_p = next(p for p in request if isinstance(p, SaPayload))
    assert sa_p.proposals[0].protocol == ProtocolId.ESP
    assert struct.unpack("!I", sa_p.proposals[0].spi)[0] == task.spi_in
    assert len(next(p for p in request if isinstance(p, NoncePayload)).data) == 32
    assert ("INFO", "CREATE_CHILD_SA request sent: new CHILD SA for T") in ctx_i.logs
    # the reply: the chosen proposal, a nonce and the narrowed selectors, no error
    assert not [p for p in reply if isinstance(p, NotifyPayload) and p.is_error]
    assert [type(p) for p in reply] == [SaPayload, NoncePayload, TsPayload, TsPayload]

    [c_i] = sa_i.children.values()
    [c_r] = sa_r.children.values()
    assert c_i.spi_in == task.spi_in and c_i.spi_out == c_r.spi_in and c_r.spi_out == c_i.spi_in
    assert c_i.initiator and not c_r.initiator
    assert c_i.keys.encr_key_out == c_r.keys.encr_key_in != c_i.keys.encr_key_in
    assert c_i.keys.integ_key_in == c_r.keys.integ_key_out
    assert c_i.local_ts == c_r.remote_ts == tunnel.local_selectors()
    assert c_i.remote_ts == c_r.local_ts == tunnel.remote_selectors()
    for ctx, child in ((ctx_i, c_i), (ctx_r, c_r)):
        [ev] = [e for e in ctx.events if isinstance(e, ChildInstalled)]
        assert ev.keys.spi_in == child.spi_in and ev.rekey_of is None
        assert child.owner is not None and ctx.next_child_id == 2
    assert not ctx_i.queued and not ctx_r.queued  # a new CHILD SA deletes nothing


def test_child_rekey_both_roles_replace_the_old_sa_and_queue_its_delete() -> None:
    ctx_i, sa_i, ctx_r, sa_r, tunnel = _pair()
    _create(ctx_i, sa_i, ctx_r, sa_r, ChildCreateTask(tunnel))
    [old_i] = sa_i.children.values()
    [old_r] = sa_r.children.values()

    task = ChildCreateTask(tunnel, rekey_of=old_i)
    request, _ = _create(ctx_i, sa_i, ctx_r, sa_r, task, message_id=2)

    rekey = next(p for p in request if isinstance(p, NotifyPayload))
    assert rekey.notify_type == NotifyType.REKEY_SA
    assert struct.unpack("!I", rekey.spi)[0] == old_i.spi_in
    new_i = next(c for c in sa_i.children.values() if c is not old_i)
    new_r = next(c for c in sa_r.children.values() if c is not old_r)
    assert new_i.spi_out == new_r.spi_in and new_r.spi_out == new_i.spi_in
    assert old_i.state == old_r.state == ChildState.REKEYED
    assert not old_i.rekeying and old_i.our_rekey is not None and old_r.peer_rekey is not None
    # make-before-break: the initiator of the rekey deletes the old SA, the responder waits
    [(on, delete)] = ctx_i.queued
    assert on is sa_i and isinstance(delete, ChildDeleteTask) and delete.children == [old_i]
    assert ctx_r.queued == []
    [ev] = [e for e in ctx_r.events if isinstance(e, ChildInstalled)][1:]
    assert ev.rekey_of == old_r.spi_in


def test_child_create_responder_refuses_selectors_outside_its_proxy_ids() -> None:
    ctx_i, sa_i, ctx_r, sa_r, tunnel = _pair()
    ctx_r.candidates = [child_policy("T", "G", local_ts=("10.9.0.0/16",),
                                     remote_ts=("10.1.0.0/16",))]
    _create(ctx_i, sa_i, ctx_r, sa_r, ChildCreateTask(tunnel))
    assert sa_r.children == {} and sa_i.children == {}
    [(name, reason)] = ctx_r.child_failures
    assert name == "T" and "traffic selectors unacceptable" in reason
    [(name, reason)] = ctx_i.child_failures
    assert name == "T" and "TS_UNACCEPTABLE" in reason


def test_child_create_initiator_reports_no_proposal_chosen() -> None:
    ctx_i, sa_i, _, _, tunnel = _pair()
    task = ChildCreateTask(tunnel)
    assert task.build_i(ctx_i, sa_i, NOW) is not None
    refusal = _wire(_sa(False), [NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)], 1, True)
    task.process_i(ctx_i, sa_i, refusal, NOW)
    assert sa_i.children == {}
    [(name, reason)] = ctx_i.child_failures
    assert name == "T" and reason.startswith("no IPSec proposal chosen by peer: we offered [")


def test_child_create_builds_nothing_unless_established_and_refusal_answers_one_notify() -> None:
    ctx_i, _, _, _, tunnel = _pair()
    connecting = _sa(True, state=IkeState.CONNECTING)
    connecting.pending_children.add("T")
    assert ChildCreateTask(tunnel).build_i(ctx_i, connecting, NOW) is None
    assert connecting.pending_children == set() and ctx_i.logs == []
    refusal = Refusal(NotifyType.TEMPORARY_FAILURE)
    refusal.process_r(object(), connecting, _wire(connecting, [], 3, False), NOW)
    assert refusal.build_r(object(), connecting, NOW) == [
        NotifyPayload(NotifyType.TEMPORARY_FAILURE)
    ]


# ------------------------------------------------------------------ ChildDeleteTask
def test_child_delete_both_roles() -> None:
    ctx_i, sa_i, ctx_r, sa_r, tunnel = _pair()
    _create(ctx_i, sa_i, ctx_r, sa_r, ChildCreateTask(tunnel))
    [c_i] = sa_i.children.values()
    [c_r] = sa_r.children.values()

    task = ChildDeleteTask([c_i], "deleted by us")
    request = task.build_i(ctx_i, sa_i, NOW)
    assert request == [DeletePayload(ProtocolId.ESP, (struct.pack("!I", c_i.spi_in),))]
    assert c_i.state == ChildState.DELETING
    assert any(f"delete CHILD SA T {c_i.spi_in:08X}" in t for _, t in ctx_i.logs)

    responder = ChildDeleteTask()
    responder.process_r(ctx_r, sa_r, _wire(sa_i, request, 2, False, ExchangeType.INFORMATIONAL),
                        NOW)
    reply = responder.build_r(ctx_r, sa_r, NOW)
    # the responder removes its half of the pair and names it in the answer (RFC 7296 1.4.1)
    assert reply == [DeletePayload(ProtocolId.ESP, (struct.pack("!I", c_r.spi_in),))]
    assert ctx_r.child_removed == [(c_r, "deleted by peer")] and sa_r.children == {}

    task.process_i(ctx_i, sa_i, _wire(sa_r, reply, 2, True, ExchangeType.INFORMATIONAL), NOW)
    assert ctx_i.child_removed == [(c_i, "deleted by us")] and sa_i.children == {}


def test_child_delete_responder_does_not_name_a_child_it_is_deleting_itself() -> None:
    ctx_i, sa_i, ctx_r, sa_r, tunnel = _pair()
    _create(ctx_i, sa_i, ctx_r, sa_r, ChildCreateTask(tunnel))
    [c_i] = sa_i.children.values()
    [c_r] = sa_r.children.values()
    c_r.state = ChildState.DELETING  # our own Delete crossed the peer's
    request: list[Payload] = [DeletePayload(ProtocolId.ESP, (struct.pack("!I", c_i.spi_in), b"\0\0\0\7"))]
    responder = ChildDeleteTask()
    responder.process_r(ctx_r, sa_r, _wire(sa_i, request, 2, False, ExchangeType.INFORMATIONAL),
                        NOW)
    assert responder.build_r(ctx_r, sa_r, NOW) == []
    assert ctx_r.child_removed == [(c_r, "deleted by peer")]


def test_child_delete_skips_children_gone_meanwhile_and_reports_a_dead_peer() -> None:
    ctx_i, sa_i, ctx_r, sa_r, tunnel = _pair()
    _create(ctx_i, sa_i, ctx_r, sa_r, ChildCreateTask(tunnel))
    [c_i] = sa_i.children.values()
    sa_i.children.clear()
    task = ChildDeleteTask([c_i])
    assert task.build_i(ctx_i, sa_i, NOW) is None
    task.failed(ctx_i, sa_i, NOW)
    assert ctx_i.dead == ["a Delete"]


# ------------------------------------------------------------------ IkeDeleteTask
def test_ike_delete_initiator() -> None:
    ctx, sa = FakeContext(), _sa(True)
    assert IkeDeleteTask().build_i(ctx, _sa(True, state=IkeState.CONNECTING), NOW) is None
    task = IkeDeleteTask("operator")
    assert task.build_i(ctx, sa, NOW) == [DeletePayload(ProtocolId.IKE)]
    assert sa.state == IkeState.DELETING
    assert ctx.logs == [("INFO", "INFORMATIONAL request sent: delete IKE SA (operator)")]
    task.process_i(ctx, sa, _wire(_sa(False), [], 5, True, ExchangeType.INFORMATIONAL), NOW)
    assert ctx.ike_removed == ["operator"]
    task.failed(ctx, sa, NOW)
    assert ctx.ike_removed[1] == "operator; the peer did not answer the Delete"


def test_ike_delete_responder_dooms_the_sa_and_answers_empty() -> None:
    ctx, sa = FakeContext(), _sa(False)
    request = _wire(_sa(True), [DeletePayload(ProtocolId.IKE)], 5, False,
                    ExchangeType.INFORMATIONAL)
    task = IkeDeleteTask()
    task.process_r(ctx, sa, request, NOW)
    assert sa.doomed and sa.delete_reason == "deleted by peer"
    assert task.build_r(ctx, sa, NOW) == []
    assert ctx.ike_removed == []  # the task manager removes it once the answer is sent


# ------------------------------------------------------------------ DpdTask
def test_dpd_both_roles() -> None:
    ctx, sa = FakeContext(), _sa(True)
    task = DpdTask()
    assert task.build_i(ctx, sa, NOW) == []
    assert task.build_i(ctx, _sa(True, state=IkeState.REKEYED), NOW) is None
    task.failed(ctx, sa, NOW)
    assert ctx.dead == ["the liveness check"]

    request = _wire(_sa(True), [NotifyPayload(NotifyType.AUTHENTICATION_FAILED),
                                NotifyPayload(NotifyType.INITIAL_CONTACT)], 4, False,
                    ExchangeType.INFORMATIONAL)
    responder = DpdTask()
    responder.process_r(ctx, _sa(False), request, NOW)
    assert ctx.logs == [("WARN", "peer reports AUTHENTICATION_FAILED")]  # errors only
    assert responder.build_r(ctx, sa, NOW) == []


# ------------------------------------------------------------------ IkeInitTask
def _init_sa() -> IkeSa:
    sa = _sa(True, spi_r=ZERO_SPI, state=IkeState.CONNECTING)
    sa.suite = sa.keys = None
    sa.ni = b""
    return sa


def test_ike_init_build_i_offers_ke_nonce_and_nat_detection() -> None:
    ctx, sa = FakeContext(), _init_sa()
    payloads = IkeInitTask(14).build_i(ctx, sa, NOW)
    assert payloads is not None
    msg = _wire(sa, payloads, 0, False, ExchangeType.IKE_SA_INIT)
    sa_p, ke, nonce = msg.get(SaPayload), msg.get(KePayload), msg.get(NoncePayload)
    assert sa_p is not None and sa_p.proposals[0].protocol == ProtocolId.IKE
    assert ke is not None and ke.group == 14 and len(ke.data) == 256
    assert sa.dh is not None and ke.data == sa.dh.public
    assert nonce is not None and nonce.data == sa.ni and len(sa.ni) == 32
    src = msg.notify(NotifyType.NAT_DETECTION_SOURCE_IP)
    dst = msg.notify(NotifyType.NAT_DETECTION_DESTINATION_IP)
    assert src is not None and src.data == natd_hash(sa.spi_i, ZERO_SPI, (A, 500))
    assert dst is not None and dst.data == natd_hash(sa.spi_i, ZERO_SPI, (B, 500))
    assert ctx.logs == [("INFO", f"IKE_SA_INIT request sent to {B}[500], DH group 14")]


def test_ike_init_build_i_fakes_a_nat_when_udp_encapsulation_is_forced() -> None:
    ctx, sa = FakeContext(), _init_sa()
    ctx.force_udp_encap = True
    payloads = IkeInitTask(14).build_i(ctx, sa, NOW)
    assert payloads is not None
    src = next(p for p in payloads if isinstance(p, NotifyPayload)
               and p.notify_type == NotifyType.NAT_DETECTION_SOURCE_IP)
    assert src.data != natd_hash(sa.spi_i, ZERO_SPI, (A, 500)) and len(src.data) == 20


def test_ike_init_cookie_response_restarts_with_the_cookie_first() -> None:
    ctx, sa = FakeContext(), _init_sa()
    task = IkeInitTask(14)
    first = task.build_i(ctx, sa, NOW)
    assert first is not None
    sa.next_request_id = 1
    cookie = os.urandom(16)
    task.process_i(ctx, sa, Message(ExchangeType.IKE_SA_INIT, 0, sa.spi_i, ZERO_SPI, True, False,
                                    [NotifyPayload(NotifyType.COOKIE, cookie)]), NOW)
    assert sa.tasks[0] is task and sa.next_request_id == 0 and sa.spi_r == ZERO_SPI
    assert ("INFO", "IKE_SA_INIT restart: peer asked for a cookie") in ctx.logs
    again = task.build_i(ctx, sa, NOW)
    assert again is not None and again[0] == NotifyPayload(NotifyType.COOKIE, cookie)
    assert again[1:4] == first[:3]  # same offer, KE and nonce
    assert ctx.ike_failures == []


def test_ike_init_invalid_ke_restarts_with_the_group_asked_for() -> None:
    ctx, sa = FakeContext(), _init_sa()
    sa.policy = ike_policy("G", A, B, proposals=(IkeProposal(((12, 128),), (5,), (12,), (14, 19)),))
    task = IkeInitTask(14)
    assert task.build_i(ctx, sa, NOW) is not None
    task.process_i(ctx, sa, _invalid_ke(sa, 19), NOW)
    assert task.group == 19 and sa.dh is None and list(sa.tasks) == [task]
    again = task.build_i(ctx, sa, NOW)
    assert again is not None
    ke = next(p for p in again if isinstance(p, KePayload))
    assert ke.group == 19 and len(ke.data) == 64
    assert ctx.ike_failures == []


@pytest.mark.parametrize("asked", [14, 19])
def test_ike_init_invalid_ke_for_the_group_sent_or_one_not_offered_fails(asked: int) -> None:
    ctx, sa = FakeContext(), _init_sa()
    task = IkeInitTask(14)
    assert task.build_i(ctx, sa, NOW) is not None
    task.process_i(ctx, sa, _invalid_ke(sa, asked), NOW)
    assert list(sa.tasks) == [] and task.group == 14
    [reason] = ctx.ike_failures
    assert reason == f"peer asked for DH group {asked}, which we do not offer (we offer group14)"


def _invalid_ke(sa: IkeSa, group: int) -> Message:
    return Message(ExchangeType.IKE_SA_INIT, 0, sa.spi_i, ZERO_SPI, True, False,
                   [NotifyPayload(NotifyType.INVALID_KE_PAYLOAD, struct.pack("!H", group))])


def test_ike_init_both_roles_agree_on_keys_after_a_cookie_round_trip() -> None:
    ctx_i, sa_i = FakeContext(), _init_sa()
    sa_i.first_child = child_policy("T", "G")
    ctx_r = FakeContext()
    ctx_r.policies = {A: ike_policy("G", B, A)}
    ctx_r.half_open_limit = 0  # every request must carry a cookie

    def respond(payloads: list[Payload]) -> tuple[IkeInitTask, IkeSa | None]:
        request = Message(ExchangeType.IKE_SA_INIT, 0, sa_i.spi_i, ZERO_SPI, False, True,
                          payloads)
        parsed = message.parse(message.encode(request))
        task = IkeInitTask()
        return task, task.process_r(ctx_r, parsed, (B, 500), (A, 500), NOW)

    task_i = IkeInitTask(14)
    first = task_i.build_i(ctx_i, sa_i, NOW)
    assert first is not None
    _, none = respond(first)
    assert none is None and ctx_r.sas == []  # stateless: no SA for a request without cookie
    [answer] = ctx_r.sent
    task_i.process_i(ctx_i, sa_i, message.parse(answer).message, NOW)
    assert task_i.cookie is not None and list(sa_i.tasks) == [task_i]
    sa_i.tasks.clear()

    again = task_i.build_i(ctx_i, sa_i, NOW)
    assert again is not None
    task_r, sa_r = respond(again)
    assert sa_r is not None and ctx_r.sas == [sa_r] and len(ctx_r.sent) == 1
    reply = task_r.build_r(ctx_r, sa_r, NOW)
    response = Message(ExchangeType.IKE_SA_INIT, 0, sa_r.spi_i, sa_r.spi_r, True, False, reply)
    task_i.process_i(ctx_i, sa_i, message.parse(message.encode(response)).message, NOW)

    assert ctx_i.ike_failures == [] and ctx_r.ike_failures == []
    assert sa_i.spi_r == sa_r.spi_r == b"\x33" * 8 and sa_i.nr == sa_r.nr and sa_i.ni == sa_r.ni
    assert sa_i.suite == sa_r.suite and sa_i.suite is not None and sa_i.suite.dh == 14
    assert sa_i.keys is not None and sa_r.keys is not None
    assert sa_i.keys.sk_d == sa_r.keys.sk_d and sa_i.keys.sk_ei == sa_r.keys.sk_ei
    assert not sa_i.nat and not sa_r.nat  # the NAT-D hashes match the addresses each sees
    [auth] = sa_i.tasks  # IKE_AUTH comes next, with the first CHILD SA
    assert isinstance(auth, IkeAuthTask) and auth.child is sa_i.first_child
    assert any(t.startswith(f"IKE_SA_INIT request from {A}[500] answered: ")
               for _, t in ctx_r.logs)


def test_ike_init_responder_drops_a_request_from_an_unknown_peer() -> None:
    ctx_i, sa_i = FakeContext(), _init_sa()
    ctx_r = FakeContext()
    payloads = IkeInitTask(14).build_i(ctx_i, sa_i, NOW)
    assert payloads is not None
    request = Message(ExchangeType.IKE_SA_INIT, 0, sa_i.spi_i, ZERO_SPI, False, True, payloads)
    parsed = message.parse(message.encode(request))
    assert IkeInitTask().process_r(ctx_r, parsed, (B, 500), (A, 500), NOW) is None
    assert ctx_r.dropped == ["no gateway for peer address"] and ctx_r.sent == []
    assert ctx_r.sas == [] and "couldn't find configuration" in ctx_r.logs[0][1]
