"""IKEv1 DPD when one side's loop stalls (a long operation, CPU starvation).

bench/scale --ike-version ikev1 once kept 1,590 of 10,000 tunnels through a 20 s idle
window with DPD every 5 s. A stall of either daemon lined the SAs' R-U-THEREs up: after the
peer's stall its ACKs came in one burst and each SA's next check was counted from its ACK's
arrival; after our own stall the overdue checks ran together and the next ones were counted
from then. From then on the same thousands of SAs sent their R-U-THERE at one instant each
interval, more than the peer's socket buffer holds, and the same ones were lost every time
until DPD declared those peers dead. Here a node's stall holds the datagrams sent to it (its
socket) and runs its timers before reading them, and the wire drops what one node sends at
one instant beyond a socket buffer's worth.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, cast

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import ChildRemoved, IkeDeleted
from vpnsh.engine.ikev1 import message as m
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy

BURST = 6  # datagrams from one node at one instant that the peer's socket buffer holds


class StallWire(Wire):
    def __init__(self, clock: FakeClock, *nodes: Node) -> None:
        super().__init__(clock, *nodes)
        self.stalled: Node | None = None
        self.held: list[tuple[Node, bytes, Any, Any]] = []
        self.burst: Counter[tuple[str, float]] = Counter()
        self.burst_limit: int | None = None
        self.burst_dropped = 0

    def step(self) -> int:
        moved = 0
        for node in list({id(n): n for n in self.nodes.values()}.values()):
            if node is self.stalled:
                continue  # a stalled loop sends nothing either
            for data, local, remote in node.engine.datagrams_to_send():
                moved += 1
                self.sent.append((node.name, data, local, remote))
                if self.drop is not None and self.drop(data, node.name):
                    continue
                key = (node.name, self.clock.now)
                self.burst[key] += 1
                if self.burst_limit is not None and self.burst[key] > self.burst_limit:
                    self.burst_dropped += 1
                    continue
                target = self.nodes[remote[0]]
                if target is self.stalled:
                    self.held.append((target, data, remote, local))
                    continue
                target.engine.receive(data, remote, local, self.clock.now)
        for node in self.nodes.values():
            node.drain()
        return moved

    def advance(self, seconds: float, step: float = 1.0) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            timers = [t for n in self.nodes.values() if n is not self.stalled
                      and (t := n.engine.next_timer()) is not None]
            self.clock.now = max(self.clock.now, min([end, self.clock.now + step, *timers]))
            for n in {id(x): x for x in self.nodes.values()}.values():
                if n is not self.stalled:
                    n.engine.handle_timer(self.clock.now)
            self.run(1000)

    def stall(self, node: Node, seconds: float) -> None:
        """``node``'s loop blocked ``seconds``; then its timers run before it reads what
        came meanwhile (the worst order)."""
        self.stalled = node
        self.advance(seconds, step=0.1)
        self.stalled = None
        node.engine.handle_timer(self.clock.now)
        held, self.held = self.held, []
        for target, data, local, remote in held:
            target.engine.receive(data, local, remote, self.clock.now)
        self.run(1000)


def tunnels(n: int, **dpd: Any) -> tuple[StallWire, Node, Node]:
    """``n`` ISAKMP SAs from a to b (one address pair each), set up over one DPD interval
    so that their checks are spread over it as after any real setup."""
    clock = FakeClock()
    a_eng = Ikev1Engine(clock=clock, rng=random.Random(1))
    b_eng = Ikev1Engine(clock=clock, rng=random.Random(2))
    a = Node("a", cast(Any, a_eng), "10.1.0.1")
    b = Node("b", cast(Any, b_eng), "10.2.0.1")
    wire = StallWire(clock, a, b)
    kw = {"version": "ikev1", "dpd_interval": 5, **dpd}
    for i in range(n):
        la, lb = f"10.1.0.{i + 1}", f"10.2.0.{i + 1}"
        wire.nodes[la], wire.nodes[lb] = a, b
        a_eng.add_policies([ike_policy(f"GA{i}", la, lb, **kw)], (child_policy(f"TA{i}", f"GA{i}"),),
                           now=clock.now)
        b_eng.add_policies([ike_policy(f"GB{i}", lb, la, **kw)], (child_policy(f"TB{i}", f"GB{i}"),),
                           now=clock.now)
    for i in range(n):
        a_eng.initiate(f"GA{i}", now=clock.now)
        wire.run(1000)
        wire.advance(5.0 / n, step=5.0 / n)
    assert len(a_eng.child_sas()) == n and len(b_eng.child_sas()) == n
    return wire, a, b


def eng(n: Node) -> Ikev1Engine:
    return cast(Ikev1Engine, n.engine)


def informational_bursts(wire: StallWire, name: str) -> int:
    """The most datagrams ``name`` sent at one instant (since ``wire.burst`` was cleared)."""
    return max((k for (sender, _t), k in wire.burst.items() if sender == name), default=0)


@pytest.mark.parametrize("stalled", ["a", "b"])
def test_a_stall_does_not_line_up_the_checks_and_lose_the_tunnels(stalled: str) -> None:
    """After a 3 s stall of either side, the checks keep their own times in the interval:
    no burst of R-U-THEREs larger than the peer can take, and every tunnel stays up
    (before: the SAs whose checks fell in the stall sent theirs at one instant ever after,
    those beyond the socket buffer were lost every interval and declared dead)."""
    n = 20
    wire, a, b = tunnels(n)
    wire.advance(12)
    wire.burst_limit = BURST
    wire.burst.clear()
    wire.stall(a if stalled == "a" else b, 3.0)
    wire.burst.clear()
    wire.burst_dropped = 0
    wire.advance(60)
    assert informational_bursts(wire, "a") <= 3 and wire.burst_dropped == 0
    assert not a.of(IkeDeleted) and not a.of(ChildRemoved)
    assert len(eng(a).child_sas()) == n and len(eng(b).child_sas()) == n


def test_no_verdict_from_a_check_that_ran_late_after_our_own_stall() -> None:
    """One try (dpd_retry 1) and a 12 s stall of the prober right after its R-U-THERE: the
    peer's ACK is in the socket, unread, when the overdue check runs. The check ran late, so
    it sends another R-U-THERE instead of a verdict; the peer answers, nothing is lost."""
    wire, a, b = tunnels(1, dpd_retry=1)
    wire.advance(20)
    (sa,) = eng(a).sas.values()
    wire.advance(sa.dpd_next - wire.clock.now - 0.01, step=0.1)
    wire.clock.now = sa.dpd_next
    eng(a).handle_timer(wire.clock.now)  # R-U-THERE out ...
    ((data, local, remote),) = eng(a).datagrams_to_send()
    eng(b).receive(data, remote, local, wire.clock.now)
    wire.stall(a, 12.0)  # ... and a blocked before reading the ACK
    assert wire.sent[-1][0] == "b"
    wire.advance(30)
    assert not a.of(IkeDeleted) and len(eng(a).child_sas()) == 1


@pytest.mark.parametrize("stall", [0.0, 12.0])
def test_a_dead_peer_is_still_found_in_time(stall: float) -> None:
    """The peer falls silent (with a stall of our own on top): the verdict comes after
    dpd_retry unanswered checks on time, one interval more at most after a stall."""
    wire, a, b = tunnels(1, dpd_retry=3)
    wire.advance(20)
    wire.drop = lambda data, sender: sender == "b" and m.is_ikev1(data)
    t0 = wire.clock.now
    if stall:
        wire.stall(a, stall)
    deadline = t0 + stall + 5 * (3 + 2)
    while not a.of(IkeDeleted) and wire.clock.now < deadline:
        wire.advance(0.5, step=0.5)
    (gone,) = a.of(IkeDeleted)
    assert "is dead" in gone.reason
    assert wire.clock.now - t0 >= 5 * 2  # not before the retries


def test_a_loop_late_at_every_check_still_finds_a_dead_peer() -> None:
    """Only one late check is excused until the peer is heard again: a loop that runs every
    check 3 s late (beyond half an interval: each next check is then a whole interval
    further, at least half an interval after the R-U-THERE) still declares a silent peer
    dead, later than on time (about 25 s), not never."""
    wire, a, b = tunnels(1, dpd_retry=3)
    wire.advance(20)
    wire.drop = lambda data, sender: sender == "b" and m.is_ikev1(data)
    t0 = wire.clock.now
    while not a.of(IkeDeleted) and wire.clock.now < t0 + 60:
        due = eng(a).next_timer()
        assert due is not None
        wire.clock.now = max(wire.clock.now, due + 3.0)
        eng(a).handle_timer(wire.clock.now)
        wire.run(1000)
    (gone,) = a.of(IkeDeleted)
    assert "is dead" in gone.reason
    assert wire.clock.now - t0 <= 2 * 5 * (3 + 1) + 3 + 5


def test_after_the_initiator_was_silent_it_is_the_only_prober_again() -> None:
    """The responder of the ISAKMP SA probes while the initiator is silent, every 1.5
    intervals; once the initiator is back, its R-U-THERE comes first and the responder
    stops (one R-U-THERE/ACK pair an interval, not two)."""
    wire, a, b = tunnels(1)
    wire.advance(20)
    wire.drop = lambda data, sender: sender == "a"
    wire.advance(9)
    wire.drop = None
    wire.advance(10)
    since = len(wire.sent)
    wire.advance(60)
    from_a = sum(1 for n, *_ in wire.sent[since:] if n == "a")
    from_b = sum(1 for n, *_ in wire.sent[since:] if n == "b")
    assert 11 <= from_a <= 13 and from_b == from_a  # a's R-U-THERE and b's ACK only
    assert not a.of(IkeDeleted) and not b.of(IkeDeleted)
