"""Issue 11, item 7: the user-space data plane's acquire table stays bounded while a
tunnel stays down and every new flow into it asks for an SA."""

from __future__ import annotations

import ipaddress

from tests.unit.test_spd_dataplane import Clock, Recorder, outbound, packet
from vpnsh.engine.dataplane.acquire import ACQUIRE_HOLDOFF, ACQUIRED_MAX
from vpnsh.engine.dataplane.userspace import UserspaceDataPlane


def test_acquire_table_is_bounded_and_keeps_the_hold_off() -> None:
    clock = Clock()
    dp = UserspaceDataPlane(clock=clock)
    rec = Recorder(dp)
    base = int(ipaddress.IPv4Address("10.2.0.0"))
    flows = ACQUIRED_MAX * 3
    for i in range(flows):  # a new flow for each packet, the tunnel never comes up
        outbound(dp, packet("10.1.0.1", str(ipaddress.IPv4Address(base + i)), dport=1000 + i % 50))
        clock.now += 0.001
    assert len(dp._acquired) <= ACQUIRED_MAX  # was one entry per flow: 3 x the bound
    assert len(rec.acquires) == flows  # every new flow still asked once
    # the newest flows keep their hold-off: no second acquire for them
    outbound(dp, packet("10.1.0.1", str(ipaddress.IPv4Address(base + flows - 1)),
                        dport=1000 + (flows - 1) % 50))
    assert len(rec.acquires) == flows
    # once their hold-off is over they are stale and go first
    clock.now += ACQUIRE_HOLDOFF + 1
    outbound(dp, packet("10.1.0.1", "10.3.0.1"))
    dp._prune_acquired(clock.now)
    assert len(dp._acquired) == 1
