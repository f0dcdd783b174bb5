"""Traffic selector narrowing (RFC 7296 2.9)."""

from __future__ import annotations

from collections.abc import Sequence

from ..policy import TrafficSelector


def intersect(a: TrafficSelector, b: TrafficSelector) -> TrafficSelector | None:
    if a.version != b.version:
        return None
    if a.ip_proto and b.ip_proto and a.ip_proto != b.ip_proto:
        return None
    start = max(a.start_addr, b.start_addr)
    end = min(a.end_addr, b.end_addr)
    if start > end:  # type: ignore[operator]
        return None
    sport = max(a.start_port, b.start_port)
    eport = min(a.end_port, b.end_port)
    if sport > eport:
        return None
    proto = a.ip_proto or b.ip_proto
    # one of the two itself when it is the answer (the usual case: the peer asks for what
    # is configured): a CHILD SA then shares the policy's selectors, not copies of them
    for ts in (b, a):
        if (ts.start_addr == start and ts.end_addr == end and ts.ip_proto == proto
                and ts.start_port == sport and ts.end_port == eport):
            return ts
    return TrafficSelector(start, end, proto, sport, eport)


def narrow(
    requested: Sequence[TrafficSelector], configured: Sequence[TrafficSelector]
) -> tuple[TrafficSelector, ...]:
    """The parts of ``requested`` that ``configured`` allows, without duplicates."""
    out: list[TrafficSelector] = []
    for r in requested:
        for c in configured:
            ts = intersect(r, c)
            if ts is not None and ts not in out:
                out.append(ts)
    return tuple(out)


def contains(outer: TrafficSelector, inner: TrafficSelector) -> bool:
    """``intersect(outer, inner) == inner``, without building the intersection: same family,
    ``outer``'s protocol any or ``inner``'s, ``inner``'s (non-empty) ranges within ``outer``'s."""
    if outer.version != inner.version:
        return False
    if outer.ip_proto and outer.ip_proto != inner.ip_proto:
        return False
    if inner.start_addr < outer.start_addr or outer.end_addr < inner.end_addr:  # type: ignore[operator]
        return False
    if inner.end_addr < inner.start_addr:  # type: ignore[operator]
        return False
    return outer.start_port <= inner.start_port <= inner.end_port <= outer.end_port


def within(narrowed: Sequence[TrafficSelector], offered: Sequence[TrafficSelector]) -> bool:
    """Each narrowed selector fits inside one we offered."""
    return bool(narrowed) and all(any(contains(o, n) for o in offered) for n in narrowed)


def shared(got: Sequence[TrafficSelector], ours: Sequence[TrafficSelector]
           ) -> tuple[TrafficSelector, ...]:
    """``got`` with each selector equal to one of ``ours`` replaced by ours: a CHILD SA keeps
    the policy's (cached) selector objects, not the copies parsed from the peer's answer."""
    return tuple(next((o for o in ours if o == g), g) for g in got)


def describe(selectors: Sequence[TrafficSelector]) -> str:
    return ", ".join(ts.short() for ts in selectors) or "nothing"
