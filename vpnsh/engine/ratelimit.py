"""Repeated log lines summarised, as syslog daemons do.

A flood (IKE_SA_INIT from addresses nobody configured, the same internal error for every
datagram) must not write one line per datagram. :class:`Repeats` lets ``burst`` lines of
one kind through per ``window`` seconds and counts the rest; when the window is over, the
count is reported once ("N similar messages suppressed") with the next line of that kind,
or by :meth:`Repeats.flush`.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_KINDS = 256  # kinds remembered; the oldest go first


@dataclass
class _Window:
    start: float
    sent: int = 1
    suppressed: int = 0


class Repeats:
    def __init__(self, burst: int = 5, window: float = 60.0) -> None:
        self.burst = burst
        self.window = window
        self._kinds: dict[str, _Window] = {}

    def allow(self, kind: str, now: float) -> tuple[bool, int]:
        """(write this line?, lines of this kind suppressed before it, to report now)."""
        w = self._kinds.get(kind)
        if w is None or now - w.start >= self.window or now < w.start:
            reported = w.suppressed if w is not None else 0
            self._kinds.pop(kind, None)
            self._kinds[kind] = _Window(now)
            if len(self._kinds) > MAX_KINDS:
                del self._kinds[next(iter(self._kinds))]
            return True, reported
        if w.sent < self.burst:
            w.sent += 1
            return True, 0
        w.suppressed += 1
        return False, 0

    def flush(self, now: float) -> list[tuple[str, int]]:
        """(kind, count) of the windows that are over with lines suppressed in them."""
        out = []
        for kind, w in list(self._kinds.items()):
            if now - w.start >= self.window or now < w.start:
                if w.suppressed:
                    out.append((kind, w.suppressed))
                del self._kinds[kind]
        return out

    def pending(self) -> bool:
        return any(w.suppressed for w in self._kinds.values())

    def next_flush(self) -> float | None:
        """When the first window with suppressed lines is over, or None."""
        ends = [w.start + self.window for w in self._kinds.values() if w.suppressed]
        return min(ends) if ends else None


def suppressed_text(count: int, kind: str) -> str:
    return f"{count} similar message{'s' if count != 1 else ''} suppressed ({kind})"
