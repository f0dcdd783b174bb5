"""The protocol-independent part of the task manager of one IKE SA (IKEv2) or ISAKMP SA
(IKEv1): our messages in flight and their retransmission, and the answer cached for a
peer that sends its message again.

Each protocol keeps its own message IDs as its parameter: IKEv2 counts requests in a
window of 1 (``ikev2/task_manager.py``); IKEv1 has one ID per exchange (0 for phase 1, a
random one per quick mode, ``ikev1/engine.py`` ``new_msgid``). What both do with a flight
once it is sent is here.
"""

from __future__ import annotations

from typing import Protocol

from .retransmit import Flight, Retransmit

Address = tuple[str, int]


class SentFlight(Flight, Protocol):
    data: bytes  # the datagram as sent (resent unchanged)


class Peer(Protocol):
    """The SA a flight belongs to: where it goes, and its retransmission counter."""

    local: Address
    remote: Address
    retransmits: int


class Sender(Protocol):
    retransmit: Retransmit

    def send(self, data: bytes, local: Address, remote: Address) -> None: ...


def resend_due(ctx: Sender, sa: Peer, flight: SentFlight, now: float) -> bool | None:
    """``flight`` at ``now``: None, not due; True, sent again (counted on ``sa``); False,
    every try is spent (the caller fails its exchange)."""
    resend = ctx.retransmit.due(flight, now)
    if resend:
        sa.retransmits += 1
        ctx.send(flight.data, sa.local, sa.remote)
    return resend


def answer_again(ctx: Sender, sa: Peer, cached: bytes) -> None:
    """The peer sent its last message again (our answer was lost): the cached answer,
    unchanged (RFC 7296 2.1; RFC 2409 5 for IKEv1)."""
    ctx.send(cached, sa.local, sa.remote)
