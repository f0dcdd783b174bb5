"""CPU per hostile 64 KB IKE datagram: the parsers alone and the whole engine (a figure).

    python bench/ike_parse.py [rounds]

For each worst shape in ``vpnsh.engine.hostile`` (thousands of proposals, transforms,
attributes, payloads, selectors or SPIs in one datagram) prints the microseconds the
codec spends on it and the microseconds ``DualEngine.receive`` spends on it, from an
unknown address and from a configured peer's address (the responder looks up the peer
after parsing). Issue 11 asks for well under 1 ms each.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable

from vpnsh.engine import hostile
from vpnsh.engine.ikev1 import message as v1
from vpnsh.engine.ikev1.dual import DualEngine
from vpnsh.engine.ikev2 import message as v2
from vpnsh.engine.ikev2.testing import child_policy, ike_policy

LOCAL, PEER, STRANGER = "192.0.2.1", "192.0.2.2", "198.51.100.7"


def _per_call(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            with contextlib.suppress(ValueError):
                fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def parse(data: bytes) -> object:
    if v1.is_ikev1(data):
        return v1.parse_plain(data)
    return v2.parse(data)


def engine() -> DualEngine:
    e = DualEngine()
    for version in ("ikev2", "ikev1"):
        e.add_policies([ike_policy(f"gw-{version}", LOCAL, PEER, version=version)],
                       [child_policy(f"tun-{version}", f"gw-{version}")], now=time.monotonic())
    return e


def main(rounds: int = 50) -> dict[str, tuple[float, float, float]]:
    figures: dict[str, tuple[float, float, float]] = {}
    e = engine()
    print(f"{'64 KB datagram':<20}{'bytes':>7}{'parse us':>11}{'engine us':>11}{'(peer) us':>11}")
    for name, shape in hostile.SHAPES.items():
        data = shape()
        p = _per_call(lambda data=data: parse(data), rounds)  # type: ignore[misc]
        u = _per_call(lambda data=data: e.receive(data, (LOCAL, 500), (STRANGER, 500), 0.0), rounds)  # type: ignore[misc]
        k = _per_call(lambda data=data: e.receive(data, (LOCAL, 500), (PEER, 500), 0.0), rounds)  # type: ignore[misc]
        e.datagrams_to_send()
        while e.next_event() is not None:
            pass
        figures[name] = (p, u, k)
        print(f"{name:<20}{len(data):>7}{p:>11.0f}{u:>11.0f}{k:>11.0f}")
    worst = max(max(f) for f in figures.values())
    print(f"worst: {worst:.0f} us per 64 KB datagram")
    return figures


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
