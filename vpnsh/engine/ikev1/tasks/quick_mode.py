"""Quick mode (RFC 2409 5.5): phase 2, one task per exchange (message ID), both roles.

    initiator                                   responder
    1  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr]  -->
                                   <--  2  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]
    3  HDR*, HASH(3)                                -->

Initiator: ``build_i`` makes message 1, ``process_i`` checks message 2, ``build_i``
makes message 3 and the task is done: the phase 2 SA is installed. Responder:
``process_r`` checks message 1 (proxy IDs, a transform), ``build_r`` makes message 2,
``process_r`` checks HASH(3) and installs. Each message carries its own HASH and CBC IV
chain, so the task protects its messages itself (``Outgoing.data``). The task manager
(``ikev1/task_manager.py``) gives the message ID, sends, retransmits and answers
duplicates.
"""

from __future__ import annotations

import os
import struct

from ...crypto import algorithms as alg
from ...crypto import keymat as km
from ...crypto.dh import DhKeyPair
from ...crypto.dh import group as dh_group
from ...ike import child_keys
from ...ike.events import ChildFailed, ChildInstalled
from ...policy import ANY_PREFIX, ChildPolicy, TrafficSelector
from .. import message as m
from .. import proposals
from ..message import (
    Attr,
    Exchange,
    IdPayload,
    KePayload,
    LifeType,
    NoncePayload,
    NotifyPayload,
    NotifyType,
    P2Attr,
    ParseError,
    Payload,
    ProtocolId,
    SaPayload,
)
from ..protection import encrypt_with_hash, hash1, verify_hash_first
from ..sa import (
    NONCE_SIZE,
    REKEY_JITTER_INITIATOR,
    REKEY_JITTER_RESPONDER,
    Child,
    ChildState,
    P2Suite,
    Phase1,
    msgid_bytes,
    p2_suite,
)
from .base import Context, Incoming, Outgoing, Status

REKEY_GRACE = 10.0  # a rekeyed phase 2 SA lives on this long (traffic in flight)
COLLISION_WINDOW = 10.0  # a peer's quick mode this soon after ours is a collision


class QuickMode:
    """One quick mode exchange of ``sa`` with message ID ``message_id``."""

    def __init__(self, ctx: Context, sa: Phase1, message_id: int, initiator: bool, iv: bytes,
                 created: float, policy: ChildPolicy | None = None,
                 rekey_of: Child | None = None) -> None:
        self.ctx = ctx
        self.sa = sa
        self.message_id = message_id
        self.initiator = initiator
        self.iv = iv
        self.created = created
        self.policy = policy
        self.rekey_of = rekey_of
        self.ni = b""
        self.nr = b""
        self.spi_in = 0
        self.spi_out = 0
        self.dh: DhKeyPair | None = None
        self.shared: bytes | None = None
        self.suite: P2Suite | None = None
        self.offered: list[P2Suite] = []
        self.local_ts: TrafficSelector | None = None
        self.remote_ts: TrafficSelector | None = None
        self.id_ci: IdPayload | None = None
        self.id_cr: IdPayload | None = None
        self.lifetime = 0
        self.lifesize_kb: int | None = None
        self.reject: tuple[int, str] | None = None  # responder: (notify, reason) we refuse with
        self._rest: list[Payload] = []  # responder: message 2's payloads after the HASH

    def build(self, out: Outgoing) -> Status:
        return self.build_i(out) if self.initiator else self.build_r(out)

    def process(self, inc: Incoming) -> Status:
        return self.process_i(inc) if self.initiator else self.process_r(inc)

    # --- initiator -------------------------------------------------------------------------
    def build_i(self, out: Outgoing) -> Status:
        sa, ctx, policy, msgid = self.sa, self.ctx, self.policy, self.message_id
        assert policy is not None
        if out.number == 3:
            assert sa.suite is not None and sa.keys is not None
            prf, ska = sa.suite.prf, sa.keys.skeyid_a
            # HASH(3) covers no payloads: the lambda ignores ``b`` (empty)
            out.data, _ = encrypt_with_hash(
                sa, Exchange.QUICK, msgid, self.iv,
                lambda b: km.ikev1_qm_hash3(prf, ska, msgid_bytes(msgid), self.ni, self.nr), [])
            out.retransmit = False
            return Status.DONE
        self.offered = proposals.p2_offers(sa, policy)
        if not self.offered:
            ctx.child_failed(sa, policy.name, "the IPsec crypto profile has no usable transform")
            return Status.FAILED
        self.local_ts = policy.local_selectors()[0]
        self.remote_ts = policy.remote_selectors()[0]
        self.spi_in = ctx.spis.child_spi()
        self.ni = os.urandom(NONCE_SIZE)
        self.lifetime, self.lifesize_kb = policy.lifetime, policy.lifesize_kb
        prop = m.Proposal(1, ProtocolId.ESP, msgid_bytes(self.spi_in), tuple(
            proposals.p2_transform(i + 1, s, policy.lifetime, policy.lifesize_kb)
            for i, s in enumerate(self.offered)))
        rest: list[Payload] = [SaPayload([prop]), NoncePayload(self.ni)]
        if policy.pfs_group:
            self.dh = dh_group(int(policy.pfs_group)).generate()
            rest.append(KePayload(self.dh.public))
        self.id_ci = IdPayload.from_selector(self.local_ts)
        self.id_cr = IdPayload.from_selector(self.remote_ts)
        rest += [self.id_ci, self.id_cr]
        out.data, self.iv = encrypt_with_hash(sa, Exchange.QUICK, msgid, self.iv,
                                              lambda b: hash1(sa, msgid, b), rest)
        if self.rekey_of is not None:
            self.rekey_of.rekeying = True
        kind = "rekey" if self.rekey_of else "non-rekey"
        ctx.log(sa, f"====> IKE phase-2 negotiation is started as initiator, quick mode, "
                    f"{kind}; tunnel {policy.name}: local proxy ID {self.local_ts.short()}, "
                    f"remote proxy ID {self.remote_ts.short()} <====")
        return Status.MORE

    def process_i(self, inc: Incoming) -> Status:
        sa, msg = self.sa, inc.msg
        assert sa.suite is not None and sa.keys is not None and self.policy is not None
        prf, ska = sa.suite.prf, sa.keys.skeyid_a
        expected = km.ikev1_qm_hash2(prf, ska, msgid_bytes(self.message_id), self.ni,
                                     msg.raw_after_first())
        if not verify_hash_first(msg, expected):
            self.ctx.drop("quick mode HASH(2) does not verify")
            return Status.DROPPED
        sar, nr, ke = msg.get(SaPayload), msg.get(NoncePayload), msg.get(KePayload)
        if not (isinstance(sar, SaPayload) and isinstance(nr, NoncePayload)):
            return self.fail("quick mode message 2 lacks SA or nonce")
        prop = sar.proposals[0]
        parsed = proposals.p2_parse_transform(prop.transforms[0]) if prop.transforms else None
        ours = next((o for o in self.offered if parsed and proposals.same_p2(parsed[0], o)),
                    None)
        if parsed is None or ours is None or len(prop.spi) != 4:
            return self.fail("the peer chose a transform we did not propose")
        self.suite = ours
        self.spi_out = struct.unpack("!I", prop.spi)[0]
        self.nr = nr.data
        if self.dh is not None:
            if not isinstance(ke, KePayload):
                return self.fail("PFS is configured but the peer sent no KE payload")
            try:
                self.shared = self.dh.shared(ke.data)
            except ValueError as exc:
                return self.fail(f"bad PFS key exchange: {exc}")
        life = parsed[1]
        for n in msg.all(NotifyPayload):
            if isinstance(n, NotifyPayload) and n.notify_type == NotifyType.RESPONDER_LIFETIME:
                rl = m.lifetimes(m.parse_attrs(n.data), P2Attr.LIFE_TYPE, P2Attr.LIFE_DURATION)
                life = {**life, **rl}
        if life.get(LifeType.SECONDS):
            self.lifetime = min(self.lifetime, life[LifeType.SECONDS])
        if life.get(LifeType.KILOBYTES):
            self.lifesize_kb = min(x for x in (self.lifesize_kb, life[LifeType.KILOBYTES]) if x)
        self.iv = inc.next_iv
        return Status.MORE

    def fail(self, reason: str) -> Status:
        """Our quick mode failed (the manager forgets it)."""
        if self.rekey_of is not None:
            self.rekey_of.rekeying = False
        self.ctx.child_failed(self.sa, self.policy.name if self.policy else "", reason)
        return Status.FAILED

    # --- responder -------------------------------------------------------------------------
    def process_r(self, inc: Incoming) -> Status:
        if inc.number == 3:
            return self._hash3(inc)
        sa, ctx, msg, now = self.sa, self.ctx, inc.msg, inc.now
        sai, ni, ke = msg.get(SaPayload), msg.get(NoncePayload), msg.get(KePayload)
        ids = [p for p in msg.all(IdPayload) if isinstance(p, IdPayload)]
        if not (isinstance(sai, SaPayload) and isinstance(ni, NoncePayload)):
            ctx.drop("quick mode message 1 without SA or nonce")
            return Status.DROPPED
        self.ni = ni.data
        try:
            if len(ids) >= 2:
                self.id_ci, self.id_cr = ids[0], ids[1]
                peer_ts, our_ts = ids[0].to_selector(), ids[1].to_selector()
            else:
                peer_ts = TrafficSelector.from_prefix(f"{sa.remote[0]}/32")
                our_ts = TrafficSelector.from_prefix(f"{sa.local[0]}/32")
        except (ParseError, ValueError) as exc:
            return self._refuse(NotifyType.INVALID_ID_INFORMATION, f"bad proxy ID: {exc}")
        policy, rekey_of = self._match_proxy(our_ts, peer_ts, now)
        if policy is None:
            configured = "; ".join(
                f"{c.name}: local {c.local_selectors()[0].short()} remote "
                f"{c.remote_selectors()[0].short()}" for c in ctx.child_candidates(sa.gateway)
            ) or "none"
            return self._refuse(
                NotifyType.INVALID_ID_INFORMATION,
                f"no matching proxy-id: the peer sent local {peer_ts.short()} remote "
                f"{our_ts.short()} (as seen from the peer), configured proxy-ids: {configured}")
        self.policy, self.rekey_of = policy, rekey_of
        self.local_ts, self.remote_ts = our_ts, peer_ts
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
            return self._refuse(NotifyType.NO_PROPOSAL_CHOSEN,
                                f"no proposal chosen for tunnel {policy.name}: the peer "
                                f"proposed [{'; '.join(theirs)}], the IPsec crypto profile "
                                f"allows [{'; '.join(o.long() for o in offers)}]")
        t, s, life, spi = chosen
        self.suite = s
        self.spi_out = struct.unpack("!I", spi)[0]
        self.spi_in = ctx.spis.child_spi()
        self.nr = os.urandom(NONCE_SIZE)
        rest: list[Payload] = [
            SaPayload([m.Proposal(1, ProtocolId.ESP, msgid_bytes(self.spi_in), (t,))]),
            NoncePayload(self.nr)]
        if s.group:
            if not isinstance(ke, KePayload):
                return self._refuse(NotifyType.NO_PROPOSAL_CHOSEN,
                                    "PFS proposed without a KE payload")
            try:
                self.dh = dh_group(s.group).generate()
                self.shared = self.dh.shared(ke.data)
            except (ValueError, alg.UnsupportedAlgorithm) as exc:
                return self._refuse(NotifyType.INVALID_KEY_INFORMATION,
                                    f"bad PFS key exchange: {exc}")
            rest.append(KePayload(self.dh.public))
        if self.id_ci is not None and self.id_cr is not None:
            rest += [self.id_ci, self.id_cr]
        peer_life = life.get(LifeType.SECONDS, 28800)
        peer_kb = life.get(LifeType.KILOBYTES)
        self.lifetime = min(peer_life, policy.lifetime)
        self.lifesize_kb = min(x for x in (peer_kb, policy.lifesize_kb) if x) if (
            peer_kb or policy.lifesize_kb) else None
        if policy.lifetime < peer_life or (policy.lifesize_kb and policy.lifesize_kb != peer_kb):
            attrs: list[Attr] = [Attr(P2Attr.LIFE_TYPE, LifeType.SECONDS),
                                 Attr(P2Attr.LIFE_DURATION, self.lifetime)]
            if self.lifesize_kb:
                attrs += [Attr(P2Attr.LIFE_TYPE, LifeType.KILOBYTES),
                          Attr(P2Attr.LIFE_DURATION, self.lifesize_kb)]
            rest.append(NotifyPayload(NotifyType.RESPONDER_LIFETIME, ProtocolId.ESP,
                                      msgid_bytes(self.spi_in),
                                      b"".join(a.serialize() for a in attrs)))
        self._rest = rest
        return Status.MORE

    def build_r(self, out: Outgoing) -> Status:
        sa, msgid = self.sa, self.message_id
        assert sa.suite is not None and sa.keys is not None
        prf, ska = sa.suite.prf, sa.keys.skeyid_a
        out.data, self.iv = encrypt_with_hash(
            sa, Exchange.QUICK, msgid, self.iv,
            lambda b: km.ikev1_qm_hash2(prf, ska, msgid_bytes(msgid), self.ni, b), self._rest)
        return Status.MORE

    def _hash3(self, inc: Incoming) -> Status:
        sa = self.sa
        assert sa.suite is not None and sa.keys is not None
        expected = km.ikev1_qm_hash3(sa.suite.prf, sa.keys.skeyid_a,
                                     msgid_bytes(self.message_id), self.ni, self.nr)
        if not verify_hash_first(inc.msg, expected):
            self.ctx.drop("quick mode HASH(3) does not verify")
            return Status.DROPPED
        return Status.DONE

    def _refuse(self, notify: int, reason: str) -> Status:
        """Responder: no phase 2 SA for this request; the manager sends ``notify``."""
        sa = self.sa
        self.reject = (notify, reason)
        self.ctx.log(sa, f"====> IKE phase-2 negotiation is failed as responder, quick mode. "
                         f"{reason} <====", level="ERROR")
        self.ctx.emit(ChildFailed(sa.gateway, "", reason))
        return Status.FAILED

    def _match_proxy(self, ours: TrafficSelector, peers: TrafficSelector, now: float
                     ) -> tuple[ChildPolicy | None, Child | None]:
        ctx, sa = self.ctx, self.sa
        cands = ctx.child_candidates(sa.gateway)
        exact = [c for c in cands if c.local_selectors()[0] == ours
                 and c.remote_selectors()[0] == peers]
        wildcard = [c for c in cands if c.local_ts == (ANY_PREFIX,)
                    and c.remote_ts == (ANY_PREFIX,) and not c.ip_proto]
        if not (exact or wildcard):
            return None, None
        pick = (exact or wildcard)[0]
        # an SA the peer renegotiates right after it came up is a collision, not a rekey
        old = next((c for c in ctx.children_of(pick.gateway) if c.policy.name == pick.name
                    and c.state == ChildState.INSTALLED
                    and now - c.created > min(COLLISION_WINDOW, 0.1 * c.lifetime)), None)
        return pick, old

    # --- both: the phase 2 SA ------------------------------------------------------------
    def install(self, now: float) -> None:
        sa, ctx = self.sa, self.ctx
        assert sa.suite is not None and sa.keys is not None
        assert self.policy is not None and self.suite is not None
        assert self.local_ts is not None and self.remote_ts is not None
        policy, s = self.policy, self.suite
        enc = alg.encr_alg(s.encr, s.key_bits or None)
        integ = alg.integ_alg(s.integ)
        size = enc.key_size + integ.key_size
        prf, skd = sa.suite.prf, sa.keys.skeyid_d
        k_in = km.ikev1_keymat(prf, skd, ProtocolId.ESP, msgid_bytes(self.spi_in), self.ni,
                               self.nr, size, self.shared)
        k_out = km.ikev1_keymat(prf, skd, ProtocolId.ESP, msgid_bytes(self.spi_out), self.ni,
                                self.nr, size, self.shared)
        jitter = REKEY_JITTER_INITIATOR if self.initiator else REKEY_JITTER_RESPONDER
        ratio = ctx.rng.uniform(*jitter)
        soft = max(1, int(self.lifetime * ratio))
        child_id = ctx.new_child_id()
        # the policy's selectors where the negotiated ones equal them: one object for all
        # the SAs of a proxy ID, not two parsed ones each
        local_ts, remote_ts = _shared(policy.local_selectors(), self.local_ts), \
            _shared(policy.remote_selectors(), self.remote_ts)
        keys = child_keys.assemble(
            policy, gateway=sa.gateway, child_id=child_id, initiator=self.initiator,
            spi_in=self.spi_in, spi_out=self.spi_out, encr_id=s.encr, encr=enc,
            integ_id=s.integ,
            keys_in=(k_in[: enc.key_size], k_in[enc.key_size:]),
            keys_out=(k_out[: enc.key_size], k_out[enc.key_size:]),
            local_ts=local_ts, remote_ts=remote_ts, local=sa.local,
            remote=sa.remote, encap=sa.nat, lifetime_soft=soft, lifetime_hard=self.lifetime,
            lifesize_kb=self.lifesize_kb, jitter=ratio,
        )
        child = Child(
            child_id=child_id, policy=policy, initiator=self.initiator,
            spi_in=self.spi_in, spi_out=self.spi_out, suite=p2_suite(s), keys=keys,
            local_ts=local_ts[0], remote_ts=remote_ts[0], message_id=self.message_id,
            parent_sn=sa.sn, remote=sa.remote, created=now, rekey_at=now + soft,
            expires=now + self.lifetime, lifetime=self.lifetime, lifesize_kb=self.lifesize_kb,
            nonce_key=min(self.ni, self.nr),
        )
        ctx.install_child(child)
        old = self.rekey_of
        if old is not None and ctx.children.get(old.child_id) is not old:
            old = None
        # both sides negotiated the same proxy ID at once: both agree to drop the pair whose
        # exchange holds the lowest nonce (as RFC 7296 2.8.1 does for IKEv2 collisions)
        dup = next((c for c in ctx.children_of(child.gateway) if c.policy.name == policy.name
                    and c is not child and c is not old and c.state == ChildState.INSTALLED),
                   None)
        redundant: Child | None = None
        if dup is not None:
            redundant = child if child.nonce_key < dup.nonce_key else dup
        role = "initiator" if self.initiator else "responder"
        kind = "rekey" if old else "non-rekey"
        ctx.log(sa, f"====> IKE phase-2 negotiation is succeeded as {role}, quick mode, "
                    f"{kind}; tunnel {policy.name}. Established SA: {sa.local[0]}"
                    f"[{sa.local[1]}]-{sa.remote[0]}[{sa.remote[1]}] message id:0x"
                    f"{self.message_id:08X}, SPI:0x{self.spi_in:08X}/0x{self.spi_out:08X} "
                    f"{s.long()}, lifetime {self.lifetime} Sec{kb_words(self.lifesize_kb)} "
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


def _shared(policy_ts: tuple[TrafficSelector, ...], ts: TrafficSelector
            ) -> tuple[TrafficSelector, ...]:
    """``(ts,)``: the policy's own tuple when it holds just that selector."""
    return policy_ts if len(policy_ts) == 1 and policy_ts[0] == ts else (ts,)
