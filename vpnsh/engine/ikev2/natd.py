"""NAT detection hashes (RFC 7296 2.23)."""

from __future__ import annotations

import hashlib
import ipaddress
import struct

Address = tuple[str, int]


def natd_hash(spi_i: bytes, spi_r: bytes, addr: Address) -> bytes:
    ip = ipaddress.ip_address(addr[0]).packed
    return hashlib.sha1(spi_i + spi_r + ip + struct.pack("!H", addr[1])).digest()
