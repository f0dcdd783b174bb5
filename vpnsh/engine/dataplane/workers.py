"""Several data-plane worker processes (``vpnshd --dataplane-workers N``).

Python runs one thread at a time per process, so more than one core means more than one
process. With N > 1 the :class:`~.userspace.UserspaceDataPlane` of the daemon (the
*owner*) moves no packets itself; it keeps IKE's side (SAs, interfaces, lifetimes,
``show`` figures) and N worker processes move the packets. Every worker has:

* a duplicate of each TUN device's fd and of the port-4500 socket the owner took from
  ``UdpIo`` (passed with SCM_RIGHTS). The worker that is free reads the next TUN
  super-packet or GRO train: one TCP flow is sealed and opened by all workers at once.
  IKE and keepalives read by a worker go to the owner's event loop, as in one process;
* every SA, with its sequence number, counters and replay window in shared memory
  (:mod:`.shared`), changed under the SA's lock, so that they stay exact whichever
  worker handles a packet.

Order: a read takes a ticket in the same locked step (one order slot per device and
socket); sequence numbers are taken and datagrams sent (outbound), and packets written
to the TUN (inbound), in ticket order; segmentation, encryption and decryption run in
parallel. One flow's packets therefore leave in the order they came, and sequence
numbers go out in order (a peer's replay window, strongSwan's 32 by default, sees no
reordering), with no lock held during the crypto.

(Measured and dropped: multi-queue TUN devices, one queue per worker. The kernel
either moves a flow to the queue that last wrote its ACKs, so a flow hops between
workers and its segments overtake each other — thousands of spurious TCP
retransmissions — or, with a BPF steering program, keeps the flow on one worker, which
then carries one flow no faster than one process. Steering the socket by SPI with
``SO_REUSEPORT`` has the same limit: one SA, one worker.)

Control messages go over one pipe per worker. ``install``, ``remove``, devices and
sockets are acknowledged by every worker before the owner's call returns, so a new SA
is in every worker before IKE answers (make-before-break on rekey, as in one process),
and an SA is gone from every worker before its slots can be handed out again. The
owner sums nothing per SA (the slots are the totals); the data plane's own drop
counters are asked from each worker and summed.

A worker that dies is noticed at once (its pipe closes): the owner logs it, counts it
(``dataplane_worker_restart`` in ``show counter global``), notes it in the data
plane's ``info()``, and starts a new worker with every SA, device and socket (their
state is in shared memory, so sequence numbers and windows carry on). Meanwhile the
other workers keep reading the devices and the socket; a ticket the dead worker held
delays the others once, by at most ``ORDER_WAIT``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from typing import Any

from .shared import SharedLock, SlotTable, bind

log = logging.getLogger("vpnsh.dataplane.workers")

SLOTS = 1 << 16  # SA slots in the shared table (two per CHILD SA pair); sparse on disk
LOCKS = 64  # locks shared by the slots: slot i uses lock i % LOCKS
QUARANTINE = 1024  # freed slots wait behind this many others before they are reused
WORKER_SWITCH_INTERVAL = 0.0005  # seconds (Python's default: 0.005)
REPLY_TIMEOUT = 5.0  # seconds a control call waits for every worker's acknowledgement
Address = tuple[str, int]


def default_workers(cores: int | None = None) -> int:
    """The worker count when none is configured: one process (threads, no workers) on
    up to 2 cores, where the traffic's own endpoints and the kernel need the rest;
    otherwise one per core but one, at most 4."""
    cores = cores or os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores - 1, 4)


@dataclass
class _Worker:
    index: int
    proc: Any
    conn: Connection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    reader: threading.Thread | None = None
    alive: bool = True


class WorkerPool:
    """The owner's side: starts the workers, sends them the control calls, reads their
    events, notices a worker's death and starts another."""

    def __init__(self, count: int, *, tun_offload: bool, tun_tso: bool,
                 on_event: Callable[[tuple[Any, ...]], None],
                 replay_state: Callable[[int], None]) -> None:
        self.count = count
        self._options = {"tun_offload": tun_offload, "tun_tso": tun_tso}
        self._on_event = on_event  # called in a reader thread
        self._replay_state = replay_state  # (worker index): send it everything, in order
        self._ctx = multiprocessing.get_context("spawn")
        self.table = SlotTable(f"/dev/shm/vpnsh-dp-{os.getpid()}-{secrets.token_hex(4)}", SLOTS, create=True)
        self.locks = [self._ctx.Lock() for _ in range(LOCKS)]
        self._free: deque[int] = deque(range(SLOTS))
        self._workers: list[_Worker] = []
        self._cond = threading.Condition()
        self._replies: dict[tuple[int, int], Any] = {}
        self._next_id = 0
        self._stopping = False
        self.restarts = 0
        self.notes: list[str] = []
        self._control = threading.RLock()  # one control call (or a restart) at a time

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        for i in range(self.count):
            self._workers.append(self._spawn(i))

    def _spawn(self, index: int) -> _Worker:
        ours, theirs = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=worker_main, name=f"vpnsh-dp-worker-{index}", daemon=True,
                                 args=(theirs, self.table.path, self.table.slots, self.locks,
                                       self._options, index))
        proc.start()
        theirs.close()
        worker = _Worker(index, proc, ours)
        worker.reader = threading.Thread(target=self._read, args=(worker,), daemon=True,
                                         name=f"vpnsh-dp-worker-{index}-rx")
        worker.reader.start()
        return worker

    def stop(self) -> None:
        self._stopping = True
        for w in self._workers:
            with contextlib.suppress(OSError, ValueError), w.send_lock:
                w.conn.send(("stop", 0))
        deadline = time.monotonic() + 5.0
        for w in self._workers:
            w.proc.join(max(0.1, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(2.0)
            with contextlib.suppress(OSError):
                w.conn.close()
        self._workers.clear()
        self.table.close(unlink=True)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    # ------------------------------------------------------------------ slots

    def bind_child(self, child: Any) -> None:
        """Give a new SA pair (the owner's ``_Child``) two zeroed slots."""
        for sa in (child.inbound, child.outbound):
            index = self._free.popleft()
            self.table.zero(index)
            bind(sa, self.table, index, self.locks[index % LOCKS])
        child.slots = (child.inbound.slot, child.outbound.slot)

    def order_slot(self) -> int:
        """A zeroed slot for the order of a shared socket's reads (.shared)."""
        index = self._free.popleft()
        self.table.zero(index)
        return index

    def free_slots(self, slots: tuple[int, ...]) -> None:
        self._free.extend(slots)  # at the end: reused after every other free slot

    # ------------------------------------------------------------------ control calls

    def call(self, *msg: Any, handle: int | None = None, only: int | None = None) -> None:
        """Send ``msg`` to every live worker (or worker ``only``) and wait for each one's
        acknowledgement. ``handle``: a file descriptor to pass along (SCM_RIGHTS)."""
        with self._control:
            waiting = []
            for w in self._workers:
                if not w.alive or (only is not None and w.index != only):
                    continue
                rid = self._send(w, msg, handle)
                if rid is not None:
                    waiting.append((w, rid))
            deadline = time.monotonic() + REPLY_TIMEOUT
            with self._cond:
                for w, rid in waiting:
                    self._wait_reply(w, rid, deadline)
                    if (w.index, rid) not in self._replies and w.alive:
                        log.error("data-plane worker %d did not answer %s", w.index, msg[0])
                    self._replies.pop((w.index, rid), None)

    def ask(self, *msg: Any) -> list[Any]:
        """Send ``msg`` to every live worker; their answers."""
        with self._control:
            waiting = [(w, self._send(w, msg, None)) for w in self._workers if w.alive]
            deadline = time.monotonic() + REPLY_TIMEOUT
            answers = []
            with self._cond:
                for w, rid in waiting:
                    if rid is None:
                        continue
                    self._wait_reply(w, rid, deadline)
                    if (w.index, rid) in self._replies:
                        answers.append(self._replies.pop((w.index, rid)))
            return answers

    def _wait_reply(self, w: _Worker, rid: int, deadline: float) -> None:
        """Wait (holding ``_cond``) for worker ``w``'s answer to request ``rid``."""
        def answered() -> bool:
            return (w.index, rid) in self._replies or not w.alive

        self._cond.wait_for(answered, max(0.0, deadline - time.monotonic()))

    def post(self, *msg: Any) -> None:
        """Send ``msg`` to one live worker, no answer awaited."""
        for w in self._workers:
            if w.alive:
                self._send(w, msg, None, reply=False)
                return

    def _send(self, w: _Worker, msg: tuple[Any, ...], handle: int | None,
              reply: bool = True) -> int | None:
        with self._cond:
            self._next_id += 1
            rid = self._next_id if reply else 0
        try:
            with w.send_lock:
                w.conn.send((msg[0], rid, *msg[1:]))
                if handle is not None:
                    send_handle(w.conn, handle, w.proc.pid)
        except (OSError, ValueError):
            return None  # the reader notices the death
        return rid or None

    # ------------------------------------------------------------------ worker messages

    def _read(self, w: _Worker) -> None:
        while True:
            try:
                msg = w.conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # noqa: BLE001 - a bad message never stops the reader
                log.exception("data-plane worker %d: bad message", w.index)
                continue
            kind = msg[0]
            if kind == "reply":
                with self._cond:
                    self._replies[(w.index, msg[1])] = msg[2]
                    self._cond.notify_all()
            else:
                try:
                    self._on_event(msg)
                except Exception:  # noqa: BLE001
                    log.exception("data-plane worker %d: event %s", w.index, kind)
        with self._cond:
            w.alive = False
            self._cond.notify_all()
        if self._stopping:
            return
        w.proc.join(2.0)
        code = w.proc.exitcode
        self.restarts += 1
        note = (f"data-plane worker {w.index} (pid {w.proc.pid}) died "
                f"(exit code {code}) at {time.strftime('%Y-%m-%d %H:%M:%S')}: restarted")
        log.error("%s", note)
        self.notes = [*self.notes[-4:], note]
        with self._control:
            if self._stopping:
                return
            fresh = self._spawn(w.index)
            self._workers = [fresh if x is w else x for x in self._workers]
            try:
                self._replay_state(w.index)
            except Exception:  # noqa: BLE001
                log.exception("data-plane worker %d: state not restored", w.index)


# ---------------------------------------------------------------------- the worker side


def worker_main(conn: Connection, table_path: str, slots: int, locks: list[Any],
                options: dict[str, Any], index: int) -> None:
    """A worker process: a :class:`~.userspace.UserspaceDataPlane` with no event loop,
    its threads moving packets, this (main) thread applying the owner's calls."""
    from .userspace import UserspaceDataPlane

    logging.basicConfig(level=logging.WARNING, format=f"vpnsh-dp-worker-{index}: %(message)s")
    # the inbound and outbound threads hand each other the GIL sooner than every 5 ms:
    # a train waiting for its turn (.shared) waits for the other thread's GIL slice
    sys.setswitchinterval(WORKER_SWITCH_INTERVAL)
    table = SlotTable(table_path, slots, create=False)
    shared_locks = [SharedLock(lock) for lock in locks]
    send_lock = threading.Lock()

    def tell(*msg: Any) -> None:
        with contextlib.suppress(OSError, ValueError), send_lock:
            conn.send(msg)

    dp = UserspaceDataPlane(tun_offload=options["tun_offload"], tun_tso=options["tun_tso"])
    dp.worker_of = tell  # messages for the owner (see UserspaceDataPlane._tell_owner)
    dp.events.acquire = lambda *a: tell("acquire", *a)
    def send_udp(data: bytes, local: Address, remote: Address) -> bool:
        tell("send_udp", data, local, remote)
        return True

    dp.events.send_udp = send_udp
    pending_slots: dict[int, tuple[int, int]] = {}

    def bind_child(child: Any) -> None:
        s_in, s_out = pending_slots.pop(child.spec.inbound.spi)
        bind(child.inbound, table, s_in, shared_locks[s_in % len(locks)])
        bind(child.outbound, table, s_out, shared_locks[s_out % len(locks)])

    dp.bind_child = bind_child
    dp.start_threads()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break  # the owner is gone
            kind, rid, args = msg[0], msg[1], msg[2:]
            result: Any = None
            try:
                if kind == "stop":
                    break
                if kind == "tun":
                    name, offload, tso, order = args
                    fd = recv_handle(conn)
                    dp.adopt_tun(name, fd, offload, tso, (table.slot(order), shared_locks[order % len(locks)]))
                elif kind == "interfaces":
                    dp.keep_tuns(args[0])
                elif kind == "install":
                    spec, s_in, s_out, dead = args
                    pending_slots[spec.inbound.spi] = (s_in, s_out)
                    dp.install_child(spec)
                    if dead:
                        dp.kill_child(spec.inbound.spi)
                elif kind == "remove":
                    dp.remove_child(args[0])
                elif kind == "dead":
                    dp.kill_child(args[0])
                elif kind == "udp":
                    fd = recv_handle(conn)
                    sock = socket.socket(fileno=fd)
                    key, order = tuple(args[0]), args[1]

                    def deliver(data: bytes, local: Address, remote: Address, key: Any = key) -> None:
                        tell("deliver", key, data, local, remote)

                    dp.take_udp_socket(key, sock, deliver)
                    sock.close()  # take_udp_socket keeps its own duplicate
                    dup = dp.taken_socket(key)
                    if dup is not None:  # its reads keep their order on the way to the TUN
                        dp.set_read_order(dup.fileno(), (table.slot(order), shared_locks[order % len(locks)]))
                elif kind == "release":
                    dup = dp.taken_socket(tuple(args[0]))
                    if dup is not None:
                        dp.read_order.pop(dup.fileno(), None)
                    dp.release_udp_socket(tuple(args[0]))
                elif kind == "esp":
                    dp.esp_in_udp(args[0], ("", 0), ("", 0))
                elif kind == "stats":
                    import dataclasses

                    result = dataclasses.asdict(dp.stats_snapshot())
            except Exception as exc:  # noqa: BLE001 - reported, the worker keeps going
                log.exception("%s", kind)
                result = f"{type(exc).__name__}: {exc}"
            if rid:
                tell("reply", rid, result)
    finally:
        dp.stop_threads()
        dp.close_all()
        table.close()
