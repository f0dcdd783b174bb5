"""The user-space data plane's inbound thread: it reads the raw protocol-50 sockets
and the taken port-4500 sockets in batches (UDP GRO: one read, a train of datagrams),
finds each packet's SA by SPI, checks the path (UDP or raw, as negotiated) and opens it
(:func:`.esp.decapsulate`: ICV, anti-replay; or a whole GRO train of one AEAD SA with
:func:`.fused.open_train`), checks the inner packet against the selectors and writes
each read batch to the TUN of the SA's interface. IKE, keepalives and runts read there
go to ``UdpIo`` on the event loop. A worker process writes in read order (:mod:`.shared`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

from ..udp_io import PKTINFO_CMSG_SPACE, local_from_ancillary
from .esp import EspDrop, decapsulate
from .fused import open_train
from .io_setup import SOL_UDP, UDP_GRO
from .lifetimes import Lifetimes
from .plane_state import MAX_PACKET, READ_BATCH, Address
from .shared import end_turn, take_ticket, wait_turn
from .tun import TunDevice

log = logging.getLogger("vpnsh.dataplane.userspace")

NON_ESP_MARKER = b"\x00\x00\x00\x00"
_SPI = struct.Struct(">I")
_U16 = struct.Struct("=H")
_GRO_CMSG_SPACE = socket.CMSG_SPACE(4) + PKTINFO_CMSG_SPACE


class Inbound(Lifetimes):
    """The inbound thread: ESP reads, SA by SPI, opened, written to the TUN."""

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
        n = len(data)
        if spi_bytes == NON_ESP_MARKER or n < 8 or (n - 1) % seg < 7:  # the last one: 8 bytes or more
            return False
        # every datagram's SPI: byte j of each is data[j::seg] (slices in C, not one per datagram)
        k = -(-n // seg)
        if (data[0::seg] != spi_bytes[0:1] * k or data[1::seg] != spi_bytes[1:2] * k
                or data[2::seg] != spi_bytes[2:3] * k or data[3::seg] != spi_bytes[3:4] * k):
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
