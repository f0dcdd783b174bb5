"""Retransmission backoff, one class for both protocols (RFC 7296 2.4; RFC 2408 has none)."""

from __future__ import annotations

from dataclasses import dataclass


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


IKEV2 = Retransmit()
IKEV1 = Retransmit(base=2.0, cap=16.0, tries=6)
