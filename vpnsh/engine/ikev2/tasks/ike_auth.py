"""IKE_AUTH (RFC 7296 1.2, 2.15): identities, authentication and the first CHILD SA.

One task, both roles. Initiator: :meth:`IkeAuthTask.build_i` sends IDi (and IDr when a
peer-id is configured), our proof and the first CHILD SA's offer; :meth:`process_i`
checks IDr and the peer's proof, then installs the CHILD SA. Responder: :meth:`process_r`
finds the gateway by the peer's ID and checks its proof; :meth:`build_r` answers with IDr,
our proof and the CHILD SA. Our ID and proofs are made and checked by the gateway's
authenticator (``ikev2/auth.py`` ``authenticator_for``), nowhere else: certificate
certificate authentication is ``auth.py`` ``CertAuthenticator`` (ID from the certificate,
CERTREQ, CERT payloads with AUTH, signature checks of the peer's proof and its ID).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ...policy import ChildPolicy
from .. import identity
from ..auth import Authenticator, CannotProve, authenticator_for
from ..constants import ExchangeType, NotifyType, ProtocolId
from ..message import Message
from ..names import notify_name
from ..payloads import AuthPayload, IdPayload, NotifyPayload, Payload, TsPayload
from ..proposals import Offer, build, child_offers
from ..sa import IkeSa
from .child_common import complete_child, respond_child

if TYPE_CHECKING:
    from ..sa import TaskContext


class IkeAuthTask:
    exchange = ExchangeType.IKE_AUTH

    def __init__(self, child: ChildPolicy | None = None) -> None:
        self.child = child  # initiator: the first CHILD SA
        self.spi_in = 0
        self.offers: list[Offer] = []
        self.request: Message | None = None  # responder: the request being answered
        self.refusal: list[Payload] | None = None  # responder: the peer failed to authenticate

    # ----------------------------------------------------------------- initiator
    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        pol = sa.policy
        auth = authenticator_for(pol)
        idi = auth.id_payload(pol, True)
        sa.id_i = idi
        payloads: list[Payload] = [idi, *auth.certreq()]
        if pol.peer_id is not None and not auth.matches_peer_id:
            payloads.append(identity.to_payload(pol.peer_id, False))
        try:
            payloads += auth.payloads(sa, idi, True)
        except CannotProve as exc:
            engine.fail_ike(sa, f"cannot sign our AUTH: {exc}")
            return None
        if engine.is_initial_contact(sa):
            payloads.append(NotifyPayload(NotifyType.INITIAL_CONTACT))
        if self.child is not None:
            self.spi_in = engine.new_child_spi()
            self.offers = child_offers(self.child, with_pfs=False)
            payloads += [
                build(self.offers, ProtocolId.ESP, struct.pack("!I", self.spi_in)),
                TsPayload(True, self.child.local_selectors()),
                TsPayload(False, self.child.remote_selectors()),
            ]
        engine.log(
            sa,
            f"IKE_AUTH request sent: ID {pol.effective_local_id()}"
            + (f", CHILD SA {self.child.name}" if self.child else ""),
        )
        return payloads

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        pol = sa.policy
        if msg.notify(NotifyType.AUTHENTICATION_FAILED):
            engine.fail_ike(
                sa,
                "pre-shared key mismatch (or peer ID not accepted): the peer "
                "answered AUTHENTICATION_FAILED",
            )
            return
        idr = next((p for p in msg.all(IdPayload) if not p.initiator), None)
        if idr is None or msg.get(AuthPayload) is None:
            errors = ", ".join(notify_name(n.notify_type) for n in msg.error_notifies())
            engine.fail_ike(sa, f"peer refused IKE_AUTH: {errors or 'no IDr or AUTH'}")
            return
        auth = authenticator_for(pol)
        if not auth.matches_peer_id and not identity.matches(pol.peer_id, idr):
            engine.fail_ike(
                sa,
                f"peer ID mismatch: peer sent {identity.from_payload(idr)}, "
                f"peer-id is {pol.peer_id}",
                send_delete=True,
            )
            return
        why = _verify(engine, auth, sa, msg, idr, False)
        if why is not None:
            engine.fail_ike(
                sa, f"{why}: the peer's AUTH payload does not verify", send_delete=True
            )
            return
        sa.id_r = idr
        engine.establish_ike(sa, now)
        if self.child is not None:
            sa.pending_children.discard(self.child.name)
            complete_child(
                engine,
                sa,
                msg,
                self.child,
                self.offers,
                self.spi_in,
                sa.ni,
                sa.nr,
                None,
                True,
                self.child.local_selectors(),
                self.child.remote_selectors(),
                now,
            )

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None:
        engine.fail_ike(
            sa, f"peer {sa.remote[0]} never answered IKE_AUTH ({engine.retransmit.tries} tries)"
        )

    # ----------------------------------------------------------------- responder
    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        self.request = msg
        idi = next((p for p in msg.all(IdPayload) if p.initiator), None)
        if idi is None or msg.get(AuthPayload) is None:
            self._refuse(engine, sa, "IKE_AUTH request without IDi or AUTH (EAP is not supported)")
            return
        peer = identity.from_payload(idi)
        # a certificate gateway checks the peer's ID against its certificate (pki/ikeauth.py)
        policy = sa.policy if sa.policy.certificate is not None else \
            engine.policy_for_identity(sa, idi)
        if policy is None:
            self._refuse(engine, sa, f"peer ID {peer} matches no peer-id configured for {sa.remote[0]}")
            return
        sa.policy = policy
        why = _verify(engine, authenticator_for(policy), sa, msg, idi, True)
        if why is not None:
            self._refuse(engine, sa, f"{why}: AUTH from {peer} does not verify")
            return
        sa.id_i = idi

    def _refuse(self, engine: TaskContext, sa: IkeSa, reason: str) -> None:
        engine.fail_ike(sa, reason, quiet=True)  # the SA goes once the refusal is sent
        self.refusal = [NotifyPayload(NotifyType.AUTHENTICATION_FAILED)]

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        if self.refusal is not None:
            return self.refusal
        msg = self.request
        assert msg is not None
        auth = authenticator_for(sa.policy)
        idr = auth.id_payload(sa.policy, False)
        sa.id_r = idr
        try:
            out: list[Payload] = [idr, *auth.payloads(sa, idr, False)]
        except CannotProve as exc:
            self._refuse(engine, sa, f"cannot sign our AUTH: {exc}")
            return self.refusal or []
        if msg.notify(NotifyType.INITIAL_CONTACT):
            engine.initial_contact(sa)
        engine.establish_ike(sa, now)
        if any(isinstance(p, TsPayload) for p in msg.payloads):
            out += respond_child(engine, sa, msg, sa.ni, sa.nr, True, now)[0]
        return out


def _verify(engine: TaskContext, auth: Authenticator, sa: IkeSa, msg: Message,
            id_payload: IdPayload, of_initiator: bool) -> str | None:
    """The authenticator's verdict on the peer's proof; what it found is logged."""
    why = auth.verify(sa, msg, id_payload, of_initiator)
    for level, text in auth.said:
        engine.log(sa, text, level=level)
    return why
