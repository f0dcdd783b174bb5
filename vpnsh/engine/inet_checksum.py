"""The Internet checksum (RFC 1071), for the IPv4, UDP and ICMP headers vpnsh builds itself
(IKE captures, tunnel-monitor probes)."""

from __future__ import annotations

import struct


def internet_checksum(data: bytes) -> int:
    """The one's complement of the one's complement sum of `data`'s 16-bit words."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
