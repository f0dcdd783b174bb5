"""Timers at scale (issue 17): ``handle_timer`` acts on a bounded slice of due SAs per call
(the rest wait in a backlog, due at once) so that the daemon's event loop serves its
sockets, commands and commits between slices (``ikev2/engine.py``, ``service._schedule``)."""

from __future__ import annotations

import random

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import IkeEstablished, LogLine
from vpnsh.engine.ikev2 import engine as engine_mod
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy
from vpnsh.engine.policy import Identity

A, B = "192.0.2.1", "192.0.2.2"


def lab(n: int, a_kw: dict | None = None, b_kw: dict | None = None) -> tuple[Wire, Node, Node]:
    clock = FakeClock()
    a = Node("a", Ikev2Engine(clock=clock, rng=random.Random(1)), A)
    b = Node("b", Ikev2Engine(clock=clock, rng=random.Random(2)), B)
    for i in range(n):
        for node, me, peer, side, other, kw in ((a, A, B, "l", "r", a_kw), (b, B, A, "r", "l", b_kw)):
            pol = ike_policy(f"g{i}", me, peer, local_id=Identity("fqdn", f"{side}{i}.example"),
                             peer_id=Identity("fqdn", f"{other}{i}.example"), **(kw or {}))
            lnet, rnet = f"10.1.{i}.0/24", f"10.2.{i}.0/24"
            mine, theirs = (lnet, rnet) if side == "l" else (rnet, lnet)
            node.engine.add_policies(
                [pol], [child_policy(f"t{i}", f"g{i}", local_ts=(mine,), remote_ts=(theirs,))],
                now=clock.now)
    return Wire(clock, a, b), a, b


def up_staggered(w: Wire, a: Node, n: int, gap: float) -> None:
    """Brings the n IKE SAs up ``gap`` seconds apart (their checks fall due apart too)."""
    for i in range(n):
        assert a.engine.initiate(f"g{i}", now=w.clock.now)
        w.run()
        w.clock.now += gap
    assert len(a.of(IkeEstablished)) == n


def test_handle_timer_acts_on_a_bounded_slice_and_leaves_the_rest_due(
        monkeypatch: pytest.MonkeyPatch) -> None:
    n = 8
    w, a, b = lab(n)
    up_staggered(w, a, n, gap=0.0)
    a.events.clear()
    monkeypatch.setattr(engine_mod, "TIMER_SLICE", 3)
    sas = a.engine._unique_sas()
    now = w.clock.now
    for sa in sas:
        sa.rekey_at = now  # all due at once
    rekeys: list[int] = []
    for expect_pending in (True, True, False):
        a.engine.handle_timer(now)
        started = [e.text for e in a.of(LogLine) if "rekey of IKE SA" in e.text]
        rekeys.append(len(started))
        assert a.engine.timers_pending is expect_pending
        if expect_pending:
            nxt = a.engine.next_timer()
            assert nxt is not None and nxt <= now  # the rest is still due, at once
    assert rekeys == [3, 6, 8]
    # in creation order across slices, each SA once
    started = [e.text for e in a.of(LogLine) if "rekey of IKE SA" in e.text]
    assert [f"SN {sa.sn}:" in t for sa, t in zip(sas, started, strict=True)] == [True] * n


@pytest.mark.parametrize("pending", [True, False])
def test_the_daemon_runs_the_next_slice_at_once_but_never_spins_on_a_failed_timer(
        monkeypatch: pytest.MonkeyPatch, pending: bool) -> None:
    """A batch cut into slices goes on at the loop's next pass; a timer still due after a
    run with no backlog (one that failed) waits 50 ms (service._schedule)."""
    import asyncio

    from vpnsh.engine.service import Engine

    async def run() -> float:
        engine = Engine(dataplane="none")
        v2 = engine.ike.v2

        def one_slice(now: float) -> None:
            v2.timers_pending = pending

        monkeypatch.setattr(v2, "handle_timer", one_slice)
        monkeypatch.setattr(v2, "next_timer", lambda: 0.0)  # still due
        engine._on_timer()
        assert engine._timer is not None
        engine._timer.cancel()
        return engine._timer_at - engine.clock()

    delay = asyncio.run(run())
    if pending:
        assert delay <= 0.01, delay
    else:
        assert 0.05 <= delay <= 0.08, delay  # 50 ms + the timer slack
