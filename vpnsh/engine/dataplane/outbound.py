"""The user-space data plane's outbound thread: it polls every TUN fd (and a wake
eventfd), reads in batches of READ_BATCH, finds each read's CHILD SA by selectors
(:mod:`.spd`; one lookup per TCP super-packet) and hands it to :mod:`.esp_send`; a read
with no SA goes to :mod:`.acquire`. A worker process takes a ticket with each read so
that sequence numbers are taken and datagrams sent in read order (:mod:`.shared`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select

from .acquire import AcquireQueue
from .plane_state import READ_BATCH
from .sa_pair import SaPair
from .segment import F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, SegmentError, split
from .shared import C_RTURN, end_turn, take_ticket, wait_turn
from .spd import parse_inner
from .tun import VNET_HDR_LEN, TunDevice

log = logging.getLogger("vpnsh.dataplane.userspace")

TUN_READ_MAX = VNET_HDR_LEN + 65535 + 40  # a TSO super-packet (IPv6: payload + header)


class Outbound(AcquireQueue):
    """The outbound thread: TUN reads, SA by selectors, on to sealing."""

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
                 fast4: dict[str, SaPair], fast6: dict[str, SaPair]) -> int:
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
