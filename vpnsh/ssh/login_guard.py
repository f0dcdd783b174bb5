"""Password logins over SSH: per-source backoff, equal timing, failures logged once.

* **Backoff per source address.** Attempts from one address are taken one at a time; after
  the Nth failure in a row the next attempt waits ``BASE * 2**(N-1)`` seconds (at most
  ``MAX``) before it is checked.  A success forgets the address; so does a quiet spell of
  ``FORGET`` seconds.  At most ``KEEP`` addresses are remembered (the oldest go first).
* **Equal timing.** An unknown user's password is checked against a dummy hash of the same
  cost, so an answer never tells a known user from an unknown one.
* **Every failure logged once, rate-limited.** The first ``LOG_BURST`` failures of an
  address in a ``LOG_WINDOW`` are logged one a line; the rest are counted and summed up
  in one line ("N similar messages suppressed"), as syslog daemons do.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vpnsh.ssh import passwords

log = logging.getLogger("vpnshd.ssh")

BASE = 0.5  # seconds before the attempt after the first failure
MAX = 30.0
FORGET = 900.0
KEEP = 4096
LOG_BURST = 5
LOG_WINDOW = 60.0


@dataclass
class _Source:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    last: float = 0.0
    window_start: float = 0.0
    logged: int = 0
    suppressed: int = 0
    summary: asyncio.TimerHandle | None = None


class LoginGuard:
    """Shared by every SSH connection of one server."""

    def __init__(self, *, base: float = BASE, max_delay: float = MAX,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.max_delay, self.clock = base, max_delay, clock
        self._sources: collections.OrderedDict[str, _Source] = collections.OrderedDict()
        self._dummy: str | None = None

    def delay(self, source: str) -> float:
        """How long the next attempt from ``source`` waits before it is checked."""
        s = self._sources.get(source)
        if s is None or s.failures == 0:
            return 0.0
        return min(self.max_delay, self.base * 2 ** (s.failures - 1))

    def _source(self, source: str) -> _Source:
        now = self.clock()
        s = self._sources.get(source)
        if s is not None and s.failures and now - s.last > FORGET:
            s.failures = 0
        if s is None:
            s = self._sources[source] = _Source()
            while len(self._sources) > KEEP:
                self._sources.popitem(last=False)
        self._sources.move_to_end(source)
        return s

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = passwords.hash_password("vpnsh-no-such-user")
        return self._dummy

    async def check(self, source: str, username: str, password: str,
                    stored: str | None) -> bool:
        """Whether ``password`` is right for ``username`` (``stored`` its hash, None for an
        unknown user), after the source's backoff; logs the outcome."""
        s = self._source(source)
        async with s.lock:
            wait = self.delay(source)
            if wait:
                await asyncio.sleep(wait)
            # the same work for an unknown user: the answer's timing tells nothing
            ok = await asyncio.to_thread(passwords.verify_password, password,
                                         stored if stored is not None else self._dummy_hash())
            ok = ok and stored is not None
            s.last = self.clock()
            if ok:
                s.failures = 0
                log.info("ssh password login for %s from %s: accepted", username, source)
            else:
                s.failures += 1
                self._log_failure(source, s, username, stored is None)
            return ok

    def _log_failure(self, source: str, s: _Source, username: str, unknown: bool) -> None:
        now = self.clock()
        if now - s.window_start >= LOG_WINDOW:
            self._flush(source, s)
            s.window_start, s.logged = now, 0
        if s.logged < LOG_BURST:
            s.logged += 1
            log.warning("ssh password login for %s from %s: refused%s (%d failure(s) in a row)",
                        username, source, " (unknown user)" if unknown else "", s.failures)
            return
        s.suppressed += 1
        if s.summary is None:
            loop = asyncio.get_running_loop()
            left = max(0.0, s.window_start + LOG_WINDOW - now)
            s.summary = loop.call_later(left, self._flush, source, s)

    def _flush(self, source: str, s: _Source) -> None:
        if s.summary is not None:
            s.summary.cancel()
            s.summary = None
        if s.suppressed:
            log.warning("ssh password login from %s: %d similar messages suppressed "
                        "(refused logins)", source, s.suppressed)
            s.suppressed = 0

    def close(self) -> None:
        """Write the pending summaries (at shutdown)."""
        for source, s in list(self._sources.items()):
            self._flush(source, s)
