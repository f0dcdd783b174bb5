"""SA state in shared memory, for several data-plane worker processes (:mod:`.workers`).

Every ESP SA (one direction of a CHILD SA) that worker processes carry has one slot of
``SLOT_CELLS`` 64-bit cells in a shared memory file: the outbound sequence number, the
counters (:class:`~.sa.EspCounters`' fields) and the anti-replay window (top and bitmap,
RFC 6479 blocks). Each slot has a lock (a ``multiprocessing`` lock from a pool shared by
all processes: slot ``i`` uses lock ``i % len(pool)``). Whatever reads and changes a
slot in more than one step does so under its lock:

* outbound: the sequence numbers of a train (or a packet) are taken and the counters
  grown in one step, after the hard lifesize and sequence space were checked
  (:func:`.fused.seal_tcp_super`, :func:`.esp.encapsulate` under ``sa.lock``): numbers
  are never reused or skipped, and the hard limit is exact across workers;
* inbound: the window is checked before decryption and checked again and updated after
  the tag verified, under the lock (:func:`.fused.open_train`, :func:`.esp.decapsulate`
  under ``sa.lock``): a packet is accepted once whichever worker reads it (a replay read
  by another worker is dropped and counted there);
* the owner process reads the counters with no lock (each cell is one aligned word).

:func:`bind` turns an :class:`~.sa.EspSA` into one whose ``seq``, ``counters`` and
``replay`` live in a slot. The owner zeroes a slot before it hands it out.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import time
from typing import Any

from .replay import MAX_WINDOW, ReplayWindow
from .sa import EspSA

log = logging.getLogger("vpnsh.dataplane.shared")

_FIELDS = ("packets", "bytes", "auth_fail", "replay", "selector_drop", "pad_errors", "other_drops")
C_SEQ = 0
C_TOP = 1 + len(_FIELDS)  # 8
C_BLOCKS = C_TOP + 1  # 9
# order slots (one per shared TUN device or socket): the next ticket handed out, the
# ticket whose turn it is to hand on its work, and whose turn to take sequence numbers
C_TICKET = 76
C_TURN = 77
C_RTURN = 78
SLOT_CELLS = 80  # 9 + up to 65 blocks (a 4096 window) + the two order cells, rounded up
assert C_BLOCKS + MAX_WINDOW // 64 + 1 <= C_TICKET
ORDER_WAIT = 0.05  # seconds a worker waits for its turn before it goes anyway
# seconds a slot's lock may stay taken before it counts as left behind by a dead worker
# (what it guards takes microseconds)
LOCK_STUCK = 2.0
ORDER_SPINS = 20  # sched_yield()s before it sleeps
ORDER_SLEEP = 0.0001  # seconds of each sleep
SLOT_BYTES = SLOT_CELLS * 8


class SlotTable:
    """A shared memory file of ``slots`` SA slots (sparse: pages are used as touched)."""

    def __init__(self, path: str, slots: int, create: bool) -> None:
        self.path = path
        self.slots = slots
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, slots * SLOT_BYTES)
            self._map = mmap.mmap(fd, slots * SLOT_BYTES)
        finally:
            os.close(fd)
        self.cells = memoryview(self._map).cast("Q")

    def slot(self, index: int) -> memoryview:
        return self.cells[index * SLOT_CELLS:(index + 1) * SLOT_CELLS]

    def zero(self, index: int) -> None:
        view = self.slot(index)
        for i in range(SLOT_CELLS):
            view[i] = 0

    def close(self, unlink: bool = False) -> None:
        """Unmap (once no SA holds a view of a slot: otherwise when the last one goes)
        and, for the owner, remove the file."""
        if unlink:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        with contextlib.suppress(BufferError):
            self.cells.release()
            self._map.close()


def _cell(index: int) -> property:
    def get(self: SharedCounters) -> int:
        return self._c[index]

    def put(self: SharedCounters, value: int) -> None:
        self._c[index] = value

    return property(get, put)


class SharedCounters:
    """:class:`~.sa.EspCounters` whose fields are cells of a slot."""

    __slots__ = ("_c",)

    def __init__(self, cells: memoryview) -> None:
        self._c = cells

    packets = _cell(1)
    bytes = _cell(2)
    auth_fail = _cell(3)
    replay = _cell(4)
    selector_drop = _cell(5)
    pad_errors = _cell(6)
    other_drops = _cell(7)

    def __repr__(self) -> str:
        return "SharedCounters(" + ", ".join(f"{f}={getattr(self, f)}" for f in _FIELDS) + ")"


class SharedReplayWindow(ReplayWindow):
    """A :class:`~.replay.ReplayWindow` whose top and bitmap blocks are cells of a slot."""

    def __init__(self, size: int, esn: bool, cells: memoryview) -> None:  # noqa: D107
        super().__init__(size, esn)
        self._cells = cells
        self._blocks = cells[C_BLOCKS:C_BLOCKS + self._nblocks]  # type: ignore[assignment]

    @property
    def top(self) -> int:
        return self._cells[C_TOP]

    @top.setter
    def top(self, value: int) -> None:
        cells = getattr(self, "_cells", None)
        if cells is not None:  # ReplayWindow.__init__ sets 0 before the cells exist
            cells[C_TOP] = value


class SharedEspSA(EspSA):
    """An :class:`~.sa.EspSA` whose sequence number is a cell of its slot (see :func:`bind`)."""

    _cells: memoryview


    @property
    def seq(self) -> int:
        return self._cells[C_SEQ]

    @seq.setter
    def seq(self, value: int) -> None:
        self._cells[C_SEQ] = value


class SharedLock:
    """A ``multiprocessing`` lock of the pool, taken with ``with``. A lock still taken
    after LOCK_STUCK was left by a worker that died inside the few microseconds it is
    held (SIGKILL, a crash): it is broken, logged, and taken, so that the other workers
    never hang on it."""

    __slots__ = ("_lock",)

    def __init__(self, lock: Any) -> None:
        self._lock = lock

    def __enter__(self) -> SharedLock:
        lock = self._lock
        if not lock.acquire(True, LOCK_STUCK):
            log.error("a data-plane lock was held for %.0f s (by a worker that died?): broken",
                      LOCK_STUCK)
            with contextlib.suppress(ValueError):  # released meanwhile
                lock.release()
            lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def bind(sa: EspSA, table: SlotTable, index: int, lock: Any) -> EspSA:
    """Make ``sa`` keep its sequence number, counters and replay window in slot ``index``
    of ``table``, changed under ``lock``. The slot's contents are kept (another process
    may be using it already): the owner zeroes it before the first bind."""
    cells = table.slot(index)
    sa.__class__ = SharedEspSA
    sa._cells = cells  # type: ignore[attr-defined]
    sa.slot = index  # type: ignore[attr-defined]
    sa.counters = SharedCounters(cells)  # type: ignore[assignment]
    sa.replay = SharedReplayWindow(sa.replay_window, sa.esn, cells)
    sa.lock = lock if isinstance(lock, SharedLock) else SharedLock(lock)
    return sa


# ---------------------------------------------------------------------- order of work
#
# Two workers that handle consecutive trains of one TCP flow at once would hand them on
# in either order: the TCP receiver sees reordering, answers with duplicate ACKs and the
# sender retransmits. So a train keeps its place: outbound, an SA's trains are sent in
# the order their sequence numbers were taken; inbound, the trains read from a socket
# are written to the TUN in the order they were read. A ticket is taken in the same
# locked step (``order_ticket``, :func:`take_ticket`); the work is done in parallel;
# the hand-over waits for the ticket's turn (:func:`wait_turn`), at most ORDER_WAIT (a
# worker that died holding a ticket delays the others once), and :func:`end_turn`
# passes it on.


def take_ticket(cells: memoryview) -> int:
    """The next ticket of ``cells`` (a slot; call under its lock)."""
    ticket = cells[C_TICKET]
    cells[C_TICKET] = ticket + 1
    return ticket


def wait_turn(cells: memoryview, ticket: int, cell: int = C_TURN) -> bool:
    """Return when ``ticket``'s turn has come (True), or after ORDER_WAIT (False).
    Yields the CPU a few times, then sleeps in steps: the one whose turn it is may be
    waiting for a core, or for its process's other thread to let go of the GIL."""
    if cells[cell] >= ticket:
        return True
    for _ in range(ORDER_SPINS):
        os.sched_yield()
        if cells[cell] >= ticket:
            return True
    deadline = time.monotonic() + ORDER_WAIT
    while cells[cell] < ticket:
        if time.monotonic() >= deadline:
            return False
        time.sleep(ORDER_SLEEP)
    return True


def end_turn(cells: memoryview, ticket: int, lock: Any, cell: int = C_TURN) -> None:
    """Pass the turn on to ``ticket + 1`` (never back, if a late one gave up waiting)."""
    with lock:
        if cells[cell] <= ticket:
            cells[cell] = ticket + 1
