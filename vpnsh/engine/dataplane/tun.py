"""TUN devices: one per tunnel interface, carrying bare IP packets (no packet info header).

A device lives as long as its file descriptor: closing the :class:`TunDevice` removes the
interface from the kernel, together with its addresses and routes.
"""

from __future__ import annotations

import fcntl
import os
import struct

TUN_PATH = "/dev/net/tun"
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFNAMSIZ = 16


class TunError(OSError):
    """A TUN device could not be made."""


def tun_missing() -> str | None:
    """Why TUN devices cannot be made here, or None if they can."""
    try:
        fd = os.open(TUN_PATH, os.O_RDWR)
    except OSError as exc:
        return f"no usable {TUN_PATH} ({exc.strerror})"
    os.close(fd)
    return None


class TunDevice:
    """An open TUN interface named ``name`` (Linux allows the dot of ``tunnel.1``)."""

    __slots__ = ("name", "fd")

    def __init__(self, name: str) -> None:
        if not name or len(name.encode()) >= IFNAMSIZ or "/" in name or " " in name:
            raise TunError(f"bad interface name {name!r}")
        try:
            fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(exc.errno, f"cannot open {TUN_PATH}: {exc.strerror}") from None
        try:
            ifr = struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI)
            fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as exc:
            os.close(fd)
            raise TunError(exc.errno, f"cannot create TUN {name}: {exc.strerror}") from None
        self.name = name
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def read(self, size: int = 65535) -> bytes | None:
        """One packet, or None when none is waiting (the fd is non-blocking)."""
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return None

    def write(self, packet: bytes | bytearray | memoryview) -> bool:
        """Hand one IP packet to the kernel; False if it was refused (counted by the caller)."""
        try:
            os.write(self.fd, packet)
            return True
        except OSError:
            return False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def __repr__(self) -> str:
        return f"<TunDevice {self.name} fd={self.fd}>"
