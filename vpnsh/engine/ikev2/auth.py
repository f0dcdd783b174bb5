"""IKEv2 authentication (RFC 7296 2.15): the one place that makes and checks AUTH.

``tasks/ike_auth.py`` asks :func:`authenticator_for` for the gateway's authenticator and
calls it the same way in both roles: :meth:`Authenticator.payloads` for what proves who
we are (the AUTH payload; a certificate authenticator adds its CERT payloads),
:meth:`Authenticator.verify` for the peer's proof. The octets both sides sign are
:func:`signed_octets`.

* a pre-shared key is :class:`PskAuthenticator` (compared in constant time);
* a gateway with ``authentication certificate`` is :class:`CertAuthenticator` (RFC 7296
  3.6-3.8, RFC 7427 digital signatures): our ID from the certificate, CERTREQ naming the
  profile's CAs (responder's IKE_SA_INIT, initiator's IKE_AUTH), SIGNATURE_HASH_ALGORITHMS
  in IKE_SA_INIT, CERT payloads (ours, then the intermediates) with AUTH. ``pki/ikeauth.py``
  ``LocalCredential`` signs and ``PeerCheck`` checks the chain, CRLs, the peer's ID against
  its certificate and the peer-id, and the signature.
"""

from __future__ import annotations

import datetime
import hmac
from typing import Protocol

from ..crypto import keymat
from ..pki import certinfo, ikesig
from ..pki.ikeauth import LocalCredential, PeerCheck
from ..policy import IkePolicy
from . import identity
from .constants import AuthMethod, NotifyType, PayloadType
from .message import Message
from .payloads import AuthPayload, IdPayload, NotifyPayload, Payload, UnknownPayload
from .sa import IkeSa


class CannotProve(Exception):
    """We cannot make our proof for this peer (in plain words: no signature algorithm it
    accepts for our key...)."""


def signed_octets(sa: IkeSa, of_initiator: bool, id_payload: IdPayload) -> bytes:
    """What a side signs: its IKE_SA_INIT message as sent, the peer's nonce and
    prf(SK_px, IDx') (IDx': the ID payload body). The initiator's with SK_pi, the
    responder's with SK_pr."""
    assert sa.suite is not None and sa.keys is not None
    if of_initiator:
        return keymat.signed_octets(sa.suite.prf, sa.init_request, sa.nr, sa.keys.sk_pi,
                                    id_payload.body())
    return keymat.signed_octets(sa.suite.prf, sa.init_response, sa.ni, sa.keys.sk_pr,
                                id_payload.body())


def note_peer_init(sa: IkeSa, msg: Message) -> None:
    """The peer's IKE_SA_INIT: the signature hashes it accepts (None: it sent none, so no
    RFC 7427 AUTH to it)."""
    hashes = msg.notify(NotifyType.SIGNATURE_HASH_ALGORITHMS)
    sa.peer_hashes = None if hashes is None else \
        tuple(ikesig.parse_signature_hash_algorithms(hashes.data))


class Authenticator(Protocol):
    """How one gateway proves itself and checks its peer in IKE_AUTH."""

    # verify matches the peer's ID to the gateway's peer-id itself (a certificate: against
    # its subject/subjectAltName, wildcards allowed); the task neither checks the ID nor
    # sends the peer-id as IDr
    matches_peer_id: bool
    # what the last verify has to tell the log besides its verdict: (level, text)
    said: list[tuple[str, str]]

    def init_notifies(self) -> list[Payload]:
        """What our IKE_SA_INIT (request or response) announces for this method."""
        ...

    def certreq(self) -> list[Payload]:
        """CERTREQ for the peer (responder's IKE_SA_INIT, initiator's IKE_AUTH), maybe none."""
        ...

    def id_payload(self, policy: IkePolicy, initiator: bool) -> IdPayload:
        """Our IDi (``initiator``) or IDr (a certificate's subject or subjectAltName
        where the authenticator has one)."""
        ...

    def payloads(self, sa: IkeSa, id_payload: IdPayload, of_initiator: bool) -> list[Payload]:
        """Our proof for ``id_payload`` (AUTH, and CERT payloads where they go); raises
        :class:`CannotProve`."""
        ...

    def verify(self, sa: IkeSa, msg: Message, id_payload: IdPayload,
               of_initiator: bool) -> str | None:
        """The peer's proof in ``msg`` for its ``id_payload``: None when it holds, else
        why not in words for the log (``pre-shared key mismatch``, ...)."""
        ...


class PskAuthenticator:
    """A pre-shared key: AUTH = prf(prf(psk, "Key Pad for IKEv2"), signed octets)."""

    matches_peer_id = False

    def __init__(self, psk: bytes) -> None:
        self.psk = psk
        self.said: list[tuple[str, str]] = []

    def init_notifies(self) -> list[Payload]:
        return []

    def certreq(self) -> list[Payload]:
        return []

    def id_payload(self, policy: IkePolicy, initiator: bool) -> IdPayload:
        return identity.to_payload(policy.effective_local_id(), initiator)

    def _auth(self, sa: IkeSa, id_payload: IdPayload, of_initiator: bool) -> bytes:
        assert sa.suite is not None
        return keymat.psk_auth(sa.suite.prf, self.psk,
                               signed_octets(sa, of_initiator, id_payload))

    def payloads(self, sa: IkeSa, id_payload: IdPayload, of_initiator: bool) -> list[Payload]:
        return [AuthPayload(AuthMethod.SHARED_KEY_MIC, self._auth(sa, id_payload, of_initiator))]

    def verify(self, sa: IkeSa, msg: Message, id_payload: IdPayload,
               of_initiator: bool) -> str | None:
        auth = msg.get(AuthPayload)
        if auth is None:
            return "no AUTH payload"
        expected = self._auth(sa, id_payload, of_initiator)
        if auth.method != AuthMethod.SHARED_KEY_MIC or not hmac.compare_digest(expected, auth.data):
            return "pre-shared key mismatch"
        return None


def wall_clock() -> datetime.datetime:
    """Certificates are valid between wall-clock dates (the engine's clock is monotonic)."""
    return datetime.datetime.now(datetime.UTC)


class CertAuthenticator:
    """X.509 certificates: RSA/ECDSA signatures (AUTH method 1, 9-11, or 14 with RFC 7427
    when the peer announced its hashes)."""

    matches_peer_id = True

    def __init__(self, policy: IkePolicy, credential: LocalCredential, check: PeerCheck) -> None:
        self.name = policy.name
        self.cred = credential
        self.check = check
        self.said: list[tuple[str, str]] = []

    def init_notifies(self) -> list[Payload]:
        return [NotifyPayload(NotifyType.SIGNATURE_HASH_ALGORITHMS,
                              ikesig.signature_hash_algorithms())]

    def certreq(self) -> list[Payload]:
        return [UnknownPayload(PayloadType.CERTREQ, self.check.certreq())]

    def id_payload(self, policy: IkePolicy, initiator: bool) -> IdPayload:
        return IdPayload(initiator, self.cred.id_type, self.cred.id_data)

    def payloads(self, sa: IkeSa, id_payload: IdPayload, of_initiator: bool) -> list[Payload]:
        octets = signed_octets(sa, of_initiator, id_payload)
        try:
            auth = AuthPayload.parse_body(self.cred.auth_payload(octets, sa.peer_hashes))
        except ikesig.SignatureError as exc:
            raise CannotProve(str(exc)) from exc
        certs: list[Payload] = [UnknownPayload(PayloadType.CERT, b)
                                for b in self.cred.cert_payloads()]
        sa.auth_text = self.cred.auth_label
        return [*certs, auth]

    def verify(self, sa: IkeSa, msg: Message, id_payload: IdPayload,
               of_initiator: bool) -> str | None:
        """None if the peer's certificate chain, ID and AUTH prove it, else why not in
        plain words (untrusted CA, expired, revoked, ID mismatch naming both IDs, no usable
        signature algorithm...)."""
        self.said = []
        auth = msg.get(AuthPayload)
        if auth is None:
            return "the peer's IKE_AUTH has no AUTH payload"
        if auth.method == AuthMethod.SHARED_KEY_MIC:
            return (f"authentication method mismatch: the peer used a pre-shared key, gateway "
                    f"{self.name} expects a certificate")
        certs = [p.data for p in msg.payloads
                 if isinstance(p, UnknownPayload) and p.payload_type == PayloadType.CERT]
        verdict = self.check.check(certs, id_payload.id_type, id_payload.data, auth.body(),
                                   signed_octets(sa, of_initiator, id_payload), wall_clock())
        if not verdict.ok:
            return f"certificate authentication failed: {verdict.reason}"
        assert verdict.peer_cert is not None
        sa.peer_auth_text = (certinfo.key_type(verdict.peer_cert.public_key()).split()[0]
                             + " signature")
        sa.peer_auth_scheme = f"AUTH method {auth.method}, {verdict.scheme}"
        sa.peer_id_text = verdict.peer_id
        chain = " <- ".join(certinfo.dn_text(c.subject) for c in verdict.chain)
        self.said = [("INFO", f"peer {verdict.peer_id} authenticated with {sa.peer_auth_text} "
                              f"({sa.peer_auth_scheme}); chain {chain}")]
        self.said += [("WARNING", f"certificate check: {w}") for w in verdict.warnings]
        return None


def authenticator_for(policy: IkePolicy) -> Authenticator:
    """The gateway's way to authenticate: its certificate, else its pre-shared key."""
    cert = policy.certificate
    if cert is not None:
        assert isinstance(cert.credential, LocalCredential)
        assert isinstance(cert.peer_check, PeerCheck)
        return CertAuthenticator(policy, cert.credential, cert.peer_check)
    return PskAuthenticator(policy.psk)
