"""Liveness checks (DPD) between two peers that both check: one side probes, not both, and
the checks of many SAs go out together.

The responder of an IKE SA (IKEv1: of the ISAKMP SA) checks liveness half an interval later
than its initiator: the initiator's check (received) then always comes first and counts as
traffic from the peer. The same intervals on both sides would otherwise fire within a round
trip of each other and double the messages (10,000 IKEv2 tunnels at 5 s were 8,000
datagrams a second per daemon; IKEv1 R-U-THERE/ACK the same).

A check is due on a grid of ``dpd_grid(interval)`` seconds (:func:`check_at`): the checks
due within one step of the grid share one deadline, so one wake-up of the daemon sends
them all (10,000 tunnels at 5 s: 4 wake-ups a second for DPD instead of one per 20 ms of
timer slack), and their answers arrive in batches. The price: a check goes out up to one
step (at most 0.25 s, a twentieth of the default 5 s interval) after the interval of
silence, so a dead peer is declared up to that much later than interval x retries.
"""

from __future__ import annotations

import math

DPD_RESPONDER_SLACK = 0.5
DPD_GRID = 0.25  # seconds: the most a liveness check goes out after its interval
DPD_GRID_FRACTION = 0.1  # ... and at most this fraction of the interval


def quiet_allowed(interval: float, initiator: bool) -> float:
    """How long the peer may be silent before the side that is ``initiator`` checks."""
    return interval if initiator else interval * (1 + DPD_RESPONDER_SLACK)


def dpd_grid(interval: float) -> float:
    """The step of the grid the checks of an SA with DPD ``interval`` are due on."""
    return min(DPD_GRID, interval * DPD_GRID_FRACTION)


def check_at(last_rx: float, interval: float, initiator: bool) -> float:
    """When the liveness check is due if nothing arrives from the peer after ``last_rx``:
    the interval of silence (:func:`quiet_allowed`) rounded up to the grid."""
    t = last_rx + quiet_allowed(interval, initiator)
    step = dpd_grid(interval)
    if step <= 0 or not math.isfinite(t):
        return t
    return math.ceil(t / step) * step
