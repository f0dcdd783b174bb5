"""UDP sockets for IKE (port 500) and NAT-T (port 4500), on asyncio.

This is the thin I/O shell around the sans-IO IKE engines: it binds the ports on
each local address in use, and sorts what arrives on port 4500 per RFC 3948:

* a one-byte ``0xFF`` datagram is a NAT-keepalive: dropped;
* four zero bytes (the non-ESP marker) followed by IKE: the marker is removed
  and the IKE message is handed on;
* anything else is ESP-in-UDP: handed to the data plane.

Sending IKE from port 4500 prepends the marker. The ESP-in-UDP path shares the
same socket (``send_esp``), as RFC 3948 requires.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from vpnsh.engine.ike.sansio import KEEPALIVE as NATT_KEEPALIVE

log = logging.getLogger("vpnsh.udp")

IKE_PORT = 500
NATT_PORT = 4500
NON_ESP_MARKER = b"\x00\x00\x00\x00"

Address = tuple[str, int]
IkeHandler = Callable[[bytes, Address, Address], None]  # data, local, remote
EspHandler = Callable[[bytes, Address, Address], None]


@dataclass
class IoCounters:
    ike_in: int = 0
    ike_out: int = 0
    esp_in: int = 0
    keepalives_in: int = 0
    runts: int = 0
    send_errors: int = 0


def classify_4500(data: bytes) -> str:
    """``'keepalive'``, ``'ike'``, ``'esp'`` or ``'runt'`` for a datagram on port 4500."""
    if data == NATT_KEEPALIVE:
        return "keepalive"
    if len(data) < 8:
        return "runt"
    if data[:4] == NON_ESP_MARKER:
        return "ike"
    return "esp"


RCVBUF_BYTES = 4 * 1024 * 1024
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def _large_receive_buffer(sock: socket.socket) -> None:
    """Room for a burst of IKE_SA_INITs (hundreds of peers at once): as root beyond
    net.core.rmem_max, otherwise as much as the system allows."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)


def _same(endpoint: _Endpoint) -> _Endpoint:
    return endpoint


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpIo, local: Address) -> None:
        self.owner = owner
        self.local = local
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        remote = (addr[0], addr[1])
        self.owner.dispatch(data, self.local, remote)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the engine's retransmit timers cope.
        log.debug("udp %s:%d error: %s", self.local[0], self.local[1], exc)


@dataclass
class UdpIo:
    """All IKE/NAT-T sockets of the daemon, keyed by (local ip, port)."""

    on_ike: IkeHandler
    on_esp: EspHandler | None = None
    counters: IoCounters = field(default_factory=IoCounters)
    _endpoints: dict[Address, _Endpoint] = field(default_factory=dict)

    async def bind(self, local_ip: str) -> None:
        """Listen on ``local_ip`` ports 500 and 4500 (no-op if already bound)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in local_ip else socket.AF_INET
        for port in (IKE_PORT, NATT_PORT):
            key = (local_ip, port)
            if key in self._endpoints:
                continue
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            _large_receive_buffer(sock)
            sock.bind(key)
            sock.setblocking(False)
            endpoint = _Endpoint(self, key)
            await loop.create_datagram_endpoint(functools.partial(_same, endpoint), sock=sock)
            self._endpoints[key] = endpoint
            log.info("listening for IKE on %s:%d", local_ip, port)

    def unbind(self, local_ip: str) -> None:
        for port in (IKE_PORT, NATT_PORT):
            ep = self._endpoints.pop((local_ip, port), None)
            if ep and ep.transport:
                ep.transport.close()

    def endpoints(self) -> list[tuple[Address, asyncio.DatagramTransport | None]]:
        """Every bound (local ip, port) with its transport."""
        return [(key, ep.transport) for key, ep in self._endpoints.items()]

    def bound_addresses(self) -> set[str]:
        return {ip for ip, _ in self._endpoints}

    def close(self) -> None:
        for ep in self._endpoints.values():
            if ep.transport:
                ep.transport.close()
        self._endpoints.clear()

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

    def transport(self, local: Address) -> asyncio.DatagramTransport | None:
        """The asyncio transport of the socket on ``local`` (a data plane may take it over)."""
        ep = self._endpoints.get(local)
        return ep.transport if ep else None

    def send_ike(self, data: bytes, local: Address, remote: Address) -> bool:
        """Send one IKE message from ``local``; port 4500 gets the non-ESP marker."""
        transport = self.transport(local)
        if transport is None:
            self.counters.send_errors += 1
            log.warning("no socket on %s:%d to send IKE to %s:%d", *local, *remote)
            return False
        payload = NON_ESP_MARKER + data if local[1] == NATT_PORT else data
        transport.sendto(payload, remote)
        self.counters.ike_out += 1
        return True

    def send_esp(self, data: bytes, local: Address, remote: Address) -> bool:
        """Send one ESP-in-UDP packet (RFC 3948) from ``local`` (port 4500)."""
        transport = self.transport(local)
        if transport is None:
            self.counters.send_errors += 1
            return False
        transport.sendto(data, remote)
        return True

    def send_keepalive(self, local: Address, remote: Address) -> None:
        transport = self.transport(local)
        if transport is not None:
            transport.sendto(NATT_KEEPALIVE, remote)
