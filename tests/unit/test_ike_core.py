"""The shared IKE core (vpnsh/engine/ike/): retransmission, SPIs, the timer heap, the policy index."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from tests.helpers.timed_item import TimedItem as _Item
from vpnsh.engine.ike import retransmit
from vpnsh.engine.ike.policy_index import PolicyIndex
from vpnsh.engine.ike.retransmit import Retransmit
from vpnsh.engine.ike.spi import MIN_CHILD_SPI, SpiAllocator
from vpnsh.engine.ike.timers import TimerHeap
from vpnsh.engine.ikev2 import identity
from vpnsh.engine.ikev2.testing import ike_policy
from vpnsh.engine.policy import Identity


@dataclass
class _Flight:
    attempt: int = 0
    next_at: float = 1.0


def test_retransmit_due_resends_with_backoff_then_gives_up() -> None:
    r = Retransmit(base=1.0, cap=4.0, tries=4)
    f = _Flight(next_at=1.0)
    assert r.due(f, 0.5) is None  # not yet
    assert r.due(f, 1.0) is True and f.next_at == 3.0  # 1.0 + timeout(1) = 2
    assert r.due(f, 2.9) is None
    assert r.due(f, 3.0) is True and f.next_at == 7.0  # 3.0 + 4
    assert r.due(f, 7.0) is True and f.next_at == 11.0  # capped at 4
    assert r.due(f, 11.0) is False  # the fourth send got no answer


def test_protocol_defaults() -> None:
    assert [retransmit.IKEV2.timeout(i) for i in range(10)] == [1, 2, 4, 8, 16, 32, 64, 64, 64, 64]
    assert (retransmit.IKEV1.base, retransmit.IKEV1.cap, retransmit.IKEV1.tries) == (2.0, 16.0, 6)


def test_spis_unique_and_in_range() -> None:
    spis = SpiAllocator()
    got = {spis.child_spi() for _ in range(2000)}
    assert len(got) == 2000 and min(got) >= MIN_CHILD_SPI
    some = next(iter(got))
    assert some in spis
    spis.release(some)
    assert some not in spis
    held = {bytes(8)}
    for _ in range(100):
        spi = spis.ike_spi(held)
        assert len(spi) == 8 and spi not in held
        held.add(spi)


def test_timer_heap_follows_touched_items_and_skips_dead_ones() -> None:
    items = [_Item([5.0, 3.0], 1), _Item([4.0], 2), _Item([], 3)]
    heap: TimerHeap[_Item] = TimerHeap(lambda i: i.deadlines, lambda i: i.alive,
                                       lambda: len(items))
    for i in items:
        heap.touch(i)
    assert heap.next_deadline() == 3.0
    items[0].alive = False  # gone: its entry is stale
    assert heap.next_deadline() == 4.0
    items[1].deadlines = [9.0]
    heap.touch(items[1])
    assert heap.next_deadline() == 9.0
    items[2].deadlines = [2.0]
    heap.touch(items[2])
    heap.refresh()
    due: list[tuple[int, _Item]] = []
    heap.pop_due(8.0, -1, 10, due, set())
    assert [heapq.heappop(due)[1] for _ in range(len(due))] == [items[2]]
    assert items[2].timer_at is None  # taken off: acting on it must touch it again
    assert heap.next_deadline() == 9.0


def test_policy_index_by_address_then_dynamic_and_by_peer_id() -> None:
    static = ike_policy("static", "10.0.0.1", "10.0.0.2")
    dynamic = ike_policy("dyn", "10.0.0.1", None, peer_id=Identity("fqdn", "peer.example"))
    v1_only = ike_policy("v1", "10.0.0.1", "10.0.0.3", version="ikev1")
    policies = {p.name: p for p in (static, dynamic, v1_only)}
    v2 = PolicyIndex(policies, "ikev1", identity.match_key)
    assert v2.for_address("10.0.0.1", "10.0.0.2") is static
    assert v2.for_address("10.0.0.1", "10.0.0.3") is dynamic  # the ikev1 gateway is not ours
    assert v2.for_address("10.9.9.9", "10.0.0.2") is None
    key = identity.match_key(Identity("fqdn", "PEER.example"))
    assert v2.for_peer_id(key) == [dynamic]
    v1: PolicyIndex[object] = PolicyIndex(policies, "ikev2", lambda _id: None)
    assert v1.for_address("10.0.0.1", "10.0.0.3") is v1_only
    policies["static"] = ike_policy("static", "10.0.0.1", "10.0.0.2", enabled=False)
    assert v2.for_address("10.0.0.1", "10.0.0.2") is static  # built once ...
    v2.invalidate()
    assert v2.for_address("10.0.0.1", "10.0.0.2") is dynamic  # ... until the policies change
