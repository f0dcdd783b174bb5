"""How many IKE SAs of ours negotiate their first exchange at once.

Starting 10,000 gateways in one go (``test vpn ike-sa`` with no gateway, or a commit of many
gateways) sent 10,000 IKE_SA_INIT requests at once: the peer answered them one by one, our
retransmissions (after 4 s) doubled its queue, and its half-open SAs timed out (after 30 s)
before our IKE_AUTH came. An SA beyond the window waits, queued in order, and starts as
soon as one of ours is established or gone; the peer then never holds more than the window
of our half-open SAs, and every exchange finishes well inside its timers.

One window per daemon: the IKEv2 engine (IKE_SA_INIT + IKE_AUTH) and the IKEv1 engine (main
or aggressive mode) each hold a :class:`Lane` of the same :class:`InitiationWindow`
(``ikev1/dual.py`` makes it). What the window protects is the responder's CPU and its
half-open table, and our own CPU (a Diffie-Hellman and the authentication of every SA in
its first exchanges): neither cares which IKE version an SA speaks, so 256 IKEv2 and 256
IKEv1 SAs at once would be twice the load the window is there to bound. The waiting SAs of
both engines form one queue and start in the order they came.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

INITIATE_WINDOW = 256  # IKE SAs of ours in their first exchanges at once

T = TypeVar("T")


PRUNE_EVERY = 1.0  # seconds between safety sweeps of the window while it is full


class Lane(Generic[T]):
    """One engine's place in the window: its SAs (``T``), how to tell that one is still
    negotiating (``in_flight``: alive and not yet established) and how to start one that
    waited (``start``: sends its first message)."""

    def __init__(self, window: InitiationWindow, in_flight: Callable[[T], bool],
                 start: Callable[[T, float], None]) -> None:
        self.window = window
        self.in_flight = in_flight
        self.start = start

    def admit(self, item: T) -> bool:
        """True: ``item`` starts now (it counts in the window); False: it waits its turn
        (:meth:`InitiationWindow.start_due` starts it later)."""
        return self.window.admit(self, item)

    def done(self, item: T) -> None:
        """``item`` is established or gone: its place is free."""
        self.window.done(item)

    def start_due(self, now: float) -> list[Any]:
        """Starts what may start now, of every lane (see :meth:`InitiationWindow.start_due`)."""
        return self.window.start_due(now)


class InitiationWindow:
    """The engines tell it when one of theirs is established or gone (:meth:`Lane.done`);
    a sweep with each lane's ``in_flight`` (at most once a second while the window is full)
    frees any place that was not given back."""

    def __init__(self, size: int = INITIATE_WINDOW) -> None:
        self.size = size
        self._open: dict[int, tuple[Lane[Any], Any]] = {}  # started and negotiating (by id)
        self._waiting: deque[tuple[Lane[Any], Any]] = deque()
        self._next_prune = float("-inf")

    def lane(self, in_flight: Callable[[T], bool], start: Callable[[T, float], None]) -> Lane[T]:
        return Lane(self, in_flight, start)

    def admit(self, lane: Lane[T], item: T) -> bool:
        if len(self._open) < self.size and not self._waiting:
            self._open[id(item)] = (lane, item)
            return True
        self._waiting.append((lane, item))
        return False

    def done(self, item: object) -> None:
        self._open.pop(id(item), None)

    def has_room(self) -> bool:
        """Something waits and may start now."""
        return bool(self._waiting) and len(self._open) < self.size

    def start_due(self, now: float) -> list[Any]:
        """Starts the waiting items that may start now, in the order they came, each with
        its lane's ``start`` (each now counts in the window); those removed while they
        waited are dropped. Returns the items started."""
        if not self._waiting:
            return []
        if len(self._open) >= self.size and now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            for key, (lane, item) in list(self._open.items()):
                if not lane.in_flight(item):
                    del self._open[key]
        started: list[Any] = []
        while self._waiting and len(self._open) < self.size:
            lane, item = self._waiting.popleft()
            if lane.in_flight(item):
                self._open[id(item)] = (lane, item)
                started.append(item)
                lane.start(item, now)  # may give its place back at once (it failed)
        return started

    def waiting(self) -> int:
        return len(self._waiting)

    def negotiating(self) -> int:
        return len(self._open)
