"""Our new IKEv1 phase 1 SAs start at most a window at a time (vpnsh/engine/ike/pacing.py),
and the IKEv1 and IKEv2 engines of one daemon share that window (ikev1/dual.py)."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import IkeFailed
from vpnsh.engine.ike.pacing import PRUNE_EVERY
from vpnsh.engine.ikev1 import message as m
from vpnsh.engine.ikev1.dual import DualEngine
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev1.sa import P1State, Phase1
from vpnsh.engine.ikev1.task_manager import HALF_OPEN_TIMEOUT
from vpnsh.engine.ikev2.constants import ExchangeType
from vpnsh.engine.ikev2.message import parse
from vpnsh.engine.ikev2.sa import IkeState
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy


def _policies(tunnels: int, versions: list[str], mode: str = "main") -> tuple[
        list[Any], list[Any], list[Any], list[Any], list[tuple[str, str]]]:
    ia, ib, ca, cb, addrs = [], [], [], [], []
    for i in range(tunnels):
        ad, bd = f"172.16.0.{i + 1}", f"172.17.0.{i + 1}"
        addrs.append((ad, bd))
        v = versions[i % len(versions)]
        kw: dict[str, Any] = {"version": v}
        if v == "ikev1":
            kw["exchange_mode"] = mode
        ia.append(ike_policy(f"gw{i}", ad, bd, **kw))
        ib.append(ike_policy(f"gw{i}", bd, ad, **kw))
        ca.append(child_policy(f"t{i}", f"gw{i}", local_ts=(f"10.1.{i}.0/24",),
                               remote_ts=(f"10.2.{i}.0/24",)))
        cb.append(child_policy(f"t{i}", f"gw{i}", local_ts=(f"10.2.{i}.0/24",),
                               remote_ts=(f"10.1.{i}.0/24",)))
    return ia, ib, ca, cb, addrs


def _many(tunnels: int, window: int, mode: str = "main",
          versions: tuple[str, ...] = ("ikev1",)) -> tuple[Wire, Node, Node, list[str]]:
    """Two daemons' engines (DualEngine: one window for both versions) on the test wire."""
    clock = FakeClock()
    a = Node("a", cast(Any, DualEngine(clock=clock, rng=random.Random(1))), "")
    b = Node("b", cast(Any, DualEngine(clock=clock, rng=random.Random(2))), "")
    a.engine.initiations.size = window
    ia, ib, ca, cb, addrs = _policies(tunnels, list(versions), mode)
    a.engine.add_policies(ia, ca, now=clock.now)
    b.engine.add_policies(ib, cb, now=clock.now)
    w = Wire(clock, a, b)
    for ad, bd in addrs:
        w.nodes[ad], w.nodes[bd] = a, b
    return w, a, b, [f"gw{i}" for i in range(tunnels)]


def _v1_firsts(w: Wire, since: int = 0) -> int:
    """Phase 1 message 1 of ours (main or aggressive mode: no responder cookie yet)."""
    return sum(1 for name, data, _l, _r in w.sent[since:]
               if name == "a" and m.is_ikev1(data)
               and m.parse_header(data).exchange in (m.Exchange.MAIN, m.Exchange.AGGRESSIVE)
               and m.parse_header(data).cky_r == bytes(8))


def _v2_firsts(w: Wire) -> int:
    return sum(1 for name, data, _l, _r in w.sent if name == "a" and not m.is_ikev1(data)
               and parse(data).message.exchange == ExchangeType.IKE_SA_INIT
               and not parse(data).message.is_response)


def _v1(node: Node) -> Ikev1Engine:
    return cast(Ikev1Engine, node.engine.v1)


def _negotiating_v1(node: Node) -> list[Phase1]:
    """Our phase 1 SAs that sent message 1 and are not up yet."""
    return [s for s in _v1(node).sas.values() if s.initiator and s.state == P1State.CONNECTING
            and s.manager.mode is not None]


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_forty_ikev1_gateways_negotiate_eight_at_a_time_and_all_come_up(mode: str) -> None:
    w, a, b, gws = _many(40, window=8, mode=mode)
    for gw in gws:
        assert a.engine.initiate(gw, now=w.clock.now)
    # all 40 exist (show vpn ike-sa detail lists them, Connecting), 8 sent their message 1
    sas = a.engine.ike_sas()
    assert len(sas) == 40 and {s.state for s in sas} == {"Connecting"}
    assert _v1_firsts(w) == 0 and len(_negotiating_v1(a)) == 8
    most = 0
    for _ in range(1000):
        if not w.step():
            break
        negotiating = _negotiating_v1(a)
        most = max(most, len(negotiating))
        assert len(negotiating) <= 8
    assert most == 8
    assert _v1_firsts(w) == 40  # each once: nothing was retransmitted
    assert a.engine.drops == b.engine.drops == {}
    assert len(a.engine.child_sas()) == 40 and len(b.engine.child_sas()) == 40
    assert all(s.state == P1State.ESTABLISHED for s in _v1(a).sas.values())
    assert a.engine.initiations.negotiating() == 0 and a.engine.initiations.waiting() == 0


def test_ikev1_and_ikev2_gateways_of_one_daemon_share_the_window() -> None:
    w, a, b, gws = _many(40, window=8, versions=("ikev1", "ikev2"))
    for gw in gws:
        assert a.engine.initiate(gw, now=w.clock.now)
    v2 = a.engine.v2
    most = 0
    for _ in range(1000):
        if not w.step():
            break
        both = len(_negotiating_v1(a)) + sum(
            1 for s in v2._sas.values() if s.state == IkeState.CONNECTING
            and s.outstanding is not None)
        most = max(most, both)
        assert both <= 8  # not 8 of each
    assert most == 8
    assert _v1_firsts(w) == 20 and _v2_firsts(w) == 20
    assert len(a.engine.child_sas()) == 40 and len(b.engine.child_sas()) == 40


def test_a_waiting_phase1_starts_from_the_timer_when_the_negotiating_ones_are_cleared() -> None:
    w, a, _b, gws = _many(6, window=2)
    w.drop = lambda data, sender: sender == "a"  # the peer never hears us
    for gw in gws:
        a.engine.initiate(gw, now=w.clock.now)
    w.run()
    assert _v1_firsts(w) == 2
    first_two = {s.gateway for s in _negotiating_v1(a)}
    for gw in first_two:
        a.engine.delete_ike(gw, now=w.clock.now)
    # nothing arrives and no SA has a timer of its own: the engine asks to be woken at once
    assert a.engine.next_timer() == 0.0
    a.engine.handle_timer(w.clock.now)
    sent = len(w.sent)
    w.run()
    assert _v1_firsts(w, sent) == 2
    assert {s.gateway for s in _negotiating_v1(a)}.isdisjoint(first_two)


def test_a_waiting_phase1_has_its_full_half_open_time_once_it_starts() -> None:
    """The half-open timeout counts from message 1, not from when the SA began to wait."""
    w, a, _b, gws = _many(4, window=2)
    w.drop = lambda data, sender: sender == "a"
    for gw in gws:
        a.engine.initiate(gw, now=w.clock.now)
    w.run()
    first = {s.gateway for s in _negotiating_v1(a)}
    w.advance(HALF_OPEN_TIMEOUT + 1)
    assert {e.gateway for e in a.of(IkeFailed)} == first  # the two that waited did not fail
    later = {s.gateway for s in _negotiating_v1(a)}
    assert len(later) == 2 and later.isdisjoint(first)
    w.advance(HALF_OPEN_TIMEOUT)
    assert {e.gateway for e in a.of(IkeFailed)} == set(gws)


def test_a_place_never_given_back_is_found_by_the_sweep() -> None:
    w, a, _b, gws = _many(3, window=1)
    w.drop = lambda data, sender: sender == "a"
    for gw in gws:
        a.engine.initiate(gw, now=w.clock.now)
    w.run()
    [leaked] = _negotiating_v1(a)
    del _v1(a).sas[leaked.cky_i]  # gone without telling the window (a bug's way)
    a.engine.handle_timer(w.clock.now)
    w.run()
    assert len(_negotiating_v1(a)) == 1  # the sweep freed its place: the next one started
    [second] = _negotiating_v1(a)
    del _v1(a).sas[second.cky_i]
    a.engine.handle_timer(w.clock.now + PRUNE_EVERY / 2)  # one sweep a second at most
    assert _negotiating_v1(a) == []
    a.engine.handle_timer(w.clock.now + PRUNE_EVERY)
    assert len(_negotiating_v1(a)) == 1


def test_the_sa_tables_find_one_gateways_sas_without_a_scan_and_stay_right() -> None:
    """Phase 1 and phase 2 SAs by gateway (engine.py _Registry): at 10,000 gateways a scan
    of every SA for each message, each initiate and each row of show was quadratic."""
    w, a, b, gws = _many(12, window=4)
    for gw in gws:
        a.engine.initiate(gw, now=w.clock.now)
    w.run(1000)
    v1 = _v1(a)
    assert [s.gateway for s in v1.phase1_sas("gw3")] == ["gw3"]
    assert [c.gateway for c in v1.children_of("gw3")] == ["gw3"]
    assert [s.phase2 for s in v1.ike_sas()] == [1] * 12
    assert v1.delete_ike("gw3", now=w.clock.now) == 1
    assert v1.phase1_sas("gw3") == [] and len(v1.sas) == 11
    assert len(v1.children_of("gw3")) == 1  # IKEv1: phase 2 outlives its phase 1
    assert v1.delete_child("t3", now=w.clock.now, exact=True) == 1
    assert v1.children_of("gw3") == [] and len(v1.children) == 11
    assert _v1(b).half_open_count() == 0
