"""IKEv1 phase 1 (RFC 2409 5): main mode and aggressive mode with pre-shared keys, both roles.

Initiator: :func:`start_p1` sends the first message; responder: :func:`respond_first`
makes the ISAKMP SA for a first message (half-open limits: :func:`half_open_refusal`);
:func:`phase1` routes every later phase 1 message to :func:`phase1_initiator` or
:func:`phase1_responder`, which advance ``sa.step`` (main mode: messages 1-6, aggressive
mode: 1-3), derive SKEYID (:func:`derive`), check the peer's ID and HASH_I/HASH_R in constant
time, and hand the finished SA to the engine (``Context.established``). What phase 1 may
touch of the engine is :class:`Context`, no more.
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import os
from collections.abc import Callable
from typing import Protocol

from ..crypto import algorithms as alg
from ..crypto import keymat as km
from ..crypto.cipher import BlockCipher
from ..crypto.dh import group as dh_group
from ..policy import IkePolicy
from . import certauth, fragments, informational, natd, proposals
from . import message as m
from .message import (
    Exchange,
    HashPayload,
    Header,
    IdPayload,
    KePayload,
    Message,
    NoncePayload,
    NotifyPayload,
    NotifyType,
    ParseError,
    Payload,
    ProtocolId,
    SaPayload,
)
from .sa import NONCE_SIZE, Address, Flight, P1State, P1Suite, Phase1

# Half-open limits, as the IKEv2 responder has (it demands cookies from HALF_OPEN_LIMIT
# half-open SAs on: vpnshd --ike-cookie-threshold sets both). IKEv1 has no cookie
# exchange, so from that many half-open responder SAs on it takes only what an attacker
# cannot multiply: main mode (its DH comes after the peer echoed our cookie) from a
# configured static peer's address, at most HALF_OPEN_PER_PEER at a time per address.
# Aggressive mode (a DH for any datagram) and dynamic peers (any address) wait.
HALF_OPEN_LIMIT = 50
HALF_OPEN_PER_PEER = 5  # strongSwan's block_threshold


class Context(informational.Context, Protocol):
    """What phase 1 may use of the IKEv1 engine (informational's, and these)."""

    sas: dict[bytes, Phase1]
    next_sn: int
    half_open_limit: int

    def established(self, sa: Phase1, now: float) -> None: ...
    def header(self, sa: Phase1, exchange: int, msgid: int = 0) -> Header: ...
    def policy_for_address(self, local_ip: str, remote_ip: str) -> IkePolicy | None: ...
    def log_limited(self, kind: str, text: str, now: float, gateway: str = "",
                    level: str = "ERROR") -> None: ...
    # NAT-T and vendor IDs: engine methods (natd.py does the work), seams for tests
    def _vendor_ids(self, policy: IkePolicy) -> list[Payload]: ...
    def _natd_payloads(self, sa: Phase1) -> list[Payload]: ...
    def _read_natd(self, sa: Phase1, msg: Message) -> None: ...


def derive(ctx: Context, sa: Phase1, shared: bytes) -> None:
    s = sa.suite
    assert s is not None
    prf = s.prf
    skeyid = certauth.skeyid(prf, sa.policy, sa.ni, sa.nr, shared)
    sa.keys = km.ikev1_keys(prf, skeyid, shared, sa.cky_i, sa.cky_r)
    enc = s.encr_alg
    key = km.ikev1_encryption_key(prf, sa.keys.skeyid_e, enc.key_size)
    sa.cipher = BlockCipher(enc, key)
    sa.iv = km.ikev1_phase1_iv(prf, sa.g_xi, sa.g_xr, enc.block_size)


def hash_i(ctx: Context, sa: Phase1) -> bytes:
    assert sa.suite is not None and sa.keys is not None
    idii = (sa.id_local if sa.initiator else sa.id_remote)
    assert idii is not None
    return km.ikev1_hash_i(sa.suite.prf, sa.keys.skeyid, sa.g_xi, sa.g_xr, sa.cky_i,
                           sa.cky_r, sa.sai_b, idii.body())


def hash_r(ctx: Context, sa: Phase1) -> bytes:
    assert sa.suite is not None and sa.keys is not None
    idir = (sa.id_remote if sa.initiator else sa.id_local)
    assert idir is not None
    return km.ikev1_hash_r(sa.suite.prf, sa.keys.skeyid, sa.g_xi, sa.g_xr, sa.cky_i,
                           sa.cky_r, sa.sai_b, idir.body())


def p1_exchange(ctx: Context, sa: Phase1) -> int:
    return Exchange.AGGRESSIVE if sa.aggressive else Exchange.MAIN


def send_plain(ctx: Context, sa: Phase1, payloads: list[Payload], what: str, now: float,
                retransmit: bool) -> None:
    data = m.encode(ctx.header(sa, p1_exchange(ctx, sa)), payloads)
    flight(ctx, sa, data, what, now, retransmit)


def send_p1_encrypted(ctx: Context, sa: Phase1, payloads: list[Payload], what: str, now: float,
                       retransmit: bool) -> None:
    assert sa.cipher is not None
    first, parts = m.encode_payloads(payloads)
    data, sa.iv = m.encrypt_body(ctx.header(sa, p1_exchange(ctx, sa)), first, parts,
                                 sa.cipher, sa.iv)
    flight(ctx, sa, data, what, now, retransmit)


def flight(ctx: Context, sa: Phase1, data: bytes, what: str, now: float, retransmit: bool) -> None:
    sa.flight = Flight(data, what, now + ctx.retransmit.timeout(0) if retransmit else math.inf)
    fragments.prepare(sa, data)  # the engine sends the fragments when it is too big
    ctx.send(data, sa.local, sa.remote)


def local_id(ctx: Context, policy: IkePolicy) -> IdPayload:
    if certauth.uses_certificate(policy):
        return certauth.local_id(policy)
    p = IdPayload.from_identity(policy.effective_local_id())
    p.protocol, p.port = 17, 500
    return p


def start_p1(ctx: Context, policy: IkePolicy, now: float) -> Phase1:
    assert policy.peer_addr is not None
    aggressive = policy.exchange_mode == "aggressive"
    sa = Phase1(
        sn=ctx.next_sn, policy=policy, initiator=True, aggressive=aggressive,
        cky_i=ctx.spis.ike_spi(ctx.sas), cky_r=bytes(8), local=(policy.local_addr, policy.local_port),
        remote=(policy.peer_addr, policy.peer_port), created=now, last_rx=now,
    )
    ctx.next_sn += 1
    ctx.sas[sa.cky_i] = sa
    sa.offered = proposals.p1_offers(policy, aggressive)
    ctx.log(sa, f"====> IKE phase-1 negotiation is started as initiator, "
                 f"{sa.mode_words}. Initiator: {sa.local[0]}[{sa.local[1]}] "
                 f"Responder: {sa.remote[0]}[{sa.remote[1]}]  <====")
    if not sa.offered:
        ctx.fail_p1(sa, "the IKE crypto profile has no transform IKEv1 can use "
                          "(IKEv1 phase 1 needs 3des or aes-*-cbc with a sha or md5 hash)")
        return sa
    if aggressive and certauth.uses_certificate(policy):
        ctx.fail_p1(sa, "certificate authentication needs main mode (set protocol ikev1 "
                          "exchange-mode main)")
        return sa
    sa_payload = SaPayload([m.Proposal(1, ProtocolId.ISAKMP, b"", tuple(
        proposals.p1_transform(i + 1, s, certauth.auth_method(policy))
        for i, s in enumerate(sa.offered)))])
    sa.sai_b = sa_payload.body()
    payloads: list[Payload] = [sa_payload]
    if aggressive:
        g = dh_group(sa.offered[0].group)
        sa.dh = g.generate()
        sa.g_xi = sa.dh.public
        sa.ni = os.urandom(NONCE_SIZE)
        sa.id_local = local_id(ctx, policy)
        payloads += [KePayload(sa.g_xi), NoncePayload(sa.ni), sa.id_local]
    payloads += ctx._vendor_ids(policy)
    sa.step = 1
    send_plain(ctx, sa, payloads, f"{sa.mode_words} message 1", now, True)
    return sa


def respond_first(ctx: Context, data: bytes, h: Header, local: Address, remote: Address,
                   now: float, digest: bytes) -> None:
    if h.message_id != 0:
        ctx.drop("first message with a message ID")
        return
    # the peer first, the payloads after: a stranger's datagram costs no parsing
    policy = ctx.policy_for_address(local[0], remote[0])
    if policy is None:
        ctx.drop("no gateway for peer")
        ctx.log_limited("IKEv1 requests from peers with no configuration",
                         f"IKEv1 {Exchange(h.exchange).name.lower()} mode request from "
                         f"{remote[0]} ignored: no IKEv1 gateway is configured for this peer",
                         now)
        return
    aggressive = h.exchange == Exchange.AGGRESSIVE
    refused = half_open_refusal(ctx, policy, aggressive, remote[0])
    if refused:
        ctx.drop("half-open limit")
        ctx.log_limited("IKEv1 requests refused at the half-open limit",
                         f"IKEv1 {Exchange(h.exchange).name.lower()} mode request from "
                         f"{remote[0]} refused: {refused}", now, gateway=policy.name,
                         level="WARN")
        return
    msg = m.parse_plain(data)
    sa = Phase1(sn=ctx.next_sn, policy=policy, initiator=False, aggressive=aggressive,
                cky_i=h.cky_i, cky_r=ctx.spis.ike_spi(ctx.sas), local=local, remote=remote,
                created=now, last_rx=now)
    sa.last_rx_digest = digest
    ctx.next_sn += 1
    ctx.sas[sa.cky_i] = sa
    ctx.log(sa, f"====> IKE phase-1 negotiation is started as responder, "
                 f"{sa.mode_words}. Initiator: {remote[0]}[{remote[1]}] "
                 f"Responder: {local[0]}[{local[1]}]  <====")
    mode = policy.exchange_mode
    if mode in ("main", "aggressive") and mode != ("aggressive" if aggressive else "main"):
        ctx.fail_p1(sa, f"the peer uses {sa.mode_words} but gateway {policy.name} is "
                          f"configured for {mode} mode",
                      notify=NotifyType.INVALID_EXCHANGE_TYPE)
        return
    sai = msg.get(SaPayload)
    if not isinstance(sai, SaPayload):
        ctx.fail_p1(sa, "the peer's first message has no SA payload",
                      notify=NotifyType.PAYLOAD_MALFORMED)
        return
    natd.read_vendor_ids(sa, msg)
    sa.sai_b = sai.body()
    offers = proposals.p1_offers(policy, False)
    chosen: tuple[m.Transform, P1Suite] | None = None
    theirs: list[str] = []
    for prop in sai.proposals:
        if prop.protocol != ProtocolId.ISAKMP:
            continue
        for t in prop.transforms:
            s = proposals.p1_parse_transform(t, certauth.auth_method(policy))
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
        ctx.fail_p1(sa, "no proposal chosen: the peer proposed "
                          f"[{'; '.join(theirs) or 'nothing'}], the IKE crypto profile "
                          f"allows [{'; '.join(describe_p1(o) for o in offers)}]",
                      notify=NotifyType.NO_PROPOSAL_CHOSEN)
        return
    t, s = chosen
    life = min(s.lifetime or policy.lifetime, policy.lifetime)
    sa.suite = P1Suite(s.encr, s.key_bits, s.hash, s.group, life)
    reply_sa = SaPayload([m.Proposal(1, ProtocolId.ISAKMP, b"", (t,))])
    if not aggressive:
        sa.step = 2
        send_plain(ctx, sa, [reply_sa, *ctx._vendor_ids(policy)],
                         "main mode message 2", now, False)
        return
    # aggressive mode: SA, KE, Ni, IDii in; SA, KE, Nr, IDir, HASH_R out
    ke, ni, idii = msg.get(KePayload), msg.get(NoncePayload), msg.get(IdPayload)
    if not (isinstance(ke, KePayload) and isinstance(ni, NoncePayload)
            and isinstance(idii, IdPayload)):
        ctx.fail_p1(sa, "aggressive mode message 1 lacks KE, nonce or ID",
                      notify=NotifyType.PAYLOAD_MALFORMED)
        return
    if not idii.matches(policy.peer_id):
        ctx.fail_p1(sa, f"peer ID {idii.to_identity()} does not match the configured "
                          f"peer-id {policy.peer_id}", notify=NotifyType.INVALID_ID_INFORMATION)
        return
    sa.id_remote = idii
    sa.g_xi, sa.ni = ke.data, ni.data
    shared = dh_respond(ctx, sa)
    if shared is None:
        return
    sa.id_local = local_id(ctx, policy)
    derive(ctx, sa, shared)
    payloads: list[Payload] = [reply_sa, KePayload(sa.g_xr), NoncePayload(sa.nr),
                               sa.id_local, HashPayload(hash_r(ctx, sa)),
                               *ctx._vendor_ids(policy), *ctx._natd_payloads(sa)]
    sa.step = 2
    send_plain(ctx, sa, payloads, "aggressive mode message 2", now, True)


def half_open_refusal(ctx: Context, policy: IkePolicy, aggressive: bool, remote_ip: str) -> str:
    """Why no new responder SA may be made now, or "" (see HALF_OPEN_LIMIT)."""
    half = [s for s in ctx.sas.values() if not s.initiator and s.state == P1State.CONNECTING]
    if len(half) < ctx.half_open_limit:
        return ""
    where = f"{len(half)} ISAKMP SAs are half-open (limit {ctx.half_open_limit})"
    if aggressive:
        return f"aggressive mode is not answered while {where}"
    if policy.peer_addr is None:
        return f"dynamic peers are not answered while {where}"
    if sum(1 for s in half if s.remote[0] == remote_ip) >= HALF_OPEN_PER_PEER:
        return f"{HALF_OPEN_PER_PEER} SAs from this address are half-open and {where}"
    return ""


def dh_respond(ctx: Context, sa: Phase1) -> bytes | None:
    """Our key pair and nonce; the shared secret, or None when the peer's value is bad."""
    assert sa.suite is not None
    try:
        sa.dh = dh_group(sa.suite.group).generate()
        shared = sa.dh.shared(sa.g_xi)
    except (ValueError, alg.UnsupportedAlgorithm) as exc:
        ctx.fail_p1(sa, f"bad key exchange from the peer: {exc}",
                      notify=NotifyType.INVALID_KEY_INFORMATION)
        return None
    sa.g_xr = sa.dh.public
    sa.nr = os.urandom(NONCE_SIZE)
    return shared


def describe_p1(s: P1Suite) -> str:
    try:
        return s.long()
    except (alg.UnsupportedAlgorithm, ValueError):
        return f"encr {s.encr}/{s.key_bits} hash {s.hash} group {s.group}"


def phase1(ctx: Context, sa: Phase1, data: bytes, h: Header, local: Address, remote: Address,
            now: float, digest: bytes) -> None:
    if sa.state != P1State.CONNECTING:
        ctx.drop("phase 1 message on an established SA")
        return
    if h.encrypted:
        if sa.cipher is None:
            ctx.drop("encrypted message before keys")
            return
        try:
            msg, next_iv = m.decrypt_body(data, sa.cipher, sa.iv)
        except ParseError as exc:
            ctx.log(sa, f"decrypting {sa.mode_words} message {sa.step + 1}: {exc}",
                     level="DEBUG")
            ctx.auth_failed(sa, f"cannot decrypt {sa.mode_words} message {sa.step + 1}",
                              now)
            return
    else:
        msg = m.parse_plain(data)
        next_iv = sa.iv
    sa.last_rx_digest = digest
    sa.last_rx = now
    if sa.initiator:
        if sa.nat or remote[1] == m.NATT_PORT:
            ctx.follow_peer(sa, local, remote)
        phase1_initiator(ctx, sa, msg, h, next_iv, now)
    else:
        ctx.follow_peer(sa, local, remote)
        phase1_responder(ctx, sa, msg, h, next_iv, now)


def phase1_initiator(ctx: Context, sa: Phase1, msg: Message, h: Header, next_iv: bytes,
                      now: float) -> None:
    check_error_notify(ctx, sa, msg)
    if sa.state == P1State.DEAD:
        return
    if sa.step == 1:
        sa.cky_r = h.cky_r
        sar = msg.get(SaPayload)
        if not isinstance(sar, SaPayload) or not sar.proposals[0].transforms:
            ctx.drop("phase 1 answer without SA")
            return
        s = proposals.p1_parse_transform(sar.proposals[0].transforms[0],
                                         certauth.auth_method(sa.policy))
        ours = next((o for o in sa.offered if s is not None and proposals.same_p1(s, o)), None)
        if ours is None or s is None:
            ctx.fail_p1(sa, "the peer chose a transform we did not propose")
            return
        life = min(s.lifetime or ours.lifetime, ours.lifetime)
        sa.suite = P1Suite(ours.encr, ours.key_bits, ours.hash, ours.group, life)
        natd.read_vendor_ids(sa, msg)
        if not sa.aggressive:
            sa.dh = dh_group(sa.suite.group).generate()
            sa.g_xi = sa.dh.public
            sa.ni = os.urandom(NONCE_SIZE)
            sa.step = 3
            send_plain(ctx, sa, [KePayload(sa.g_xi), NoncePayload(sa.ni),
                                  *certauth.certreq_payloads(sa.policy),
                                  *ctx._natd_payloads(sa)], "main mode message 3", now, True)
            return
        # aggressive mode message 2
        ke, nr, idir, hr = (msg.get(KePayload), msg.get(NoncePayload), msg.get(IdPayload),
                            msg.get(HashPayload))
        if not (isinstance(ke, KePayload) and isinstance(nr, NoncePayload)
                and isinstance(idir, IdPayload) and isinstance(hr, HashPayload)):
            ctx.fail_p1(sa, "aggressive mode message 2 lacks KE, nonce, ID or hash")
            return
        sa.g_xr, sa.nr, sa.id_remote = ke.data, nr.data, idir
        if not derive_initiator(ctx, sa):
            return
        if not hmac.compare_digest(hr.data, hash_r(ctx, sa)):
            ctx.fail_p1(sa, "authentication failed: the peer's HASH_R does not verify "
                              "(pre-shared key mismatch)", notify=NotifyType.AUTHENTICATION_FAILED)
            return
        if not check_peer_id(ctx, sa, idir):
            return
        ctx._read_natd(sa, msg)
        maybe_float_initiator(ctx, sa)
        sa.step = 3
        send_plain(ctx, sa, [HashPayload(hash_i(ctx, sa)), *ctx._natd_payloads(sa)],
                         "aggressive mode message 3", now, False)
        ctx.established(sa, now)
        return
    if sa.step == 3 and not sa.aggressive:
        ke, nr = msg.get(KePayload), msg.get(NoncePayload)
        if not (isinstance(ke, KePayload) and isinstance(nr, NoncePayload)):
            ctx.drop("main mode message 4 without KE and nonce")
            return
        sa.g_xr, sa.nr = ke.data, nr.data
        if not derive_initiator(ctx, sa):
            return
        ctx._read_natd(sa, msg)
        maybe_float_initiator(ctx, sa)
        sa.id_local = local_id(ctx, sa.policy)
        payloads: list[Payload] = [sa.id_local, *_our_auth(ctx, sa, hash_i(ctx, sa))]
        if is_initial_contact(ctx, sa):
            payloads.append(NotifyPayload(NotifyType.INITIAL_CONTACT, ProtocolId.ISAKMP,
                                          sa.cky_i + sa.cky_r))
        sa.step = 5
        send_p1_encrypted(ctx, sa, payloads, "main mode message 5", now, True)
        return
    if sa.step == 5 and not sa.aggressive:
        if not _peer_authenticated(ctx, sa, msg, h.encrypted, 6, "HASH_R", hash_r, next_iv, now):
            return
        sa.step = 6
        sa.flight = None
        ctx.established(sa, now)
        return
    ctx.drop("unexpected phase 1 message")


def derive_initiator(ctx: Context, sa: Phase1) -> bool:
    assert sa.dh is not None or sa.aggressive
    try:
        if sa.dh is None:
            raise ValueError("no key pair")
        shared = sa.dh.shared(sa.g_xr)
    except ValueError as exc:
        ctx.fail_p1(sa, f"bad key exchange from the peer: {exc}")
        return False
    derive(ctx, sa, shared)
    return True


def maybe_float_initiator(ctx: Context, sa: Phase1) -> None:
    if sa.nat and sa.remote[1] == 500:
        sa.local = (sa.local[0], m.NATT_PORT)
        sa.remote = (sa.remote[0], m.NATT_PORT)
    if sa.nat_local and sa.policy.keepalive_interval > 0:
        sa.next_keepalive = sa.last_rx + sa.policy.keepalive_interval


def phase1_responder(ctx: Context, sa: Phase1, msg: Message, h: Header, next_iv: bytes,
                      now: float) -> None:
    check_error_notify(ctx, sa, msg)
    if sa.state == P1State.DEAD:
        return
    if sa.step == 2 and not sa.aggressive:
        ke, ni = msg.get(KePayload), msg.get(NoncePayload)
        if not (isinstance(ke, KePayload) and isinstance(ni, NoncePayload)):
            ctx.drop("main mode message 3 without KE and nonce")
            return
        sa.g_xi, sa.ni = ke.data, ni.data
        shared = dh_respond(ctx, sa)
        if shared is None:
            return
        derive(ctx, sa, shared)
        ctx._read_natd(sa, msg)
        sa.step = 4
        send_plain(ctx, sa, [KePayload(sa.g_xr), NoncePayload(sa.nr),
                              *certauth.certreq_payloads(sa.policy),
                              *ctx._natd_payloads(sa)], "main mode message 4", now, False)
        return
    if sa.step == 4 and not sa.aggressive:
        if not _peer_authenticated(ctx, sa, msg, h.encrypted, 5, "HASH_I", hash_i, next_iv, now):
            return
        initial_contact_in(ctx, sa, msg)
        sa.id_local = local_id(ctx, sa.policy)
        sa.step = 6
        send_p1_encrypted(ctx, sa, [sa.id_local, *_our_auth(ctx, sa, hash_r(ctx, sa))],
                                "main mode message 6", now, False)
        ctx.established(sa, now)
        return
    if sa.step == 2 and sa.aggressive:
        hi = msg.get(HashPayload)
        if not isinstance(hi, HashPayload):
            ctx.drop("aggressive mode message 3 without hash")
            return
        if not hmac.compare_digest(hi.data, hash_i(ctx, sa)):
            ctx.fail_p1(sa, "authentication failed: the peer's HASH_I does not verify "
                              "(pre-shared key mismatch)", notify=NotifyType.AUTHENTICATION_FAILED)
            return
        if h.encrypted:
            sa.iv = next_iv
        ctx._read_natd(sa, msg)
        initial_contact_in(ctx, sa, msg)
        sa.step = 3
        sa.flight = None
        ctx.established(sa, now)
        return
    ctx.drop("unexpected phase 1 message")


def _peer_authenticated(ctx: Context, sa: Phase1, msg: Message, encrypted: bool, number: int,
                        what: str, expected: Callable[[Context, Phase1], bytes], next_iv: bytes,
                        now: float) -> bool:
    """Main mode message 5 (responder) or 6 (initiator): the peer's ID and HASH_I/HASH_R,
    compared in constant time; the IV moves on and the ID is checked. False: failed (said)."""
    if not encrypted:
        ctx.drop(f"plain main mode message {number}")
        return False
    idp, hp = msg.get(IdPayload), msg.get(HashPayload)
    if isinstance(idp, IdPayload) and certauth.uses_certificate(sa.policy):  # RSA signatures
        sa.id_remote = idp
        why = certauth.check_peer(sa.policy, msg, idp, lambda: expected(ctx, sa),
                                  lambda text: ctx.log(sa, text))
        if why is not None:
            ctx.fail_p1(sa, why, notify=NotifyType.AUTHENTICATION_FAILED)
            return False
        sa.iv = next_iv
        return True
    if not (isinstance(idp, IdPayload) and isinstance(hp, HashPayload)):
        ctx.auth_failed(sa, f"main mode message {number} lacks ID or hash", now)
        return False
    sa.id_remote = idp
    if not hmac.compare_digest(hp.data, expected(ctx, sa)):
        ctx.auth_failed(sa, f"the peer's {what} does not verify", now)
        return False
    sa.iv = next_iv
    return check_peer_id(ctx, sa, idp)


def _our_auth(ctx: Context, sa: Phase1, hash_value: bytes) -> list[Payload]:
    """HASH_I/HASH_R, or with a certificate CERT payloads and SIG over it."""
    if not certauth.uses_certificate(sa.policy):
        return [HashPayload(hash_value)]
    return certauth.auth_payloads(sa.policy, hash_value)


def check_peer_id(ctx: Context, sa: Phase1, idp: IdPayload) -> bool:
    if idp.matches(sa.policy.peer_id):
        return True
    ctx.fail_p1(sa, f"peer ID {idp.to_identity()} does not match the configured "
                      f"peer-id {sa.policy.peer_id}", notify=NotifyType.INVALID_ID_INFORMATION)
    return False


def check_error_notify(ctx: Context, sa: Phase1, msg: Message) -> None:
    for n in msg.all(NotifyPayload):
        assert isinstance(n, NotifyPayload)
        if n.notify_type < 16384:
            ctx.fail_p1(sa, informational.error_words(n))
            return


def is_initial_contact(ctx: Context, sa: Phase1) -> bool:
    return not any(o is not sa and o.gateway == sa.gateway for o in ctx.sas.values())


def initial_contact_in(ctx: Context, sa: Phase1, msg: Message) -> None:
    if not any(isinstance(n, NotifyPayload) and n.notify_type == NotifyType.INITIAL_CONTACT
               for n in msg.all(NotifyPayload)):
        return
    for other in list(ctx.sas.values()):
        if other is not sa and other.gateway == sa.gateway and other.remote[0] == sa.remote[0]:
            ctx.remove_p1(other, "peer sent INITIAL-CONTACT")
    for c in list(ctx.children.values()):
        if c.gateway == sa.gateway:
            ctx.remove_child(c, "peer sent INITIAL-CONTACT")
