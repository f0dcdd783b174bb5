"""Retransmission backoff, one class for both protocols (RFC 7296 2.4; RFC 2408 has none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Flight(Protocol):
    """A request (IKEv2) or message (IKEv1) of ours that waits for an answer."""

    attempt: int  # 0: the first send
    next_at: float  # when to send it again


@dataclass(frozen=True)
class Retransmit:
    """Exponential backoff: timeouts base, 2*base, ... capped at ``cap``; ``tries`` sends in all.

    The defaults are IKEv2's and follow PAN-OS: 1+2+4+...+64+64+64+64 = 319 s before the
    peer is dead. IKEv1 uses :data:`IKEV1` (2+4+8+16+16+16 = 62 s).
    """

    base: float = 1.0
    cap: float = 64.0
    tries: int = 10

    def timeout(self, attempt: int) -> float:
        return float(min(self.base * (2**attempt), self.cap))

    def due(self, flight: Flight, now: float) -> bool | None:
        """What to do with ``flight`` at ``now``: None, nothing yet; True, send it again
        (its next deadline is set); False, every try is spent: the peer did not answer."""
        if now < flight.next_at:
            return None
        flight.attempt += 1
        if flight.attempt >= self.tries:
            return False
        flight.next_at = now + self.timeout(flight.attempt)
        return True


IKEV2 = Retransmit()
IKEV1 = Retransmit(base=2.0, cap=16.0, tries=6)
