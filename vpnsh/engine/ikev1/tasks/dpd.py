"""Dead peer detection (RFC 3706; strongSwan's ``isakmp_dpd``), both roles.

Initiator: :class:`Dpd` is run by the task manager when ``sa.dpd_next`` is due: it sends
R-U-THERE (unless the peer was heard from lately) and declares the peer dead after
``dpd_retry`` unanswered. Responder: the informational task answers R-U-THERE with
:func:`ack` and hands an R-U-THERE-ACK to :func:`ack_in`.

Timing, for thousands of SAs and a loop that may stall: an ACK does not move the next
check (:func:`heard`), and checks that ran late after a stall of ours go back to their
own times in the interval (:func:`next_on_grid`), so a stall of either side does not line
the SAs' R-U-THEREs up into one burst per interval that the peer's socket cannot take;
and a check that runs late after our own stall sends another R-U-THERE instead of counting
one unanswered (``LATE_CHECK``).
"""

from __future__ import annotations

import math
import struct

from ...ike.liveness import quiet_allowed
from ..message import NotifyPayload, NotifyType, Payload, ProtocolId
from ..sa import Phase1, msgid_bytes
from .base import Context, Outgoing, Status

# a check that runs later than this part of an interval after it was due ran after a stall
# of our own loop (a long operation, CPU starvation): the peer's answer may be sitting
# unread in our socket, so the check does not count as an unanswered R-U-THERE (once until
# the peer is heard again: a loop late at every check still finds a dead peer, later)
LATE_CHECK = 0.5
# seconds: a check later than this ran after a stall of our loop, not merely in a wake-up
# that ran several checks together (service.py TIMER_SLACK, 20 ms) or on a busy host: the
# next check is then on its own time (next_on_grid), not counted from now
STALLED = 0.25


class Dpd:
    def __init__(self, ctx: Context, sa: Phase1) -> None:
        self.ctx = ctx
        self.sa = sa

    def build(self, out: Outgoing) -> Status:
        """R-U-THERE in ``out``, or nothing (heard lately, or the peer is dead: FAILED)."""
        sa, now = self.sa, out.now
        interval = max(sa.policy.dpd_interval, 1)
        quiet = quiet_allowed(interval, sa.initiator)  # one side probes (ike/liveness.py)
        due = next_check(sa)
        if sa.dpd_waiting is not None and sa.last_rx > sa.dpd_sent:
            # heard from the peer since our R-U-THERE (an authenticated message: its own
            # R-U-THERE, a quick mode, or the ACK of an earlier R-U-THERE that came after
            # we sent the next one, which ack_in does not match): it is alive. A busy
            # peer's late ACKs never add up to a dead peer (as strongSwan, any inbound
            # message counts)
            sa.dpd_waiting = None
            sa.dpd_tries = 0
            sa.dpd_excused = False
        if sa.dpd_waiting is None and now < heard(sa) + quiet:
            sa.dpd_next = heard(sa) + quiet  # heard from the peer lately
            return Status.DONE
        if sa.dpd_waiting is not None and now - due > interval * LATE_CHECK and (
                not sa.dpd_excused):
            # a verdict only from a check on time: the peer had an interval to answer while
            # we were able to hear it. After a stall of ours, the check sends another
            # R-U-THERE (below) and the next check, on time, counts
            sa.dpd_excused = True
        elif sa.dpd_waiting is not None:  # (excused until the peer is heard again)
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
        # the responder of the ISAKMP SA keeps its longer period when it probes: the
        # initiator's next R-U-THERE then comes first and makes it the only prober again.
        # A check on time counts the next from now: the checks that one wake-up ran (due
        # within the loop's timer slack) stay together and run in one wake-up again
        sa.dpd_next = (now + quiet if now - due <= STALLED else
                       next_on_grid(due, quiet, now + interval * 0.5))
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


def next_on_grid(due: float, interval: float, not_before: float) -> float:
    """The check after the one due at ``due``: ``due`` plus whole ``interval``s (the quiet
    time this side allows, ike/liveness.py), not before
    ``not_before`` (after an R-U-THERE: half an interval from now, the peer's time to
    answer; after hearing from the peer: the quiet time). Each SA keeps its own time in the
    interval: after a stall of our loop, the checks of every SA that fell due during it run
    together, and ``now + interval`` would keep them together ever after (10,000 SAs'
    R-U-THEREs in one burst each interval, more than the peer's socket buffer holds: the
    same SAs' messages lost each time until they were declared dead)."""
    if not math.isfinite(due):
        return not_before
    return due + interval * max(1, math.ceil((not_before - due) / interval))


def heard(sa: Phase1) -> float:
    """When the peer was last heard from, as far as putting a check off goes. The ACK of our
    own R-U-THERE does not count: the next check stays where it was set when the R-U-THERE
    went out. Counted from the ACK's arrival, the checks of all SAs whose ACKs came in one
    burst (a peer that answered late, after a stall of its loop) would fall at one instant."""
    return -math.inf if sa.last_rx == sa.dpd_acked else sa.last_rx


def next_check(sa: Phase1) -> float:
    """When :meth:`Dpd.build` has something to do. While no R-U-THERE waits, that is not
    before the peer has been quiet long enough: each message from it moves the check on,
    rather than the check waking to find it heard lately (the responder of 10,000 SAs,
    probed by their initiators, woke 2,000 times a second for nothing)."""
    if sa.dpd_waiting is not None or not math.isfinite(sa.dpd_next):
        return sa.dpd_next
    quiet = quiet_allowed(max(sa.policy.dpd_interval, 1), sa.initiator)
    return max(sa.dpd_next, heard(sa) + quiet)


def ack(sa: Phase1, n: NotifyPayload) -> list[Payload]:
    """Our answer to the peer's R-U-THERE ``n``."""
    return [NotifyPayload(NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP, sa.cky_i + sa.cky_r,
                          n.data[:4])]


def ack_in(sa: Phase1, n: NotifyPayload, now: float) -> None:
    """The peer's R-U-THERE-ACK: it answers ours if the sequence number matches."""
    sa.dpd_acked = now  # matched or late: it does not move the next check (heard())
    if len(n.data) >= 4 and struct.unpack("!I", n.data[:4])[0] == sa.dpd_waiting:
        sa.dpd_waiting = None
        sa.dpd_tries = 0
        sa.dpd_excused = False
