"""Quick mode (RFC 2409 5.5): phase 2, one task per exchange, both roles in this module.

Initiator: :func:`start_quick` sends message 1 (HDR*, HASH(1), SA, Ni [, KE], IDci, IDcr);
:func:`quick_initiator_2` checks message 2, sends message 3 (HASH(3)) and installs.
Responder: :func:`quick_respond` checks message 1, picks the proxy ID and a transform and
sends message 2; :func:`quick_responder_3` checks HASH(3) and installs. :func:`quick` routes
a quick-mode datagram of an ISAKMP SA to the exchange it belongs to (by message ID), and
answers retransmissions. The state of one exchange is a :class:`QuickMode`; what this task
may touch of the engine is :class:`Context`, no more.
"""

from __future__ import annotations

import hmac
import os
import random
import struct
from collections.abc import Callable
from typing import Any, Protocol

from ..crypto import algorithms as alg
from ..crypto import keymat as km
from ..crypto.dh import group as dh_group
from ..ike import child_keys
from ..ike import task_manager as flights
from ..ike.events import ChildFailed, ChildInstalled
from ..ike.retransmit import Retransmit
from ..ike.spi import SpiAllocator
from ..policy import ANY_PREFIX, ChildPolicy, TrafficSelector
from . import message as m
from . import proposals
from .message import (
    Attr,
    Exchange,
    HashPayload,
    Header,
    IdPayload,
    KePayload,
    LifeType,
    Message,
    NoncePayload,
    NotifyPayload,
    NotifyType,
    P2Attr,
    ParseError,
    Payload,
    ProtocolId,
    SaPayload,
)
from .sa import (
    NONCE_SIZE,
    REKEY_JITTER_INITIATOR,
    REKEY_JITTER_RESPONDER,
    Address,
    Child,
    ChildState,
    Flight,
    P1State,
    P2Suite,
    Phase1,
    QuickMode,
    msgid_bytes,
)

REKEY_GRACE = 10.0  # a rekeyed phase 2 SA lives on this long (traffic in flight)
COLLISION_WINDOW = 10.0  # a peer's quick mode this soon after ours is a collision


class Context(Protocol):
    """What quick mode may use of the IKEv1 engine."""

    retransmit: Retransmit
    rng: random.Random
    spis: SpiAllocator
    children: dict[int, Child]
    next_child_id: int

    def log(self, sa: Phase1 | None, text: str, *, gateway: str = "", level: str = "INFO") -> None: ...
    def send(self, data: bytes, local: Address, remote: Address) -> None: ...
    def drop(self, why: str) -> None: ...
    def emit(self, event: Any) -> None: ...
    def child_candidates(self, gateway: str) -> list[ChildPolicy]: ...
    def child_failed(self, sa: Phase1, name: str, reason: str) -> None: ...
    def new_msgid(self, sa: Phase1) -> int: ...
    def p2_iv(self, sa: Phase1, msgid: int) -> bytes: ...
    def hash1(self, sa: Phase1, msgid: int, rest: bytes) -> bytes: ...
    def encrypt_with_hash(self, sa: Phase1, exchange: int, msgid: int, iv: bytes,
                          hash_fn: Callable[[bytes], bytes], rest: list[Payload]
                          ) -> tuple[bytes, bytes]: ...
    def decrypt_exchange(self, sa: Phase1, data: bytes, iv: bytes) -> tuple[Message, bytes]: ...
    def follow_peer(self, sa: Phase1, local: Address, remote: Address) -> None: ...
    def send_info(self, sa: Phase1, payloads: list[Payload], now: float) -> None: ...


def start_quick(ctx: Context, sa: Phase1, policy: ChildPolicy, rekey_of: Child | None,
                 now: float) -> None:
    msgid = ctx.new_msgid(sa)
    q = QuickMode(msgid, True, policy, ctx.p2_iv(sa, msgid), now, rekey_of=rekey_of)
    q.offered = proposals.p2_offers(sa, policy)
    if not q.offered:
        ctx.child_failed(sa, policy.name, "the IPsec crypto profile has no usable transform")
        return
    q.local_ts = policy.local_selectors()[0]
    q.remote_ts = policy.remote_selectors()[0]
    q.spi_in = ctx.spis.child_spi()
    q.ni = os.urandom(NONCE_SIZE)
    q.lifetime, q.lifesize_kb = policy.lifetime, policy.lifesize_kb
    prop = m.Proposal(1, ProtocolId.ESP, msgid_bytes(q.spi_in), tuple(
        proposals.p2_transform(i + 1, s, policy.lifetime, policy.lifesize_kb)
        for i, s in enumerate(q.offered)))
    rest: list[Payload] = [SaPayload([prop]), NoncePayload(q.ni)]
    if policy.pfs_group:
        q.dh = dh_group(int(policy.pfs_group)).generate()
        rest.append(KePayload(q.dh.public))
    q.id_ci = IdPayload.from_selector(q.local_ts)
    q.id_cr = IdPayload.from_selector(q.remote_ts)
    rest += [q.id_ci, q.id_cr]
    data, q.iv = ctx.encrypt_with_hash(sa, Exchange.QUICK, msgid, q.iv,
                                         lambda b: ctx.hash1(sa, msgid, b), rest)
    q.flight = Flight(data, "quick mode message 1", now + ctx.retransmit.timeout(0))
    sa.quick[msgid] = q
    sa.timers_changed()
    if rekey_of is not None:
        rekey_of.rekeying = True
    kind = "rekey" if rekey_of else "non-rekey"
    ctx.log(sa, f"====> IKE phase-2 negotiation is started as initiator, quick mode, "
                 f"{kind}; tunnel {policy.name}: local proxy ID {q.local_ts.short()}, "
                 f"remote proxy ID {q.remote_ts.short()} <====")
    ctx.send(data, sa.local, sa.remote)


def quick(ctx: Context, sa: Phase1, data: bytes, h: Header, local: Address, remote: Address,
           now: float, digest: bytes) -> None:
    done = sa.done_quick.get(h.message_id)
    if done is not None:
        if done[0] == digest and done[1]:
            flights.answer_again(ctx, sa, done[1])
        ctx.drop("retransmitted quick mode message")
        return
    q = sa.quick.get(h.message_id)
    if q is not None and q.last_rx_digest == digest:
        if q.flight is not None and not q.initiator:
            flights.answer_again(ctx, sa, q.flight.data)
        ctx.drop("retransmitted quick mode message")
        return
    if q is None:
        if h.message_id == 0 or h.message_id in sa.used_msgids:
            ctx.drop("quick mode with a used message ID")
            return
        iv = ctx.p2_iv(sa, h.message_id) if sa.state == P1State.ESTABLISHED else b""
        msg, next_iv = ctx.decrypt_exchange(sa, data, iv)
        sa.last_rx = now
        ctx.follow_peer(sa, local, remote)
        quick_respond(ctx, sa, msg, h.message_id, next_iv, now, digest)
        return
    msg, next_iv = ctx.decrypt_exchange(sa, data, q.iv)
    sa.last_rx = now
    ctx.follow_peer(sa, local, remote)
    q.last_rx_digest = digest
    if q.initiator:
        quick_initiator_2(ctx, sa, q, msg, next_iv, now, digest)
    else:
        quick_responder_3(ctx, sa, q, msg, next_iv, now, digest)


def verify_hash_first(msg: Message, expected: bytes) -> bool:
    if not msg.payloads or not isinstance(msg.payloads[0].payload, HashPayload):
        return False
    return hmac.compare_digest(msg.payloads[0].payload.data, expected)  # constant time


def quick_respond(ctx: Context, sa: Phase1, msg: Message, msgid: int, next_iv: bytes, now: float,
                   digest: bytes) -> None:
    if not verify_hash_first(msg, ctx.hash1(sa, msgid, msg.raw_after_first())):
        ctx.drop("quick mode HASH(1) does not verify")
        return
    sa.used_msgids.add(msgid)
    q = QuickMode(msgid, False, None, next_iv, now, last_rx_digest=digest)
    sai, ni, ke = msg.get(SaPayload), msg.get(NoncePayload), msg.get(KePayload)
    ids = [p for p in msg.all(IdPayload) if isinstance(p, IdPayload)]
    if not (isinstance(sai, SaPayload) and isinstance(ni, NoncePayload)):
        ctx.drop("quick mode message 1 without SA or nonce")
        return
    q.ni = ni.data
    try:
        if len(ids) >= 2:
            q.id_ci, q.id_cr = ids[0], ids[1]
            peer_ts, our_ts = ids[0].to_selector(), ids[1].to_selector()
        else:
            peer_ts = TrafficSelector.from_prefix(f"{sa.remote[0]}/32")
            our_ts = TrafficSelector.from_prefix(f"{sa.local[0]}/32")
    except (ParseError, ValueError) as exc:
        quick_reject(ctx, sa, msgid, NotifyType.INVALID_ID_INFORMATION, f"bad proxy ID: {exc}",
                           now)
        return
    policy, rekey_of = match_proxy(ctx, sa, our_ts, peer_ts, now)
    if policy is None:
        configured = "; ".join(
            f"{c.name}: local {c.local_selectors()[0].short()} remote "
            f"{c.remote_selectors()[0].short()}" for c in ctx.child_candidates(sa.gateway)
        ) or "none"
        quick_reject(ctx,
            sa, msgid, NotifyType.INVALID_ID_INFORMATION,
            f"no matching proxy-id: the peer sent local {peer_ts.short()} remote "
            f"{our_ts.short()} (as seen from the peer), configured proxy-ids: {configured}",
            now)
        return
    q.policy, q.rekey_of = policy, rekey_of
    q.local_ts, q.remote_ts = our_ts, peer_ts
    offers = proposals.p2_offers(sa, policy)
    chosen: tuple[m.Transform, P2Suite, dict[int, int], bytes] | None = None
    theirs: list[str] = []
    for prop in sai.proposals:
        if prop.protocol != ProtocolId.ESP or len(prop.spi) != 4:
            continue
        for t in prop.transforms:
            parsed = proposals.p2_parse_transform(t)
            if parsed is None:
                theirs.append(f"transform {t.transform_id}")
                continue
            s, life = parsed
            theirs.append(s.long())
            if chosen is None and any(proposals.same_p2(s, o) for o in offers):
                chosen = (t, s, life, prop.spi)
    if chosen is None:
        quick_reject(ctx, sa, msgid, NotifyType.NO_PROPOSAL_CHOSEN,
                           f"no proposal chosen for tunnel {policy.name}: the peer proposed "
                           f"[{'; '.join(theirs)}], the IPsec crypto profile allows "
                           f"[{'; '.join(o.long() for o in offers)}]", now)
        return
    t, s, life, spi = chosen
    q.suite = s
    q.spi_out = struct.unpack("!I", spi)[0]
    q.spi_in = ctx.spis.child_spi()
    q.nr = os.urandom(NONCE_SIZE)
    rest: list[Payload] = [SaPayload([m.Proposal(1, ProtocolId.ESP, msgid_bytes(q.spi_in), (t,))]),
                           NoncePayload(q.nr)]
    if s.group:
        if not isinstance(ke, KePayload):
            quick_reject(ctx, sa, msgid, NotifyType.NO_PROPOSAL_CHOSEN,
                               "PFS proposed without a KE payload", now)
            return
        try:
            q.dh = dh_group(s.group).generate()
            q.shared = q.dh.shared(ke.data)
        except (ValueError, alg.UnsupportedAlgorithm) as exc:
            quick_reject(ctx, sa, msgid, NotifyType.INVALID_KEY_INFORMATION,
                               f"bad PFS key exchange: {exc}", now)
            return
        rest.append(KePayload(q.dh.public))
    if q.id_ci is not None and q.id_cr is not None:
        rest += [q.id_ci, q.id_cr]
    peer_life = life.get(LifeType.SECONDS, 28800)
    peer_kb = life.get(LifeType.KILOBYTES)
    q.lifetime = min(peer_life, policy.lifetime)
    q.lifesize_kb = min(x for x in (peer_kb, policy.lifesize_kb) if x) if (
        peer_kb or policy.lifesize_kb) else None
    if policy.lifetime < peer_life or (policy.lifesize_kb and policy.lifesize_kb != peer_kb):
        attrs: list[Attr] = [Attr(P2Attr.LIFE_TYPE, LifeType.SECONDS),
                             Attr(P2Attr.LIFE_DURATION, q.lifetime)]
        if q.lifesize_kb:
            attrs += [Attr(P2Attr.LIFE_TYPE, LifeType.KILOBYTES),
                      Attr(P2Attr.LIFE_DURATION, q.lifesize_kb)]
        rest.append(NotifyPayload(NotifyType.RESPONDER_LIFETIME, ProtocolId.ESP,
                                  msgid_bytes(q.spi_in), b"".join(a.serialize() for a in attrs)))
    assert sa.suite is not None and sa.keys is not None
    prf, ska = sa.suite.prf, sa.keys.skeyid_a
    data, q.iv = ctx.encrypt_with_hash(
        sa, Exchange.QUICK, msgid, q.iv,
        lambda b: km.ikev1_qm_hash2(prf, ska, msgid_bytes(msgid), q.ni, b), rest)
    q.flight = Flight(data, "quick mode message 2", now + ctx.retransmit.timeout(0))
    sa.quick[msgid] = q
    sa.timers_changed()
    ctx.send(data, sa.local, sa.remote)


def match_proxy(ctx: Context, sa: Phase1, ours: TrafficSelector, peers: TrafficSelector,
                 now: float) -> tuple[ChildPolicy | None, Child | None]:
    cands = ctx.child_candidates(sa.gateway)
    exact = [c for c in cands if c.local_selectors()[0] == ours
             and c.remote_selectors()[0] == peers]
    wildcard = [c for c in cands if c.local_ts == (ANY_PREFIX,)
                and c.remote_ts == (ANY_PREFIX,) and not c.ip_proto]
    if not (exact or wildcard):
        return None, None
    pick = (exact or wildcard)[0]
    # an SA the peer renegotiates right after it came up is a collision, not a rekey
    old = next((c for c in ctx.children.values() if c.policy.name == pick.name
                and c.state == ChildState.INSTALLED
                and now - c.created > min(COLLISION_WINDOW, 0.1 * c.lifetime)), None)
    return pick, old


def quick_reject(ctx: Context, sa: Phase1, msgid: int, notify: int, reason: str, now: float) -> None:
    sa.done_quick[msgid] = (b"", b"", now)
    sa.timers_changed()
    ctx.log(sa, f"====> IKE phase-2 negotiation is failed as responder, quick mode. "
                 f"{reason} <====", level="ERROR")
    ctx.emit(ChildFailed(sa.gateway, "", reason))
    ctx.send_info(sa, [NotifyPayload(notify, ProtocolId.ESP, b"")], now)


def quick_initiator_2(ctx: Context, sa: Phase1, q: QuickMode, msg: Message, next_iv: bytes,
                       now: float, digest: bytes) -> None:
    assert sa.suite is not None and sa.keys is not None and q.policy is not None
    prf, ska = sa.suite.prf, sa.keys.skeyid_a
    expected = km.ikev1_qm_hash2(prf, ska, msgid_bytes(q.message_id), q.ni, msg.raw_after_first())
    if not verify_hash_first(msg, expected):
        ctx.drop("quick mode HASH(2) does not verify")
        return
    sar, nr, ke = msg.get(SaPayload), msg.get(NoncePayload), msg.get(KePayload)
    if not (isinstance(sar, SaPayload) and isinstance(nr, NoncePayload)):
        quick_fail(ctx, sa, q, "quick mode message 2 lacks SA or nonce")
        return
    prop = sar.proposals[0]
    parsed = proposals.p2_parse_transform(prop.transforms[0]) if prop.transforms else None
    ours = next((o for o in q.offered if parsed and proposals.same_p2(parsed[0], o)), None)
    if parsed is None or ours is None or len(prop.spi) != 4:
        quick_fail(ctx, sa, q, "the peer chose a transform we did not propose")
        return
    q.suite = ours
    q.spi_out = struct.unpack("!I", prop.spi)[0]
    q.nr = nr.data
    if q.dh is not None:
        if not isinstance(ke, KePayload):
            quick_fail(ctx, sa, q, "PFS is configured but the peer sent no KE payload")
            return
        try:
            q.shared = q.dh.shared(ke.data)
        except ValueError as exc:
            quick_fail(ctx, sa, q, f"bad PFS key exchange: {exc}")
            return
    life = parsed[1]
    for n in msg.all(NotifyPayload):
        if isinstance(n, NotifyPayload) and n.notify_type == NotifyType.RESPONDER_LIFETIME:
            rl = m.lifetimes(m.parse_attrs(n.data), P2Attr.LIFE_TYPE, P2Attr.LIFE_DURATION)
            life = {**life, **rl}
    if life.get(LifeType.SECONDS):
        q.lifetime = min(q.lifetime, life[LifeType.SECONDS])
    if life.get(LifeType.KILOBYTES):
        q.lifesize_kb = min(x for x in (q.lifesize_kb, life[LifeType.KILOBYTES]) if x)
    data, _ = ctx.encrypt_with_hash(
        sa, Exchange.QUICK, q.message_id, next_iv,
        lambda b: km.ikev1_qm_hash3(prf, ska, msgid_bytes(q.message_id), q.ni, q.nr), [])
    # HASH(3) covers no payloads: the lambda ignores ``b`` (empty)
    ctx.send(data, sa.local, sa.remote)
    del sa.quick[q.message_id]
    sa.done_quick[q.message_id] = (digest, data, now)
    sa.timers_changed()
    install(ctx, sa, q, now)


def quick_responder_3(ctx: Context, sa: Phase1, q: QuickMode, msg: Message, next_iv: bytes,
                       now: float, digest: bytes) -> None:
    assert sa.suite is not None and sa.keys is not None
    expected = km.ikev1_qm_hash3(sa.suite.prf, sa.keys.skeyid_a, msgid_bytes(q.message_id),
                                 q.ni, q.nr)
    if not verify_hash_first(msg, expected):
        ctx.drop("quick mode HASH(3) does not verify")
        return
    del sa.quick[q.message_id]
    sa.done_quick[q.message_id] = (digest, b"", now)
    sa.timers_changed()
    install(ctx, sa, q, now)


def quick_fail(ctx: Context, sa: Phase1, q: QuickMode, reason: str) -> None:
    sa.quick.pop(q.message_id, None)
    sa.timers_changed()
    if q.rekey_of is not None:
        q.rekey_of.rekeying = False
    ctx.child_failed(sa, q.policy.name if q.policy else "", reason)


def install(ctx: Context, sa: Phase1, q: QuickMode, now: float) -> None:
    assert sa.suite is not None and sa.keys is not None
    assert q.policy is not None and q.suite is not None
    assert q.local_ts is not None and q.remote_ts is not None
    policy, s = q.policy, q.suite
    enc = alg.encr_alg(s.encr, s.key_bits or None)
    integ = alg.integ_alg(s.integ)
    size = enc.key_size + integ.key_size
    prf, skd = sa.suite.prf, sa.keys.skeyid_d
    k_in = km.ikev1_keymat(prf, skd, ProtocolId.ESP, msgid_bytes(q.spi_in), q.ni, q.nr, size,
                           q.shared)
    k_out = km.ikev1_keymat(prf, skd, ProtocolId.ESP, msgid_bytes(q.spi_out), q.ni, q.nr, size,
                            q.shared)
    jitter = REKEY_JITTER_INITIATOR if q.initiator else REKEY_JITTER_RESPONDER
    ratio = ctx.rng.uniform(*jitter)
    soft = max(1, int(q.lifetime * ratio))
    keys = child_keys.assemble(
        policy, gateway=sa.gateway, child_id=ctx.next_child_id, initiator=q.initiator,
        spi_in=q.spi_in, spi_out=q.spi_out, encr_id=s.encr, encr=enc, integ_id=s.integ,
        keys_in=(k_in[: enc.key_size], k_in[enc.key_size:]),
        keys_out=(k_out[: enc.key_size], k_out[enc.key_size:]),
        local_ts=(q.local_ts,), remote_ts=(q.remote_ts,), local=sa.local, remote=sa.remote,
        encap=sa.nat, lifetime_soft=soft, lifetime_hard=q.lifetime,
        lifesize_kb=q.lifesize_kb, jitter=ratio,
    )
    child = Child(
        child_id=ctx.next_child_id, policy=policy, initiator=q.initiator,
        spi_in=q.spi_in, spi_out=q.spi_out, suite=s, keys=keys, local_ts=q.local_ts,
        remote_ts=q.remote_ts, message_id=q.message_id, parent_sn=sa.sn, remote=sa.remote,
        created=now, rekey_at=now + soft, expires=now + q.lifetime, lifetime=q.lifetime,
        lifesize_kb=q.lifesize_kb, nonce_key=min(q.ni, q.nr),
    )
    ctx.next_child_id += 1
    ctx.children[child.child_id] = child
    old = q.rekey_of
    if old is not None and ctx.children.get(old.child_id) is not old:
        old = None
    # both sides negotiated the same proxy ID at once: both agree to drop the pair whose
    # exchange holds the lowest nonce (as RFC 7296 2.8.1 does for IKEv2 collisions)
    dup = next((c for c in ctx.children.values() if c.policy.name == policy.name
                and c is not child and c is not old and c.state == ChildState.INSTALLED),
               None)
    redundant: Child | None = None
    if dup is not None:
        redundant = child if child.nonce_key < dup.nonce_key else dup
    role = "initiator" if q.initiator else "responder"
    kind = "rekey" if old else "non-rekey"
    ctx.log(sa, f"====> IKE phase-2 negotiation is succeeded as {role}, quick mode, "
                 f"{kind}; tunnel {policy.name}. Established SA: {sa.local[0]}"
                 f"[{sa.local[1]}]-{sa.remote[0]}[{sa.remote[1]}] message id:0x"
                 f"{q.message_id:08X}, SPI:0x{q.spi_in:08X}/0x{q.spi_out:08X} "
                 f"{s.long()}, lifetime {q.lifetime} Sec{kb_words(q.lifesize_kb)} "
                 f"<====")
    replaces = old if old is not None else (dup if redundant is dup else None)
    ctx.emit(ChildInstalled(keys, replaces.spi_in if replaces else None))
    for gone in (old, redundant):
        if gone is not None:
            gone.state = ChildState.REKEYED
            gone.rekeying = False
            gone.delete_at = min(now + REKEY_GRACE, gone.expires)


def kb_words(kb: int | None) -> str:
    return f" lifesize {kb} KB" if kb else ""
