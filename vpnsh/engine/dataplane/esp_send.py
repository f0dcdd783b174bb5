"""The user-space data plane's sending stage: one packet sealed (:func:`.esp.encapsulate`)
or a TCP super-packet sealed in one go (:func:`.fused.seal_tcp_super`), and sent: on the
attached port-4500 socket in UDP GSO trains (one ``sendmsg`` per train of equal-size
datagrams, flushed at the end of each read batch), on a raw ESP socket, or through
``events.send_udp`` on the event loop. Runs in the outbound thread, which alone
encapsulates (so outbound sequence numbers need no lock in one process).
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import struct
from typing import Any

from .esp import DropReason, EspDrop, encapsulate
from .fused import Train, seal_tcp_super
from .io_setup import GSO_MAX_BYTES, GSO_MAX_SEGMENTS, SOL_UDP, UDP_SEGMENT
from .lifetimes import Lifetimes
from .plane_state import Address
from .sa_pair import SaPair
from .segment import SegmentError
from .shared import wait_turn
from .tun import VNET_HDR_LEN

log = logging.getLogger("vpnsh.dataplane.userspace")

_U16 = struct.Struct("=H")


class EspSend(Lifetimes):
    """Seal and send: one packet, or a TCP super-packet as UDP GSO trains."""

    def _send(self, child: SaPair, packet: bytes) -> bool:
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
                    ok = send_dgram(sock, esp, child.udp_remote, tos, src)
                elif self.gso:
                    self._gso_add(sock, child.udp_remote, esp, src)
                elif src is None:
                    try:
                        sock.sendto(esp, child.udp_remote)
                    except OSError:
                        ok = send_dgram(sock, esp, child.udp_remote, tos)
                else:
                    ok = send_dgram(sock, esp, child.udp_remote, tos, src)
            else:
                self._udp_out.append((esp, child.udp_local, child.udp_remote))
        else:
            sock = self._raw.get(child.spec.local_addr)
            ok = sock is not None and send_dgram(sock, esp, (child.spec.peer_addr, 0), tos)
        if not ok:
            self.stats.send_errors += 1
        if sa.counters.bytes >= child.next_limit:
            self._schedule_limit_check()
        return ok

    def _send_super(self, child: SaPair, buf: bytes, head: bytes) -> bool:
        """A TCP super-packet through the fused path (:mod:`.fused`): sealed into one
        buffer and sent as UDP GSO trains. False when that path may not take it (no
        AEAD, raw ESP, copy-tos with a TOS, no attached socket, a limit near): the
        caller then cuts it and sends packet by packet. Counts the segments sent."""
        if child.dead or child.udp_local is None or not self.gso or child.outbound.aead is None:
            return False
        sock, src = self._udp_socket(child)
        if sock is None or (child.spec.copy_tos and inner_tos(head)):
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

    def _udp_socket(self, child: SaPair) -> tuple[socket.socket | None, tuple[int, int, bytes] | None]:
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
                    if not send_dgram(sock, dgram, dest, 0, src):  # type: ignore[arg-type]
                        self.stats.send_errors += 1
            i = j

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
            if not send_dgram(sock, esp, dest, 0, src):
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


def inner_tos(packet: bytes) -> int:
    """The TOS (IPv4) or traffic class (IPv6) of an IP packet."""
    if packet[0] >> 4 == 4:
        return packet[1]
    return ((packet[0] & 0x0F) << 4) | (packet[1] >> 4)


def send_dgram(sock: socket.socket, data: bytes, dest: tuple[Any, ...], tos: int,
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
