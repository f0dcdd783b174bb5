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

Where each stage lives (wireguard-go's layout: read, seal, send; receive, open, write;
one mixin of :class:`~.plane_state.PlaneState` per module, composed here, sharing
``self`` as one class would: no indirection added per packet):

=====================  =================================================================
:mod:`.outbound`       the outbound thread: TUN reads in batches, SA by selectors
:mod:`.esp_send`       seal (one packet, or a TCP super-packet fused) and send: UDP GSO
                       trains, raw ESP, or the event loop
:mod:`.acquire`        packets with no SA: the queue per interface, acquires per flow
:mod:`.inbound`        the inbound thread: ESP reads (UDP GRO), SA by SPI, open, replay,
                       selectors, TUN writes in batches
:mod:`.sa_table`       CHILD SA pairs installed, killed, removed; their counters
:mod:`.sa_pair`        the record of one CHILD SA pair
:mod:`.io_setup`       TUN devices and ESP sockets (offloads, GSO/GRO, taken sockets)
:mod:`.lifetimes`      soft and hard limits, seconds and kilobytes
:mod:`.plane_state`    the shared state and the plumbing between the threads
:mod:`.plane_stats`    the data plane's own counters
:mod:`.workers`        worker processes (``--dataplane-workers``); :mod:`.shared` their
                       SA state in shared memory and the order of their work
=====================  =================================================================

This module: the lifecycle (threads or worker pool), ``info``, the counters of
``show counter global``, and the owner's side of the worker processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import os
import threading
from typing import Any

from .base import DataPlaneInfo
from .inbound import Inbound
from .outbound import Outbound
from .plane_state import Address
from .plane_stats import DataPlaneStats, sa_drops
from .sa_table import SaTable

log = logging.getLogger("vpnsh.dataplane.userspace")


class UserspaceDataPlane(Outbound, Inbound, SaTable):
    """The :class:`~.base.DataPlane` of TUN devices and ESP in Python."""

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

    def interfaces(self) -> list[str]:
        return sorted(self._tuns)

    def global_counters(self) -> dict[str, int]:
        """ESP and TUN drops and events for ``show counter global`` (key: counter name in
        vpnsh.engine.counters), including those of SAs already removed."""
        s = self.stats_snapshot()
        totals = collections.Counter(self._retired)
        for child in list(self._children.values()):
            totals.update(sa_drops(child))
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

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (none when this process's threads move the packets)."""
        return self._pool.pids() if self._pool is not None else []

    def worker_stats(self) -> list[dict[str, int]]:
        """Each worker's own :class:`DataPlaneStats`, as dicts (none without workers)."""
        if self._pool is None:
            return []
        return [a for a in self._pool.ask("stats") if isinstance(a, dict)]

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
