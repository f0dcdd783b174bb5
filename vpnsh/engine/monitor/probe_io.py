"""ICMP echo for the monitors: the I/O around :class:`~.state.MonitorSet`.

One raw ICMP socket per (interface, source address): bound to the source address and,
with ``SO_BINDTODEVICE``, to the tunnel interface. The kernel then sends each probe out
of that interface even when the routing table has no route through it (a fail-over
tunnel whose routes are withdrawn keeps probing through itself; IPv4 takes the
destination as on-link when a bound lookup finds no route), and the socket only sees
ICMP that arrived on that interface for that address: the replies that came back
through the tunnel.

IPv4 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from vpnsh.engine.inet_checksum import internet_checksum

from .state import Probe

log = logging.getLogger("vpnshd.monitor")

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
PAYLOAD = b"vpnsh tunnel monitor probe......"  # 32 bytes
_HDR = struct.Struct("!BBHHH")


def echo_request(ident: int, seq: int, payload: bytes = PAYLOAD) -> bytes:
    head = _HDR.pack(ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    return _HDR.pack(ICMP_ECHO_REQUEST, 0, internet_checksum(head + payload), ident, seq) + payload


def parse_echo_reply(packet: bytes) -> tuple[str, int, int] | None:
    """(source, ident, seq) of an IPv4 packet carrying an ICMP echo reply, else None."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl + 8 or packet[9] != socket.IPPROTO_ICMP:
        return None
    kind, code, _, ident, seq = _HDR.unpack_from(packet, ihl)
    if kind != ICMP_ECHO_REPLY or code != 0:
        return None
    return socket.inet_ntoa(packet[12:16]), ident, seq


@dataclass
class ProbeCounters:
    sent: int = 0
    send_errors: int = 0
    replies: int = 0
    ignored: int = 0  # ICMP on our sockets that answered no probe


class ProbeIO:
    """Sends :class:`Probe`s; hands echo replies to ``on_reply(ident, seq)`` on the loop."""

    def __init__(self, on_reply: Callable[[int, int], bool]) -> None:
        self.on_reply = on_reply
        self.counters = ProbeCounters()
        self._socks: dict[tuple[str, str], socket.socket] = {}
        self._problems: dict[tuple[str, str], str] = {}

    def _socket(self, interface: str, source: str) -> socket.socket | None:
        key = (interface, source)
        sock = self._socks.get(key)
        if sock is not None:
            return sock
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except OSError as exc:
            self._problem(key, f"cannot open a raw ICMP socket: {exc}")
            return None
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            sock.bind((source, 0))
            asyncio.get_running_loop().add_reader(sock.fileno(), self._read, sock)
        except (OSError, RuntimeError) as exc:  # e.g. the interface is not there yet
            sock.close()
            self._problem(key, f"cannot probe from {source} on {interface}: {exc}")
            return None
        self._problems.pop(key, None)
        self._socks[key] = sock
        return sock

    def _problem(self, key: tuple[str, str], text: str) -> None:
        if self._problems.get(key) != text:
            log.warning("tunnel monitor: %s", text)
        self._problems[key] = text

    def send(self, probe: Probe) -> bool:
        sock = self._socket(probe.interface, probe.source)
        if sock is None:
            self.counters.send_errors += 1
            return False
        try:
            sock.sendto(echo_request(probe.ident, probe.seq), (probe.destination, 0))
        except OSError as exc:
            self.counters.send_errors += 1
            if exc.errno in (errno.ENODEV, errno.ENXIO, errno.EADDRNOTAVAIL):
                self._close((probe.interface, probe.source))  # reopened on the next probe
            return False
        self.counters.sent += 1
        return True

    def _read(self, sock: socket.socket) -> None:
        for _ in range(64):
            try:
                packet = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            parsed = parse_echo_reply(packet)
            if parsed is None:
                continue
            _, ident, seq = parsed
            if self.on_reply(ident, seq):
                self.counters.replies += 1
            else:
                self.counters.ignored += 1

    def keep(self, pairs: set[tuple[str, str]]) -> None:
        """Close the sockets of (interface, source) pairs no monitor uses any more."""
        for key in [k for k in self._socks if k not in pairs]:
            self._close(key)

    def _close(self, key: tuple[str, str]) -> None:
        sock = self._socks.pop(key, None)
        if sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()

    def problems(self) -> list[str]:
        return list(self._problems.values())

    def close(self) -> None:
        for key in list(self._socks):
            self._close(key)
