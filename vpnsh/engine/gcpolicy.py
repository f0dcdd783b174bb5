"""Garbage collection for a daemon holding a large, long-lived heap.

At 10,000 tunnels the daemon holds millions of tracked objects (config trees, policies, SAs),
nearly all of them long-lived. CPython's full (generation 2) collection walks every one:
~0.5 s at that size, at a moment chosen by allocation counts, so it lands on whatever runs
then (a one-tunnel commit measured 130 ms, or 740 ms when it met one). The daemon therefore
moves what it holds to the permanent generation (``gc.freeze``) after a commit and once a
minute, so collections walk only what is new; and once an hour it unfreezes and collects
everything, so reference cycles that died while frozen are still reclaimed (one pause an hour,
at a time of the daemon's choosing, instead of pauses at random).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger("vpnshd")

FREEZE_EVERY = 60.0  # seconds
SWEEP_EVERY = 3600.0


_enabled = False  # the daemon turns it on (a library user, e.g. a test process, keeps CPython's GC)


def enable() -> None:
    global _enabled
    _enabled = True


def settle(release: bool = True) -> None:
    """What is alive now is long-lived: keep it out of the collections to come (once
    :func:`enable` was called), and give the C heap's free memory back to the system
    (``release``: a small commit freed little, and ``malloc_trim`` walks the whole heap,
    ~10 ms at 10,000 tunnels; the next minute's settle gives it back anyway)."""
    if _enabled:
        gc.collect(1)  # the young generations' garbage first: frozen, it would stay till the sweep
        gc.freeze()
        if release:
            trim()


def hold() -> None:
    """Before a commit: what is alive now is out of the collections the commit's own
    allocations may trigger (``gc.freeze`` moves lists, it walks nothing). Without it a
    commit soon after 10,000 SAs came up can meet the full collection of all of them."""
    if _enabled:
        gc.freeze()


def trim() -> None:
    """glibc's ``malloc_trim(0)``: memory freed by a large commit (the old tree, the diff,
    the JSON) is returned to the system, not kept as the process's high-water mark (33 MB
    of 200 after a 10,000-tunnel commit, in ~3 ms). A no-op without glibc."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None  # None: not looked up yet; False: not available


def sweep() -> float:
    """Collect everything, frozen or not, then freeze the survivors; the seconds it took."""
    t0 = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - t0


async def run(freeze_every: float = FREEZE_EVERY, sweep_every: float = SWEEP_EVERY) -> None:
    """The daemon's GC rhythm (a task for as long as it serves)."""
    enable()
    settle()
    last_sweep = time.monotonic()
    while True:
        await asyncio.sleep(freeze_every)
        if time.monotonic() - last_sweep >= sweep_every:
            last_sweep = time.monotonic()
            log.debug("gc sweep: %.0f ms", 1000 * sweep())
        else:
            settle()
