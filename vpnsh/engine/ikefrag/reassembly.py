"""Reassembly of IKE fragments with limits, for IKEv2 (numbered with a total) and IKEv1
(numbered, the last one flagged).

Each fragment is offered with :meth:`Reassembler.add`; the answer says whether the message
is complete (its bytes), still pending, or why the fragment was dropped (a stable ``reason``
code for counters, e.g. ``frag_too_many``). Hostile input can cost at most ``max_size``
bytes per pending message and ``max_pending`` messages; an incomplete message is forgotten
after ``timeout`` seconds (:meth:`Reassembler.expire`).

IKEv2 fragments must be authenticated (decrypted) before they are added (RFC 7383 2.6), so
a duplicate is a retransmission: it is ignored. A fragment whose Total Fragments is larger
than that of the fragments held starts the message again (the sender re-fragmented for a
smaller MTU); a smaller total is dropped (RFC 7383 2.6).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

# drop reasons (counter names)
INVALID = "frag_invalid"            # number 0, number > total, total 0
TOO_MANY = "frag_too_many"          # total (or a number) above max_fragments
TOO_BIG = "frag_too_big"            # the message would exceed max_size
DUPLICATE = "frag_duplicate"        # this number is held already (retransmission)
INCONSISTENT = "frag_inconsistent"  # same number, other bytes; or a smaller total; or 2 lasts
STALE = "frag_stale"                # a fragment of a message already reassembled
EVICTED = "frag_evicted"            # a pending message pushed out by max_pending


@dataclass(frozen=True)
class Limits:
    max_fragments: int = 32     # strongSwan caps IKEv1 at 255; 32 x 1200 octets is plenty
    max_size: int = 65535       # octets of reassembled content (IKE's length field)
    max_pending: int = 4        # messages being reassembled at once (per IKE SA)
    timeout: float = 30.0       # seconds an incomplete message is kept


@dataclass
class Outcome:
    status: str                 # "complete" | "pending" | "dropped"
    reason: str = ""            # for "dropped"; and EVICTED when an old message was evicted
    data: bytes = b""           # for "complete": the fragments' contents in order
    first_payload: int = 0      # IKEv2: the Next Payload of fragment 1
    number: int = 0             # the fragment's number (retransmit on a stale fragment 1)

    @property
    def complete(self) -> bool:
        return self.status == "complete"


@dataclass
class _Pending:
    started: float
    total: int | None           # IKEv2: Total Fragments; IKEv1: the last fragment's number
    pieces: dict[int, bytes] = field(default_factory=dict)
    size: int = 0
    first_payload: int = 0


class Reassembler:
    """Fragments of several messages, keyed by message (IKEv2: message ID; IKEv1: message ID
    and fragment ID)."""

    def __init__(self, limits: Limits = Limits(), remember_done: int = 8) -> None:
        self.limits = limits
        self._pending: OrderedDict[Any, _Pending] = OrderedDict()
        self._done: OrderedDict[Any, None] = OrderedDict()
        self._remember = remember_done

    def pending(self) -> int:
        return len(self._pending)

    def held_bytes(self) -> int:
        return sum(p.size for p in self._pending.values())

    def next_deadline(self) -> float | None:
        if not self._pending:
            return None
        return min(p.started for p in self._pending.values()) + self.limits.timeout

    def expire(self, now: float) -> list[Any]:
        """Forget messages incomplete for longer than the timeout; their keys."""
        old = [k for k, p in self._pending.items() if now - p.started >= self.limits.timeout]
        for k in old:
            del self._pending[k]
        return old

    def forget(self, key: Any) -> None:
        self._pending.pop(key, None)

    # -------------------------------------------------------------- IKEv2

    def add_v2(self, key: Any, number: int, total: int, first_payload: int, data: bytes,
               now: float) -> Outcome:
        """An authenticated SKF fragment ``number`` of ``total`` of message ``key``."""
        if total == 0 or number == 0 or number > total:
            return Outcome("dropped", INVALID, number=number)
        if total > self.limits.max_fragments:
            return Outcome("dropped", TOO_MANY, number=number)
        if key in self._done:
            return Outcome("dropped", STALE, number=number)
        p = self._pending.get(key)
        evicted = ""
        if p is not None and p.total is not None and total < p.total:
            return Outcome("dropped", INCONSISTENT, number=number)
        if p is not None and p.total is not None and total > p.total:
            del self._pending[key]  # re-fragmented for a smaller MTU: start again
            p = None
        if p is None:
            evicted = self._make_room()
            p = self._pending[key] = _Pending(started=now, total=total)
        out = self._put(key, p, number, data, evicted)
        if out is not None:
            return out
        if number == 1:
            p.first_payload = first_payload
        if len(p.pieces) == p.total:
            return self._finish(key, p, number)
        return Outcome("pending", evicted, number=number)

    # -------------------------------------------------------------- IKEv1

    def add_v1(self, key: Any, number: int, last: bool, data: bytes, now: float) -> Outcome:
        """An IKEv1 fragment payload's data: fragment ``number`` (from 1), ``last`` flagged."""
        if number == 0:
            return Outcome("dropped", INVALID, number=number)
        if number > self.limits.max_fragments:
            return Outcome("dropped", TOO_MANY, number=number)
        if key in self._done:
            return Outcome("dropped", STALE, number=number)
        p = self._pending.get(key)
        evicted = ""
        if p is not None:
            if last and p.total is not None and number != p.total:
                return Outcome("dropped", INCONSISTENT, number=number)
            if p.total is not None and number > p.total:
                return Outcome("dropped", INCONSISTENT, number=number)
            if last and any(n > number for n in p.pieces):
                return Outcome("dropped", INCONSISTENT, number=number)
        else:
            evicted = self._make_room()
            p = self._pending[key] = _Pending(started=now, total=None)
        out = self._put(key, p, number, data, evicted)
        if out is not None:
            return out
        if last:
            p.total = number
        if p.total is not None and len(p.pieces) == p.total:
            return self._finish(key, p, number)
        return Outcome("pending", evicted, number=number)

    # -------------------------------------------------------------- common

    def _make_room(self) -> str:
        if len(self._pending) < self.limits.max_pending:
            return ""
        self._pending.popitem(last=False)  # the oldest message gives way
        return EVICTED

    def _put(self, key: Any, p: _Pending, number: int, data: bytes, evicted: str) -> Outcome | None:
        held = p.pieces.get(number)
        if held is not None:
            return Outcome("dropped", DUPLICATE if held == data else INCONSISTENT, number=number)
        if p.size + len(data) > self.limits.max_size:
            del self._pending[key]  # a message that cannot fit is not worth keeping
            return Outcome("dropped", TOO_BIG, number=number)
        p.pieces[number] = data
        p.size += len(data)
        return None

    def _finish(self, key: Any, p: _Pending, number: int) -> Outcome:
        del self._pending[key]
        self._done[key] = None
        while len(self._done) > self._remember:
            self._done.popitem(last=False)
        data = b"".join(p.pieces[i] for i in range(1, len(p.pieces) + 1))
        return Outcome("complete", data=data, first_payload=p.first_payload, number=number)
