"""One timer queue for the deadlines of many SAs, with lazy invalidation (WireGuard-like
clarity: one timer per SA, the earliest of its deadlines).

An entry ``(deadline, item)`` is live while ``item.timer_at == deadline`` and the item is
alive. Whatever may change an item's deadlines *touches* it; touched items are recomputed
before the queue is next read, so the engine never scans every SA to find the next timer.

The entries sit in buckets of ``1/BUCKETS_PER_S`` seconds (a hashed timer wheel with a
heap of the bucket numbers), not in one binary heap of entries: at 10,000 tunnels with DPD
every 5 s each SA gets a new deadline per exchange (2,000 a second), and a heap of ~30,000
tuples made every push and pop compare ~15 tuples and their floats scattered over a large
heap (cache misses: in the daemon the heap cost several µs per exchange). A push here is a
dict lookup and a list append; stale entries go with their bucket. Deadlines stay exact:
a bucket is read entry by entry, and an entry later than ``now`` stays queued.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable
from operator import itemgetter
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    timer_at: float | None  # the deadline queued (None: not queued)
    created_seq: int  # due items are handled in creation order


T = TypeVar("T", bound=Timed)
# ``timer_at`` is the queue's own field: set past the items' own __setattr__ (which tells
# the queue of changes to *their* timer fields), one Python call less, four times per exchange
_set = object.__setattr__
# buckets a second: narrower than the daemon's timer slack (20 ms), so a bucket holds
# what one wake-up runs anyway (~30 entries at 2,000 deadlines a second)
BUCKETS_PER_S = 64


_deadline = itemgetter(0)
_INF = float("inf")


class TimerHeap(Generic[T]):
    def __init__(
        self,
        deadlines: Callable[[T], list[float]],
        alive: Callable[[T], bool],
        size: Callable[[], int],
        on_refresh: Callable[[T], None] | None = None,
        earliest: Callable[[T], float | None] | None = None,
    ) -> None:
        self._deadlines = deadlines  # the finite deadlines of a live item
        # the earliest of them (None: none), where the owner can say it without a list: an
        # idle IKE SA is recomputed after each DPD exchange, so this runs thousands of
        # times a second with many tunnels
        self._earliest = earliest or self._min_deadline
        self._alive = alive
        self._size = size  # how many items are alive (to know when to compact)
        self._on_refresh = on_refresh  # told of each live item that was recomputed
        self._buckets: dict[int, list[tuple[float, T]]] = {}  # bucket -> its entries
        self._order: list[int] = []  # heap of the keys of _buckets
        self._entries = 0  # entries in the buckets, stale ones included
        # buckets whose entries are in deadline order: the one that holds ``now`` is sorted
        # once when read, so the calls that follow (one per SA acted on) stop at its first
        # entry after ``now`` instead of reading them all; an append unsorts a bucket
        self._sorted: set[int] = set()
        self._dirty: dict[int, T] = {}

    def _min_deadline(self, item: T) -> float | None:
        times = self._deadlines(item)
        return min(times) if times else None

    def touch(self, item: T) -> None:
        """The deadlines of ``item`` may have changed."""
        self._dirty[id(item)] = item

    def refresh(self) -> float:
        """Queues the touched items again; returns the earliest deadline it queued (inf:
        none), so that a caller acting on due items knows whether another became due."""
        if not self._dirty:
            return _INF
        dirty = list(self._dirty.values())
        self._dirty.clear()
        buckets, order = self._buckets, self._order
        alive, on_refresh, earliest = self._alive, self._on_refresh, self._earliest
        unsorted = self._sorted.discard
        pushed = 0
        soonest = _INF
        for item in dirty:
            if not alive(item):
                _set(item, "timer_at", None)
                continue
            if on_refresh is not None:
                on_refresh(item)
            t = earliest(item)
            if t != item.timer_at:
                _set(item, "timer_at", t)
                if t is not None:  # into its bucket (floor, negative times included)
                    b = int(t * BUCKETS_PER_S // 1)
                    entries = buckets.get(b)
                    if entries is None:
                        buckets[b] = [(t, item)]
                        heapq.heappush(order, b)
                    else:
                        entries.append((t, item))
                        unsorted(b)
                    pushed += 1
                    if t < soonest:
                        soonest = t
        self._entries += pushed
        if self._entries > 64 + 4 * self._size():  # drop the stale entries
            self._compact()
        return soonest

    def _compact(self) -> None:
        alive = self._alive
        kept: dict[int, list[tuple[float, T]]] = {}
        n = 0
        for b, entries in self._buckets.items():
            live = [e for e in entries if e[1].timer_at == e[0] and alive(e[1])]
            if live:
                kept[b] = live
                n += len(live)
        self._buckets = kept
        self._order = list(kept)
        heapq.heapify(self._order)
        self._sorted &= kept.keys()
        self._entries = n

    def next_deadline(self) -> float | None:
        self.refresh()
        order, buckets, alive, in_order = self._order, self._buckets, self._alive, self._sorted
        while order:
            b = order[0]
            entries = buckets[b]
            if b not in in_order:  # sorted once: the calls that follow read its head only
                live = [e for e in entries if e[1].timer_at == e[0] and alive(e[1])]
                live.sort(key=_deadline)
                self._entries -= len(entries) - len(live)
                buckets[b] = entries = live
                in_order.add(b)
            stale = 0
            for t, item in entries:  # the stale head goes
                if item.timer_at == t and alive(item):
                    break
                stale += 1
            if stale:
                del entries[:stale]
                self._entries -= stale
            if entries:
                return entries[0][0]
            del buckets[b]
            in_order.discard(b)
            heapq.heappop(order)
        return None

    def pop_due(
        self,
        now: float,
        after_seq: int,
        last_seq: int,
        due: list[tuple[int, T]],
        queued: set[int],
    ) -> None:
        """Moves the items due at ``now`` (created after ``after_seq``, up to ``last_seq``)
        from the queue to the heap ``due``, ordered by creation. A moved item's ``timer_at``
        is cleared: acting on it must touch it."""
        order, buckets, alive, in_order = self._order, self._buckets, self._alive, self._sorted
        last = int(now * BUCKETS_PER_S // 1)  # the bucket of now: the earlier ones are all due
        back: list[int] = []  # buckets read that keep entries
        while order and order[0] <= last:
            b = heapq.heappop(order)
            entries = buckets[b]
            if b in in_order:
                if entries[0][0] > now:  # the bucket of now, nothing in it due yet
                    back.append(b)
                    break
                cut = bisect.bisect_right(entries, now, key=_deadline)
                later = entries[cut:]
                entries = entries[:cut]
            else:
                later = None
            kept: list[tuple[float, T]] = []
            for entry in entries:
                t, item = entry
                if item.timer_at != t or not alive(item):
                    continue  # stale
                if t > now or id(item) in queued or not after_seq < item.created_seq <= last_seq:
                    kept.append(entry)  # not yet, or for the next call
                    continue
                queued.add(id(item))
                heapq.heappush(due, (item.created_seq, item))
                _set(item, "timer_at", None)
            if later is not None:
                kept += later  # still in deadline order
            elif kept and b == last:
                kept.sort(key=_deadline)
                in_order.add(b)
            self._entries -= len(entries) + (len(later) if later else 0) - len(kept)
            if kept:
                buckets[b] = kept
                back.append(b)
            else:
                del buckets[b]
                in_order.discard(b)
        for b in back:
            heapq.heappush(order, b)
