"""IKEv2 authentication (RFC 7296 2.15): the one place that makes and checks AUTH.

``tasks/ike_auth.py`` asks :func:`authenticator_for` for the gateway's authenticator and
calls it the same way in both roles: :meth:`Authenticator.payloads` for what proves who
we are (the AUTH payload; a certificate authenticator adds its CERT payloads),
:meth:`Authenticator.verify` for the peer's proof. The octets both sides sign are
:func:`signed_octets`. A pre-shared key is :class:`PskAuthenticator` (compared in
constant time); RSA/ECDSA signatures plug in here (``pki/ikeauth.py`` ``LocalCredential``
signs, ``PeerCheck`` verifies) without changing the task.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from ..crypto import keymat
from ..policy import IkePolicy
from . import identity
from .constants import AuthMethod
from .message import Message
from .payloads import AuthPayload, IdPayload, Payload
from .sa import IkeSa


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


class Authenticator(Protocol):
    """How one gateway proves itself and checks its peer in IKE_AUTH."""

    def id_payload(self, policy: IkePolicy, initiator: bool) -> IdPayload:
        """Our IDi (``initiator``) or IDr (a certificate's subject or subjectAltName
        where the authenticator has one)."""
        ...

    def payloads(self, sa: IkeSa, id_payload: IdPayload, of_initiator: bool) -> list[Payload]:
        """Our proof for ``id_payload`` (AUTH, and CERT payloads where they go)."""
        ...

    def verify(self, sa: IkeSa, msg: Message, id_payload: IdPayload,
               of_initiator: bool) -> str | None:
        """The peer's proof in ``msg`` for its ``id_payload``: None when it holds, else
        why not in words for the log (``pre-shared key mismatch``, ...)."""
        ...


class PskAuthenticator:
    """A pre-shared key: AUTH = prf(prf(psk, "Key Pad for IKEv2"), signed octets)."""

    def __init__(self, psk: bytes) -> None:
        self.psk = psk

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


def authenticator_for(policy: IkePolicy) -> Authenticator:
    """The gateway's way to authenticate (today: its pre-shared key)."""
    return PskAuthenticator(policy.psk)
