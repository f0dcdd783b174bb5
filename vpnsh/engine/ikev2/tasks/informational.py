"""INFORMATIONAL (RFC 7296 1.4, 1.5): Delete for CHILD and IKE SAs, liveness, notifies.

Each task plays both roles. Initiator: ``build_i`` the request, ``process_i`` the answer.
Responder: the task manager makes, for one INFORMATIONAL request, a :class:`DpdTask` (the
liveness answer; it also logs the error notifies) and the Delete task its Delete payloads
call for (:class:`IkeDeleteTask` for the IKE SA, else :class:`ChildDeleteTask`); each
``process_r`` acts, ``build_r`` adds its part of the response.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..constants import ExchangeType, ProtocolId
from ..message import Message
from ..names import notify_name
from ..payloads import DeletePayload, NotifyPayload, Payload
from ..sa import ChildSa, ChildState, IkeSa, IkeState

if TYPE_CHECKING:
    from ..sa import TaskContext


class ChildDeleteTask:
    exchange = ExchangeType.INFORMATIONAL
    follows_children = True  # moves to the new IKE SA with the CHILD SAs on a rekey

    def __init__(self, children: list[ChildSa] | None = None, reason: str = "deleted by peer",
                 removed: bool = False) -> None:
        self.children = children or []
        self.reason = reason
        self.removed = removed  # already removed locally (hard expiry): only tell the peer
        self.reply: list[Payload] = []  # responder: our Delete payloads for the same pairs

    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        if not self.removed:
            self.children = [c for c in self.children if sa.children.get(c.child_id) is c]
        if not self.children or sa.state in (IkeState.DELETING, IkeState.DEAD):
            return None
        for c in self.children:
            c.state = ChildState.DELETING
        engine.log(
            sa,
            "INFORMATIONAL request sent: delete CHILD SA "
            + ", ".join(f"{c.policy.name} {c.spi_in:08X}" for c in self.children),
        )
        return [
            DeletePayload(ProtocolId.ESP, tuple(struct.pack("!I", c.spi_in) for c in self.children))
        ]

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        for c in self.children:
            owner = engine.owner_of(c)  # an IKE rekey may have moved it meanwhile
            if owner is not None:
                engine.remove_child(owner, c, self.reason)

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None:
        engine.peer_dead(sa, "a Delete")

    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        """The peer deletes CHILD SAs: ours of each pair go too, and are named in the answer
        unless we are deleting them ourselves (RFC 7296 1.4.1)."""
        for d in msg.all(DeletePayload):
            if d.protocol not in (ProtocolId.ESP, ProtocolId.AH):
                continue
            ours: list[bytes] = []
            for raw in d.spis:
                spi = struct.unpack("!I", raw)[0]
                child = next((c for c in sa.children.values() if c.spi_out == spi), None)
                if child is None:
                    continue
                if child.state != ChildState.DELETING:
                    ours.append(struct.pack("!I", child.spi_in))
                engine.remove_child(sa, child, self.reason)
            if ours:
                self.reply.append(DeletePayload(d.protocol, tuple(ours)))

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        return self.reply


class IkeDeleteTask:
    exchange = ExchangeType.INFORMATIONAL

    def __init__(self, reason: str = "deleted by peer") -> None:
        self.reason = reason

    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        if sa.state in (IkeState.DEAD, IkeState.CONNECTING):
            return None
        sa.state = IkeState.DELETING
        engine.log(sa, f"INFORMATIONAL request sent: delete IKE SA ({self.reason})")
        return [DeletePayload(ProtocolId.IKE)]

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        engine.remove_ike(sa, self.reason)

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None:
        engine.remove_ike(sa, self.reason + "; the peer did not answer the Delete")

    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        """The peer deletes the IKE SA: it goes, with its CHILD SAs, once the (empty)
        answer is sent."""
        engine.log(sa, "peer deleted the IKE SA")
        sa.doomed = True
        sa.delete_reason = self.reason

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        return []


class DpdTask:
    """An empty INFORMATIONAL request: the peer must answer (liveness check)."""

    exchange = ExchangeType.INFORMATIONAL

    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        if sa.state != IkeState.ESTABLISHED:
            return None
        return []

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        pass

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None:
        engine.peer_dead(sa, "the liveness check")

    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        """Any INFORMATIONAL request: it is answered (liveness); error notifies are logged."""
        for n in msg.all(NotifyPayload):
            if n.is_error:
                engine.log(sa, f"peer reports {notify_name(n.notify_type)}", level="WARN")

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        return []
