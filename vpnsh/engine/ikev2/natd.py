"""NAT detection hashes (RFC 7296 2.23)."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import struct

Address = tuple[str, int]


@functools.lru_cache(maxsize=16384)  # one entry per local and peer address (10,000 gateways)
def _packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def natd_hash(spi_i: bytes, spi_r: bytes, addr: Address) -> bytes:
    return hashlib.sha1(spi_i + spi_r + _packed(addr[0]) + struct.pack("!H", addr[1])).digest()
