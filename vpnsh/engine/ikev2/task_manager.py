"""The IKEv2 task manager of one IKE SA (RFC 7296 2.1-2.3): message IDs, the window,
retransmission, the cached response and the queue of tasks.

The IKE SA (``sa.py`` ``IkeSa``) holds the state: ``tasks`` (waiting), ``outstanding`` (our
request in flight: window size 1), ``next_request_id``, ``expected_request_id`` and
``last_response``. These functions are what moves it: the engine routes each datagram and
timer of an SA here, and the tasks build and process the payloads. What does not depend
on IKEv2 (the queue and its kick, retransmitting the request in flight, resending a cached
response) is ``ike/task_manager.py``, shared with IKEv1; the message IDs (window 1,
``next_request_id`` / ``expected_request_id``) are IKEv2's parameter of it.

Each task plays both roles (``sa.py`` ``Task`` and ``Responder``). As initiator a task
waits in the queue, its ``build_i`` makes the request and ``process_i`` reads the response
(:func:`complete`). The responder side, which makes passive tasks from a request, is
``passive.py`` (it imports the tasks, which import this module to queue work).
"""

from __future__ import annotations

from ..ike import task_manager as flights
from .constants import ExchangeType
from .message import Message, Parsed
from .sa import IkeSa, Task, TaskContext


def response_expected(ctx: TaskContext, sa: IkeSa, msg: Message) -> bool:
    """A response answers our outstanding request, or it is dropped."""
    if not flights.answers_outstanding(sa, msg.message_id):
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
    resend = flights.retransmit_outstanding(
        ctx, sa, now, lambda gone: gone.task.failed(ctx, sa, now)
    )
    if out is None or resend is None:
        return True
    if not resend:
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
    out.task.process_i(ctx, sa, parsed.message, now)
    if ctx.alive(sa):
        kick(ctx, sa, now)


def queue(ctx: TaskContext, sa: IkeSa, task: Task, now: float) -> None:
    ctx.touch(sa)
    sa.tasks.append(task)
    kick(ctx, sa, now)


def kick(ctx: TaskContext, sa: IkeSa, now: float) -> None:
    ctx.touch(sa)
    if sa.outstanding is not None or not sa.tasks:
        return  # nothing can start (the usual case after an answer)

    def start(task: Task) -> bytes | None:
        payloads = task.build_i(ctx, sa, now)
        if payloads is None:
            return None
        return sa.start_request(task, payloads, now, ctx.retransmit)

    flights.kick(ctx, sa, lambda: ctx.alive(sa), start)

