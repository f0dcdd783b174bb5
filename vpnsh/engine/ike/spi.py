"""SPIs we hand out, for IKEv1 and IKEv2 alike.

IKE SPIs (IKEv2) and ISAKMP cookies (IKEv1) are 8 random octets, never zero, unique among
the SAs the caller holds. CHILD SA (ESP) SPIs are 4 octets, at least 0x100 (RFC 4303: 1-255
are reserved) and unique until released.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Container

MIN_CHILD_SPI = 0x100


class SpiAllocator:
    def __init__(self) -> None:
        self._child: set[int] = set()

    @staticmethod
    def ike_spi(in_use: Container[bytes]) -> bytes:
        """A new 8-octet IKE SPI / ISAKMP cookie that ``in_use`` does not hold."""
        while True:
            spi = os.urandom(8)
            if spi != bytes(8) and spi not in in_use:
                return spi

    def child_spi(self) -> int:
        """A new inbound CHILD SA SPI, held until :meth:`release`."""
        while True:
            spi = struct.unpack("!I", os.urandom(4))[0]
            if spi >= MIN_CHILD_SPI and spi not in self._child:
                self._child.add(spi)
                return spi

    def hold(self, spi: int) -> None:
        self._child.add(spi)

    def release(self, spi: int) -> None:
        self._child.discard(spi)

    def __contains__(self, spi: object) -> bool:
        return spi in self._child
