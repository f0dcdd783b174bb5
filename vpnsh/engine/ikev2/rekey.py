"""IKEv2 rekey bookkeeping (RFC 7296 2.8): make-before-break and the collision rules.

A rekey of a CHILD SA or of the IKE SA leaves two SAs side by side until the old one is
deleted; when both peers rekey the same SA at once, the exchange holding the lowest nonce
made the redundant SA (2.8.1 for CHILD SAs, 2.8.2 for the IKE SA). The tasks that rekey
(``tasks/child_create.py``, ``tasks/ike_rekey.py``) report here; what this module may touch
of the engine is :class:`Context`, no more.
"""

from __future__ import annotations

from typing import Protocol

from ..ike.events import IkeEstablished
from .sa import ChildSa, ChildState, Events, IkeSa, IkeState, Log, SaWatch, TaskQueue
from .tasks.informational import ChildDeleteTask, IkeDeleteTask


class Context(Log, Events, SaWatch, TaskQueue, Protocol):
    """What rekey bookkeeping uses: log, the event, the SAs' liveness and timers, and the
    task queue (for the Delete of the old SA)."""


def child_rekeyed(
    ctx: Context, sa: IkeSa, old: ChildSa, new: ChildSa, ni: bytes, nr: bytes, ours: bool
) -> None:
    """Make-before-break, and the collision rule of RFC 7296 2.8.1."""
    ctx.touch(sa)
    if ours:
        old.our_rekey = (new, ni, nr)
    else:
        old.peer_rekey = (new, ni, nr)
    if old.state == ChildState.INSTALLED:
        old.state = ChildState.REKEYED
    now = new.created  # the time of the exchange that made ``new``
    if old.our_rekey is not None and old.peer_rekey is not None:
        mine, a, b = old.our_rekey
        theirs, c, d = old.peer_rekey
        if min(a, b) <= min(c, d):  # our exchange holds the lowest nonce: ours is redundant
            ctx.log(
                sa,
                f"CHILD SA rekey collision on {old.policy.name}: ours has the lowest "
                f"nonce, deleting our new SA {mine.spi_in:08X}",
            )
            ctx.queue_task(sa, ChildDeleteTask([mine], "redundant after rekey collision"), now)
        else:
            ctx.log(
                sa,
                f"CHILD SA rekey collision on {old.policy.name}: peer's has the "
                f"lowest nonce, keeping our new SA {mine.spi_in:08X}",
            )
            if not any(isinstance(t, ChildDeleteTask) and old in t.children for t in sa.tasks):
                ctx.queue_task(sa, ChildDeleteTask([old], "rekeyed"), now)
    elif ours:
        ctx.queue_task(sa, ChildDeleteTask([old], "rekeyed"), now)


def ike_rekeyed(
    ctx: Context, old: IkeSa, new: IkeSa, ni: bytes, nr: bytes, ours: bool, now: float
) -> None:
    """A rekey of ``old`` made ``new``: move the CHILD SAs over, resolve collisions."""
    ctx.touch(old)
    ctx.touch(new)
    if ours:
        old.our_rekey = (new, ni, nr)
    else:
        old.peer_rekey = (new, ni, nr)
    role = "INITIATOR" if ours else "RESPONDER"
    ctx.log(
        new,
        f"====> IKEv2 IKE SA NEGOTIATION SUCCEEDED AS {role}, rekey; gateway "
        f"{new.gateway} <==== replaces SN {old.sn}",
    )
    ctx.emit(IkeEstablished(new.gateway, new.sn, ours, rekey=True))
    if old.our_rekey is not None and old.peer_rekey is not None:
        mine, a, b = old.our_rekey
        theirs = old.peer_rekey[0]
        winner = rekey_winner(old)
        loser = mine if winner is theirs else theirs
        if loser is mine:
            ctx.log(
                old,
                f"IKE SA rekey collision: ours has the lowest nonce, deleting our "
                f"new SN {mine.sn}",
            )
        else:
            ctx.log(
                old,
                f"IKE SA rekey collision: peer's has the lowest nonce, keeping "
                f"our new SN {mine.sn}",
            )
        move_children(ctx, old, winner)
        move_children(ctx, loser, winner)
        old.replaced = loser.replaced = True
        if loser is mine:
            ctx.queue_task(mine, IkeDeleteTask("redundant after IKE rekey collision"), now)
        elif ctx.alive(theirs):
            # the peer deletes its redundant SA once it learns it lost; deleting the old
            # SA before then could strand the peer's exchange (its response may be lost)
            theirs.then_delete = old
        else:
            delete_old(ctx, old, now)
        old.state = IkeState.REKEYED if old.state == IkeState.ESTABLISHED else old.state
        ctx.kick_tasks(winner, now)
        return
    if not ours and old.rekeying:
        return  # our own rekey of ``old`` is in flight: its outcome decides (RFC 7296 2.8.2)
    move_children(ctx, old, new)
    old.state = IkeState.REKEYED
    old.replaced = True
    if ours:
        ctx.queue_task(old, IkeDeleteTask("rekeyed"), now)
    ctx.kick_tasks(new, now)


def delete_old(ctx: Context, old: IkeSa, now: float) -> None:
    if (
        ctx.alive(old)
        and old.state
        not in (
            IkeState.DELETING,
            IkeState.DEAD,
        )
        and not any(isinstance(t, IkeDeleteTask) for t in old.tasks)
    ):
        ctx.queue_task(old, IkeDeleteTask("rekeyed"), now)


def adopt_peer_rekey(ctx: Context, old: IkeSa, now: float) -> None:
    """Our rekey of ``old`` failed; if the peer rekeyed it meanwhile, follow the peer's."""
    if old.peer_rekey is not None and old.our_rekey is None:
        new = old.peer_rekey[0]
        if ctx.alive(new):
            move_children(ctx, old, new)
            old.state = IkeState.REKEYED
            old.replaced = True
            ctx.kick_tasks(new, now)


def rekey_winner(old: IkeSa) -> IkeSa:
    """RFC 7296 2.8.2: the new SA from the exchange holding the lowest nonce is redundant."""
    assert old.our_rekey is not None and old.peer_rekey is not None
    mine, a, b = old.our_rekey
    theirs, c, d = old.peer_rekey
    return theirs if min(a, b) <= min(c, d) else mine


def move_children(ctx: Context, src: IkeSa, dst: IkeSa) -> None:
    """CHILD SAs, and the CHILD SA work queued for them, follow a rekeyed IKE SA."""
    if src is dst:
        return
    ctx.touch(src)
    ctx.touch(dst)
    for c_sa in list(src.children.values()):
        dst.children[c_sa.child_id] = c_sa
        c_sa.owner = dst
    src.children.clear()
    for t in list(src.tasks):
        if getattr(t, "follows_children", False):  # CREATE_CHILD_SA / child Delete work
            dst.tasks.append(t)
            src.tasks.remove(t)


def successor(ctx: Context, sa: IkeSa) -> IkeSa | None:
    """The live IKE SA that replaced ``sa`` by a rekey, if any."""
    alive = [
        x[0]
        for x in (sa.our_rekey, sa.peer_rekey)
        if x is not None
        and ctx.alive(x[0])
        and x[0].state == IkeState.ESTABLISHED
    ]
    if len(alive) == 2:
        return rekey_winner(sa)
    return alive[0] if alive else None
