"""An item for the timer queue's tests (``ike/timers.py``): its deadlines, its creation
order and whether it is alive, as an SA gives them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(eq=False)
class TimedItem:
    deadlines: list[float]
    created_seq: int
    alive: bool = True
    timer_at: float | None = None
