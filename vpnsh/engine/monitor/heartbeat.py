"""One probed destination: a probe every ``interval`` seconds, down after ``threshold``
probes in a row went unanswered, up again at the first reply.

Sans-IO: :meth:`Heartbeat.tick` says when the next probe is due and hands out its
sequence number; :meth:`Heartbeat.reply` takes a reply; both take ``now``. A probe is
lost when no reply to it has come by the time the next probe is due (PAN-OS: "a heartbeat
is lost when no reply arrives within the interval").

A new heartbeat is up (nothing lost yet): a destination that never answers is down
``threshold`` intervals after the first probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEQ_MOD = 1 << 16


@dataclass
class Heartbeat:
    interval: float
    threshold: int
    start: float
    up: bool = True
    misses: int = 0  # probes lost in a row
    sent: int = 0
    replies: int = 0
    last_reply: float | None = None
    changed_at: float = 0.0
    seq: int = 0  # sequence number of the last probe sent
    _answered: bool = True  # the last probe sent has had its reply
    _next: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.threshold < 1:
            raise ValueError("interval must be > 0 and threshold >= 1")
        self._next = self.start
        self.changed_at = self.start

    def next_due(self) -> float:
        return self._next

    def tick(self, now: float) -> tuple[int | None, bool]:
        """(sequence number of a probe to send now or None, whether ``up`` changed)."""
        if now < self._next:
            return None, False
        changed = False
        if self.sent and not self._answered:
            self.misses += 1
            if self.up and self.misses >= self.threshold:
                self.up, self.changed_at, changed = False, now, True
        # skip the ticks a stalled caller missed; keep the grid
        periods = int((now - self._next) // self.interval) + 1
        self._next += periods * self.interval
        self.seq = (self.seq + 1) % SEQ_MOD
        self.sent += 1
        self._answered = False
        return self.seq, changed

    def reply(self, seq: int, now: float) -> bool:
        """A reply with sequence number ``seq``; True when it brought the destination up.

        Only a reply to the last probe counts (a late one to an earlier probe is stale)."""
        if seq != self.seq or self._answered or not self.sent:
            return False
        self._answered = True
        self.replies += 1
        self.misses = 0
        self.last_reply = now
        if not self.up:
            self.up, self.changed_at = True, now
            return True
        return False
