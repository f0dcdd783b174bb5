"""``--dataplane userspace``: ESP in Python over TUN devices (for kernels without ESP).

Threads and what they own:

* the **outbound thread** polls every TUN fd (and a wake eventfd), reads packets in
  batches, finds the CHILD SA by selectors (:mod:`.spd`), encapsulates (:mod:`.esp`) and
  sends: raw IP protocol 50 on a socket per local address, or ESP-in-UDP on the shared
  port-4500 socket (see below). It alone encapsulates, so outbound sequence numbers need
  no lock. Packets with no SA wait in a short bounded queue per interface and trigger one
  ``acquire`` per flow per hold-off.
* the **inbound thread** reads the raw protocol-50 sockets and the port-4500 sockets
  handed over with :meth:`UserspaceDataPlane.take_udp_socket`, decapsulates, and writes
  the inner packets of each read batch to the TUN of the SA's interface.
* the **event loop thread** (the daemon's) runs every control call and the lifetime
  timer; every ``events`` callback is made on it. It also decapsulates ESP-in-UDP that
  ``UdpIo`` hands to ``esp_in_udp`` when the socket was not taken.

An inbound SA is decapsulated only by the path it was negotiated for (UDP when the spec
has ``encap``, raw otherwise), so its replay window is touched by one thread only.

The port-4500 socket, three ways (fastest first):

* ``take_udp_socket(local, sock, udp_io.dispatch)`` after ``transport.pause_reading()``:
  the inbound thread reads it (UDP GRO on: one read returns a train of datagrams), hands
  IKE, keepalives and runts to ``dispatch`` on the event loop, and decapsulates ESP; the
  outbound thread sends on it (UDP GSO: one ``sendmsg`` per train of equal-size datagrams).
* ``attach_udp_socket(local, sock)``: sends as above; receiving stays with ``UdpIo``.
* neither: datagrams go to ``events.send_udp`` on the event loop, one wake-up per batch.

With no NAT on the path, ESP still goes in UDP (``forces_udp_encap``; the IKE engines
fake a NAT in NAT detection, as strongSwan's kernel-libipsec has it do): the port-4500
socket batches both ways, a raw protocol-50 socket costs a system call per packet.
``raw_esp=True`` (``vpnshd --raw-esp``) sends raw ESP where no NAT is detected.

TUN devices carry a virtio-net header (``tun_offload``): decrypted segments of one TCP
flow that arrive together are written as one large packet (see :mod:`.tun`). With
``tun_tso`` (the default) the kernel's side has TSO and CSUM offloads too: a TUN read
returns a TCP super-packet of up to 64 KB, which :mod:`.fused` cuts and seals into one
buffer sent as UDP GSO trains; a UDP GRO train of one AEAD SA is opened in one go and,
when it is one TCP flow's run, written to the TUN as one packet. Sequence numbers,
counters, limits and the replay window stay exact (see docs/dataplane-performance.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import errno
import logging
import os
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# the sockets UdpIo hands over are wildcard ones: each datagram's local address comes
# from IP_PKTINFO and each send names its source the same way (vpnsh.engine.udp_io)
from ..udp_io import PKTINFO_CMSG_SPACE, local_from_ancillary, pktinfo_cmsg, wildcard_for
from .base import (
    ChildSaSpec,
    DataPlaneEvents,
    DataPlaneInfo,
    Route,
    SaCounters,
    TunnelInterface,
)
from .esp import DropReason, EspDrop, decapsulate, encapsulate
from .fused import Train, open_train, seal_tcp_super
from .routes import configure_link, run_netlink, sync_routes
from .sa import Direction, EspSA
from .segment import F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, SegmentError, split
from .shared import C_RTURN, end_turn, take_ticket, wait_turn
from .spd import InboundCheck, PacketKey, Spd, compile_all, parse_inner
from .tun import VNET_HDR_LEN, TunDevice, TunError

log = logging.getLogger("vpnsh.dataplane.userspace")

IPPROTO_ESP = 50
NON_ESP_MARKER = b"\x00\x00\x00\x00"
_SPI = struct.Struct(">I")
# UDP segmentation offload (linux/udp.h): one sendmsg carries a train of equal-size
# datagrams (the last may be shorter), one recvmsg returns a train the kernel coalesced
SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
GSO_MAX_SEGMENTS = 32
GSO_MAX_BYTES = 60000
_U16 = struct.Struct("=H")
_GRO_CMSG_SPACE = socket.CMSG_SPACE(4) + PKTINFO_CMSG_SPACE
PENDING_PER_IF = 16  # packets waiting for an SA, per interface
PENDING_MAX_AGE = 3.0  # seconds a waiting packet is kept
ACQUIRE_HOLDOFF = 10.0  # seconds before the same flow triggers another acquire
# flows remembered for that hold-off: a tunnel that stays down must not grow the table
# with every new flow sent into it; past this, the stale and then the oldest go
ACQUIRED_MAX = 4096
READ_BATCH = 64  # packets read from one fd before looking at the others
LIFE_TICK = 1.0  # seconds between lifetime checks
LIMIT_NOTE_INTERVAL = 0.02  # a worker tells the owner "a limit is near" at most this often
MAX_PACKET = 65535
TUN_READ_MAX = VNET_HDR_LEN + 65535 + 40  # a TSO super-packet (IPv6: payload + header)

Address = tuple[str, int]


@dataclass
class DataPlaneStats:
    """Drops and events that belong to no SA."""

    tun_packets_in: int = 0  # IP packets (segments of super-packets counted one by one)
    tun_reads: int = 0
    tso_reads: int = 0  # reads that returned a TCP super-packet (TSO on the TUN)
    bad_offload: int = 0  # reads whose offload header made no sense: dropped
    out_wakeups: int = 0  # polls of the outbound thread that found something to read
    in_wakeups: int = 0
    udp_packets_in: int = 0  # datagrams read from taken port-4500 sockets
    gso_sends: int = 0  # sendmsg calls that carried a train of datagrams (UDP GSO)
    gso_datagrams: int = 0  # datagrams sent in those trains
    gro_reads: int = 0  # reads that returned a coalesced train (UDP GRO)
    tun_coalesced: int = 0  # TCP segments written to TUN inside larger packets
    no_sa: int = 0  # outbound packets that found no SA (queued or dropped)
    pending_dropped: int = 0  # queue full or too old
    pending_sent: int = 0
    acquires: int = 0
    not_ip: int = 0  # TUN gave something that is not IPv4/IPv6
    unknown_spi: int = 0
    wrong_path: int = 0  # raw ESP for a UDP SA or the other way round
    short: int = 0
    send_errors: int = 0
    tun_write_errors: int = 0
    encap_drops: int = 0  # EspDrop on the way out (lifesize, sequence exhausted)
    dead_sa: int = 0  # traffic on an SA whose hard lifetime has passed
    link_scoped: int = 0  # multicast / link-local packets with no SA: dropped, no acquire
    order_waits_given_up: int = 0  # a worker's turn did not come within ORDER_WAIT (.shared)
    worker_restarts: int = 0  # worker processes that died and were started again (.workers)


def _sa_drops(child: _Child) -> dict[str, int]:
    i, o = child.inbound.counters, child.outbound.counters
    return {"auth_fail": i.auth_fail, "replay": i.replay, "pad_errors": i.pad_errors,
            "other_drops": i.other_drops + o.other_drops,
            "selector_drop": i.selector_drop + child.selector_drops}


@dataclass(eq=False)
class _Child:
    """One CHILD SA pair as carried here."""

    spec: ChildSaSpec
    inbound: EspSA
    outbound: EspSA
    check: InboundCheck
    installed: float
    udp_local: Address | None
    udp_remote: Address | None
    selector_drops: int = 0
    soft_sent: bool = False
    hard_sent: bool = False
    dead: bool = False  # hard limit passed: carries nothing more
    next_limit: int = 0  # bytes at which a lifesize limit is next crossed (either direction)
    # the wildcard socket's key and the sendmsg item naming the source address, for
    # ESP-in-UDP on a shared (wildcard) port-4500 socket
    udp_wild: Address | None = None
    udp_src: tuple[int, int, bytes] | None = None
    slots: tuple[int, int] = (0, 0)  # shared-memory slots (in, out) with worker processes

    def compute_next_limit(self) -> None:
        limits = []
        if self.spec.lifesize_soft_kb and not self.soft_sent:
            limits.append(self.spec.lifesize_soft_kb * 1024)
        if self.spec.lifesize_hard_kb and not self.hard_sent:
            limits.append(self.spec.lifesize_hard_kb * 1024)
        self.next_limit = min(limits) if limits else 1 << 62


@dataclass
class _Pending:
    packets: deque[tuple[float, bytes]] = field(default_factory=lambda: deque(maxlen=PENDING_PER_IF))


def _sockaddr(addr: str) -> tuple[int, tuple[Any, ...]]:
    if ":" in addr:
        return socket.AF_INET6, (addr, 0, 0, 0)
    return socket.AF_INET, (addr, 0)


class UserspaceDataPlane:
    """The :class:`~.base.DataPlane` of TUN devices and ESP in Python."""

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
        self.bind_child: Callable[[_Child], None] | None = None
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
        self._children: dict[int, _Child] = {}  # inbound SPI -> child
        self._spd: Spd[_Child] = Spd()
        self._raw: dict[str, socket.socket] = {}  # local address -> raw ESP socket
        self._udp_fast: dict[Address, socket.socket] = {}  # local (ip, port) -> socket
        # local (ip, port) -> (socket, deliver): port-4500 sockets read by the inbound thread
        self._udp_taken: dict[Address, tuple[socket.socket, Callable[[bytes, Address, Address], None]]] = {}
        self._pending: dict[str, _Pending] = {}
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

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._running or self._pool is not None:
            return
        self._loop = asyncio.get_running_loop()
        if self.workers > 1 and not self.forces_udp_encap:
            log.warning("--raw-esp: one data-plane process (raw ESP sockets cannot be shared "
                        "by %d workers)", self.workers)
        if self.workers > 1 and self.forces_udp_encap:
            from .workers import WorkerPool

            pool = WorkerPool(self.workers, plane=type(self), tun_offload=self.tun_offload,
                              tun_tso=self.tun_tso,
                              on_event=self._worker_event, replay_state=self._replay_to_worker)
            self.bind_child = pool.bind_child
            await asyncio.to_thread(pool.start)
            self._pool = pool
        else:
            self.start_threads()
        self._life_task = asyncio.create_task(self._life_timer())

    def start_threads(self) -> None:
        """Start the outbound and inbound threads (a worker process calls this itself)."""
        if self._out_wake < 0:  # started again after a stop
            self._out_wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._in_wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._running = True
        for target, name in ((self._outbound_loop, "vpnsh-esp-out"), (self._raw_inbound_loop, "vpnsh-esp-in")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_threads(self) -> None:
        self._running = False
        self._wake(self._out_wake)
        self._wake(self._in_wake)
        for thread in self._threads:
            thread.join(5.0)
        if not any(t.is_alive() for t in self._threads) and self._out_wake >= 0:
            for fd in (self._out_wake, self._in_wake):
                os.close(fd)
            self._out_wake = self._in_wake = -1
        self._threads.clear()

    async def stop(self) -> None:
        if self._life_task is not None:
            self._life_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._life_task
            self._life_task = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.stop)
            self.bind_child = None
        await asyncio.to_thread(self.stop_threads)
        self.close_all()

    def close_all(self) -> None:
        """Forget every SA and close every device and socket (after the threads stopped)."""
        self._children.clear()
        for child_spi in list(self._spd_ids()):
            self._spd.remove(child_spi)
        for tun in self._tuns.values():
            tun.close()  # routes through it go with it
        self._tuns.clear()
        self._interfaces.clear()
        for sock in [*self._raw.values(), *self._udp_fast.values()]:
            sock.close()
        self._raw, self._udp_fast, self._udp_taken = {}, {}, {}

    def _spd_ids(self) -> list[int]:
        return [spi for name in self._spd.interfaces() for spi in self._spd.sa_ids(name)]

    def info(self) -> DataPlaneInfo:
        notes = [f"user-space ESP over TUN: {len(self._tuns)} tunnel interface(s), "
                 f"{len(self._children)} SA pair(s)"]
        pool = self._pool
        if pool is not None:
            notes.append(f"{pool.count} worker processes (pids {', '.join(map(str, pool.pids()))}): "
                         "shared TUN devices and port-4500 socket, reads kept in order, "
                         "SA state in shared memory")
            notes += pool.notes
        notes.append("ESP in UDP on port 4500 with every peer that does NAT detection "
                     "(vpnshd --raw-esp: IP protocol 50 where no NAT is)" if self.forces_udp_encap
                     else "raw ESP (IP protocol 50) where no NAT is detected")
        notes += self.problems
        return DataPlaneInfo("userspace", notes)

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

    # ------------------------------------------------------------------ interfaces

    def set_interfaces(self, interfaces: list[TunnelInterface], routes: list[Route]) -> None:
        want = {i.name: i for i in interfaces}
        created = False
        problems: list[str] = []
        for name, iface in list(want.items()):
            if name not in self._tuns:
                try:
                    self._tuns[name] = TunDevice(name, offload=self.tun_offload, tso=self.tun_tso)
                except TunError as exc:  # e.g. a device of another kind has the name
                    problems.append(f"{name}: {exc}")
                    del want[name]
                    continue
                created = True
                if not any(":" in a for a in iface.addresses):
                    _no_ipv6_link_local(name)

        def configure(ipr: Any) -> list[str]:
            out: list[str] = []
            for iface in want.values():
                try:
                    configure_link(ipr, iface.name, iface.addresses, iface.mtu)
                except Exception as exc:  # noqa: BLE001 - reported, the rest goes on
                    out.append(f"{iface.name}: {exc}")
            out += sync_routes(ipr, [r for r in routes if r.interface in want])
            return out

        problems += run_netlink(configure)
        gone = [name for name in self._tuns if name not in want]
        removed = [self._tuns.pop(name) for name in gone]
        if created or removed:
            self._sync_thread("out")
        pool = self._pool
        if pool is not None:  # the workers read and write the devices through duplicates
            for name, tun in self._tuns.items():
                if name not in self._tun_order:
                    self._tun_order[name] = pool.order_slot()
                    pool.call("tun", name, tun.offload, tun.tso, self._tun_order[name], handle=tun.fd)
            pool.call("interfaces", sorted(self._tuns))  # theirs of the others closed
            pool.free_slots(tuple(self._tun_order.pop(t.name) for t in removed if t.name in self._tun_order))
        for tun in removed:
            tun.close()
        self._interfaces = want
        self._routes = list(routes)
        self.problems = problems
        for p in problems:
            log.warning("tunnel interfaces: %s", p)

    def global_counters(self) -> dict[str, int]:
        """ESP and TUN drops and events for ``show counter global`` (key: counter name in
        vpnsh.engine.counters), including those of SAs already removed."""
        s = self.stats_snapshot()
        totals = collections.Counter(self._retired)
        for child in list(self._children.values()):
            totals.update(_sa_drops(child))
        return {
            "esp_drop_unknown_spi": s.unknown_spi, "esp_drop_short": s.short,
            "esp_drop_wrong_path": s.wrong_path, "esp_drop_expired_sa": s.dead_sa,
            "esp_drop_auth_fail": totals["auth_fail"], "esp_drop_replay": totals["replay"],
            "esp_drop_bad_padding": totals["pad_errors"], "esp_drop_malformed": totals["other_drops"],
            "esp_drop_selector": totals["selector_drop"], "esp_encap_drop": s.encap_drops,
            "esp_send_error": s.send_errors, "tun_drop_no_sa": s.pending_dropped,
            "tun_drop_not_ip": s.not_ip, "tun_drop_link_scoped": s.link_scoped,
            "tun_write_error": s.tun_write_errors,
            "dataplane_worker_restart": s.worker_restarts,
        }

    def stats_snapshot(self) -> DataPlaneStats:
        """A copy of the data plane's own counters (with the TUN devices' figures)."""
        self.stats.tun_coalesced = sum(t.coalesced for t in self._tuns.values())
        snap = dataclasses.replace(self.stats)
        pool = self._pool
        if pool is not None:  # the workers' figures, summed
            snap.worker_restarts = pool.restarts
            for answer in pool.ask("stats"):
                if isinstance(answer, dict):
                    for name, value in answer.items():
                        if name != "worker_restarts" and isinstance(value, int):
                            setattr(snap, name, getattr(snap, name) + value)
        return snap

    def interfaces(self) -> list[str]:
        return sorted(self._tuns)

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (none when this process's threads move the packets)."""
        return self._pool.pids() if self._pool is not None else []

    def worker_stats(self) -> list[dict[str, int]]:
        """Each worker's own :class:`DataPlaneStats`, as dicts (none without workers)."""
        if self._pool is None:
            return []
        return [a for a in self._pool.ask("stats") if isinstance(a, dict)]

    # ------------------------------------------------------------------ SAs

    def install_child(self, spec: ChildSaSpec) -> None:
        now = self._clock()
        inbound = _esp_sa(spec, Direction.IN, now)
        outbound = _esp_sa(spec, Direction.OUT, now)
        udp_local = udp_remote = None
        if spec.encap is not None:
            udp_local, udp_remote = (spec.local_addr, spec.encap[0]), (spec.peer_addr, spec.encap[1])
        else:
            self._raw_socket(spec.local_addr)
        check = InboundCheck(compile_all(spec.local_ts), compile_all(spec.remote_ts))
        child = _Child(spec, inbound, outbound, check, now, udp_local, udp_remote)
        if udp_local is not None:
            child.udp_wild = (wildcard_for(udp_local[0]), udp_local[1])
            child.udp_src = pktinfo_cmsg(udp_local[0])
        child.compute_next_limit()
        if self.bind_child is not None:  # state in shared memory before anyone uses it
            self.bind_child(child)
        old = self._children.get(spec.inbound.spi)
        if old is not None:
            self._spd.remove(spec.inbound.spi)
        self._children[spec.inbound.spi] = child
        # the newest SA with the same selectors wins: outbound switches to it at once,
        # older inbound SAs keep decrypting until remove_child
        self._spd.add(spec.tunnel_if, spec.inbound.spi, spec.local_ts, spec.remote_ts, child)
        for key in list(self._acquired):  # list(): the outbound thread adds keys
            if key[0] == spec.tunnel_if:
                self._acquired.pop(key, None)
        # the outbound thread sends what waits for this interface. It may be queueing the
        # first packet right now, so ask whatever the queue looks like from here: the
        # thread looks at _flush before it sleeps again. Wake it (a syscall, and a GIL
        # hand-over per SA when many come up at once) only when packets already wait:
        # then it may be asleep with them.
        with self._flush_lock:
            self._flush.add(spec.tunnel_if)
        if self._pending.get(spec.tunnel_if) is not None:
            self._wake(self._out_wake)
        pool = self._pool
        if pool is not None:  # in every worker before this returns (make-before-break)
            pool.call("install", spec, *child.slots, False)
            if old is not None:
                pool.free_slots(old.slots)

    def kill_child(self, inbound_spi: int) -> None:
        """The SA pair's hard limit passed (the owner process said so): it carries nothing more."""
        child = self._children.get(inbound_spi)
        if child is not None:
            child.dead = True
            self._spd.remove(inbound_spi)

    def adopt_tun(self, name: str, fd: int, offload: bool, tso: bool, order: tuple[Any, Any]) -> None:
        """A worker process: carry the owner's TUN device ``name`` through ``fd`` (a
        duplicate), its reads kept in order across the workers with ``order`` (the order
        slot's cells and lock, see .shared)."""
        old = self._tuns.pop(name, None)
        self._tuns[name] = TunDevice.adopt(name, fd, offload, tso)
        self.read_order[fd] = order
        self._sync_thread("out")
        if old is not None:
            self.read_order.pop(old.fd, None)
            old.close()

    def set_read_order(self, fd: int, order: tuple[Any, Any]) -> None:
        """A worker process: keep the reads of the taken socket ``fd`` in order across
        the workers (see .shared), and have the inbound thread poll it exclusively."""
        self.read_order[fd] = order
        self._sync_thread("in")

    def keep_tuns(self, names: list[str]) -> None:
        """A worker process: close its duplicates of the devices not in ``names``."""
        gone = [self._tuns.pop(n) for n in list(self._tuns) if n not in names]
        if gone:
            self._sync_thread("out")
        for tun in gone:
            self.read_order.pop(tun.fd, None)
            tun.close()

    def remove_child(self, inbound_spi: int) -> None:
        child = self._children.pop(inbound_spi, None)
        self._spd.remove(inbound_spi)
        if child is None:
            return
        self._retired.update(_sa_drops(child))  # the global counters keep its drops
        if self._pool is not None:  # gone from every worker before its slots are reused
            self._pool.call("remove", inbound_spi)
            self._pool.free_slots(child.slots)
        if child.spec.encap is None and not any(
                c.spec.encap is None and c.spec.local_addr == child.spec.local_addr
                for c in self._children.values()):
            sock = self._raw.get(child.spec.local_addr)
            if sock is not None:
                self._raw = {a: s for a, s in self._raw.items() if s is not sock}
                self._sync_thread("in")
                sock.close()

    def counters(self, inbound_spi: int) -> SaCounters | None:
        child = self._children.get(inbound_spi)
        if child is None:
            return None
        i, o = child.inbound.counters, child.outbound.counters
        return SaCounters(
            encap_packets=o.packets, decap_packets=i.packets,
            encap_bytes=o.bytes, decap_bytes=i.bytes,
            auth_errors=i.auth_fail, decrypt_errors=i.pad_errors + i.other_drops,
            replay_packets=i.replay, selector_drops=i.selector_drop + child.selector_drops,
            send_seq=child.outbound.seq, recv_seq=child.inbound.recv_seq)

    def children(self) -> list[ChildSaSpec]:
        return [c.spec for c in self._children.values()]

    def attach_udp_socket(self, local: Address, sock: socket.socket) -> None:
        """Send ESP-in-UDP from ``local`` on (a duplicate of) ``sock`` from the outbound
        thread, instead of through ``events.send_udp`` on the event loop."""
        old = self._udp_fast.pop(local, None)
        dup = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        with contextlib.suppress(OSError):
            dup.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            dup.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._udp_fast = {**self._udp_fast, local: dup}
        if old is not None:
            old.close()

    def take_udp_socket(self, local: Address, sock: socket.socket,
                        deliver: Callable[[bytes, Address, Address], None]) -> None:
        """Receive on the port-4500 socket ``sock`` in the inbound thread (and send on it,
        as :meth:`attach_udp_socket`). The caller stops reading it itself (for ``UdpIo``:
        the transport's ``pause_reading()``). ESP-in-UDP is decapsulated in the thread;
        every other datagram (IKE behind the non-ESP marker, keepalives, runts) goes to
        ``deliver(data, local, remote)`` on the event loop (``UdpIo.dispatch``)."""
        self.attach_udp_socket(local, sock)
        dup = self._udp_fast[local]
        dup.setblocking(False)
        if self._pool is not None:  # every worker reads (and sends on) a duplicate
            self._udp_taken = {**self._udp_taken, local: (dup, deliver)}
            if local not in self._udp_order:
                self._udp_order[local] = self._pool.order_slot()
            self._pool.call("udp", list(local), self._udp_order[local], handle=dup.fileno())
            return
        try:
            dup.setsockopt(SOL_UDP, UDP_GRO, 1)
            self._gro = {*self._gro, dup.fileno()}
        except OSError:
            pass  # an older kernel: one datagram a read
        self._udp_taken = {**self._udp_taken, local: (dup, deliver)}
        self._sync_thread("in")

    def taken_socket(self, local: Address) -> socket.socket | None:
        """This data plane's duplicate of the taken socket of ``local``, if taken."""
        taken = self._udp_taken.get(local)
        return taken[0] if taken is not None else None

    def take_udp_io(self, io: Any, local_ip: str, port: int = 4500) -> bool:
        """:meth:`take_udp_socket` for ``UdpIo``'s socket on ``local_ip:port``: pauses
        its reading and sends it IKE through ``io.dispatch``. Call after ``io.bind``;
        False if ``io`` has no such socket; taking it again does nothing."""
        key = udp_io_key(io, (local_ip, port))
        if key in self._udp_taken:
            return True
        transport = udp_io_transport(io, (local_ip, port))
        if transport is None:
            return False
        sock = transport.get_extra_info("socket")
        transport.pause_reading()
        self.take_udp_socket(key, sock, io.dispatch)
        return True

    def release_udp_io(self, io: Any, local_ip: str, port: int = 4500) -> None:
        """Give the socket back to ``UdpIo`` (call before ``io.unbind``)."""
        self.release_udp_socket(udp_io_key(io, (local_ip, port)))
        transport = udp_io_transport(io, (local_ip, port))
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def release_udp_socket(self, local: Address) -> None:
        """Stop using the socket of ``local`` (before ``UdpIo`` closes it)."""
        taken = self._udp_taken.get(local)
        if taken is not None and self._pool is not None:
            self._pool.call("release", list(local))
            order = self._udp_order.pop(local, None)
            if order is not None:
                self._pool.free_slots((order,))
        if taken is not None:
            self._udp_taken = {k: v for k, v in self._udp_taken.items() if k != local}
            self._sync_thread("in")
        sock = self._udp_fast.get(local)
        if sock is not None:
            self._udp_fast = {k: v for k, v in self._udp_fast.items() if k != local}
            self._gro = self._gro - {sock.fileno()}
            sock.close()

    def _raw_socket(self, local_addr: str) -> socket.socket:
        sock = self._raw.get(local_addr)
        if sock is not None:
            return sock
        family, sockaddr = _sockaddr(local_addr)
        sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_ESP)
        sock.bind(sockaddr)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._raw = {**self._raw, local_addr: sock}
        self._sync_thread("in")
        return sock

    # ------------------------------------------------------------------ inbound

    def esp_in_udp(self, data: bytes, local: Address, remote: Address) -> None:
        if self._pool is not None:
            self._pool.post("esp", data)  # a worker has the TUN queues
            return
        self._inbound(data, True)

    def _inbound(self, data: bytes, via_udp: bool,
                 batch: dict[TunDevice, list[bytes]] | None = None) -> None:
        """One ESP packet in; its inner packet goes to the TUN now, or into ``batch``
        for :meth:`_write_batch` to hand over with the rest of a read batch."""
        if len(data) < 8:
            self.stats.short += 1
            return
        spi = _SPI.unpack_from(data)[0]
        child = self._children.get(spi)
        if child is None:
            self.stats.unknown_spi += 1
            return
        if (child.spec.encap is not None) != via_udp:
            self.stats.wrong_path += 1
            return
        if child.dead:
            self.stats.dead_sa += 1
            return
        sa = child.inbound
        try:
            with sa.lock:
                inner = decapsulate(sa, data, check_selectors=False)
        except EspDrop:
            return  # counted on the SA by the transform
        if not child.check.admits(inner):
            with sa.lock:
                sa.counters.packets -= 1
                sa.counters.bytes -= len(inner)
                sa.counters.selector_drop += 1
            return
        tun = self._tuns.get(child.spec.tunnel_if)
        if tun is None:
            self.stats.tun_write_errors += 1
        elif batch is not None:
            out = batch.get(tun)
            if out is None:
                batch[tun] = [inner]
            else:
                out.append(inner)
        elif not tun.write(inner):
            self.stats.tun_write_errors += 1
        if sa.counters.bytes >= child.next_limit:
            self._schedule_limit_check()

    def _inbound_train(self, data: bytes, seg: int, batch: dict[TunDevice, list[bytes]]) -> bool:
        """A GRO train of ESP-in-UDP datagrams all of one AEAD SA, opened in one go
        (:func:`.fused.open_train`) into ``batch``; False (nothing done) for anything
        else (IKE in the train, several SPIs, CBC...), which then goes datagram by
        datagram through :meth:`_inbound`."""
        spi_bytes = data[:4]
        if spi_bytes == NON_ESP_MARKER or len(data) < 8:
            return False
        for o in range(seg, len(data), seg):
            if data[o:o + 4] != spi_bytes or len(data) - o < 8:
                return False
        child = self._children.get(_SPI.unpack(spi_bytes)[0])
        if child is None or child.spec.encap is None or child.dead or child.inbound.aead is None \
                or child.inbound.encr_alg.iv_size != 8:
            return False
        tun = self._tuns.get(child.spec.tunnel_if)
        if tun is None:
            return False
        sa = child.inbound
        out, accepted = open_train(sa, data, seg)
        view = memoryview(out)
        admits = child.check.admits
        stride = seg - 16 - sa.icv_size
        if len(accepted) > 1 and admits(view[accepted[0][0]:accepted[0][0] + accepted[0][1]]):
            # one flow's segments (checked at once) share the first one's selectors
            earlier = batch.pop(tun, None)
            if earlier:  # order kept: what came before goes first
                self._write_batch({tun: earlier})
            if self._turn is not None and not wait_turn(*self._turn):
                self.stats.order_waits_given_up += 1
            refused = None if tun.closed else tun.write_rows(out, accepted, stride)
            if refused is not None:
                self.stats.tun_write_errors += refused
                if sa.counters.bytes >= child.next_limit:
                    self._schedule_limit_check()
                return True
        packets = batch.get(tun)
        if packets is None:
            packets = batch[tun] = []
        for po, ln in accepted:
            inner = view[po:po + ln]
            if admits(inner):
                packets.append(inner)  # type: ignore[arg-type]
            else:
                with sa.lock:
                    sa.counters.packets -= 1
                    sa.counters.bytes -= ln
                    sa.counters.selector_drop += 1
        if sa.counters.bytes >= child.next_limit:
            self._schedule_limit_check()
        return True

    def _write_batch(self, batch: dict[TunDevice, list[bytes]]) -> None:
        if batch and self._turn is not None and not wait_turn(*self._turn):
            self.stats.order_waits_given_up += 1
        for tun, packets in batch.items():
            if tun.closed:
                self.stats.tun_write_errors += len(packets)
                continue
            try:
                self.stats.tun_write_errors += tun.write_batch(packets)
            except Exception:  # noqa: BLE001 - a bad batch never stops the thread
                log.exception("TUN write")
                self.stats.tun_write_errors += len(packets)

    def _raw_inbound_loop(self) -> None:
        poller = select.epoll()
        poller.register(self._in_wake, select.EPOLLIN)
        raw: dict[int, socket.socket] = {}
        udp: dict[int, tuple[socket.socket, Address, Callable[[bytes, Address, Address], None]]] = {}
        try:
            while self._running:
                if self._in_seen != self._in_gen:
                    with self._gen_cond:
                        gen = self._in_gen
                        for fd in [*raw, *udp]:
                            with contextlib.suppress(OSError):
                                poller.unregister(fd)
                        raw = {s.fileno(): s for s in self._raw.values()}
                        udp = {s.fileno(): (s, local, deliver)
                               for local, (s, deliver) in self._udp_taken.items()}
                        for fd in [*raw, *udp]:
                            poller.register(fd, self._poll_flags(fd))
                        self._in_seen = gen
                        self._gen_cond.notify_all()
                ready = poller.poll(1.0)
                self.stats.in_wakeups += 1
                for fd, _ev in ready:
                    if fd == self._in_wake:
                        with contextlib.suppress(BlockingIOError):
                            os.eventfd_read(self._in_wake)
                    elif fd in raw:
                        self._read_raw(raw[fd])
                    elif fd in udp:
                        self._read_udp(*udp[fd])
        finally:
            poller.close()
            with self._gen_cond:
                self._gen_cond.notify_all()

    def _poll_flags(self, fd: int) -> int:
        """epoll flags for ``fd``: a device or socket every worker reads wakes one
        waiting worker per event (EPOLLEXCLUSIVE), not all of them."""
        return select.EPOLLIN | (select.EPOLLEXCLUSIVE if fd in self.read_order else 0)

    def _read_raw(self, sock: socket.socket) -> None:
        v4 = sock.family == socket.AF_INET
        batch: dict[TunDevice, list[bytes]] = {}
        for _ in range(READ_BATCH):
            try:
                data = sock.recv(MAX_PACKET)
            except OSError:  # BlockingIOError included: nothing more waiting
                break
            if v4:
                # raw IPv4 sockets give the IP header too
                if len(data) < 20:
                    self.stats.short += 1
                    continue
                data = data[(data[0] & 0x0F) * 4:]
            try:
                self._inbound(data, False, batch)
            except Exception:  # noqa: BLE001 - a bad packet never stops the thread
                log.exception("inbound ESP")
        self._write_batch(batch)

    def _read_udp(self, sock: socket.socket, local: Address,
                  deliver: Callable[[bytes, Address, Address], None]) -> None:
        inbound = self._inbound
        gro = sock.fileno() in self._gro
        wildcard = local[0] in ("0.0.0.0", "::")
        batch: dict[TunDevice, list[bytes]] = {}
        n = 0
        order = self.read_order.get(sock.fileno())
        for _ in range(READ_BATCH):
            try:
                if order is not None:  # a worker: the read and its ticket in one step
                    with order[1]:
                        data, anc, _flags, addr = sock.recvmsg(MAX_PACKET, _GRO_CMSG_SPACE)
                        self._turn = (order[0], take_ticket(order[0]))
                elif gro or wildcard:
                    data, anc, _flags, addr = sock.recvmsg(MAX_PACKET, _GRO_CMSG_SPACE)
                else:
                    data, addr = sock.recvfrom(MAX_PACKET)
                    anc = None
            except OSError:
                break
            try:
                n += self._read_one(data, anc, addr, local, deliver, gro, wildcard, batch, inbound)
            finally:
                turn = self._turn
                if turn is not None:  # this read's packets go now, in their turn
                    self._write_batch(batch)
                    batch.clear()
                    self._turn = None
                    if not wait_turn(*turn):
                        self.stats.order_waits_given_up += 1
                    end_turn(turn[0], turn[1], order[1])  # type: ignore[index]
        self._write_batch(batch)
        self.stats.udp_packets_in += n

    def _read_one(self, data: bytes, anc: Any, addr: Any, local: Address,
                  deliver: Callable[[bytes, Address, Address], None], gro: bool, wildcard: bool,
                  batch: dict[TunDevice, list[bytes]], inbound: Callable[..., None]) -> int:
        """One read of a taken socket: a GRO train or a datagram; returns datagrams seen."""
        n = 0
        seg = 0
        if anc:
            for level, kind, value in anc:
                if level == SOL_UDP and kind == UDP_GRO and len(value) >= 2:
                    seg = _U16.unpack_from(value)[0] if len(value) < 4 else int.from_bytes(
                        value[:4], sys.byteorder)
        if seg and len(data) > seg:
            self.stats.gro_reads += 1
            try:
                taken = self._inbound_train(data, seg, batch)
            except Exception:  # noqa: BLE001
                log.exception("inbound ESP-in-UDP train")
                taken = True
            if taken:
                return -(-len(data) // seg)
            trains = [data[i:i + seg] for i in range(0, len(data), seg)]
        else:
            trains = [data]
        for dgram in trains:
            n += 1
            if len(dgram) >= 8 and not dgram.startswith(NON_ESP_MARKER):
                try:
                    inbound(dgram, True, batch)
                except Exception:  # noqa: BLE001
                    log.exception("inbound ESP-in-UDP")
            else:  # IKE, keepalive, runt: the IKE side's business
                to = (local_from_ancillary(anc, local[0]), local[1]) if wildcard and anc else local
                self._call_soon(deliver, dgram, to, (addr[0], addr[1]))
        return n

    # ------------------------------------------------------------------ outbound

    def _outbound_loop(self) -> None:
        poller = select.epoll()
        poller.register(self._out_wake, select.EPOLLIN)
        fds: dict[int, TunDevice] = {}
        try:
            while self._running:
                if self._out_seen != self._out_gen:
                    with self._gen_cond:
                        gen = self._out_gen
                        for fd in fds:
                            with contextlib.suppress(OSError):
                                poller.unregister(fd)
                        fds = {t.fd: t for t in self._tuns.values()}
                        for fd in fds:
                            poller.register(fd, self._poll_flags(fd))
                        self._out_seen = gen
                        self._gen_cond.notify_all()
                if self._flush:
                    self._flush_pending()
                ready = poller.poll(1.0 if not self._pending else 0.25)
                self.stats.out_wakeups += 1
                for fd, _ev in ready:
                    if fd == self._out_wake:
                        with contextlib.suppress(BlockingIOError):
                            os.eventfd_read(self._out_wake)
                        continue
                    tun = fds.get(fd)
                    if tun is None:
                        continue
                    self._read_tun(tun)
                if self._pending:
                    self._expire_pending()
        finally:
            poller.close()
            with self._gen_cond:
                self._gen_cond.notify_all()

    def _read_tun(self, tun: TunDevice) -> None:
        name, fd, offload, tso = tun.name, tun.fd, tun.offload, tun.tso
        stats = self.stats
        fast4, fast6 = self._spd.catch_all4, self._spd.catch_all6
        read = os.read
        n = segments = 0
        order = self.read_order.get(fd)
        for n in range(READ_BATCH):  # noqa: B007 - n counts the reads
            try:
                if order is not None:  # a worker: the read and its ticket in one step
                    with order[1]:
                        buf = read(fd, TUN_READ_MAX)
                        self._out_turn = (order[0], take_ticket(order[0]), order[1])
                else:
                    buf = read(fd, TUN_READ_MAX)
            except OSError:  # BlockingIOError included: nothing more waiting
                break
            try:
                segments += self._tun_one(buf, name, offload, tso, fast4, fast6)
            finally:
                if self._out_turn is not None:
                    self._end_out_turn()
        else:
            n = READ_BATCH
        stats.tun_reads += n
        stats.tun_packets_in += segments
        self._gso_flush()
        self._kick_udp_out()

    def _end_out_turn(self) -> None:
        """The TUN read in hand is done: pass on its turns to take sequence numbers and
        to send (after its datagrams left)."""
        assert self._out_turn is not None
        cells, ticket, lock = self._out_turn
        self._out_turn = None
        if not wait_turn(cells, ticket, C_RTURN):
            self.stats.order_waits_given_up += 1
        end_turn(cells, ticket, lock, C_RTURN)
        if not wait_turn(cells, ticket):
            self.stats.order_waits_given_up += 1
        try:
            self._gso_flush()
        finally:
            end_turn(cells, ticket, lock)

    def _tun_one(self, buf: bytes, name: str, offload: bool, tso: bool,
                 fast4: dict[str, _Child], fast6: dict[str, _Child]) -> int:
        """One TUN read: sealed and sent (or queued for an SA); returns the segments."""
        stats = self.stats
        send = self._send
        segments = 0
        packets: list[bytes] | tuple[bytes]
        gso_type = buf[1] & 0x7F if tso else 0
        if gso_type in (GSO_TCPV4, GSO_TCPV6):  # a TCP super-packet
            stats.tso_reads += 1
            head = buf[VNET_HDR_LEN:VNET_HDR_LEN + 128]  # the headers: the flow's selectors
            packets = []
        elif tso and (gso_type or buf[0] & F_NEEDS_CSUM):  # other GSO, or a partial sum
            try:
                packets = split(buf)
            except SegmentError as exc:
                stats.bad_offload += 1
                log.debug("TUN %s: %s", name, exc)
                return segments
            head = packets[0]
        else:
            head = buf[VNET_HDR_LEN:] if offload else buf
            packets = (head,)
        version = head[0] >> 4 if head else 0
        child = fast4.get(name) if version == 4 else fast6.get(name) if version == 6 else None
        if child is None:
            key = parse_inner(head)
            if key is None:
                stats.not_ip += 1
                return segments
            child = self._spd.lookup(name, key)
            if child is None:
                if not packets:
                    packets = self._split_counted(buf, name)
                segments += len(packets)
                for p in packets:
                    self._no_sa(name, key, p)
                return segments
        try:
            if not packets:
                if self._send_super(child, buf, head):
                    return segments
                packets = self._split_counted(buf, name)
            segments += len(packets)
            turn = self._out_turn
            if turn is not None and not wait_turn(turn[0], turn[1], C_RTURN):  # numbers in order
                stats.order_waits_given_up += 1
            for p in packets:  # all of one flow: the super-packet's selectors are theirs
                send(child, p)
        except Exception:  # noqa: BLE001 - a bad packet never stops the thread
            log.exception("outbound ESP")
        return segments

    def _split_counted(self, buf: bytes, name: str) -> list[bytes]:
        """:func:`.segment.split`, malformed reads counted and dropped (an empty list)."""
        try:
            return split(buf)
        except SegmentError as exc:
            self.stats.bad_offload += 1
            log.debug("TUN %s: %s", name, exc)
            return []

    def _send_super(self, child: _Child, buf: bytes, head: bytes) -> bool:
        """A TCP super-packet through the fused path (:mod:`.fused`): sealed into one
        buffer and sent as UDP GSO trains. False when that path may not take it (no
        AEAD, raw ESP, copy-tos with a TOS, no attached socket, a limit near): the
        caller then cuts it and sends packet by packet. Counts the segments sent."""
        if child.dead or child.udp_local is None or not self.gso or child.outbound.aead is None:
            return False
        sock, src = self._udp_socket(child)
        if sock is None or (child.spec.copy_tos and _inner_tos(head)):
            return False
        try:
            train = seal_tcp_super(child.outbound, memoryview(buf)[VNET_HDR_LEN:],
                                   _U16.unpack_from(buf, 4)[0], self._out_turn)
        except SegmentError as exc:
            self.stats.bad_offload += 1
            log.debug("TUN %s: %s", child.spec.tunnel_if, exc)
            return True  # dropped, counted
        if train is None:
            return False
        turn = self._out_turn
        if turn is not None and not wait_turn(turn[0], turn[1]):  # the reads before go first
            self.stats.order_waits_given_up += 1
        self._gso_flush()  # what is queued for the socket goes first: order kept
        self.stats.tun_packets_in += train.count
        self._send_train(sock, child.udp_remote, train, src)  # type: ignore[arg-type]
        if child.outbound.counters.bytes >= child.next_limit:
            self._schedule_limit_check()
        return True

    def _udp_socket(self, child: _Child) -> tuple[socket.socket | None, tuple[int, int, bytes] | None]:
        """The UDP socket that carries ``child``'s ESP and, on the daemon's wildcard socket,
        the IP_PKTINFO item that names the source address of each send."""
        sock = self._udp_fast.get(child.udp_local) if child.udp_local is not None else None
        if sock is None and child.udp_wild is not None:
            return self._udp_fast.get(child.udp_wild), child.udp_src
        return sock, None

    def _send_train(self, sock: socket.socket, dest: Address, train: Train,
                    src: tuple[int, int, bytes] | None = None) -> None:
        """The datagrams of ``train`` in UDP GSO sends of up to GSO_MAX_BYTES each.
        ``src``: the IP_PKTINFO item naming the source address on a wildcard socket."""
        size, count, view = train.size, train.count, memoryview(train.buf)
        per_send = max(1, min(GSO_MAX_SEGMENTS, GSO_MAX_BYTES // size))
        cmsg = [(SOL_UDP, UDP_SEGMENT, _U16.pack(size))]
        if src is not None:
            cmsg.append(src)
        i = 0
        while i < count:
            j = min(count, i + per_send)
            end = len(train.buf) if j == count else j * size
            chunk = view[i * size:end]
            sent = j - i > 1 and self.gso and self._gso_send(sock, [chunk], cmsg, dest, j - i)
            if not sent:
                for k in range(i, j):
                    last = k == count - 1
                    dgram = view[k * size:len(train.buf) if last else (k + 1) * size]
                    if not _send_dgram(sock, dgram, dest, 0, src):  # type: ignore[arg-type]
                        self.stats.send_errors += 1
            i = j

    def _send(self, child: _Child, packet: bytes) -> bool:
        if child.dead:
            self.stats.dead_sa += 1
            return False
        sa = child.outbound
        try:
            with sa.lock:
                esp = encapsulate(sa, packet)
        except EspDrop as drop:
            self.stats.encap_drops += 1
            if drop.reason == DropReason.EXPIRED:
                self._schedule_limit_check()
            return False
        tos = 0
        if child.spec.copy_tos:
            tos = packet[1] if packet[0] >> 4 == 4 else ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)
        ok = True
        if child.udp_local is not None:
            assert child.udp_remote is not None
            sock, src = self._udp_socket(child)
            if sock is not None:
                if tos:
                    ok = _send_dgram(sock, esp, child.udp_remote, tos, src)
                elif self.gso:
                    self._gso_add(sock, child.udp_remote, esp, src)
                elif src is None:
                    try:
                        sock.sendto(esp, child.udp_remote)
                    except OSError:
                        ok = _send_dgram(sock, esp, child.udp_remote, tos)
                else:
                    ok = _send_dgram(sock, esp, child.udp_remote, tos, src)
            else:
                self._udp_out.append((esp, child.udp_local, child.udp_remote))
        else:
            sock = self._raw.get(child.spec.local_addr)
            ok = sock is not None and _send_dgram(sock, esp, (child.spec.peer_addr, 0), tos)
        if not ok:
            self.stats.send_errors += 1
        if sa.counters.bytes >= child.next_limit:
            self._schedule_limit_check()
        return ok

    def _gso_add(self, sock: socket.socket, dest: Address, esp: bytes,
                 src: tuple[int, int, bytes] | None = None) -> None:
        """Add a datagram to the train; trains go out at the end of each read batch.
        ``src``: the IP_PKTINFO item naming the source address on a wildcard socket."""
        n = len(esp)
        parts = self._gso_parts
        if parts and (sock is not self._gso_sock or dest != self._gso_dest or n > self._gso_seg
                      or src != self._gso_src
                      or len(parts) >= GSO_MAX_SEGMENTS or self._gso_bytes + n > GSO_MAX_BYTES):
            self._gso_flush()
            parts = self._gso_parts
        if not parts:
            self._gso_sock, self._gso_dest, self._gso_seg, self._gso_bytes = sock, dest, n, 0
            self._gso_src = src
        parts.append(esp)
        self._gso_bytes += n
        if n < self._gso_seg:  # a shorter datagram ends a train
            self._gso_flush()

    def _gso_send(self, sock: socket.socket, buffers: list[Any], cmsg: list[Any], dest: Address,
                  count: int) -> bool:
        """One UDP GSO ``sendmsg`` of ``count`` datagrams; False when the caller must send
        them one by one (EINVAL and the like, or no GSO here: then GSO is off for good)."""
        for _ in range(2):
            try:
                sock.sendmsg(buffers, cmsg, 0, dest)
                self.stats.gso_sends += 1
                self.stats.gso_datagrams += count
                return True
            except (BlockingIOError, InterruptedError):
                select.select([], [sock], [], 0.05)
            except OSError as exc:
                if exc.errno in (errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO):
                    log.info("no UDP GSO here (%s): sending datagrams one by one", exc)
                    self.gso = False
                break
        return False

    def _gso_flush(self) -> None:
        parts, sock, dest = self._gso_parts, self._gso_sock, self._gso_dest
        if not parts or sock is None:
            return
        self._gso_parts = []
        src = self._gso_src
        if len(parts) > 1:
            cmsg = [(SOL_UDP, UDP_SEGMENT, _U16.pack(self._gso_seg))]
            if src is not None:
                cmsg.append(src)
            if self._gso_send(sock, parts, cmsg, dest, len(parts)):
                return
        for esp in parts:
            if not _send_dgram(sock, esp, dest, 0, src):
                self.stats.send_errors += 1

    def _kick_udp_out(self) -> None:
        """Hand the batch of ESP-in-UDP datagrams to the event loop (one wake per batch)."""
        if self._loop is None and self.worker_of is not None:
            self._drain_udp_out()  # a worker: each goes to the owner's UdpIo
            return
        if not self._udp_out or self._udp_out_scheduled or self._loop is None:
            return
        self._udp_out_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain_udp_out)
        except RuntimeError:  # loop closed
            self._udp_out_scheduled = False
            self._udp_out.clear()

    def _drain_udp_out(self) -> None:
        self._udp_out_scheduled = False
        out, send = self._udp_out, self.events.send_udp
        while out:
            data, local, remote = out.popleft()
            if not send(data, local, remote):
                self.stats.send_errors += 1

    def _no_sa(self, tunnel_if: str, key: PacketKey, packet: bytes) -> None:
        if _link_scoped(key):
            # the kernel's own chatter on the interface (router solicitations, MLD):
            # never worth a negotiation
            self.stats.link_scoped += 1
            return
        self.stats.no_sa += 1
        now = self._clock()
        pending = self._pending.get(tunnel_if)
        if pending is None:
            pending = self._pending[tunnel_if] = _Pending()
        if len(pending.packets) == PENDING_PER_IF:
            self.stats.pending_dropped += 1
        pending.packets.append((now, packet))
        flow = (tunnel_if, key.src_text, key.dst_text, key.proto, key.dport or 0)
        last = self._acquired.get(flow)
        if last is not None and now - last < ACQUIRE_HOLDOFF:
            return
        acquired = self._acquired
        acquired.pop(flow, None)  # in again at the end: the table stays oldest first
        acquired[flow] = now
        if len(acquired) > ACQUIRED_MAX:
            self._prune_acquired(now)
        self.stats.acquires += 1
        self._call_soon(self.events.acquire, *flow)

    def _prune_acquired(self, now: float) -> None:
        """Forget flows whose hold-off is over, then the oldest, down to ACQUIRED_MAX."""
        acquired = self._acquired
        while acquired:
            oldest = next(iter(acquired))
            if len(acquired) <= ACQUIRED_MAX and now - acquired[oldest] < ACQUIRE_HOLDOFF:
                break
            acquired.pop(oldest, None)

    def _flush_pending(self) -> None:
        with self._flush_lock:
            names, self._flush = self._flush, set()
        now = self._clock()
        for name in names:
            pending = self._pending.get(name)
            if pending is None:
                continue
            keep: deque[tuple[float, bytes]] = deque(maxlen=PENDING_PER_IF)
            while pending.packets:
                t, packet = pending.packets.popleft()
                if now - t > PENDING_MAX_AGE:
                    self.stats.pending_dropped += 1
                    continue
                key = parse_inner(packet)
                child = self._spd.lookup(name, key) if key is not None else None
                if child is None:
                    keep.append((t, packet))
                    continue
                self.stats.pending_sent += 1
                self._send(child, packet)
            if keep:
                pending.packets = keep
            else:
                self._pending.pop(name, None)
        self._gso_flush()
        self._kick_udp_out()

    def _expire_pending(self) -> None:
        now = self._clock()
        for name, pending in list(self._pending.items()):
            while pending.packets and now - pending.packets[0][0] > PENDING_MAX_AGE:
                pending.packets.popleft()
                self.stats.pending_dropped += 1
            if not pending.packets:
                self._pending.pop(name, None)

    # ------------------------------------------------------------------ lifetimes

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run an engine callback on the event loop thread."""
        loop = self._loop
        if loop is None:
            fn(*args)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, *args)

    def _schedule_limit_check(self) -> None:
        if self.worker_of is not None:  # a worker: the owner checks the limits
            now = time.monotonic()
            if now - self._limit_note_sent >= LIMIT_NOTE_INTERVAL:
                self._limit_note_sent = now
                self.worker_of("limit")
            return
        if self._limit_check_scheduled:
            return
        self._limit_check_scheduled = True
        self._call_soon(self._check_limits)

    def _check_limits(self) -> None:
        """Report soft and hard limits reached (exactly once each per SA pair)."""
        self._limit_check_scheduled = False
        now = self._clock()
        for spi, child in list(self._children.items()):
            spec = child.spec
            used = max(child.inbound.counters.bytes, child.outbound.counters.bytes)
            hard = (spec.lifesize_hard_kb and used >= spec.lifesize_hard_kb * 1024) or (
                spec.lifetime_hard and now - child.installed >= spec.lifetime_hard)
            soft = spec.lifesize_soft_kb and used >= spec.lifesize_soft_kb * 1024
            if (soft or hard) and not child.soft_sent:
                child.soft_sent = True
                if soft:
                    self.events.expire(spi, "soft")
            if hard and not child.hard_sent:
                child.hard_sent = True
                child.dead = True
                self._spd.remove(spi)
                if self._pool is not None:
                    self._pool.call("dead", spi)
                self.events.expire(spi, "hard")
            child.compute_next_limit()

    # ------------------------------------------------------------------ worker processes

    def _worker_event(self, msg: tuple[Any, ...]) -> None:
        """A worker's message (in the pool's reader thread): on to the event loop."""
        kind = msg[0]
        if kind == "acquire":
            self.stats.acquires += 1
            self._call_soon(self.events.acquire, *msg[1:])
        elif kind == "limit":
            self._schedule_limit_check()
        elif kind == "deliver":
            taken = self._udp_taken.get(tuple(msg[1]))
            if taken is not None:
                self._call_soon(taken[1], msg[2], tuple(msg[3]), tuple(msg[4]))
        elif kind == "send_udp":
            self._call_soon(self._send_udp_counted, *msg[1:])

    def _send_udp_counted(self, data: bytes, local: Address, remote: Address) -> None:
        if not self.events.send_udp(data, tuple(local), tuple(remote)):  # type: ignore[arg-type]
            self.stats.send_errors += 1

    def _replay_to_worker(self, index: int) -> None:
        """Everything a new worker needs, in an order that never makes it acquire or
        drop: the SAs, then the TUN devices, then the sockets."""
        pool = self._pool
        if pool is None:
            return
        for child in list(self._children.values()):
            pool.call("install", child.spec, *child.slots, child.dead, only=index)
        for name, tun in list(self._tuns.items()):
            pool.call("tun", name, tun.offload, tun.tso, self._tun_order[name], handle=tun.fd, only=index)
        for key, (sock, _deliver) in list(self._udp_taken.items()):
            pool.call("udp", list(key), self._udp_order[key], handle=sock.fileno(), only=index)
        self.stats.worker_restarts = pool.restarts

    async def _life_timer(self) -> None:
        while True:
            await asyncio.sleep(LIFE_TICK)
            try:
                self._check_limits()
            except Exception:  # noqa: BLE001 - the timer keeps running
                log.exception("lifetime check")


def _esp_sa(spec: ChildSaSpec, direction: Direction, now: float) -> EspSA:
    """The transform's record of one direction; selectors are matched here, not there."""
    keys = spec.inbound if direction == Direction.IN else spec.outbound
    return EspSA(
        spi=keys.spi, direction=direction, encr=keys.encr,  # type: ignore[arg-type]
        encr_key_bits=keys.encr_key_bits, encr_key=keys.encr_key,
        integ=keys.integ, integ_key=keys.integ_key,  # type: ignore[arg-type]
        esn=spec.esn, anti_replay=spec.anti_replay, replay_window=spec.replay_window,
        created=now, lifesize_hard_kb=spec.lifesize_hard_kb if direction == Direction.OUT else 0,
        encap=spec.encap, local_addr=spec.local_addr, peer_addr=spec.peer_addr,
        copy_tos=spec.copy_tos)


def udp_io_key(io: Any, local: Address) -> Address:
    """The key of ``UdpIo``'s socket that serves ``local`` (its wildcard socket)."""
    key = getattr(io, "socket_key", None)
    return key(local) if callable(key) else local


def udp_io_transport(io: Any, local: Address) -> Any:
    """The asyncio transport of ``UdpIo``'s socket on ``local`` (or None)."""
    getter = getattr(io, "transport", None)  # a public accessor, when UdpIo has one
    if callable(getter):
        return getter(local)
    endpoint = getattr(io, "_endpoints", {}).get(local)
    return getattr(endpoint, "transport", None)


def _inner_tos(packet: bytes) -> int:
    """The TOS (IPv4) or traffic class (IPv6) of an IP packet."""
    if packet[0] >> 4 == 4:
        return packet[1]
    return ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)


def _no_ipv6_link_local(ifname: str) -> None:
    """Keep the kernel from giving a new (down) link an IPv6 link-local address, and so
    from sending router solicitations and MLD reports into the tunnel."""
    with contextlib.suppress(OSError), open(
            f"/proc/sys/net/ipv6/conf/{ifname}/addr_gen_mode", "w") as f:
        f.write("1")


def _link_scoped(key: PacketKey) -> bool:
    """Multicast, broadcast or link-local: traffic that never starts a negotiation."""
    if key.version == 4:
        return key.dst >> 28 == 0xE or key.dst == 0xFFFFFFFF or key.src >> 16 == 0xA9FE
    return key.dst >> 120 == 0xFF or key.dst >> 118 == 0x3FA or key.src >> 118 == 0x3FA


def _send_dgram(sock: socket.socket, data: bytes, dest: tuple[Any, ...], tos: int,
                src: tuple[int, int, bytes] | None = None) -> bool:
    """One datagram out of a non-blocking socket; waits briefly when its buffer is full.
    ``src``: the IP_PKTINFO item naming the source address on a wildcard socket."""
    for _ in range(2):
        try:
            if tos or src is not None:
                cmsg = [src] if src is not None else []
                if tos:
                    level = socket.IPPROTO_IPV6 if sock.family == socket.AF_INET6 else socket.IPPROTO_IP
                    name = socket.IPV6_TCLASS if sock.family == socket.AF_INET6 else socket.IP_TOS
                    cmsg.append((level, name, struct.pack("i", tos)))
                sock.sendmsg([data], cmsg, 0, dest)
            else:
                sock.sendto(data, dest)
            return True
        except (BlockingIOError, InterruptedError):
            select.select([], [sock], [], 0.05)
        except OSError:
            return False
    return False
