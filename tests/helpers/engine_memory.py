"""Python memory an engine holds per tunnel, measured with tracemalloc (the memory tests of
both IKE versions)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

from vpnsh.engine.ikev2.testing import Node, Wire


def bytes_per_tunnel_and_side(make: Callable[[int], tuple[Wire, Node, Node]],
                              n: int = 200) -> float:
    """Bytes per tunnel and side of ``make(n)``'s two engines with ``n`` tunnels up (their
    policies included; the wire's and the nodes' records of what happened are cleared
    first, they are the test's, not the engines')."""
    make(5)  # caches warm (selectors, suites, code paths)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        wire, a, b = make(n)
        wire.sent.clear()
        a.events.clear()
        b.events.clear()
        return (tracemalloc.get_traced_memory()[0] - before) / (2 * n)
    finally:
        tracemalloc.stop()
