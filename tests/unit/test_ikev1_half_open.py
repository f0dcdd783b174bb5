"""Issue 11, 4(c): the IKEv1 responder has half-open limits, as the IKEv2 one has.

IKEv1 has no cookie exchange: from ``half_open_limit`` half-open responder SAs on (the
IKEv2 cookie threshold, vpnshd --ike-cookie-threshold), it answers only main mode from a
configured static peer's address, at most HALF_OPEN_PER_PEER at a time per address.
"""

from __future__ import annotations

import os
import random
from typing import Any, cast

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import IkeEstablished, LogLine
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev1.tasks.phase1 import HALF_OPEN_PER_PEER
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy

A, B = "192.0.2.1", "192.0.2.2"


def _first(mode: str) -> bytes:
    e = Ikev1Engine(clock=FakeClock())
    e.add_policies([ike_policy("g", A, B, version="ikev1", exchange_mode=mode)], now=FakeClock().now)
    assert e.initiate("g", now=FakeClock().now)
    return e.datagrams_to_send()[0][0]


def _fresh(data: bytes) -> bytes:
    return os.urandom(8) + data[8:]  # a new initiator cookie: a new ISAKMP SA


def _responder(limit: int) -> Ikev1Engine:
    b = Ikev1Engine(clock=FakeClock(), rng=random.Random(2))
    b.add_policies([ike_policy("static", B, A, version="ikev1"),
                    ike_policy("dynamic", B, None, version="ikev1", exchange_mode="aggressive")], now=FakeClock().now)
    b.half_open_limit = limit
    return b


def test_main_mode_flood_from_one_address_is_bounded() -> None:
    b = _responder(limit=3)
    main = _first("main")
    for _ in range(20):
        b.receive(_fresh(main), (B, 500), (A, 500), 0.0)
    assert b.half_open_count() == HALF_OPEN_PER_PEER  # was 20: one SA per datagram
    assert b.drops["half-open limit"] == 20 - HALF_OPEN_PER_PEER
    assert len(b.datagrams_to_send()) == HALF_OPEN_PER_PEER
    warnings = [e for e in iter(b.next_event, None) if isinstance(e, LogLine) and e.level == "WARN"]
    assert 0 < len(warnings) <= 5  # summarised, not one line per datagram


def test_aggressive_mode_and_dynamic_peers_wait_at_the_limit() -> None:
    b = _responder(limit=2)
    main, aggr = _first("main"), _first("aggressive")
    b.receive(_fresh(aggr), (B, 500), ("198.51.100.7", 500), 0.0)  # dynamic peer, under the limit
    b.receive(_fresh(main), (B, 500), (A, 500), 0.0)
    assert b.half_open_count() == 2
    b.receive(_fresh(aggr), (B, 500), ("198.51.100.8", 500), 0.0)
    b.receive(_fresh(main), (B, 500), ("198.51.100.9", 500), 0.0)
    assert b.half_open_count() == 2 and b.drops["half-open limit"] == 2
    b.receive(_fresh(main), (B, 500), (A, 500), 0.0)  # a static peer's main mode still goes
    assert b.half_open_count() == 3


def test_below_the_limit_nothing_changes_and_the_peer_gets_through_after_a_flood() -> None:
    clock = FakeClock()
    a = Node("a", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(1))), A)
    b = Node("b", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(2))), B)
    a.engine.add_policies([ike_policy("GA", A, B, version="ikev1")], (child_policy("TA", "GA"),), now=clock.now)
    b.engine.add_policies([ike_policy("GB", B, A, version="ikev1")], (child_policy("TB", "GB"),), now=clock.now)
    b.engine.half_open_limit = 1
    main = _first("main")
    for _ in range(10):
        b.engine.receive(_fresh(main), (B, 500), (A, 500), clock.now)
    b.engine.datagrams_to_send()
    wire = Wire(clock, a, b)
    wire.advance(31)  # the half-open SAs time out (HALF_OPEN_TIMEOUT)
    assert b.engine.half_open_count() == 0
    assert a.engine.initiate("GA", now=clock.now)
    wire.run()
    assert a.of(IkeEstablished) and b.of(IkeEstablished)
