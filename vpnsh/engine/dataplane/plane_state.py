"""What every stage of the user-space data plane shares (:class:`PlaneState`): the
devices, sockets, SA table and queues, the counters, and the plumbing between its
threads (wake-up eventfds, poll-set generations, callbacks onto the event loop).

The stages are mixins of :class:`PlaneState`, one module each, composed by
:class:`~.userspace.UserspaceDataPlane` (see :mod:`.userspace` for the map). They share
state through ``self`` and call each other as methods, exactly as when they were one
class: nothing is added per packet.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import DataPlaneEvents, Route, TunnelInterface
from .plane_stats import DataPlaneStats
from .sa_pair import Address, SaPair
from .spd import Spd
from .tun import TunDevice

READ_BATCH = 64  # packets read from one fd before looking at the others
MAX_PACKET = 65535
PENDING_PER_IF = 16  # packets waiting for an SA, per interface (.acquire)


@dataclass
class Pending:
    """The packets of one interface that wait for an SA (:mod:`.acquire`)."""

    packets: deque[tuple[float, bytes]] = field(default_factory=lambda: deque(maxlen=PENDING_PER_IF))


class PlaneState:
    """The state the stages share, and the plumbing between the threads."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, tun_offload: bool = True,
                 raw_esp: bool = False, tun_tso: bool = True, workers: int = 1) -> None:
        self.events = DataPlaneEvents()
        # worker processes that move the packets (.workers); 1: this process's threads do.
        # Read at start(); ESP in UDP only (raw ESP sockets would each get every packet)
        self.workers = workers
        self._pool: Any = None  # the WorkerPool while workers run
        # in a worker process: sends a message to the owner process (set by .workers)
        self.worker_of: Callable[..., None] | None = None
        # gives a new SA pair its shared-memory state before it is used (.workers)
        self.bind_child: Callable[[SaPair], None] | None = None
        self._limit_note_sent = 0.0
        # a worker's taken sockets whose reads keep their order on the way to the TUN:
        # fd -> (the order slot's cells, its lock) (see .shared, "order of work")
        self.read_order: dict[int, tuple[Any, Any]] = {}
        self._turn: tuple[Any, int] | None = None  # the inbound thread's ticket of the read
        self._udp_order: dict[Address, int] = {}  # owner: slot of each taken socket's order
        self._tun_order: dict[str, int] = {}  # owner: slot of each TUN device's order
        # the outbound thread's ticket of the TUN read in hand: (cells, ticket, lock)
        self._out_turn: tuple[Any, int, Any] | None = None
        # ESP in UDP even without a NAT (the IKE engines fake one), as strongSwan's
        # kernel-libipsec does unless raw_esp: a UDP socket batches (GSO/GRO), a raw one
        # costs a system call per packet each way. ``raw_esp``: protocol 50 where no NAT is.
        self.forces_udp_encap = not raw_esp
        self.stats = DataPlaneStats()
        self._clock = clock
        self._tuns: dict[str, TunDevice] = {}
        self._interfaces: dict[str, TunnelInterface] = {}
        self._routes: list[Route] = []
        self._children: dict[int, SaPair] = {}  # inbound SPI -> child
        self._spd: Spd[SaPair] = Spd()
        self._raw: dict[str, socket.socket] = {}  # local address -> raw ESP socket
        self._udp_fast: dict[Address, socket.socket] = {}  # local (ip, port) -> socket
        # local (ip, port) -> (socket, deliver): port-4500 sockets read by the inbound thread
        self._udp_taken: dict[Address, tuple[socket.socket, Callable[[bytes, Address, Address], None]]] = {}
        self._pending: dict[str, Pending] = {}
        self._acquired: dict[tuple[str, str, str, int, int], float] = {}
        self._retired: collections.Counter[str] = collections.Counter()  # drops of removed SAs
        self._flush: set[str] = set()  # interfaces whose waiting packets may go now
        self._flush_lock = threading.Lock()
        self._udp_out: deque[tuple[bytes, Address, Address]] = deque()
        self._udp_out_scheduled = False
        self._limit_check_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._running = False
        self._out_wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._in_wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._out_gen = 0  # bumped when the outbound thread must rebuild its poll set
        self._out_seen = 0
        self._in_gen = 0
        self._in_seen = 0
        self._gen_cond = threading.Condition()
        self._life_task: asyncio.Task[None] | None = None
        self.problems: list[str] = []  # from the last set_interfaces
        # the outbound thread's train of ESP-in-UDP datagrams for one socket and peer
        self.gso = True  # use UDP GSO on attached sockets (set False to send one by one)
        self.tun_offload = tun_offload
        self.tun_tso = tun_tso  # TSO/CSUM offloads on the TUN: super-packets read, cut here
        self._gso_sock: socket.socket | None = None
        self._gso_dest: Address = ("", 0)
        self._gso_seg = 0
        self._gso_bytes = 0
        self._gso_parts: list[bytes] = []
        self._gso_src: tuple[int, int, bytes] | None = None
        self._gro: set[int] = set()  # fds of taken sockets with UDP_GRO on

    @staticmethod
    def _wake(fd: int) -> None:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.eventfd_write(fd, 1)

    def _sync_thread(self, which: str) -> None:
        """Have the outbound (``out``) or raw inbound (``in``) thread pick up changes
        to its fd set, and wait until it has (so a closed fd is never polled)."""
        with self._gen_cond:
            if which == "out":
                self._out_gen += 1
                gen = self._out_gen
            else:
                self._in_gen += 1
                gen = self._in_gen
        if not self._running:
            return
        self._wake(self._out_wake if which == "out" else self._in_wake)
        with self._gen_cond:
            self._gen_cond.wait_for(
                lambda: (self._out_seen if which == "out" else self._in_seen) >= gen
                or not self._running, timeout=5.0)

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run an engine callback on the event loop thread."""
        loop = self._loop
        if loop is None:
            fn(*args)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, *args)

    def _poll_flags(self, fd: int) -> int:
        """epoll flags for ``fd``: a device or socket every worker reads wakes one
        waiting worker per event (EPOLLEXCLUSIVE), not all of them."""
        return select.EPOLLIN | (select.EPOLLEXCLUSIVE if fd in self.read_order else 0)
