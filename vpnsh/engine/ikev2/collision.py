"""Two IKE SAs for one gateway because both peers initiated at once (RFC 7296 2.8.1, by
analogy): one of them is redundant.

When an IKE SA is established while another established one of the same gateway and peer
address exists, both peers pick the same survivor: the IKE SA whose exchanges hold the
lowest of the four nonces is redundant, as for a CHILD SA rekey collision. The redundant
one is deleted with a Delete once the survivor carries a CHILD SA for every proxy-id it
had (make-before-break: the data plane sends on the survivor's SAs once the redundant
ones are removed):

- the side that initiated the survivor creates there the proxy-ids it lacks;
- when the negotiations overlapped here (each SA was created before the other was up),
  the side that initiated the redundant SA deletes it at once; the other side waits
  :data:`GRACE` seconds for that Delete (only one side sends it, so that two Deletes do
  not cross), then creates what is missing and deletes it itself. strongSwan keeps both
  SAs of a collision (its ``uniqueids`` check replaces only on INITIAL_CONTACT, or an
  older SA under ``uniqueids = replace``), so against it we always end it;
- when the peer's SA arrived after ours was up (its IKE_SA_INIT was late: strongSwan
  retransmits after 4 s; or it re-authenticates, make-before-break, and deletes the old
  SA itself) we wait ``2 * GRACE``: a re-authenticating peer has deleted the old SA by
  then, and a vpnsh peer that saw the overlap has ended the collision.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..policy import ChildPolicy
from . import task_manager
from .sa import ChildState, IkeSa, IkeState, TaskContext
from .tasks.child_create import ChildCreateTask
from .tasks.informational import IkeDeleteTask

GRACE = 10.0  # seconds the side that did not initiate the redundant SA leaves to the peer
POLL = 1.0  # while waiting for the survivor's CHILD SAs


def _peer_id(sa: IkeSa) -> bytes | None:
    peer = sa.id_r if sa.initiator else sa.id_i
    return peer.body() if peer is not None else None


def collides(sa: IkeSa, other: IkeSa) -> bool:
    """``other`` is another established IKE SA with the same peer (address and ID: two
    peers behind one NAT address under one dynamic gateway are no collision)."""
    return (
        other is not sa
        and other.state == IkeState.ESTABLISHED
        and not other.rekey
        and other.superseded_by is None
        and other.remote[0] == sa.remote[0]
        and _peer_id(other) == _peer_id(sa)
    )


def overlapped(sa: IkeSa, other: IkeSa) -> bool:
    """``other`` came up while ``sa`` was being negotiated."""
    return other.established_seq > sa.created_seq


def redundant(a: IkeSa, b: IkeSa) -> IkeSa:
    """Of two colliding IKE SAs, the one both peers delete: lowest nonce."""
    return a if min(a.ni, a.nr) < min(b.ni, b.nr) else b


def established(ctx: TaskContext, sa: IkeSa, same_gateway: Iterable[IkeSa], now: float) -> None:
    """``sa`` was just established: decide a collision with another SA of its gateway.
    What follows runs from the redundant SA's timer (:func:`progress`), once the CHILD
    SA that came with ``sa``'s IKE_AUTH is installed."""
    other = next((o for o in same_gateway if collides(sa, o)), None)
    if other is None:
        return
    loser = redundant(sa, other)
    winner = other if loser is sa else sa
    ctx.log(
        winner,
        f"IKE SA collision with SN {other.sn if winner is sa else sa.sn} (both peers "
        f"initiated): SN {loser.sn} has the lowest nonce and is redundant, SN {winner.sn} "
        f"stays",
    )
    loser.superseded_by = winner
    loser.replaced = True
    if overlapped(sa, other):
        loser.handover_deadline = now + GRACE
        loser.handover_at = now
    else:  # the peer's SA came after ours was up: the peer may yet delete the old one
        loser.handover_deadline = loser.handover_at = now + 2 * GRACE
    for t in list(loser.tasks):  # CHILD SA work waiting on the redundant SA
        if getattr(t, "follows_children", False):
            loser.tasks.remove(t)
            if winner.initiator:  # moves over; else the peer creates it there
                winner.tasks.append(t)
            elif isinstance(t, ChildCreateTask) and t.policy is not None:
                loser.pending_children.discard(t.policy.name)


def missing(loser: IkeSa, winner: IkeSa) -> list[ChildPolicy]:
    """Proxy-ids with a CHILD SA on ``loser`` and none on ``winner``."""
    have = {c.policy.name for c in winner.children.values() if c.state == ChildState.INSTALLED}
    out: dict[str, ChildPolicy] = {}
    for c in loser.children.values():
        if c.state == ChildState.INSTALLED and c.policy.name not in have:
            out[c.policy.name] = c.policy
    return list(out.values())


def progress(ctx: TaskContext, loser: IkeSa, now: float) -> None:
    """The redundant ``loser`` at its ``handover_at`` timer: create on the survivor the
    proxy-ids it lacks, delete ``loser``, or wait."""
    winner = loser.superseded_by
    if winner is None or not ctx.alive(loser) or loser.state != IkeState.ESTABLISHED:
        loser.handover_at = None
        return
    if not ctx.alive(winner) or winner.state != IkeState.ESTABLISHED:
        ctx.log(loser, f"IKE SA collision: SN {winner.sn} is gone, SN {loser.sn} stays")
        loser.superseded_by = None
        loser.replaced = False
        loser.handover_at = None
        return
    if loser.handover_at is None or now < loser.handover_at:
        return
    late = now >= loser.handover_deadline  # the peer did not do its part
    lacking = missing(loser, winner)
    if lacking and not loser.handover_created and (winner.initiator or late):
        loser.handover_created = True
        for policy in lacking:
            if policy.name not in winner.pending_children:
                winner.pending_children.add(policy.name)
                task_manager.queue(ctx, winner, ChildCreateTask(policy), now)
    if lacking and (
        not loser.handover_created or any(p.name in winner.pending_children for p in lacking)
    ):
        loser.handover_at = now + POLL  # the survivor's CHILD SAs are on their way
        return
    if not loser.initiator and not late:
        loser.handover_at = loser.handover_deadline  # the peer deletes it, we think
        return
    loser.handover_at = None
    loser.tasks.clear()
    task_manager.queue(ctx, loser, IkeDeleteTask("redundant after IKE SA collision"), now)
