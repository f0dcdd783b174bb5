"""Our new IKE SAs start at most a window at a time (vpnsh/engine/ike/pacing.py)."""

from __future__ import annotations

import random

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.pacing import InitiationWindow, Lane
from vpnsh.engine.ikev2.constants import ExchangeType
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.message import parse
from vpnsh.engine.ikev2.sa import IkeState
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy


class Item:
    def __init__(self, n: int) -> None:
        self.n, self.live = n, True


def _lane(size: int) -> tuple[InitiationWindow, Lane[Item], list[int]]:
    window = InitiationWindow(size=size)
    started: list[int] = []
    return window, window.lane(lambda i: i.live, lambda i, _now: started.append(i.n)), started


def test_window_admits_up_to_its_size_then_starts_the_waiting_in_order() -> None:
    window, lane, started = _lane(2)
    items = [Item(n) for n in range(5)]
    assert [lane.admit(i) for i in items] == [True, True, False, False, False]
    assert not window.has_room() and lane.start_due(0.0) == [] and started == []
    lane.done(items[0])  # established or gone: its place frees
    items[2].live = False  # removed while it waited: never started
    assert window.has_room()
    assert [i.n for i in lane.start_due(0.0)] == [3] and started == [3]
    lane.done(items[1])
    assert [i.n for i in lane.start_due(0.0)] == [4] and started == [3, 4]
    assert window.waiting() == 0 and not window.has_room()
    assert lane.admit(Item(9)) is False  # 3 and 4 fill the window


def test_a_place_never_given_back_is_found_by_the_sweep_once_a_second() -> None:
    _window, lane, started = _lane(1)
    first, second = Item(1), Item(2)
    assert lane.admit(first) and not lane.admit(second)
    first.live = False  # left without done()
    assert [i.n for i in lane.start_due(10.0)] == [2]
    third = Item(3)
    assert not lane.admit(third)
    second.live = False
    assert lane.start_due(10.5) == []  # swept at 10.0: the next sweep is not before 11.0
    assert [i.n for i in lane.start_due(11.0)] == [3]
    assert started == [2, 3]


def test_two_lanes_share_one_window_and_one_queue_in_order() -> None:
    window = InitiationWindow(size=2)
    started: list[str] = []
    v2 = window.lane(lambda i: i.live, lambda i, _now: started.append(f"v2-{i.n}"))
    v1 = window.lane(lambda i: i.live, lambda i, _now: started.append(f"v1-{i.n}"))
    a, b, c, d = Item(1), Item(2), Item(3), Item(4)
    assert v2.admit(a) and v1.admit(b)  # one place each: the window is full
    assert not v1.admit(c) and not v2.admit(d)
    v2.done(a)  # a place of the IKEv2 engine frees: the IKEv1 SA that came first starts
    v2.start_due(0.0)
    assert started == ["v1-3"]
    v1.done(b)
    v1.start_due(0.0)
    assert started == ["v1-3", "v2-4"]


def _many(tunnels: int, window: int) -> tuple[Wire, Node, Node, list[str]]:
    clock = FakeClock()
    a = Node("a", Ikev2Engine(clock=clock, rng=random.Random(1)), "")
    b = Node("b", Ikev2Engine(clock=clock, rng=random.Random(2)), "")
    a.engine._initiations.window.size = window
    ia, ib, ca, cb, addrs = [], [], [], [], []
    for i in range(tunnels):
        ad, bd = f"172.16.0.{i + 1}", f"172.17.0.{i + 1}"
        addrs += [ad, bd]
        ia.append(ike_policy(f"gw{i}", ad, bd))
        ib.append(ike_policy(f"gw{i}", bd, ad))
        ca.append(child_policy(f"t{i}", f"gw{i}", local_ts=(f"10.1.{i}.0/24",),
                               remote_ts=(f"10.2.{i}.0/24",)))
        cb.append(child_policy(f"t{i}", f"gw{i}", local_ts=(f"10.2.{i}.0/24",),
                               remote_ts=(f"10.1.{i}.0/24",)))
    a.engine.add_policies(ia, ca, now=clock.now)
    b.engine.add_policies(ib, cb, now=clock.now)
    w = Wire(clock, a, b)
    for ad, bd in zip(addrs[::2], addrs[1::2], strict=True):
        w.nodes[ad], w.nodes[bd] = a, b
    return w, a, b, [f"gw{i}" for i in range(tunnels)]


def _init_requests(w: Wire, since: int) -> int:
    return sum(1 for name, data, _l, _r in w.sent[since:] if name == "a"
               and parse(data).message.exchange == ExchangeType.IKE_SA_INIT
               and not parse(data).message.is_response)


def test_forty_gateways_negotiate_eight_at_a_time_and_all_come_up() -> None:
    w, a, b, gws = _many(40, window=8)
    for gw in gws:
        assert a.engine.initiate(gw, now=w.clock.now)
    # all 40 exist (show vpn ike-sa lists them), 8 have sent their IKE_SA_INIT
    assert len(a.engine.ike_sas()) == 40
    assert _init_requests(w, 0) == 0
    most = 0
    for _ in range(1000):
        if not w.step():
            break
        negotiating = [s for s in a.engine._sas.values()
                       if s.state == IkeState.CONNECTING and s.outstanding is not None]
        most = max(most, len(negotiating))
        assert len(negotiating) <= 8
    assert most == 8
    assert _init_requests(w, 0) == 40  # each once: nothing was retransmitted
    assert len(a.engine.child_sas()) == 40 and len(b.engine.child_sas()) == 40
    assert all(s.state == IkeState.ESTABLISHED for s in a.engine._sas.values())


def test_a_waiting_sa_starts_from_the_timer_when_the_negotiating_ones_are_cleared() -> None:
    w, a, _b, gws = _many(6, window=2)
    w.drop = lambda data, sender: sender == "a"  # the peer never hears us
    for gw in gws:
        a.engine.initiate(gw, now=w.clock.now)
    w.run()
    assert _init_requests(w, 0) == 2
    first_two = {s.gateway for s in a.engine._sas.values() if s.outstanding is not None}
    for gw in first_two:
        a.engine.abandon_ike(gw, "operator cleared it")
    # nothing arrives and no SA has a timer of its own: the engine asks to be woken at once
    assert a.engine.next_timer() == 0.0
    a.engine.handle_timer(w.clock.now)
    sent = len(w.sent)
    w.run()
    assert _init_requests(w, sent) == 2
    assert {s.gateway for s in a.engine._sas.values() if s.outstanding is not None} \
        .isdisjoint(first_two)
