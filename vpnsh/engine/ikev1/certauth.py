"""IKEv1 main mode with RSA signatures (RFC 2409 5.1, auth method 3): the hooks phase 1
calls for a gateway with ``authentication certificate``. The checks themselves (chain to the
profile's CAs, CRLs, ID against the certificate, SIG over HASH_I/HASH_R) are
:class:`vpnsh.engine.pki.ikeauth.PeerCheck`, as for IKEv2.

* the proposal's Authentication Method attribute is 3 instead of 1 (:func:`auth_method`);
* SKEYID = prf(Ni_b | Nr_b, g^xy) (:func:`skeyid`);
* messages 3/4 carry a CERTREQ naming the profile's CAs (:func:`certreq_payloads`);
* messages 5/6 carry ID, CERT (ours, then the intermediates) and SIG in place of HASH
  (:func:`auth_payloads`), checked with :func:`check_peer`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from ..crypto import keymat as km
from ..pki import certinfo
from ..pki.ikeauth import LocalCredential, PeerCheck
from ..pki.ikesig import SignatureError
from ..policy import IkePolicy
from . import message as m

AUTH_RSA_SIG = 3  # RFC 2409 appendix A, Authentication Method


def uses_certificate(policy: IkePolicy) -> bool:
    return policy.certificate is not None


def auth_method(policy: IkePolicy) -> int:
    return AUTH_RSA_SIG if uses_certificate(policy) else m.AUTH_PSK


def _cred(policy: IkePolicy) -> LocalCredential:
    assert policy.certificate is not None
    cred = policy.certificate.credential
    assert isinstance(cred, LocalCredential)
    return cred


def _check(policy: IkePolicy) -> PeerCheck:
    assert policy.certificate is not None
    check = policy.certificate.peer_check
    assert isinstance(check, PeerCheck)
    return check


def skeyid(prf: int, policy: IkePolicy, ni: bytes, nr: bytes, shared: bytes) -> bytes:
    if uses_certificate(policy):
        return km.ikev1_skeyid_sig(prf, ni, nr, shared)
    return km.ikev1_skeyid_psk(prf, policy.psk, ni, nr)


def certreq_payloads(policy: IkePolicy) -> list[m.Payload]:
    """CERTREQ (RFC 2408 3.10): X.509 signature encoding (4) and one CA's DER subject Name
    per payload, for each CA of the certificate profile."""
    if not uses_certificate(policy):
        return []
    check = _check(policy)
    return [m.UnknownPayload(m.PayloadType.CERT_REQ, bytes((4,)) + ca.subject.public_bytes())
            for ca in check.profile.anchors(check.store)]


def local_id(policy: IkePolicy) -> m.IdPayload:
    cred = _cred(policy)
    return m.IdPayload(cred.id_type, cred.id_data, 17, 500)


def auth_payloads(policy: IkePolicy, hash_value: bytes) -> list[m.Payload]:
    """CERT payloads and SIG over HASH_I/HASH_R. SignatureError (words) for a non-RSA key."""
    cred = _cred(policy)
    certs: list[m.Payload] = [m.UnknownPayload(m.PayloadType.CERT, body)
                              for body in cred.cert_payloads()]
    return [*certs, m.UnknownPayload(m.PayloadType.SIG, cred.sign_ikev1(hash_value))]


def check_peer(policy: IkePolicy, msg: m.Message, idp: m.IdPayload,
               expected: Callable[[], bytes], log: Callable[[str], Any]) -> str | None:
    """The peer's message 5 or 6: None if its certificate, ID and SIG prove it, else why
    not in plain words."""
    raw = [p for p in msg.all(m.UnknownPayload) if isinstance(p, m.UnknownPayload)]
    certs = [p.data for p in raw if p.payload_type == m.PayloadType.CERT]
    sig = next((p.data for p in raw if p.payload_type == m.PayloadType.SIG), None)
    if sig is None:
        return "the peer's message has no SIG payload (it does not use RSA signatures)"
    verdict = _check(policy).check_ikev1(certs, idp.id_type, idp.data, expected(), sig,
                                         datetime.datetime.now(datetime.UTC))
    if not verdict.ok:
        return f"certificate authentication failed: {verdict.reason}"
    log(f"peer {verdict.peer_id} authenticated with RSA signature; chain "
        + " <- ".join(certinfo.dn_text(c.subject) for c in verdict.chain))
    return None


__all__ = ["SignatureError", "auth_method", "auth_payloads", "certreq_payloads", "check_peer",
           "local_id", "skeyid", "uses_certificate"]
