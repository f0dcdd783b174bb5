"""How phase 1 proves who we are and checks the peer (RFC 2409 5.1-5.4): one small
interface, :class:`Phase1Auth`, that main and aggressive mode call at fixed points of their
flow, so another method plugs in without touching the flow.

Today: pre-shared keys (:class:`PskAuth`, auth method 1): SKEYID = prf(PSK, Ni | Nr); the
proof is a HASH payload carrying HASH_I/HASH_R, compared in constant time. RSA signatures
(method 3) would be another class here: SKEYID = prf(Ni | Nr, g^xy)
(``keymat.ikev1_skeyid_sig``); the proof [CERT,] SIG over HASH_I/HASH_R
(``pki/ikeauth.py`` ``LocalCredential.sign_ikev1``, ``PeerCheck.check_ikev1``); and
:func:`auth_for` would pick it from the policy.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from ...crypto import keymat as km
from ...policy import IkePolicy
from ..message import HashPayload, Message, Payload
from ..sa import Phase1

PSK = 1  # the authentication-method attribute (RFC 2409 appendix A)


class Phase1Auth(Protocol):
    method: int  # the authentication-method attribute it negotiates
    hint: str  # what a failed check most likely means, for the log ("pre-shared key mismatch")

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

    def __init__(self, psk: bytes) -> None:
        self._psk = psk

    def skeyid(self, prf: int, ni: bytes, nr: bytes, shared: bytes) -> bytes:
        return km.ikev1_skeyid_psk(prf, self._psk, ni, nr)

    def proof(self, sa: Phase1, digest: bytes) -> list[Payload]:
        return [HashPayload(digest)]

    def has_proof(self, msg: Message) -> bool:
        return isinstance(msg.get(HashPayload), HashPayload)

    def verify(self, sa: Phase1, msg: Message, digest: bytes) -> bool:
        hp = msg.get(HashPayload)
        return isinstance(hp, HashPayload) and hmac.compare_digest(hp.data, digest)


def auth_for(policy: IkePolicy) -> Phase1Auth:
    """The authentication of ``policy``'s phase 1 (pre-shared keys today)."""
    return PskAuth(policy.psk)
