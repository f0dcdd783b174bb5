"""How phase 1 proves who we are and checks the peer (RFC 2409 5.1-5.4): one small
interface, :class:`Phase1Auth`, that main and aggressive mode call at fixed points of their
flow, so another method plugs in without touching the flow.

* pre-shared keys (:class:`PskAuth`, auth method 1): SKEYID = prf(PSK, Ni | Nr); the proof
  is a HASH payload carrying HASH_I/HASH_R, compared in constant time;
* RSA signatures (:class:`SigAuth`, auth method 3, a gateway with ``authentication
  certificate``; main mode only): SKEYID = prf(Ni | Nr, g^xy); messages 3/4 carry CERTREQ
  naming the certificate profile's CAs; the proof is CERT (ours, then the intermediates)
  and SIG over HASH_I/HASH_R. The checks (chain to the profile's CAs, CRLs, the peer's ID
  against its certificate and the peer-id, the signature) are ``pki/ikeauth.py``
  :class:`PeerCheck`, as for IKEv2.

:func:`auth_for` picks one from the policy.
"""
from __future__ import annotations

import datetime
import hmac
from typing import Protocol

from ...crypto import keymat as km
from ...pki import certinfo
from ...pki.ikeauth import LocalCredential, PeerCheck
from ...policy import IkePolicy
from ..message import HashPayload, IdPayload, Message, Payload, PayloadType, UnknownPayload
from ..sa import Phase1

PSK = 1  # the authentication-method attribute (RFC 2409 appendix A)
RSA_SIG = 3
CERT_X509_SIGNATURE = 4  # certificate encoding (RFC 2408 3.9)


class Phase1Auth(Protocol):
    method: int  # the authentication-method attribute it negotiates
    hint: str  # what a failed check most likely means, for the log ("pre-shared key mismatch")
    aggressive: bool  # usable in aggressive mode too
    checks_id: bool  # verify matched the peer's ID to the policy itself (else the task does)
    failure: str  # why the last has_proof/verify said no, in plain words ("": ``hint`` says)
    proved: str  # how the peer proved itself in the last verify, for the log ("": nothing)

    def local_id(self, policy: IkePolicy) -> IdPayload:
        """Our ID payload (IDii/IDir)."""
        ...

    def cert_requests(self) -> list[Payload]:
        """What main mode messages 3 and 4 ask of the peer (CERTREQ), maybe nothing."""
        ...

    def skeyid(self, prf: int, ni: bytes, nr: bytes, shared: bytes) -> bytes:
        """SKEYID for the nonces and the DH shared secret."""
        ...

    def proof(self, sa: Phase1, digest: bytes) -> list[Payload]:
        """The payloads that prove us: ``digest`` is our HASH_I (initiator) or HASH_R."""
        ...

    def has_proof(self, msg: Message) -> bool:
        """``msg`` carries the peer's proof (else the message is incomplete)."""
        ...

    def verify(self, sa: Phase1, msg: Message, digest: bytes) -> bool:
        """The peer's proof in ``msg`` is valid for ``digest`` (its HASH_I or HASH_R as
        we compute it); compared in constant time."""
        ...


class PskAuth:
    """Pre-shared keys: the proof is the hash itself."""

    method = PSK
    hint = "pre-shared key mismatch"
    aggressive = True
    checks_id = False
    failure = ""
    proved = ""

    def __init__(self, psk: bytes) -> None:
        self._psk = psk

    def local_id(self, policy: IkePolicy) -> IdPayload:
        p = IdPayload.from_identity(policy.effective_local_id())
        p.protocol, p.port = 17, 500
        return p

    def cert_requests(self) -> list[Payload]:
        return []

    def skeyid(self, prf: int, ni: bytes, nr: bytes, shared: bytes) -> bytes:
        return km.ikev1_skeyid_psk(prf, self._psk, ni, nr)

    def proof(self, sa: Phase1, digest: bytes) -> list[Payload]:
        return [HashPayload(digest)]

    def has_proof(self, msg: Message) -> bool:
        return isinstance(msg.get(HashPayload), HashPayload)

    def verify(self, sa: Phase1, msg: Message, digest: bytes) -> bool:
        hp = msg.get(HashPayload)
        return isinstance(hp, HashPayload) and hmac.compare_digest(hp.data, digest)


class SigAuth:
    """RSA signatures with X.509 certificates (the policy's ``certificate``)."""

    method = RSA_SIG
    hint = "the peer rejected our certificate or signature"
    aggressive = False
    checks_id = True

    def __init__(self, credential: LocalCredential, check: PeerCheck) -> None:
        self._cred = credential
        self._check = check
        self.failure = ""
        self.proved = ""

    def skeyid(self, prf: int, ni: bytes, nr: bytes, shared: bytes) -> bytes:
        return km.ikev1_skeyid_sig(prf, ni, nr, shared)

    def local_id(self, policy: IkePolicy) -> IdPayload:
        return IdPayload(self._cred.id_type, self._cred.id_data, 17, 500)

    def cert_requests(self) -> list[Payload]:
        """CERTREQ (RFC 2408 3.10): X.509 signature encoding and one CA's DER subject Name
        per payload, for each CA of the certificate profile."""
        check = self._check
        return [UnknownPayload(PayloadType.CERT_REQ,
                               bytes((CERT_X509_SIGNATURE,)) + ca.subject.public_bytes())
                for ca in check.profile.anchors(check.store)]

    def proof(self, sa: Phase1, digest: bytes) -> list[Payload]:
        """CERT payloads (ours, then the intermediates) and SIG over HASH_I/HASH_R."""
        certs: list[Payload] = [UnknownPayload(PayloadType.CERT, body)
                                for body in self._cred.cert_payloads()]
        return [*certs, UnknownPayload(PayloadType.SIG, self._cred.sign_ikev1(digest))]

    @staticmethod
    def _raw(msg: Message, kind: int) -> list[bytes]:
        return [p.data for p in msg.all(UnknownPayload)
                if isinstance(p, UnknownPayload) and p.payload_type == kind]

    def has_proof(self, msg: Message) -> bool:
        if self._raw(msg, PayloadType.SIG):
            return True
        self.failure = "the peer's message has no SIG payload (it does not use RSA signatures)"
        return False

    def verify(self, sa: Phase1, msg: Message, digest: bytes) -> bool:
        idp = msg.get(IdPayload)
        sig = self._raw(msg, PayloadType.SIG)
        if not (isinstance(idp, IdPayload) and sig):
            self.failure = "the peer's message lacks ID or SIG"
            return False
        verdict = self._check.check_ikev1(self._raw(msg, PayloadType.CERT), idp.id_type,
                                          idp.data, digest, sig[0],
                                          datetime.datetime.now(datetime.UTC))
        if not verdict.ok:
            self.failure = f"certificate authentication failed: {verdict.reason}"
            return False
        self.proved = (f"peer {verdict.peer_id} authenticated with RSA signature; chain "
                       + " <- ".join(certinfo.dn_text(c.subject) for c in verdict.chain))
        return True


def auth_for(policy: IkePolicy) -> Phase1Auth:
    """The authentication of ``policy``'s phase 1: RSA signatures for a gateway with a
    certificate, else pre-shared keys."""
    cert = policy.certificate
    if cert is not None:
        assert isinstance(cert.credential, LocalCredential)
        assert isinstance(cert.peer_check, PeerCheck)
        return SigAuth(cert.credential, cert.peer_check)
    return PskAuth(policy.psk)
