"""What main mode and aggressive mode share (strongSwan's ``phase1.c``): the base class
:class:`Phase1Task` (one ISAKMP SA's phase 1 exchange, both roles), proposal choice, key
derivation, the ID check, error notifications and INITIAL-CONTACT; and the responder's
half-open limits (:func:`half_open_refusal`), checked before an SA exists.

The exchange's messages are numbered 1..6 (main) or 1..3 (aggressive); ``step`` is the
number of the last one sent or received. The initiator builds the odd messages and
processes the even ones, the responder the other way round. Authentication goes through
:class:`~.auth.Phase1Auth` (``self.auth``), nothing here knows whether it is a pre-shared
key or a signature.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection

from ...crypto import algorithms as alg
from ...crypto import keymat as km
from ...crypto.cipher import BlockCipher
from ...crypto.dh import group as dh_group
from ...policy import IkePolicy
from .. import message as m
from .. import proposals
from ..message import (
    IdPayload,
    NotifyPayload,
    NotifyType,
    ProtocolId,
    SaPayload,
)
from ..sa import NONCE_SIZE, P1State, P1Suite, Phase1, p1_suite
from .auth import Phase1Auth, auth_for
from .base import Context, Incoming, Outgoing, Status
from .informational import error_words

# Half-open limits, as the IKEv2 responder has (it demands cookies from HALF_OPEN_LIMIT
# half-open SAs on: vpnshd --ike-cookie-threshold sets both). IKEv1 has no cookie
# exchange, so from that many half-open responder SAs on it takes only what an attacker
# cannot multiply: main mode (its DH comes after the peer echoed our cookie) from a
# configured static peer's address, at most HALF_OPEN_PER_PEER at a time per address.
# Aggressive mode (a DH for any datagram) and dynamic peers (any address) wait.
HALF_OPEN_LIMIT = 50
HALF_OPEN_PER_PEER = 5  # strongSwan's block_threshold


def half_open_refusal(half: Collection[Phase1], limit: int, policy: IkePolicy,
                      aggressive: bool, remote_ip: str) -> str:
    """Why no new responder SA may be made now, or "" (see HALF_OPEN_LIMIT); ``half``: the
    half-open responder SAs (the engine keeps them apart: no scan of every SA)."""
    if len(half) < limit:
        return ""
    where = f"{len(half)} ISAKMP SAs are half-open (limit {limit})"
    if aggressive:
        return f"aggressive mode is not answered while {where}"
    if policy.peer_addr is None:
        return f"dynamic peers are not answered while {where}"
    if sum(1 for s in half if s.remote[0] == remote_ip) >= HALF_OPEN_PER_PEER:
        return f"{HALF_OPEN_PER_PEER} SAs from this address are half-open and {where}"
    return ""


def describe_p1(s: P1Suite) -> str:
    try:
        return s.long()
    except (alg.UnsupportedAlgorithm, ValueError):
        return f"encr {s.encr}/{s.key_bits} hash {s.hash} group {s.group}"


class Phase1Task:
    """One phase 1 exchange of ``sa`` in one role; subclasses say what each message holds."""

    mode_words = ""
    last = 0  # the number of the exchange's last message

    def __init__(self, ctx: Context, sa: Phase1, initiator: bool) -> None:
        self.ctx = ctx
        self.sa = sa
        self.initiator = initiator
        self.auth: Phase1Auth = auth_for(sa.policy)
        self.step = 0
        self._reply_sa: SaPayload | None = None  # responder: our answer to the offers

    # --- the frame: the role's half, the error notifications, the step ---------------
    def build(self, out: Outgoing) -> Status:
        self.step = out.number
        return self.build_i(out) if self.initiator else self.build_r(out)

    def process(self, inc: Incoming) -> Status:
        # an error notification in a message of the peer's fails phase 1 (not in a first
        # message: a stranger's datagram does not fail anything)
        for n in inc.msg.all(NotifyPayload) if self.step else ():
            assert isinstance(n, NotifyPayload)
            if n.notify_type < 16384:
                self.ctx.fail_p1(self.sa, error_words(n))
                return Status.FAILED
        status = self.process_i(inc) if self.initiator else self.process_r(inc)
        if status in (Status.MORE, Status.DONE):
            self.step = inc.number
        return status

    def build_i(self, out: Outgoing) -> Status:
        raise NotImplementedError

    def build_r(self, out: Outgoing) -> Status:
        raise NotImplementedError

    def process_i(self, inc: Incoming) -> Status:
        raise NotImplementedError

    def process_r(self, inc: Incoming) -> Status:
        raise NotImplementedError

    def unexpected(self) -> Status:
        self.ctx.drop("unexpected phase 1 message")
        return Status.DROPPED

    # --- shared steps -------------------------------------------------------------------
    def sa_payload(self) -> SaPayload | None:
        """Initiator, message 1: our offers (None: the profile has none, phase 1 failed)."""
        sa = self.sa
        if sa.aggressive and not self.auth.aggressive:
            self.ctx.fail_p1(sa, "certificate authentication needs main mode (set protocol "
                                 "ikev1 exchange-mode main)")
            return None
        sa.offered = proposals.p1_offers(sa.policy, sa.aggressive)
        if not sa.offered:
            self.ctx.fail_p1(sa, "the IKE crypto profile has no transform IKEv1 can use "
                                 "(IKEv1 phase 1 needs 3des or aes-*-cbc with a sha or md5 hash)")
            return None
        payload = SaPayload([m.Proposal(1, ProtocolId.ISAKMP, b"", tuple(
            proposals.p1_transform(i + 1, s, self.auth.method)
            for i, s in enumerate(sa.offered)))])
        sa.sai_b = payload.body()
        return payload

    def mode_refused(self) -> bool:
        """Responder, message 1: the gateway is configured for the other mode (failed)."""
        sa, mode = self.sa, self.sa.policy.exchange_mode
        if mode in ("main", "aggressive") and mode != ("aggressive" if sa.aggressive else "main"):
            self.ctx.fail_p1(sa, f"the peer uses {sa.mode_words} but gateway {sa.policy.name} "
                                 f"is configured for {mode} mode",
                             notify=NotifyType.INVALID_EXCHANGE_TYPE)
            return True
        return False

    def choose(self, inc: Incoming) -> SaPayload | None:
        """Responder, message 1: the transform we take of the peer's, as our SA payload
        (None: failed, said)."""
        sa, policy = self.sa, self.sa.policy
        sai = inc.msg.get(SaPayload)
        if not isinstance(sai, SaPayload):
            self.ctx.fail_p1(sa, "the peer's first message has no SA payload",
                             notify=NotifyType.PAYLOAD_MALFORMED)
            return None
        sa.sai_b = sai.body()
        offers = proposals.p1_offers(policy, False)
        chosen: tuple[m.Transform, P1Suite] | None = None
        theirs: list[str] = []
        for prop in sai.proposals:
            if prop.protocol != ProtocolId.ISAKMP:
                continue
            for t in prop.transforms:
                s = proposals.p1_parse_transform(t, self.auth.method)
                if s is None:
                    theirs.append("transform with another authentication method")
                    continue
                theirs.append(describe_p1(s))
                ours = next((o for o in offers if proposals.same_p1(s, o)), None)
                if chosen is None and ours is not None:
                    # AES without a key length is AES-128 (_same_p1): say so in the suite
                    bits = s.key_bits or ours.key_bits or (
                        128 if s.encr == alg.Ikev1Encr.AES_CBC else 0)
                    chosen = (t, dataclasses.replace(s, key_bits=bits))
        if chosen is None:
            self.ctx.fail_p1(sa, "no proposal chosen: the peer proposed "
                                 f"[{'; '.join(theirs) or 'nothing'}], the IKE crypto profile "
                                 f"allows [{'; '.join(describe_p1(o) for o in offers)}]",
                             notify=NotifyType.NO_PROPOSAL_CHOSEN)
            return None
        t, s = chosen
        life = min(s.lifetime or policy.lifetime, policy.lifetime)
        sa.suite = p1_suite(s.encr, s.key_bits, s.hash, s.group, life)
        return SaPayload([m.Proposal(1, ProtocolId.ISAKMP, b"", (t,))])

    def chosen(self, inc: Incoming) -> Status | None:
        """Initiator, message 2: the peer's choice among our offers (None: taken)."""
        sa = self.sa
        assert inc.header is not None
        sa.cky_r = inc.header.cky_r
        sar = inc.msg.get(SaPayload)
        if not isinstance(sar, SaPayload) or not sar.proposals[0].transforms:
            self.ctx.drop("phase 1 answer without SA")
            return Status.DROPPED
        s = proposals.p1_parse_transform(sar.proposals[0].transforms[0], self.auth.method)
        ours = next((o for o in sa.offered if s is not None and proposals.same_p1(s, o)), None)
        if ours is None or s is None:
            self.ctx.fail_p1(sa, "the peer chose a transform we did not propose")
            return Status.FAILED
        life = min(s.lifetime or ours.lifetime, ours.lifetime)
        sa.suite = p1_suite(ours.encr, ours.key_bits, ours.hash, ours.group, life)
        return None

    def derive(self, shared: bytes) -> None:
        sa = self.sa
        s = sa.suite
        assert s is not None
        prf = s.prf
        skeyid = self.auth.skeyid(prf, sa.ni, sa.nr, shared)
        sa.keys = km.ikev1_keys(prf, skeyid, shared, sa.cky_i, sa.cky_r)
        enc = s.encr_alg
        key = km.ikev1_encryption_key(prf, sa.keys.skeyid_e, enc.key_size)
        sa.cipher = BlockCipher(enc, key, streams=False)  # a context per message, none kept
        sa.iv = km.ikev1_phase1_iv(prf, sa.g_xi, sa.g_xr, enc.block_size)

    def derive_initiator(self) -> bool:
        sa = self.sa
        try:
            if sa.dh is None:
                raise ValueError("no key pair")
            shared = sa.dh.shared(sa.g_xr)
        except ValueError as exc:
            self.ctx.fail_p1(sa, f"bad key exchange from the peer: {exc}")
            return False
        self.derive(shared)
        return True

    def dh_respond(self) -> bytes | None:
        """Our key pair and nonce; the shared secret, or None when the peer's value is bad."""
        sa = self.sa
        assert sa.suite is not None
        try:
            sa.dh = dh_group(sa.suite.group).generate()
            shared = sa.dh.shared(sa.g_xi)
        except (ValueError, alg.UnsupportedAlgorithm) as exc:
            self.ctx.fail_p1(sa, f"bad key exchange from the peer: {exc}",
                             notify=NotifyType.INVALID_KEY_INFORMATION)
            return None
        sa.g_xr = sa.dh.public
        sa.nr = os.urandom(NONCE_SIZE)
        return shared

    def new_key_pair(self, group: int) -> None:
        sa = self.sa
        sa.dh = dh_group(group).generate()
        sa.g_xi = sa.dh.public
        sa.ni = os.urandom(NONCE_SIZE)

    def hash_i(self) -> bytes:
        sa = self.sa
        assert sa.suite is not None and sa.keys is not None
        idii = (sa.id_local if sa.initiator else sa.id_remote)
        assert idii is not None
        return km.ikev1_hash_i(sa.suite.prf, sa.keys.skeyid, sa.g_xi, sa.g_xr, sa.cky_i,
                               sa.cky_r, sa.sai_b, idii.body())

    def hash_r(self) -> bytes:
        sa = self.sa
        assert sa.suite is not None and sa.keys is not None
        idir = (sa.id_remote if sa.initiator else sa.id_local)
        assert idir is not None
        return km.ikev1_hash_r(sa.suite.prf, sa.keys.skeyid, sa.g_xi, sa.g_xr, sa.cky_i,
                               sa.cky_r, sa.sai_b, idir.body())

    def check_peer_id(self, idp: IdPayload) -> bool:
        sa = self.sa
        if idp.matches(sa.policy.peer_id):
            return True
        self.ctx.fail_p1(sa, f"peer ID {idp.to_identity()} does not match the configured "
                             f"peer-id {sa.policy.peer_id}",
                         notify=NotifyType.INVALID_ID_INFORMATION)
        return False

    def is_initial_contact(self) -> bool:
        sa = self.sa
        return not any(o is not sa for o in self.ctx.phase1_sas(sa.gateway))

    def initial_contact_in(self, inc: Incoming) -> None:
        sa, ctx = self.sa, self.ctx
        if not any(isinstance(n, NotifyPayload) and n.notify_type == NotifyType.INITIAL_CONTACT
                   for n in inc.msg.all(NotifyPayload)):
            return
        for other in ctx.phase1_sas(sa.gateway):
            if other is not sa and other.remote[0] == sa.remote[0]:
                ctx.remove_p1(other, "peer sent INITIAL-CONTACT")
        for c in ctx.children_of(sa.gateway):
            ctx.remove_child(c, "peer sent INITIAL-CONTACT")

    def failed_state(self) -> bool:
        return self.sa.state == P1State.DEAD
