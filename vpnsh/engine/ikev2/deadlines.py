"""The timers of one IKEv2 SA: which deadlines it has (:func:`of`, for the engine's timer
heap, ``ike/timers.py``) and what happens when one is due (:func:`act`): retransmission,
the half-open timeout, IKE SA lifetime and rekey, DPD, NAT keepalives, an IKE SA
collision's hand-over, CHILD SA rekey and lifetime.
"""

from __future__ import annotations

import math

from ..ike.liveness import quiet_allowed
from ..ike.sansio import KEEPALIVE
from . import collision, liveness, task_manager
from .sa import ChildState, IkeSa, IkeState, TaskContext
from .tasks.child_create import ChildCreateTask
from .tasks.ike_rekey import IkeRekeyTask
from .tasks.informational import ChildDeleteTask, IkeDeleteTask

HALF_OPEN_TIMEOUT = 30.0


def dpd_at(sa: IkeSa) -> float:
    """When ``sa``'s liveness check is due if nothing arrives from the peer before."""
    return sa.last_rx + quiet_allowed(sa.policy.dpd_interval, sa.initiator)  # ike/liveness.py


def of(sa: IkeSa) -> list[float]:
    """The deadlines of ``sa`` that :func:`act` would act on now (a past one must not spin)."""
    t: list[float] = []
    if sa.outstanding is not None:
        t.append(sa.outstanding.next_at)
    if sa.state == IkeState.CONNECTING and not sa.initiator:
        t.append(sa.created + HALF_OPEN_TIMEOUT)
    if sa.state in (IkeState.ESTABLISHED, IkeState.REKEYED):
        if sa.expires is not None:
            t.append(sa.expires)
        if sa.state == IkeState.ESTABLISHED:
            if sa.rekey_at is not None:
                t.append(sa.rekey_at)
            if (
                sa.policy.dpd_enabled
                and sa.policy.dpd_interval > 0
                and sa.outstanding is None
                and not sa.tasks
            ):
                t.append(dpd_at(sa))
            if sa.next_keepalive is not None and sa.nat_local:
                t.append(sa.next_keepalive)
            if sa.handover_at is not None:
                t.append(sa.handover_at)
        # each timer only when _check_timers would act on it (a past timer must not spin)
        for c in sa.children.values():
            if (
                c.state == ChildState.INSTALLED
                and not c.rekeying
                and sa.state == IkeState.ESTABLISHED
            ):
                t.append(c.rekey_at)
            if c.state != ChildState.DELETING:
                t.append(c.expires)
    return [x for x in t if math.isfinite(x)]

def earliest(sa: IkeSa) -> float | None:
    """``min(of(sa))`` (None: no deadline) without building the list: the engine's timer
    heap asks after every change of the SA (each DPD exchange, thousands a second)."""
    inf = math.inf
    t = sa.outstanding.next_at if sa.outstanding is not None else inf
    if not -inf < t < inf:  # NaN or infinite: not a deadline (as in of())
        t = inf
    state = sa.state
    if state is IkeState.ESTABLISHED or state is IkeState.REKEYED:
        x = sa.expires
        if x is not None and x < t:
            t = x
        if state is IkeState.ESTABLISHED:
            x = sa.rekey_at
            if x is not None and x < t:
                t = x
            policy = sa.policy
            if policy.dpd_enabled and policy.dpd_interval > 0 and sa.outstanding is None \
                    and not sa.tasks:
                x = dpd_at(sa)
                if x < t:
                    t = x
            x = sa.next_keepalive
            if x is not None and sa.nat_local and x < t:
                t = x
            x = sa.handover_at
            if x is not None and x < t:
                t = x
        for c in sa.children.values():
            cstate = c.state
            if cstate is ChildState.INSTALLED and not c.rekeying and state is IkeState.ESTABLISHED \
                    and c.rekey_at < t:
                t = c.rekey_at
            if cstate is not ChildState.DELETING and c.expires < t:
                t = c.expires
    elif state is IkeState.CONNECTING and not sa.initiator:
        x = sa.created + HALF_OPEN_TIMEOUT
        if x < t:
            t = x
    # a NaN never wins a comparison; +inf is no deadline (of() keeps finite ones only)
    return None if t == inf else t


def act(ctx: TaskContext, sa: IkeSa, now: float) -> None:
    """Acts on whatever of ``sa`` is due at ``now``."""
    ctx.touch(sa)
    if sa.outstanding is not None and not task_manager.retransmit(ctx, sa, now):
        return  # the peer never answered: the task failed the SA
    if sa.state == IkeState.CONNECTING:
        if not sa.initiator and now >= sa.created + HALF_OPEN_TIMEOUT:
            ctx.log(sa, "half-open IKE SA timed out: the peer never sent IKE_AUTH")
            ctx.remove_ike(sa, "half-open timeout")
        return
    if sa.state not in (IkeState.ESTABLISHED, IkeState.REKEYED):
        return
    if sa.expires is not None and now >= sa.expires:
        ctx.log(sa, "IKE SA lifetime expired")
        sa.tasks.clear()
        if sa.outstanding is None:
            task_manager.queue(ctx, sa, IkeDeleteTask("lifetime expired"), now)
        else:
            ctx.remove_ike(sa, "lifetime expired")
        return
    if sa.state == IkeState.ESTABLISHED:
        if sa.rekey_at is not None and now >= sa.rekey_at:
            sa.rekey_at = math.inf
            if not sa.rekeying and sa.peer_rekey is None:
                task_manager.queue(ctx, sa, IkeRekeyTask(), now)
        if (
            sa.policy.dpd_enabled
            and sa.policy.dpd_interval > 0
            and sa.outstanding is None
            and not sa.tasks
            and now >= dpd_at(sa)
        ):
            liveness.send_check(ctx, sa, now)  # as queueing a DpdTask, on the short path
        if sa.nat_local and sa.next_keepalive is not None and now >= sa.next_keepalive:
            ctx.send(KEEPALIVE, sa.local, sa.remote)
            sa.next_keepalive = now + max(sa.policy.keepalive_interval, 1)
        if sa.handover_at is not None and now >= sa.handover_at:
            collision.progress(ctx, sa, now)
    for c in list(sa.children.values()):
        if now >= c.expires and c.state != ChildState.DELETING:
            # a hard lifetime ends the SA now; the Delete tells the peer when it can
            ctx.log(sa, f"CHILD SA {c.policy.name} {c.spi_in:08X} lifetime expired")
            ctx.remove_child(sa, c, "lifetime expired")
            c.state = ChildState.DELETING
            task_manager.queue(ctx, sa, ChildDeleteTask([c], "lifetime expired", removed=True), now)
        elif (
            c.state == ChildState.INSTALLED
            and now >= c.rekey_at
            and not c.rekeying
            and sa.state == IkeState.ESTABLISHED
        ):
            c.rekey_at = math.inf
            task_manager.queue(ctx, sa, ChildCreateTask(c.policy, rekey_of=c), now)
