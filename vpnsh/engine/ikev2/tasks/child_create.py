"""CREATE_CHILD_SA for CHILD SAs (RFC 7296 1.3.1, 1.3.3): new CHILD SAs and rekeys.

One task, both roles. Initiator: :meth:`ChildCreateTask.build_i` offers the proposals,
nonce, KE and selectors (with REKEY_SA for a rekey); :meth:`process_i` installs what the
peer chose. Responder (made by the task manager for a CREATE_CHILD_SA request whose SA
payload is not an IKE proposal): :meth:`process_r` matches a proxy-id and installs the
CHILD SA (the one named by REKEY_SA for a rekey), :meth:`build_r` answers.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from ...crypto import dh
from ...policy import ChildPolicy
from .. import rekey as rekeying
from ..constants import ExchangeType, NotifyType, ProtocolId
from ..message import Message
from ..payloads import KePayload, NoncePayload, NotifyPayload, Payload, SaPayload, TsPayload
from ..proposals import Offer, build, child_offers
from ..sa import ChildSa, ChildState, IkeSa, IkeState
from .child_common import complete_child, respond_child
from .ike_init import NONCE_SIZE

if TYPE_CHECKING:
    from ..sa import TaskContext

REKEY_RETRY = 10.0


class ChildCreateTask:
    exchange = ExchangeType.CREATE_CHILD_SA
    follows_children = True  # moves to the new IKE SA with the CHILD SAs on a rekey

    def __init__(self, policy: ChildPolicy | None = None, rekey_of: ChildSa | None = None) -> None:
        self.policy = policy  # None: the responder, which learns it from the request
        self.rekey_of = rekey_of
        self.ni = b""
        self.spi_in = 0
        self.offers: list[Offer] = []
        self.pair: dh.DhKeyPair | None = None
        self.local_ts = policy.local_selectors() if policy else ()
        self.remote_ts = policy.remote_selectors() if policy else ()
        self.reply: list[Payload] = []  # responder: the response payloads

    # ----------------------------------------------------------------- initiator
    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        old = self.rekey_of
        assert self.policy is not None
        if sa.state != IkeState.ESTABLISHED:
            sa.pending_children.discard(self.policy.name)
            return None
        if old is None and any(
            c.policy.name == self.policy.name and c.state == ChildState.INSTALLED
            for c in sa.children.values()
        ):  # it came up meanwhile (strongSwan's check_for_duplicate)
            sa.pending_children.discard(self.policy.name)
            return None
        if old is not None:
            if old.child_id not in sa.children or old.state != ChildState.INSTALLED:
                return None
            if old.peer_rekey is not None:  # the peer got there first
                return None
            old.rekeying = True
            self.local_ts, self.remote_ts = old.local_ts, old.remote_ts
        self.ni = os.urandom(NONCE_SIZE)
        self.spi_in = engine.new_child_spi()
        self.offers = child_offers(self.policy, with_pfs=True)
        payloads: list[Payload] = []
        if old is not None:
            payloads.append(
                NotifyPayload(
                    NotifyType.REKEY_SA, b"", ProtocolId.ESP, struct.pack("!I", old.spi_in)
                )
            )
        payloads += [
            build(self.offers, ProtocolId.ESP, struct.pack("!I", self.spi_in)),
            NoncePayload(self.ni),
        ]
        if self.policy.pfs_group:
            self.pair = dh.group(self.policy.pfs_group).generate()
            payloads.append(KePayload(self.policy.pfs_group, self.pair.public))
        payloads += [TsPayload(True, self.local_ts), TsPayload(False, self.remote_ts)]
        what = f"rekey of CHILD SA {old.child_id}" if old else "new CHILD SA"
        engine.log(sa, f"CREATE_CHILD_SA request sent: {what} for {self.policy.name}")
        return payloads

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        old = self.rekey_of
        assert self.policy is not None
        sa.pending_children.discard(self.policy.name)
        if old is not None:
            old.rekeying = False
            if msg.notify(NotifyType.TEMPORARY_FAILURE) or msg.notify(
                NotifyType.CHILD_SA_NOT_FOUND
            ):
                engine.log(sa, f"rekey of CHILD SA {old.child_id} refused by peer; retry later")
                old.rekey_at = min(now + REKEY_RETRY, old.expires)
                return
        nonce = msg.get(NoncePayload)
        if nonce is None and not msg.error_notifies():
            engine.child_failed(sa, self.policy.name, "peer answered CREATE_CHILD_SA without nonce")
            return
        child = complete_child(
            engine,
            sa,
            msg,
            self.policy,
            self.offers,
            self.spi_in,
            self.ni,
            nonce.data if nonce else b"",
            self.pair,
            False,
            self.local_ts,
            self.remote_ts,
            now,
            rekey_of=old,
        )
        if child is not None and old is not None:
            rekeying.child_rekeyed(engine, sa, old, child, self.ni, nonce.data if nonce else b"", True)

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None:
        engine.peer_dead(sa, "CREATE_CHILD_SA")

    # ----------------------------------------------------------------- responder
    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        self.reply = self._respond(engine, sa, msg, now)

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        return self.reply

    def _respond(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> list[Payload]:
        sa_p = msg.get(SaPayload)
        nonce = msg.get(NoncePayload)
        if sa_p is None or nonce is None:
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)]
        if sa.state != IkeState.ESTABLISHED and sa.state != IkeState.REKEYED:
            return [NotifyPayload(NotifyType.TEMPORARY_FAILURE)]
        rekey = msg.notify(NotifyType.REKEY_SA)
        old: ChildSa | None = None
        if rekey is not None:
            spi = struct.unpack("!I", rekey.spi)[0] if len(rekey.spi) == 4 else -1
            old = next((c for c in sa.children.values() if c.spi_out == spi), None)
            if old is None or old.state == ChildState.DELETING:
                engine.log(sa, f"rekey request for unknown CHILD SA {spi:08X}")
                return [NotifyPayload(NotifyType.CHILD_SA_NOT_FOUND, b"", ProtocolId.ESP, rekey.spi)]
        if sa.state == IkeState.REKEYED and old is None:
            return [NotifyPayload(NotifyType.TEMPORARY_FAILURE)]
        self.rekey_of = old
        nr = os.urandom(NONCE_SIZE)
        out, new = respond_child(engine, sa, msg, nonce.data, nr, False, now, rekey_of=old)
        if new is not None:
            self.policy = new.policy
            if old is not None:
                rekeying.child_rekeyed(engine, sa, old, new, nonce.data, nr, False)
        return out


class Refusal:
    """The responder to a request that this IKE SA cannot take now: one notify (e.g.
    TEMPORARY_FAILURE for a CREATE_CHILD_SA while the IKE SA is being deleted, 2.25)."""

    exchange = ExchangeType.CREATE_CHILD_SA

    def __init__(self, notify_type: int) -> None:
        self.notify_type = notify_type

    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        pass

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        return [NotifyPayload(self.notify_type)]
