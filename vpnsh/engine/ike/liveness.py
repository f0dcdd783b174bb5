"""Liveness checks (DPD) between two peers that both check: one side probes, not both.

The responder of an IKE SA (IKEv1: of the ISAKMP SA) checks liveness half an interval later
than its initiator: the initiator's check (received) then always comes first and counts as
traffic from the peer. The same intervals on both sides would otherwise fire within a round
trip of each other and double the messages (10,000 IKEv2 tunnels at 5 s were 8,000
datagrams a second per daemon; IKEv1 R-U-THERE/ACK the same).
"""

from __future__ import annotations

DPD_RESPONDER_SLACK = 0.5


def quiet_allowed(interval: float, initiator: bool) -> float:
    """How long the peer may be silent before the side that is ``initiator`` checks."""
    return interval if initiator else interval * (1 + DPD_RESPONDER_SLACK)
