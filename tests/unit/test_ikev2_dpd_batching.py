"""DPD at scale (issue 17): the liveness checks of many SAs come due on a grid so one wake-up
sends them all (``ike/liveness.py``), a dead peer is still found within interval x tries
plus one step of the grid, and ``handle_timer`` acts on a bounded slice of due SAs per call
so that the event loop serves commands between slices (``ikev2/engine.py``)."""

from __future__ import annotations

import math
import random

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import IkeDeleted, IkeEstablished, LogLine
from vpnsh.engine.ike.liveness import DPD_GRID, check_at, dpd_grid, quiet_allowed
from vpnsh.engine.ike.retransmit import Retransmit
from vpnsh.engine.ikev2 import engine as engine_mod
from vpnsh.engine.ikev2.constants import ExchangeType
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.message import parse
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


def is_check_request(data: bytes) -> bool:
    m = parse(data).message
    return m.exchange == ExchangeType.INFORMATIONAL and not m.is_response


def test_check_at_rounds_the_interval_of_silence_up_to_the_grid() -> None:
    assert dpd_grid(5) == DPD_GRID == 0.25 and dpd_grid(2) == pytest.approx(0.2)
    for last_rx in (0.0, 100.01, 100.24, 100.25, 1234.5678):
        for initiator in (True, False):
            t = check_at(last_rx, 5, initiator)
            quiet = last_rx + quiet_allowed(5, initiator)
            assert quiet <= t < quiet + DPD_GRID
            assert t / DPD_GRID == math.floor(t / DPD_GRID)  # on the grid
    # checks due within one step of each other share one deadline: one wake-up
    assert check_at(100.01, 5, True) == check_at(100.24, 5, True) == 105.25


def test_the_checks_of_many_sas_go_out_together_on_the_grid() -> None:
    n = 20
    w, a, b = lab(n, {"dpd_interval": 5}, {"dpd_enabled": False})
    up_staggered(w, a, n, gap=0.037)  # established over 0.7 s: three steps of the grid
    sent: list[tuple[float, bytes]] = []

    def record(data: bytes, sender: str) -> bool:
        if sender == "a" and is_check_request(data):
            sent.append((w.clock.now, data[0:8]))
        return False

    w.drop = record
    w.advance(30, step=0.05)
    assert len(sent) >= 4 * n  # every SA checked every ~5 s
    times = sorted({t for t, _ in sent})
    assert all(t / DPD_GRID == math.floor(t / DPD_GRID) for t in times), times[:5]
    # 20 SAs a round, spread over 0.7 s: at most 4 wake-ups a round, not 20
    assert len(times) <= 4 * 7, times
    # each SA checks after its interval of silence, at most one step later
    by_sa: dict[bytes, list[float]] = {}
    for t, spi in sent:
        by_sa.setdefault(spi, []).append(t)
    assert len(by_sa) == n
    for checks in by_sa.values():
        gaps = [y - x for x, y in zip(checks, checks[1:], strict=False)]
        assert gaps and all(5 <= g <= 5 + DPD_GRID for g in gaps), gaps


def test_a_dead_peer_is_found_within_interval_times_tries_plus_one_step() -> None:
    w, a, b = lab(1, {"dpd_interval": 5}, {"dpd_enabled": False})
    up_staggered(w, a, 1, gap=0.1)
    w.advance(6, step=0.05)  # one check answered
    [sa] = a.engine._unique_sas()
    assert a.engine.ike_sas() and sa.outstanding is None
    silent_since = sa.last_rx
    w.drop = lambda data, sender: True  # the peer falls silent
    r = Retransmit()
    bound = silent_since + 5 + DPD_GRID + sum(r.timeout(i) for i in range(r.tries))
    while a.engine.ike_sas():
        w.advance(0.25, step=0.25)
        assert w.clock.now <= bound + 0.25, "the dead peer was found too late"
    [gone] = a.of(IkeDeleted)
    assert "dead" in gone.reason
    assert w.clock.now >= silent_since + 5 + sum(r.timeout(i) for i in range(r.tries - 1))


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
