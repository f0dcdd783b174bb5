"""Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 1.3.2, 2.18).

One task, both roles. Initiator: :meth:`IkeRekeyTask.build_i` offers a new IKE SA (SPI,
nonce, KE), :meth:`process_i` makes it. Responder (made by the task manager for a
CREATE_CHILD_SA request whose SA payload is an IKE proposal): :meth:`process_r` makes the
new IKE SA, :meth:`build_r` answers. Collisions: ``ikev2/rekey.py``.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from ...crypto import dh
from .. import rekey as rekeying
from ..constants import ExchangeType, NotifyType, ProtocolId
from ..message import Message
from ..names import notify_name
from ..payloads import KePayload, NoncePayload, NotifyPayload, Payload, SaPayload
from ..proposals import NoProposalChosen, Offer, build, ike_offers, ike_suite, select, verify
from ..sa import IkeSa, IkeState
from .ike_init import NONCE_SIZE

if TYPE_CHECKING:
    from ..sa import TaskContext

REKEY_RETRY = 10.0


class IkeRekeyTask:
    exchange = ExchangeType.CREATE_CHILD_SA

    def __init__(self) -> None:
        self.ni = b""
        self.spi = b""
        self.offers: list[Offer] = []
        self.pair: dh.DhKeyPair | None = None
        self.reply: list[Payload] = []  # responder: the response payloads

    # ----------------------------------------------------------------- initiator
    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        if sa.state != IkeState.ESTABLISHED or sa.peer_rekey is not None or sa.suite is None:
            return None
        sa.rekeying = True
        self.ni = os.urandom(NONCE_SIZE)
        self.spi = engine.new_ike_spi()
        group = sa.suite.dh
        self.offers = ike_offers(sa.policy.proposals, dh_first=group)
        self.pair = dh.group(group).generate()
        engine.log(sa, "CREATE_CHILD_SA request sent: rekey of IKE SA")
        return [
            build(self.offers, ProtocolId.IKE, self.spi),
            NoncePayload(self.ni),
            KePayload(group, self.pair.public),
        ]

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        sa.rekeying = False
        if not self._process(engine, sa, msg, now):
            rekeying.adopt_peer_rekey(engine, sa, now)

    def _process(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> bool:
        errors = msg.error_notifies()
        if errors:
            names = ", ".join(notify_name(n.notify_type) for n in errors)
            engine.log(sa, f"IKE SA rekey refused by peer: {names}; retry later", level="WARN")
            if sa.expires is not None:
                sa.rekey_at = min(now + REKEY_RETRY, sa.expires)
            return False
        sa_p, nonce, ke = msg.get(SaPayload), msg.get(NoncePayload), msg.get(KePayload)
        if sa_p is None or nonce is None or ke is None or self.pair is None:
            engine.log(sa, "IKE SA rekey: malformed response", level="ERROR")
            return False
        try:
            prop, chosen = verify(self.offers, sa_p, ProtocolId.IKE)
        except NoProposalChosen as exc:
            engine.log(sa, f"IKE SA rekey: {exc}", level="ERROR")
            return False
        suite = ike_suite(chosen)
        if len(prop.spi) != 8 or ke.group != suite.dh:
            engine.log(sa, "IKE SA rekey: bad SPI or KE group in response", level="ERROR")
            return False
        try:
            shared = self.pair.shared(ke.data)
        except ValueError as exc:
            engine.log(sa, f"IKE SA rekey: bad DH value: {exc}", level="ERROR")
            return False
        new = engine.rekeyed_sa(
            sa,
            initiator=True,
            spi_i=self.spi,
            spi_r=prop.spi,
            suite=suite,
            ni=self.ni,
            nr=nonce.data,
            shared=shared,
            now=now,
        )
        rekeying.ike_rekeyed(engine, sa, new, self.ni, nonce.data, True, now)
        return True

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None:
        engine.peer_dead(sa, "IKE SA rekey")

    # ----------------------------------------------------------------- responder
    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        self.reply = self._respond(engine, sa, msg, now)

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        return self.reply

    def _respond(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> list[Payload]:
        if msg.get(NoncePayload) is None:
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)]
        if sa.state != IkeState.ESTABLISHED:
            return [NotifyPayload(NotifyType.TEMPORARY_FAILURE)]
        if (
            sa.outstanding is not None
            and sa.outstanding.exchange == ExchangeType.CREATE_CHILD_SA
            and not sa.rekeying
        ):
            # a CHILD SA exchange of ours is in flight: RFC 7296 2.25 lets us refuse
            return [NotifyPayload(NotifyType.TEMPORARY_FAILURE)]
        sa_p, nonce, ke = msg.get(SaPayload), msg.get(NoncePayload), msg.get(KePayload)
        if sa_p is None or nonce is None or ke is None:
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)]
        spi = engine.new_ike_spi()
        try:
            reply, chosen = select(
                ike_offers(sa.policy.proposals, dh_first=ke.group), sa_p, ProtocolId.IKE, spi
            )
        except NoProposalChosen as exc:
            engine.log(sa, f"IKE SA rekey request: {exc}", level="ERROR")
            return [NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)]
        suite = ike_suite(chosen)
        if ke.group != suite.dh:
            return [NotifyPayload(NotifyType.INVALID_KE_PAYLOAD, struct.pack("!H", suite.dh))]
        peer_spi = next(p.spi for p in sa_p.proposals if p.number == reply.number)
        if len(peer_spi) != 8:
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)]
        pair = dh.group(suite.dh).generate()
        try:
            shared = pair.shared(ke.data)
        except ValueError:
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)]
        nr = os.urandom(NONCE_SIZE)
        new = engine.rekeyed_sa(
            sa,
            initiator=False,
            spi_i=peer_spi,
            spi_r=spi,
            suite=suite,
            ni=nonce.data,
            nr=nr,
            shared=shared,
            now=now,
        )
        engine.log(sa, f"IKE SA rekey request answered: new SN {new.sn}")
        rekeying.ike_rekeyed(engine, sa, new, nonce.data, nr, False, now)
        return [SaPayload((reply,)), NoncePayload(nr), KePayload(suite.dh, pair.public)]
