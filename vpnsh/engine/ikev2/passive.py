"""The responder side of the IKEv2 task manager: passive tasks made from a request.

For a request with the expected message ID (checked in ``task_manager.py``),
:func:`responder_tasks` makes the tasks that its exchange type (and its payloads: an
IKE proposal or REKEY_SA in CREATE_CHILD_SA, Delete payloads in INFORMATIONAL) call
for; :func:`respond` runs each one's ``process_r``, then their ``build_r`` make the
response, which ``sa.py`` ``IkeSa.respond`` caches for a retransmitted request.
IKE_SA_INIT, which comes before any SA, is :func:`respond_init`. The tasks are the
same classes that play the initiator (``tasks/``), as strongSwan's passive tasks are.
"""

from __future__ import annotations

from . import task_manager
from .constants import ExchangeType, NotifyType, ProtocolId
from .message import Message, Parsed
from .payloads import DeletePayload, Payload, SaPayload
from .sa import Address, IkeSa, IkeState, Responder, TaskContext
from .tasks.child_create import ChildCreateTask, Refusal
from .tasks.ike_auth import IkeAuthTask
from .tasks.ike_init import IkeInitTask
from .tasks.ike_rekey import IkeRekeyTask
from .tasks.informational import ChildDeleteTask, DpdTask, IkeDeleteTask


def responder_tasks(sa: IkeSa, msg: Message) -> list[Responder] | None:
    """The tasks that answer ``msg`` on ``sa`` in its state; None: the request is dropped."""
    exchange, state = msg.exchange, sa.state
    if exchange == ExchangeType.IKE_AUTH:
        if not sa.initiator and state == IkeState.CONNECTING:
            return [IkeAuthTask()]
        return None
    if exchange == ExchangeType.CREATE_CHILD_SA:
        if state == IkeState.DELETING:  # try again later (RFC 7296 2.25)
            return [Refusal(NotifyType.TEMPORARY_FAILURE)]
        if state not in (IkeState.ESTABLISHED, IkeState.REKEYED):
            return None
        sa_p = msg.get(SaPayload)
        if sa_p is not None and sa_p.proposals and sa_p.proposals[0].protocol == ProtocolId.IKE:
            return [IkeRekeyTask()]
        return [ChildCreateTask()]  # a new CHILD SA, or a rekey of the one REKEY_SA names
    if exchange == ExchangeType.INFORMATIONAL and state != IkeState.CONNECTING:
        tasks: list[Responder] = [DpdTask()]  # every request is answered; notifies logged
        deletes = msg.all(DeletePayload)
        if any(d.protocol == ProtocolId.IKE for d in deletes):
            tasks.append(IkeDeleteTask())
        elif deletes:
            tasks.append(ChildDeleteTask())
        return tasks
    return None


def respond(ctx: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
    """Answers a request (its message ID is the one expected, its body decrypted)."""
    ctx.touch(sa)
    if not msg.payloads and msg.exchange == ExchangeType.INFORMATIONAL and \
            sa.state != IkeState.CONNECTING:
        # a liveness check: what DpdTask answers (nothing) without making the task, as
        # thousands of idle tunnels ask every few seconds
        ctx.send(sa.respond(msg, []), sa.local, sa.remote)
        if sa.tasks:
            task_manager.kick(ctx, sa, now)
        return
    tasks = responder_tasks(sa, msg)
    if tasks is None:
        ctx.drop(f"unexpected {msg.describe()} in state {sa.state.value}")
        return
    if msg.exchange == ExchangeType.IKE_AUTH:
        ctx.half_open_done(sa)
    for task in tasks:
        task.process_r(ctx, sa, msg, now)
    payloads: list[Payload] = []
    for task in tasks:
        payloads += task.build_r(ctx, sa, now)
    ctx.send(sa.respond(msg, payloads), sa.local, sa.remote)
    if sa.doomed:
        ctx.remove_ike(sa, sa.delete_reason or "deleted", announce=sa.state != IkeState.CONNECTING)
        return
    task_manager.kick(ctx, sa, now)


def respond_init(ctx: TaskContext, parsed: Parsed, local: Address, remote: Address,
                 now: float) -> None:
    """Answers a new IKE_SA_INIT request: the task makes the half-open IKE SA (or refuses
    statelessly), the answer is cached as any response and signed later by AUTH."""
    task = IkeInitTask()
    sa = task.process_r(ctx, parsed, local, remote, now)
    if sa is None:
        return
    payloads = task.build_r(ctx, sa, now)
    sa.init_request = parsed.raw
    data = sa.respond(parsed.message, payloads)
    sa.init_response = data
    ctx.send(data, local, remote)
