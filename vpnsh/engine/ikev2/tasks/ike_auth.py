"""IKE_AUTH (RFC 7296 1.2, 2.15): identities, PSK authentication and the first CHILD SA."""

from __future__ import annotations

import hmac
import struct
from typing import TYPE_CHECKING

from ...crypto.keymat import psk_auth
from ...crypto.prf import prf
from ...pki.ikesig import SignatureError
from ...policy import ChildPolicy
from .. import auth as authn
from .. import identity
from ..constants import AuthMethod, ExchangeType, NotifyType, ProtocolId
from ..message import Message
from ..payloads import AuthPayload, IdPayload, NotifyPayload, Payload, TsPayload
from ..proposals import Offer, build, child_offers
from ..sa import IkeSa
from .child_common import complete_child, respond_child

if TYPE_CHECKING:
    from ..sa import TaskContext


def auth_data(sa: IkeSa, psk: bytes, of_initiator: bool, id_payload: IdPayload) -> bytes:
    """AUTH for a PSK: prf(prf(psk, "Key Pad for IKEv2"), signed octets) (RFC 7296 2.15).

    Initiator signs RealMessage1 | NonceRData | prf(SK_pi, IDi'), responder
    RealMessage2 | NonceIData | prf(SK_pr, IDr'), where ID' is the ID payload body.
    """
    assert sa.suite is not None and sa.keys is not None
    if of_initiator:
        octets = sa.init_request + sa.nr + prf(sa.suite.prf, sa.keys.sk_pi, id_payload.body())
    else:
        octets = sa.init_response + sa.ni + prf(sa.suite.prf, sa.keys.sk_pr, id_payload.body())
    return psk_auth(sa.suite.prf, psk, octets)


class IkeAuthTask:
    exchange = ExchangeType.IKE_AUTH

    def __init__(self, child: ChildPolicy | None) -> None:
        self.child = child
        self.spi_in = 0
        self.offers: list[Offer] = []

    def build(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        pol = sa.policy
        idi = authn.local_id_payload(pol, True)
        sa.id_i = idi
        payloads: list[Payload] = [idi, *authn.certreq_payloads(pol)]
        if pol.peer_id is not None and pol.certificate is None:
            payloads.append(identity.to_payload(pol.peer_id, False))
        try:
            payloads += authn.auth_payloads(sa, idi, True)  # [CERT...] AUTH
        except SignatureError as exc:
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

    def process(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        pol = sa.policy
        if msg.notify(NotifyType.AUTHENTICATION_FAILED):
            engine.fail_ike(
                sa,
                "pre-shared key mismatch (or peer ID not accepted): the peer "
                "answered AUTHENTICATION_FAILED" if pol.certificate is None else
                "the peer did not accept our certificate or ID: it answered "
                "AUTHENTICATION_FAILED",
            )
            return
        idr = next((p for p in msg.all(IdPayload) if not p.initiator), None)
        auth = msg.get(AuthPayload)
        if idr is None or auth is None:
            errors = ", ".join(engine.notify_name(n.notify_type) for n in msg.error_notifies())
            engine.fail_ike(sa, f"peer refused IKE_AUTH: {errors or 'no IDr or AUTH'}")
            return
        if pol.certificate is not None:
            reason = authn.check_peer(engine, sa, msg, idr, False)
            if reason is not None:
                engine.fail_ike(sa, reason, send_delete=True)
                return
        elif not identity.matches(pol.peer_id, idr):
            engine.fail_ike(
                sa,
                f"peer ID mismatch: peer sent {identity.from_payload(idr)}, "
                f"peer-id is {pol.peer_id}",
                send_delete=True,
            )
            return
        elif auth.method != AuthMethod.SHARED_KEY_MIC or not hmac.compare_digest(
            auth_data(sa, pol.psk, False, idr), auth.data
        ):
            engine.fail_ike(
                sa,
                "pre-shared key mismatch: the peer's AUTH payload does not verify",
                send_delete=True,
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


def respond_auth(engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> list[Payload]:
    idi = next((p for p in msg.all(IdPayload) if p.initiator), None)
    auth = msg.get(AuthPayload)
    if idi is None or auth is None:
        engine.fail_ike(
            sa, "IKE_AUTH request without IDi or AUTH (EAP is not supported)", quiet=True
        )
        return [NotifyPayload(NotifyType.AUTHENTICATION_FAILED)]
    peer = identity.from_payload(idi)
    # a certificate gateway checks the peer's ID against its certificate (pki.ikeauth)
    policy = sa.policy if sa.policy.certificate is not None else \
        engine.policy_for_identity(sa, idi)
    if policy is None:
        engine.fail_ike(
            sa, f"peer ID {peer} matches no peer-id configured for {sa.remote[0]}", quiet=True
        )
        return [NotifyPayload(NotifyType.AUTHENTICATION_FAILED)]
    sa.policy = policy
    if policy.certificate is not None:
        reason = authn.check_peer(engine, sa, msg, idi, True)
        if reason is not None:
            engine.fail_ike(sa, f"{reason} (peer {peer})", quiet=True)
            return [NotifyPayload(NotifyType.AUTHENTICATION_FAILED)]
    elif auth.method != AuthMethod.SHARED_KEY_MIC or not hmac.compare_digest(
        auth_data(sa, policy.psk, True, idi), auth.data
    ):
        engine.fail_ike(
            sa, f"pre-shared key mismatch: AUTH from {peer} does not verify", quiet=True
        )
        return [NotifyPayload(NotifyType.AUTHENTICATION_FAILED)]
    sa.id_i = idi
    idr = authn.local_id_payload(policy, False)
    sa.id_r = idr
    try:
        out: list[Payload] = [idr, *authn.auth_payloads(sa, idr, False)]  # [CERT...] AUTH
    except SignatureError as exc:
        engine.fail_ike(sa, f"cannot sign our AUTH: {exc}", quiet=True)
        return [NotifyPayload(NotifyType.AUTHENTICATION_FAILED)]
    if msg.notify(NotifyType.INITIAL_CONTACT):
        engine.initial_contact(sa)
    engine.establish_ike(sa, now)
    if any(isinstance(p, TsPayload) for p in msg.payloads):
        out += respond_child(engine, sa, msg, sa.ni, sa.nr, True, now)[0]
    return out
