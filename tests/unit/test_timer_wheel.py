"""The engines' timer queue (``ike/timers.py``): buckets of 1/64 s with exact deadlines.

Checked against a plain model (every live, queued item by its earliest deadline) through
random touches, deaths, reads and pops, with deadlines packed into few buckets, negative
times and equal deadlines; and the cases a bucket makes special: an entry later than
``now`` in the bucket of ``now`` stays queued, and stale entries do not pile up.
"""

from __future__ import annotations

import heapq
import random

from tests.helpers.timed_item import TimedItem as _Item
from vpnsh.engine.ike.timers import BUCKETS_PER_S, TimerHeap


def _queue(items: list[_Item]) -> TimerHeap[_Item]:
    return TimerHeap(lambda i: i.deadlines, lambda i: i.alive,
                     lambda: sum(i.alive for i in items))


def _pop(q: TimerHeap[_Item], now: float, after: int = -1, last: int = 10**9) -> list[_Item]:
    q.refresh()  # as the engines do before popping
    due: list[tuple[int, _Item]] = []
    q.pop_due(now, after, last, due, set())
    return [heapq.heappop(due)[1] for _ in range(len(due))]


def test_a_later_entry_in_the_bucket_of_now_stays_queued_with_its_exact_deadline() -> None:
    a, b = _Item([1.000], 1), _Item([1.010], 2)  # one bucket (1/64 s)
    assert int(1.000 * BUCKETS_PER_S) == int(1.010 * BUCKETS_PER_S)
    q = _queue([a, b])
    q.touch(a)
    q.touch(b)
    assert q.next_deadline() == 1.000
    assert _pop(q, 1.005) == [a]
    assert q.next_deadline() == 1.010  # exact, not the bucket's end
    assert _pop(q, 1.009) == []
    assert _pop(q, 1.010) == [b]
    assert q.next_deadline() is None


def test_items_made_after_last_seq_wait_for_the_next_call() -> None:
    old, new = _Item([2.0], 1), _Item([1.0], 5)
    q = _queue([old, new])
    q.touch(old)
    q.touch(new)
    assert _pop(q, 3.0, last=3) == [old]
    assert new.timer_at == 1.0  # still queued
    assert _pop(q, 3.0, after=1, last=5) == [new]


def test_stale_entries_do_not_pile_up() -> None:
    items = [_Item([0.0], i) for i in range(10)]
    q = _queue(items)
    for step in range(20000):  # each touch moves a deadline later: the old entry is stale
        item = items[step % 10]
        item.deadlines = [step * 0.25]
        q.touch(item)
        q.refresh()
    assert q._entries <= 64 + 4 * len(items)
    assert sum(len(e) for e in q._buckets.values()) == q._entries
    assert q.next_deadline() == min(i.deadlines[0] for i in items)


def test_matches_a_plain_model_through_random_operations() -> None:
    rnd = random.Random(17)
    for _round in range(30):
        items: list[_Item] = []
        q = _queue(items)
        queued: set[int] = set()  # model: ids of items whose earliest deadline is queued
        now = rnd.choice([-3.0, 0.0, 1000.0])
        seq = 0
        for _op in range(400):
            op = rnd.random()
            if op < 0.25 or not items:
                seq += 1
                item = _Item([], seq)
                items.append(item)
            else:
                item = rnd.choice(items)
            if op < 0.55:  # new deadlines, clustered in a few buckets around now
                base = now + rnd.choice([0.0, 0.01, 0.5, 2.0])
                item.deadlines = [base + rnd.choice([0.0, 0.003, 0.007, 0.015, -0.02])
                                  for _ in range(rnd.randint(0, 2))]
                q.touch(item)
                if item.alive and item.deadlines:
                    queued.add(id(item))
                else:
                    queued.discard(id(item))
            elif op < 0.62:
                item.alive = False
                queued.discard(id(item))
            elif op < 0.8:
                expect = [min(i.deadlines) for i in items if id(i) in queued]
                assert q.next_deadline() == (min(expect) if expect else None)
            else:
                now += rnd.choice([0.0, 0.005, 0.02, 0.3])
                q.refresh()
                want = sorted((i for i in items if id(i) in queued and min(i.deadlines) <= now),
                              key=lambda i: i.created_seq)
                got = _pop(q, now)
                assert got == want
                for i in got:
                    assert i.timer_at is None
                    queued.discard(id(i))
            assert sum(len(e) for e in q._buckets.values()) == q._entries
            assert sorted(q._order) == sorted(q._buckets)


def test_refresh_says_the_earliest_deadline_it_queued() -> None:
    a, b = _Item([4.0], 1), _Item([3.0, 7.0], 2)
    q = _queue([a, b])
    assert q.refresh() == float("inf")  # nothing touched
    q.touch(a)
    q.touch(b)
    assert q.refresh() == 3.0
    q.touch(a)  # its deadline did not change: not queued again
    assert q.refresh() == float("inf")
    a.deadlines = [1.5]
    q.touch(a)
    assert q.refresh() == 1.5
