"""Phase 1 renegotiation (strongSwan's IKEv1 ``reauth``): IKEv1 has no rekey of an ISAKMP
SA, so at its soft lifetime a new one is negotiated from scratch (a new main or aggressive
mode) while the old one stays up; once the new one is established the old one lives
``P1_REPLACE_GRACE`` more seconds, then is deleted.

The task has no message of its own: :meth:`Reauth.start` asks the context for a new ISAKMP
SA (whose phase 1 task does the talking); :func:`new_sa_up` and :func:`retire_due` are the
two later steps, run by the engine when a phase 1 comes up and by the old SA's task
manager on its timer.
"""

from __future__ import annotations

import math

from ..sa import P1State, Phase1
from .base import Context, Status

# A replaced phase 1 SA lives on this long after the new one is up (but not past its
# lifetime) before we delete it. A peer that adopts the phase 2 SAs of the old phase 1
# (strongSwan's IKEv1 reauthentication) does so in a job of its own once the new phase 1
# is up; a Delete of the old ISAKMP SA handled before that job takes the phase 2 SAs down
# with it, silently. strongSwan waits 10 s before deleting an IKEv1 SA it replaced, too.
P1_REPLACE_GRACE = 10.0


class Reauth:
    def __init__(self, ctx: Context, sa: Phase1) -> None:
        self.ctx = ctx
        self.sa = sa

    def start(self, now: float) -> Status:
        """The soft lifetime of ``sa`` is reached: a new phase 1 if one is needed (phase 2
        SAs of the gateway live on and no newer phase 1 exists)."""
        sa, ctx = self.sa, self.ctx
        sa.rekey_at = math.inf
        newer = any(o is not sa and o.sn > sa.sn for o in ctx.phase1_sas(sa.gateway))
        needed = bool(ctx.children_of(sa.gateway))
        if newer or not needed:
            return Status.DONE
        sa.replaced = True
        ctx.log(sa, "IKE phase-1 SA soft lifetime reached: negotiating a new one")
        ctx.start_phase1(sa.policy, now)
        return Status.DONE


def new_sa_up(ctx: Context, sa: Phase1, now: float) -> None:
    """``sa`` is established: the phase 1 SAs it replaces are deleted after the grace."""
    for prev in ctx.phase1_sas(sa.gateway):
        if (prev is not sa and prev.replaced and prev.state == P1State.ESTABLISHED
                and not math.isfinite(prev.retire_at)):
            # not deleted yet: the peer may still be moving its phase 2 SAs over
            prev.retire_at = min(now + P1_REPLACE_GRACE, prev.expires or math.inf)
            ctx.log(prev, f"a new phase 1 SA is up: this one is deleted in "
                          f"{prev.retire_at - now:.0f} seconds")


def retire_due(sa: Phase1, now: float) -> bool:
    """The replaced ``sa`` is to be deleted now."""
    return now >= sa.retire_at
