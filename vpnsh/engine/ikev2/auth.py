"""IKE_AUTH authentication hooks for both roles: pre-shared keys (RFC 7296 2.15) and
certificates (RFC 7296 3.6-3.8, RFC 7427 digital signatures), plus the IKE_SA_INIT notifies
that go with them (SIGNATURE_HASH_ALGORITHMS, IKEV2_FRAGMENTATION_SUPPORTED, CERTREQ).

The IKE_SA_INIT and IKE_AUTH tasks call these functions at a few call sites; everything
about certificates is here and in :mod:`vpnsh.engine.pki` (the store, chain validation,
signature formats), so the tasks themselves stay about the exchange.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from ..crypto.keymat import psk_auth
from ..crypto.prf import prf
from ..pki import certinfo, ikesig
from ..pki.ikeauth import LocalCredential, PeerCheck
from ..policy import IkePolicy
from . import identity
from .constants import AuthMethod, NotifyType, PayloadType
from .message import Message
from .payloads import AuthPayload, IdPayload, NotifyPayload, Payload, UnknownPayload

if TYPE_CHECKING:
    from .sa import IkeSa

N_FRAGMENTATION_SUPPORTED = 16430  # RFC 7383 2.3


def wall_clock() -> datetime.datetime:
    """Certificates are valid between wall-clock dates (the engine's clock is monotonic)."""
    return datetime.datetime.now(datetime.UTC)


def _credential(policy: IkePolicy) -> LocalCredential:
    assert policy.certificate is not None
    cred = policy.certificate.credential
    assert isinstance(cred, LocalCredential)
    return cred


def _peer_check(policy: IkePolicy) -> PeerCheck:
    assert policy.certificate is not None
    check = policy.certificate.peer_check
    assert isinstance(check, PeerCheck)
    return check


# --- IKE_SA_INIT ---------------------------------------------------------------------


def init_notifies(policy: IkePolicy) -> list[Payload]:
    """What our IKE_SA_INIT (request or response) announces for this gateway."""
    out: list[Payload] = []
    if policy.fragmentation:
        out.append(NotifyPayload(N_FRAGMENTATION_SUPPORTED))
    if policy.certificate is not None:
        out.append(NotifyPayload(NotifyType.SIGNATURE_HASH_ALGORITHMS,
                                 ikesig.signature_hash_algorithms()))
    return out


def init_response_payloads(policy: IkePolicy) -> list[Payload]:
    """The responder's IKE_SA_INIT extras: the notifies and a CERTREQ naming our CAs."""
    return certreq_payloads(policy) + init_notifies(policy)


def note_peer_init(sa: IkeSa, msg: Message) -> None:
    """Remember what the peer's IKE_SA_INIT announced: its signature hashes (None: it sent
    none, so no RFC 7427 AUTH) and fragmentation (used when both sides enabled it)."""
    hashes = msg.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS)
    sa.peer_hashes = None if hashes is None else \
        tuple(ikesig.parse_signature_hash_algorithms(hashes.data))
    sa.fragmentation = sa.policy.fragmentation and \
        msg.notify(N_FRAGMENTATION_SUPPORTED) is not None


# --- IKE_AUTH: what we send ----------------------------------------------------------


def certreq_payloads(policy: IkePolicy) -> list[Payload]:
    if policy.certificate is None:
        return []
    return [UnknownPayload(PayloadType.CERTREQ, _peer_check(policy).certreq())]


def local_id_payload(policy: IkePolicy, initiator: bool) -> IdPayload:
    if policy.certificate is not None:
        cred = _credential(policy)
        return IdPayload(initiator, cred.id_type, cred.id_data)
    return identity.to_payload(policy.effective_local_id(), initiator)


def signed_octets(sa: IkeSa, of_initiator: bool, id_payload: IdPayload) -> bytes:
    """RFC 7296 2.15: the initiator signs RealMessage1 | NonceRData | prf(SK_pi, IDi'), the
    responder RealMessage2 | NonceIData | prf(SK_pr, IDr')."""
    assert sa.suite is not None and sa.keys is not None
    if of_initiator:
        return sa.init_request + sa.nr + prf(sa.suite.prf, sa.keys.sk_pi, id_payload.body())
    return sa.init_response + sa.ni + prf(sa.suite.prf, sa.keys.sk_pr, id_payload.body())


def auth_payloads(sa: IkeSa, id_payload: IdPayload, of_initiator: bool) -> list[Payload]:
    """CERT payloads (ours, then the intermediates) and AUTH, or AUTH with the PSK.
    Raises ikesig.SignatureError (plain words) when we cannot sign for this peer."""
    policy = sa.policy
    octets = signed_octets(sa, of_initiator, id_payload)
    if policy.certificate is None:
        assert sa.suite is not None
        return [AuthPayload(AuthMethod.SHARED_KEY_MIC, psk_auth(sa.suite.prf, policy.psk, octets))]
    cred = _credential(policy)
    certs: list[Payload] = [UnknownPayload(PayloadType.CERT, b) for b in cred.cert_payloads()]
    auth = AuthPayload.parse_body(cred.auth_payload(octets, sa.peer_hashes))
    sa.auth_text = cred.auth_label
    return [*certs, auth]


# --- IKE_AUTH: checking the peer ------------------------------------------------------


def check_peer(ctx: Any, sa: IkeSa, msg: Message, id_payload: IdPayload,
               of_initiator: bool) -> str | None:
    """Certificate authentication of the peer's IKE_AUTH message: None if it proves the
    peer, else why not in plain words (untrusted CA, expired, revoked, ID mismatch naming
    both IDs, no usable signature algorithm...)."""
    policy = sa.policy
    auth = msg.get(AuthPayload)
    if auth is None:
        return "the peer's IKE_AUTH has no AUTH payload"
    if auth.method == AuthMethod.SHARED_KEY_MIC:
        return (f"authentication method mismatch: the peer used a pre-shared key, gateway "
                f"{policy.name} expects a certificate")
    certs = [p.data for p in msg.payloads
             if isinstance(p, UnknownPayload) and p.payload_type == PayloadType.CERT]
    verdict = _peer_check(policy).check(certs, id_payload.id_type, id_payload.data,
                                        auth.body(), signed_octets(sa, of_initiator, id_payload),
                                        wall_clock())
    if not verdict.ok:
        return f"certificate authentication failed: {verdict.reason}"
    assert verdict.peer_cert is not None
    sa.peer_auth_text = certinfo.key_type(verdict.peer_cert.public_key()).split()[0] + " signature"
    sa.peer_auth_scheme = f"AUTH method {auth.method}, {verdict.scheme}"
    sa.peer_id_text = verdict.peer_id
    chain = " <- ".join(certinfo.dn_text(c.subject) for c in verdict.chain)
    ctx.log(sa, f"peer {verdict.peer_id} authenticated with {sa.peer_auth_text} "
                f"({sa.peer_auth_scheme}); chain {chain}")
    for warning in verdict.warnings:
        ctx.log(sa, f"certificate check: {warning}", level="WARNING")
    return None
