"""Lifetimes and lifesize of the user-space data plane's SAs: soft and hard limits
reported exactly once each per SA pair (``events.expire``), checked every LIFE_TICK and
as soon as a packet crosses an SA pair's ``next_limit``. With worker processes the
owner checks (the counters are in shared memory); a worker only says a limit is near.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .plane_state import PlaneState

LIFE_TICK = 1.0  # seconds between lifetime checks
LIMIT_NOTE_INTERVAL = 0.02  # a worker tells the owner "a limit is near" at most this often

log = logging.getLogger("vpnsh.dataplane.userspace")


class Lifetimes(PlaneState):
    """Soft and hard limits of the SA pairs (seconds and kilobytes)."""

    def _schedule_limit_check(self) -> None:
        if self.worker_of is not None:  # a worker: the owner checks the limits
            now = time.monotonic()
            if now - self._limit_note_sent >= LIMIT_NOTE_INTERVAL:
                self._limit_note_sent = now
                self.worker_of("limit")
            return
        if self._limit_check_scheduled:
            return
        self._limit_check_scheduled = True
        self._call_soon(self._check_limits)

    def _check_limits(self) -> None:
        """Report soft and hard limits reached (exactly once each per SA pair)."""
        self._limit_check_scheduled = False
        now = self._clock()
        for spi, child in list(self._children.items()):
            spec = child.spec
            used = max(child.inbound.counters.bytes, child.outbound.counters.bytes)
            hard = (spec.lifesize_hard_kb and used >= spec.lifesize_hard_kb * 1024) or (
                spec.lifetime_hard and now - child.installed >= spec.lifetime_hard)
            soft = spec.lifesize_soft_kb and used >= spec.lifesize_soft_kb * 1024
            if (soft or hard) and not child.soft_sent:
                child.soft_sent = True
                if soft:
                    self.events.expire(spi, "soft")
            if hard and not child.hard_sent:
                child.hard_sent = True
                child.dead = True
                self._spd.remove(spi)
                if self._pool is not None:
                    self._pool.call("dead", spi)
                self.events.expire(spi, "hard")
            child.compute_next_limit()

    async def _life_timer(self) -> None:
        while True:
            await asyncio.sleep(LIFE_TICK)
            try:
                self._check_limits()
            except Exception:  # noqa: BLE001 - the timer keeps running
                log.exception("lifetime check")
