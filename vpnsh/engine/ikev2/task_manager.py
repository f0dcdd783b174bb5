"""The IKEv2 task manager of one IKE SA (RFC 7296 2.1-2.3): message IDs, the window,
retransmission, the cached response and the queue of tasks.

The IKE SA (``sa.py`` ``IkeSa``) holds the state: ``tasks`` (waiting), ``outstanding`` (our
request in flight: window size 1), ``next_request_id``, ``expected_request_id`` and
``last_response``. These functions are what moves it: the engine routes each datagram and
timer of an SA here, and the tasks build and process the payloads.
"""

from __future__ import annotations

from ..ike import task_manager as flights
from .constants import ExchangeType
from .message import Message, Parsed
from .sa import IkeSa, Task, TaskContext


def response_expected(ctx: TaskContext, sa: IkeSa, msg: Message) -> bool:
    """A response answers our outstanding request, or it is dropped."""
    if sa.outstanding is None or sa.outstanding.message_id != msg.message_id:
        ctx.drop("response with unexpected message ID")
        return False
    return True


def retransmitted_request(sa: IkeSa, msg: Message) -> bool:
    """The peer sent its last request again (our response was lost)."""
    return (
        msg.message_id == sa.expected_request_id - 1
        and sa.last_response is not None
        and sa.last_response[0] == msg.message_id
    )


def resend_response(ctx: TaskContext, sa: IkeSa) -> None:
    assert sa.last_response is not None
    flights.answer_again(ctx, sa, sa.last_response[1])


def request_expected(ctx: TaskContext, sa: IkeSa, msg: Message) -> bool:
    """A new request carries the next message ID, or it is dropped."""
    if msg.message_id != sa.expected_request_id:
        ctx.drop("request with unexpected message ID")
        return False
    return True


def retransmit(ctx: TaskContext, sa: IkeSa, now: float) -> bool:
    """Our outstanding request, if due: sent again, or failed after the last try.
    False: the task failed and the SA is gone."""
    out = sa.outstanding
    resend = flights.resend_due(ctx, sa, out, now) if out is not None else None
    if out is None or resend is None:
        return True
    if not resend:
        sa.outstanding = None
        out.task.failed(ctx, sa, now)
        return ctx.alive(sa)
    ctx.log(
        sa,
        f"retransmitting {ExchangeType(out.exchange).name} request "
        f"{out.message_id} (try {out.attempt + 1})",
        level="DEBUG",
    )
    return True


def complete(ctx: TaskContext, sa: IkeSa, parsed: Parsed, now: float) -> None:
    ctx.touch(sa)
    out = sa.outstanding
    assert out is not None
    if out.exchange == ExchangeType.IKE_SA_INIT:
        sa.init_request = out.data  # both IKE_SA_INIT messages are signed by AUTH
        sa.init_response = parsed.raw
    sa.finish_request()
    out.task.process(ctx, sa, parsed.message, now)
    if ctx.alive(sa):
        kick(ctx, sa, now)


def queue(ctx: TaskContext, sa: IkeSa, task: Task, now: float) -> None:
    ctx.touch(sa)
    sa.tasks.append(task)
    kick(ctx, sa, now)


def kick(ctx: TaskContext, sa: IkeSa, now: float) -> None:
    ctx.touch(sa)
    while sa.outstanding is None and sa.tasks and ctx.alive(sa):
        task = sa.tasks.popleft()
        payloads = task.build(ctx, sa, now)
        if payloads is None:
            continue
        data = sa.start_request(task, payloads, now, ctx.retransmit)
        ctx.send(data, sa.local, sa.remote)
