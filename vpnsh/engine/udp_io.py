"""UDP sockets for IKE (port 500) and NAT-T (port 4500), on asyncio.

This is the thin I/O shell around the sans-IO IKE engines. It binds **wildcard**
sockets, one per address family and port (``0.0.0.0:500``, ``0.0.0.0:4500``, and
``[::]`` the same when an IPv6 gateway exists), as strongSwan does: each
datagram's local address comes from ``IP_PKTINFO`` / ``IPV6_PKTINFO`` (``recvmsg``
ancillary data), and every reply names its source address the same way
(``sendmsg``), so it leaves from the gateway's own address. Four sockets serve any
number of gateways: 10,000 local addresses cost no file descriptors.

What arrives on port 4500 is sorted per RFC 3948:

* a one-byte ``0xFF`` datagram is a NAT-keepalive: dropped;
* four zero bytes (the non-ESP marker) followed by IKE: the marker is removed
  and the IKE message is handed on;
* anything else is ESP-in-UDP: handed to the data plane.

Sending IKE from port 4500 prepends the marker. The ESP-in-UDP path shares the
same socket (``send_esp``), as RFC 3948 requires; the user-space data plane may take
the port-4500 socket over (:meth:`_Endpoint.pause_reading` and ``get_extra_info``
mimic an asyncio transport for that) and then uses :func:`pktinfo_cmsg` itself.

A send that fails (a full buffer, an address gone) is counted and dropped: IKE
retransmits; nothing here raises into the engine.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vpnsh.engine.ike.sansio import KEEPALIVE as NATT_KEEPALIVE

log = logging.getLogger("vpnsh.udp")

IKE_PORT = 500
NATT_PORT = 4500
NON_ESP_MARKER = b"\x00\x00\x00\x00"

Address = tuple[str, int]
IkeHandler = Callable[[bytes, Address, Address], None]  # data, local, remote
EspHandler = Callable[[bytes, Address, Address], None]

WILDCARD4 = "0.0.0.0"
WILDCARD6 = "::"
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
PKTINFO_CMSG_SPACE = socket.CMSG_SPACE(20)  # struct in6_pktinfo (in_pktinfo is 12 bytes)
READ_BATCH = 64  # datagrams read per wake-up before the loop serves others
LOCALS_SEEN_MAX = 65536  # PKTINFO items remembered per socket (one per local address in use)
MAX_DATAGRAM = 65535
# datagrams waiting for room in a socket's send buffer (a burst of 10,000 IKE_SA_INITs
# from one `test vpn ike-sa` is larger than any buffer): beyond this they are dropped
# and counted, and IKE retransmits them
SEND_QUEUE_MAX = 65536


@dataclass
class IoCounters:
    ike_in: int = 0
    ike_out: int = 0
    esp_in: int = 0
    keepalives_in: int = 0
    runts: int = 0
    send_errors: int = 0
    send_queued: int = 0  # datagrams that waited for room in the send buffer


def classify_4500(data: bytes) -> str:
    """``'keepalive'``, ``'ike'``, ``'esp'`` or ``'runt'`` for a datagram on port 4500."""
    if data == NATT_KEEPALIVE:
        return "keepalive"
    if len(data) < 8:
        return "runt"
    if data[:4] == NON_ESP_MARKER:
        return "ike"
    return "esp"


def wildcard_for(ip: str) -> str:
    return WILDCARD6 if ":" in ip else WILDCARD4


@functools.lru_cache(maxsize=65536)
def pktinfo_cmsg(local_ip: str) -> tuple[int, int, bytes]:
    """The ``sendmsg`` ancillary item that makes a wildcard socket send from ``local_ip``."""
    addr = ipaddress.ip_address(local_ip)
    if addr.version == 6:
        return (socket.IPPROTO_IPV6, IPV6_PKTINFO, addr.packed + struct.pack("I", 0))
    # struct in_pktinfo: ifindex, spec_dst (the source to use), addr (ignored on send)
    return (socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i", 0) + addr.packed + bytes(4))


def local_from_ancillary(anc: list[tuple[int, int, bytes]], fallback: str) -> str:
    """The destination address of a received datagram, from its ``*_PKTINFO`` item."""
    for level, kind, value in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
            return socket.inet_ntop(socket.AF_INET, value[8:12])
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(value) >= 16:
            return socket.inet_ntop(socket.AF_INET6, value[:16])
    return fallback


RCVBUF_BYTES = 4 * 1024 * 1024
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def _large_receive_buffer(sock: socket.socket) -> None:
    """Room for a burst of IKE_SA_INITs (thousands of peers at once), both ways: as root
    beyond net.core.rmem_max/wmem_max, otherwise as much as the system allows."""
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, RCVBUF_BYTES)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, RCVBUF_BYTES)


def open_wildcard_socket(family: int, port: int) -> socket.socket:
    """A non-blocking UDP socket on the wildcard address of ``family`` that reports
    each datagram's destination address (``*_PKTINFO``)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # no SO_REUSEADDR: a second IKE daemon in this namespace (charon, another vpnshd)
        # makes bind fail with a clear EADDRINUSE instead of silently sharing the port
        _large_receive_buffer(sock)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            sock.bind((WILDCARD6, port))
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.bind((WILDCARD4, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Endpoint:
    """One wildcard socket, read on the event loop with ``recvmsg``. It offers the few
    transport calls the data planes use (``get_extra_info('socket')``,
    ``pause_reading``/``resume_reading``, ``is_closing``)."""

    def __init__(self, owner: UdpIo, sock: socket.socket, port: int) -> None:
        self.owner = owner
        self.sock = sock
        self.port = port
        self.wildcard = WILDCARD6 if sock.family == socket.AF_INET6 else WILDCARD4
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._closed = False
        self._waiting: collections.deque[tuple[bytes, tuple[int, int, bytes], Address]] = \
            collections.deque()
        self._locals: dict[tuple[int, int, bytes], str] = {}  # PKTINFO item -> local address
        self.resume_reading()

    # the transport surface
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default

    def pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self.sock.fileno())
            self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and not self._closed:
            self._loop.add_reader(self.sock.fileno(), self._readable)
            self._reading = True

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self.pause_reading()
            if self._waiting:
                self._loop.remove_writer(self.sock.fileno())
                self._waiting.clear()
            self._closed = True
            self.sock.close()

    def send(self, data: bytes, local_ip: str, remote: Address) -> str:
        """Send (or queue while the buffer is full): ``'sent'``, ``'queued'`` or an error."""
        item = pktinfo_cmsg(local_ip)
        if not self._waiting:
            try:
                self.sock.sendmsg([data], [item], 0, remote)
                return "sent"
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self.sock.fileno(), self._writable)
            except OSError as exc:  # an address gone, EPERM from a firewall...
                return str(exc)
        if len(self._waiting) >= SEND_QUEUE_MAX:
            return "send queue full"
        self._waiting.append((data, item, remote))
        return "queued"

    def _writable(self) -> None:
        waiting, sock = self._waiting, self.sock
        while waiting:
            data, item, remote = waiting[0]
            try:
                sock.sendmsg([data], [item], 0, remote)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.owner.counters.send_errors += 1
                log.debug("queued send to %s:%d failed: %s", remote[0], remote[1], exc)
            waiting.popleft()
        self._loop.remove_writer(sock.fileno())

    def _readable(self) -> None:
        owner = self.owner
        sock, port, dispatch, locals_seen = self.sock, self.port, owner.dispatch, self._locals
        owner.reading = True
        try:
            for _ in range(READ_BATCH):
                try:
                    data, anc, _flags, addr = sock.recvmsg(MAX_DATAGRAM, PKTINFO_CMSG_SPACE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    # ICMP errors (port unreachable...) surface here: the engine's retransmit
                    # timers cope; a resource limit must not stop the reading either
                    log.debug("udp *:%d error: %s", port, exc)
                    return
                # the destination address, by the ancillary item (one per datagram, a few
                # hundred distinct ones): a dict lookup, not a parse per datagram
                key = anc[0] if len(anc) == 1 else None
                ip = locals_seen.get(key) if key is not None else None
                if ip is None:
                    ip = local_from_ancillary(anc, self.wildcard)
                    if key is not None and len(locals_seen) < LOCALS_SEEN_MAX:
                        locals_seen[key] = ip
                local = (ip, port)
                try:
                    dispatch(data, local, (addr[0], addr[1]))
                except Exception:  # noqa: BLE001 - one bad datagram never stops the socket
                    log.exception("udp *:%d: handling a datagram from %s", port, addr[0])
        finally:
            owner.reading = False
            if owner.on_batch is not None:
                try:
                    owner.on_batch()
                except Exception:  # noqa: BLE001 - the socket is read again whatever happened
                    log.exception("udp *:%d: after a batch of datagrams", port)


@dataclass
class UdpIo:
    """The daemon's IKE/NAT-T sockets: one wildcard socket per (family, port)."""

    on_ike: IkeHandler
    on_esp: EspHandler | None = None
    # called after each batch of datagrams read in one wake-up (while ``reading`` is set,
    # the handlers may leave their answers for it: one pump per batch, not one loop pass)
    on_batch: Callable[[], None] | None = None
    counters: IoCounters = field(default_factory=IoCounters)
    reading: bool = False
    _endpoints: dict[Address, _Endpoint] = field(default_factory=dict)  # (wildcard, port)
    _addresses: set[str] = field(default_factory=set)  # local addresses in use

    async def bind(self, local_ip: str) -> None:
        """Serve ``local_ip`` on ports 500 and 4500: opens the family's wildcard sockets
        the first time (raises OSError if they cannot be opened), then costs nothing."""
        family = socket.AF_INET6 if ":" in local_ip else socket.AF_INET
        wildcard = wildcard_for(local_ip)
        for port in (IKE_PORT, NATT_PORT):
            key = (wildcard, port)
            if key in self._endpoints:
                continue
            sock = open_wildcard_socket(family, port)
            self._endpoints[key] = _Endpoint(self, sock, port)
            log.info("listening for IKE on %s port %d", "[::]" if family == socket.AF_INET6
                     else wildcard, port)
        self._addresses.add(local_ip)

    def unbind(self, local_ip: str) -> None:
        """Stop serving ``local_ip`` (the wildcard sockets stay while others use them)."""
        self._addresses.discard(local_ip)
        wildcard = wildcard_for(local_ip)
        if any(wildcard_for(ip) == wildcard for ip in self._addresses):
            return
        for port in (IKE_PORT, NATT_PORT):
            ep = self._endpoints.pop((wildcard, port), None)
            if ep is not None:
                ep.close()

    def endpoints(self) -> list[tuple[Address, _Endpoint | None]]:
        """Every bound (wildcard ip, port) with its endpoint (transport-like)."""
        return list(self._endpoints.items())

    def bound_addresses(self) -> set[str]:
        return set(self._addresses)

    def close(self) -> None:
        for ep in self._endpoints.values():
            ep.close()
        self._endpoints.clear()
        self._addresses.clear()

    def socket_key(self, local: Address) -> Address:
        """The key of the socket that serves ``local`` (its family's wildcard)."""
        return (wildcard_for(local[0]), local[1])

    # ------------------------------------------------------------------ receive

    def dispatch(self, data: bytes, local: Address, remote: Address) -> None:
        if local[1] != NATT_PORT:
            self.counters.ike_in += 1
            self.on_ike(data, local, remote)
            return
        kind = classify_4500(data)
        if kind == "ike":
            self.counters.ike_in += 1
            self.on_ike(data[4:], local, remote)
        elif kind == "esp":
            self.counters.esp_in += 1
            if self.on_esp is not None:
                self.on_esp(data, local, remote)
        elif kind == "keepalive":
            self.counters.keepalives_in += 1
        else:
            self.counters.runts += 1

    # ------------------------------------------------------------------ send

    def transport(self, local: Address) -> _Endpoint | None:
        """The endpoint of the socket that serves ``local`` (a data plane may take it over)."""
        ep = self._endpoints.get(self.socket_key(local))
        return ep if ep is not None and not ep.is_closing() else None

    def _send(self, data: bytes, local: Address, remote: Address) -> bool:
        ep = self._endpoints.get((WILDCARD6 if ":" in local[0] else WILDCARD4, local[1]))
        if ep is not None and ep._closed:
            ep = None
        if ep is None:
            self.counters.send_errors += 1
            log.warning("no socket for %s:%d to send to %s:%d", *local, *remote)
            return False
        outcome = ep.send(data, local[0], remote)
        if outcome == "queued":
            self.counters.send_queued += 1
        elif outcome != "sent":
            self.counters.send_errors += 1
            log.debug("send from %s:%d to %s:%d failed: %s", *local, *remote, outcome)
            return False
        return True

    def send_ike(self, data: bytes, local: Address, remote: Address) -> bool:
        """Send one IKE message from ``local``; port 4500 gets the non-ESP marker."""
        payload = NON_ESP_MARKER + data if local[1] == NATT_PORT else data
        if not self._send(payload, local, remote):
            return False
        self.counters.ike_out += 1
        return True

    def send_esp(self, data: bytes, local: Address, remote: Address) -> bool:
        """Send one ESP-in-UDP packet (RFC 3948) from ``local`` (port 4500)."""
        return self._send(data, local, remote)

    def send_keepalive(self, local: Address, remote: Address) -> None:
        self._send(NATT_KEEPALIVE, local, remote)
