"""The engine's timer heap: next_timer() and handle_timer() agree with a scan of every SA."""

from __future__ import annotations

import random

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import ChildInstalled, IkeEstablished, LogLine
from vpnsh.engine.ikev2 import deadlines
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy
from vpnsh.engine.policy import Identity

A, B = "192.0.2.1", "192.0.2.2"


class CheckedEngine(Ikev2Engine):
    """Checks every next_timer() answer against the minimum over all SAs' timers."""

    checks = 0

    def next_timer(self) -> float | None:
        got = super().next_timer()
        times = [t for sa in self._sas.values() for t in self._sa_timers(sa)]
        for sa in self._sas.values():  # the heap's shortcut says what the list says
            own = self._sa_timers(sa)
            assert deadlines.earliest(sa) == (min(own) if own else None), own
        assert got == (min(times) if times else None), (got, sorted(times)[:3])
        CheckedEngine.checks += 1
        return got

    def handle_timer(self, now: float | None = None) -> None:
        now = self._now(now)
        super().handle_timer(now)
        # nothing is left due that a scan of every SA would have acted on
        assert self.next_timer() is None or self.next_timer() > now  # type: ignore[operator]


def lab(n: int, seed: int, **ike: object) -> tuple[Wire, Node, Node]:
    clock = FakeClock()
    a = Node("a", CheckedEngine(clock=clock, rng=random.Random(seed)), A)
    b = Node("b", CheckedEngine(clock=clock, rng=random.Random(seed + 1)), B)
    for i in range(n):
        for node, me, peer, side, other in ((a, A, B, "l", "r"), (b, B, A, "r", "l")):
            pol = ike_policy(
                f"g{i}",
                me,
                peer,
                local_id=Identity("fqdn", f"{side}{i}.example"),
                peer_id=Identity("fqdn", f"{other}{i}.example"),
                **ike,
            )
            lnet, rnet = f"10.1.{i}.0/24", f"10.2.{i}.0/24"
            mine, theirs = (lnet, rnet) if side == "l" else (rnet, lnet)
            child = child_policy(
                f"t{i}", f"g{i}", local_ts=(mine,), remote_ts=(theirs,), lifetime=200 + 7 * i
            )
            node.engine.add_policies([pol], [child], now=clock.now)
    return Wire(clock, a, b), a, b


def test_timer_heap_matches_a_full_scan_through_rekeys_dpd_and_loss() -> None:
    w, a, b = lab(6, seed=3, lifetime=400, dpd_interval=7)
    for i in range(6):
        assert a.engine.initiate(f"g{i}", now=w.clock.now)
    w.run()
    assert len(a.of(IkeEstablished)) == 6 and len(a.of(ChildInstalled)) == 6
    rng = random.Random(7)
    w.drop = lambda data, sender: rng.random() < 0.05
    w.advance(1500, step=13)
    w.drop = None
    w.advance(400, step=13)
    rekeys = [e for e in a.of(ChildInstalled) if e.rekey_of is not None]
    assert rekeys, "CHILD SAs rekeyed on their soft lifetime"
    assert len(a.engine.child_sas()) >= 1
    a.engine.delete_ike(now=w.clock.now)
    w.run()
    w.advance(30)
    assert a.engine.next_timer() is None and a.engine.ike_sas() == []
    assert CheckedEngine.checks > 100


def test_timers_set_from_outside_are_seen() -> None:
    w, a, b = lab(2, seed=5)
    for i in range(2):
        a.engine.initiate(f"g{i}", now=w.clock.now)
    w.run()
    sa = list(a.engine._sas.values())[1]
    [child] = sa.children.values()
    assert a.engine.next_timer() > w.clock.now  # type: ignore[operator]
    child.rekey_at = w.clock.now  # a test or the data plane forcing a rekey
    assert a.engine.next_timer() == w.clock.now
    w.advance(1)
    assert [e for e in a.of(ChildInstalled) if e.rekey_of == child.spi_in]


def test_due_sas_are_handled_in_creation_order() -> None:
    w, a, b = lab(5, seed=9)
    for i in range(5):
        a.engine.initiate(f"g{i}", now=w.clock.now)
    w.run()
    a.drain()
    a.events.clear()
    sas = list(a.engine._sas.values())
    assert a.engine.next_timer() > w.clock.now  # type: ignore[operator]
    for sa in reversed(sas):  # made due in the reverse order
        sa.rekey_at = w.clock.now
    a.engine.handle_timer(w.clock.now)
    sent = [e.text for e in a.of(LogLine) if "rekey of IKE SA" in e.text]
    assert [f"SN {sa.sn}:" in t for sa, t in zip(sas, sent, strict=True)] == [True] * 5
