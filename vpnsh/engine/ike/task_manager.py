"""The protocol-independent part of the task manager of one IKE SA (IKEv2) or ISAKMP SA
(IKEv1): our messages in flight and their retransmission, the answer cached for a peer
that sends its message again, and the queue of tasks waiting to send a request.

Each protocol keeps its own message IDs as its parameter: IKEv2 counts requests in a
window of 1 (``ikev2/task_manager.py``); IKEv1 has one ID per exchange (0 for phase 1, a
random one per quick mode, ``ikev1/task_manager.py`` ``new_msgid``). What both do with a flight
once it is sent is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .retransmit import Flight, Retransmit

Address = tuple[str, int]
T = TypeVar("T")


class Tasks(list[T]):
    """The queue of tasks of one SA: a list (56 bytes empty) with the two deque calls the
    task managers use. A ``deque`` is 624 bytes even empty, and an idle SA's queue is empty:
    6 MB at 10,000 tunnels. The queue is short (a few tasks), so ``insert(0)`` is cheap."""

    __slots__ = ()

    def appendleft(self, item: T) -> None:
        self.insert(0, item)

    def popleft(self) -> T:
        return self.pop(0)


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


# --- the request side: a queue of tasks, at most one request of ours in flight ---------


class Requester(Peer, Protocol):
    """An SA whose tasks wait in ``tasks`` while ``outstanding`` (a :class:`SentFlight`
    with its ``message_id``) is in flight. The protocol builds and numbers the requests."""

    tasks: Tasks[Any]
    outstanding: Any


def answers_outstanding(sa: Requester, message_id: int) -> bool:
    """A response with ``message_id`` answers our request in flight."""
    return sa.outstanding is not None and sa.outstanding.message_id == message_id


def retransmit_outstanding(ctx: Sender, sa: Requester, now: float,
                           give_up: Callable[[Any], None]) -> bool | None:
    """Our request in flight at ``now``, as :func:`resend_due`; on False it is no longer
    outstanding and ``give_up`` gets it (its task fails)."""
    out = sa.outstanding
    if out is None:
        return None
    resend = resend_due(ctx, sa, out, now)
    if resend is False:
        sa.outstanding = None
        give_up(out)
    return resend


def kick(ctx: Sender, sa: Requester, alive: Callable[[], bool],
         start: Callable[[Any], bytes | None]) -> None:
    """Sends the request of the next waiting task while none is in flight. ``start``
    builds a task's request and makes it outstanding (None: the task had nothing to do)."""
    while sa.outstanding is None and sa.tasks and alive():
        data = start(sa.tasks.popleft())
        if data is not None:
            ctx.send(data, sa.local, sa.remote)
