"""How many IKE SAs of ours negotiate their first exchange at once.

Starting 10,000 gateways in one go (``test vpn ike-sa`` with no gateway, or a commit of many
gateways) sent 10,000 IKE_SA_INIT requests at once: the peer answered them one by one, our
retransmissions (after 4 s) doubled its queue, and its half-open SAs timed out (after 30 s)
before our IKE_AUTH came. An SA beyond the window waits, queued in order, and starts as
soon as one of ours is established or gone; the peer then never holds more than the window
of our half-open SAs, and every exchange finishes well inside its timers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

INITIATE_WINDOW = 256  # IKE SAs of ours in their first exchanges at once

T = TypeVar("T")


PRUNE_EVERY = 1.0  # seconds between safety sweeps of the window while it is full


class InitiationWindow(Generic[T]):
    """The engine tells it when one of ours is established or gone (:meth:`done`); a sweep
    with ``in_flight`` (at most once a second while the window is full) frees any place
    that was not given back."""

    def __init__(self, in_flight: Callable[[T], bool], size: int = INITIATE_WINDOW) -> None:
        self.size = size
        self._in_flight = in_flight  # still negotiating: alive and not yet established
        self._open: dict[int, T] = {}  # started and negotiating (by id)
        self._waiting: deque[T] = deque()
        self._next_prune = float("-inf")

    def admit(self, item: T) -> bool:
        """True: ``item`` starts now (it counts in the window); False: it waits its turn
        (:meth:`due` gives it out later)."""
        if len(self._open) < self.size and not self._waiting:
            self._open[id(item)] = item
            return True
        self._waiting.append(item)
        return False

    def done(self, item: T) -> None:
        """``item`` is established or gone: its place is free."""
        self._open.pop(id(item), None)

    def has_room(self) -> bool:
        """Something waits and may start now."""
        return bool(self._waiting) and len(self._open) < self.size

    def due(self, now: float) -> list[T]:
        """The waiting items that may start now, in the order they came (each now counts in
        the window); those removed while they waited are dropped."""
        if not self._waiting:
            return []
        if len(self._open) >= self.size and now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            for key, item in list(self._open.items()):
                if not self._in_flight(item):
                    del self._open[key]
        started: list[T] = []
        while self._waiting and len(self._open) < self.size:
            item = self._waiting.popleft()
            if self._in_flight(item):
                self._open[id(item)] = item
                started.append(item)
        return started

    def waiting(self) -> int:
        return len(self._waiting)
