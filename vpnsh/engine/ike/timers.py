"""One heap for the deadlines of many SAs, with lazy invalidation (WireGuard-like clarity:
one timer per SA, the earliest of its deadlines).

An entry ``(deadline, n, item)`` is live while ``item.timer_at == deadline`` and the item is
alive. Whatever may change an item's deadlines *touches* it; touched items are recomputed
before the heap is next read, so the engine never scans every SA to find the next timer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    timer_at: float | None  # the deadline queued in the heap (None: not queued)
    created_seq: int  # due items are handled in creation order


T = TypeVar("T", bound=Timed)
# ``timer_at`` is the heap's own field: set past the items' own __setattr__ (which tells
# the heap of changes to *their* timer fields), one Python call less, four times per exchange
_set = object.__setattr__


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
        self._heap: list[tuple[float, int, T]] = []
        self._n = itertools.count()
        self._dirty: dict[int, T] = {}

    def _min_deadline(self, item: T) -> float | None:
        times = self._deadlines(item)
        return min(times) if times else None

    def touch(self, item: T) -> None:
        """The deadlines of ``item`` may have changed."""
        self._dirty[id(item)] = item

    def refresh(self) -> None:
        if not self._dirty:
            return
        dirty = list(self._dirty.values())
        self._dirty.clear()
        heap = self._heap
        alive, on_refresh, earliest = self._alive, self._on_refresh, self._earliest
        for item in dirty:
            if not alive(item):
                _set(item, "timer_at", None)
                continue
            if on_refresh is not None:
                on_refresh(item)
            t = earliest(item)
            if t != item.timer_at:
                _set(item, "timer_at", t)
                if t is not None:
                    heapq.heappush(heap, (t, next(self._n), item))
        if len(heap) > 64 + 4 * self._size():  # drop the stale entries
            live = [e for e in heap if e[2].timer_at == e[0] and self._alive(e[2])]
            heapq.heapify(live)
            self._heap = live

    def next_deadline(self) -> float | None:
        self.refresh()
        heap = self._heap
        while heap:
            t, _, item = heap[0]
            if item.timer_at == t and self._alive(item):
                return t
            heapq.heappop(heap)
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
        from the heap to the heap ``due``, ordered by creation. A moved item's ``timer_at``
        is cleared: acting on it must touch it."""
        heap = self._heap
        later: list[tuple[float, int, T]] = []
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            t, _, item = entry
            if item.timer_at != t or not self._alive(item):
                continue  # stale
            if id(item) in queued or not after_seq < item.created_seq <= last_seq:
                later.append(entry)  # for the next call
                continue
            queued.add(id(item))
            heapq.heappush(due, (item.created_seq, item))
            _set(item, "timer_at", None)
        for entry in later:
            heapq.heappush(heap, entry)
