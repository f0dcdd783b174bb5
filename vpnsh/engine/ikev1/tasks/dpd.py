"""Dead peer detection (RFC 3706; strongSwan's ``isakmp_dpd``), both roles.

Initiator: :class:`Dpd` is run by the task manager when ``sa.dpd_next`` is due: it sends
R-U-THERE (unless the peer was heard from lately) and declares the peer dead after
``dpd_retry`` unanswered. Responder: the informational task answers R-U-THERE with
:func:`ack` and hands an R-U-THERE-ACK to :func:`ack_in`.
"""

from __future__ import annotations

import math
import struct

from ...ike.liveness import quiet_allowed
from ..message import NotifyPayload, NotifyType, Payload, ProtocolId
from ..sa import Phase1, msgid_bytes
from .base import Context, Outgoing, Status


class Dpd:
    def __init__(self, ctx: Context, sa: Phase1) -> None:
        self.ctx = ctx
        self.sa = sa

    def build(self, out: Outgoing) -> Status:
        """R-U-THERE in ``out``, or nothing (heard lately, or the peer is dead: FAILED)."""
        sa, now = self.sa, out.now
        interval = max(sa.policy.dpd_interval, 1)
        quiet = quiet_allowed(interval, sa.initiator)  # one side probes (ike/liveness.py)
        if sa.dpd_waiting is not None and sa.last_rx > sa.dpd_sent:
            # heard from the peer since our R-U-THERE (an authenticated message: its own
            # R-U-THERE, a quick mode, or the ACK of an earlier R-U-THERE that came after
            # we sent the next one, which ack_in does not match): it is alive. A busy
            # peer's late ACKs never add up to a dead peer (as strongSwan, any inbound
            # message counts)
            sa.dpd_waiting = None
            sa.dpd_tries = 0
        if sa.dpd_waiting is None and now < sa.last_rx + quiet:
            sa.dpd_next = sa.last_rx + quiet  # heard from the peer lately
            return Status.DONE
        if sa.dpd_waiting is not None:
            sa.dpd_tries += 1
            if sa.dpd_tries >= max(sa.policy.dpd_retry, 1):
                self._peer_dead()
                return Status.FAILED
        if sa.dpd_seq == 0:
            sa.dpd_seq = self.ctx.rng.randrange(1, 0x7FFFFFFF)
        sa.dpd_seq = (sa.dpd_seq + 1) & 0xFFFFFFFF or 1
        sa.dpd_waiting = sa.dpd_seq
        sa.dpd_sent = now
        out.payloads.append(NotifyPayload(NotifyType.R_U_THERE, ProtocolId.ISAKMP,
                                          sa.cky_i + sa.cky_r, msgid_bytes(sa.dpd_seq)))
        sa.dpd_next = now + interval
        return Status.DONE

    def _peer_dead(self) -> None:
        sa, ctx = self.sa, self.ctx
        reason = (f"peer {sa.remote[0]} is dead: no answer to {sa.policy.dpd_retry} DPD "
                  f"R-U-THERE messages")
        ctx.log(sa, reason, level="ERROR")
        for c in ctx.children_of(sa.gateway):
            ctx.remove_child(c, reason)
        for other in ctx.phase1_sas(sa.gateway):
            ctx.remove_p1(other, reason)


def next_check(sa: Phase1) -> float:
    """When :meth:`Dpd.build` has something to do. While no R-U-THERE waits, that is not
    before the peer has been quiet long enough: each message from it moves the check on,
    rather than the check waking to find it heard lately (the responder of 10,000 SAs,
    probed by their initiators, woke 2,000 times a second for nothing)."""
    if sa.dpd_waiting is not None or not math.isfinite(sa.dpd_next):
        return sa.dpd_next
    quiet = quiet_allowed(max(sa.policy.dpd_interval, 1), sa.initiator)
    return max(sa.dpd_next, sa.last_rx + quiet)


def ack(sa: Phase1, n: NotifyPayload) -> list[Payload]:
    """Our answer to the peer's R-U-THERE ``n``."""
    return [NotifyPayload(NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP, sa.cky_i + sa.cky_r,
                          n.data[:4])]


def ack_in(sa: Phase1, n: NotifyPayload, now: float) -> None:
    """The peer's R-U-THERE-ACK: it answers ours if the sequence number matches."""
    if len(n.data) >= 4 and struct.unpack("!I", n.data[:4])[0] == sa.dpd_waiting:
        sa.dpd_waiting = None
        sa.dpd_tries = 0
        sa.dpd_next = now + quiet_allowed(max(sa.policy.dpd_interval, 1), sa.initiator)
