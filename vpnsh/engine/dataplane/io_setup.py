"""The user-space data plane's devices and sockets: TUN devices made and configured
(virtio-net header, TSO/CSUM offloads: :mod:`.tun`), raw ESP sockets, the port-4500
sockets attached (send) or taken (send and receive, UDP GRO on) from ``UdpIo``, and,
in a worker process, the duplicates the owner hands over with their read order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from .base import Route, TunnelInterface
from .plane_state import Address, PlaneState
from .routes import configure_link, run_netlink, sync_routes
from .tun import TunDevice, TunError

log = logging.getLogger("vpnsh.dataplane.userspace")

IPPROTO_ESP = 50
# UDP segmentation offload (linux/udp.h): one sendmsg carries a train of equal-size
# datagrams (the last may be shorter), one recvmsg returns a train the kernel coalesced
SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
# one UDP GSO send: at most this many datagrams (the kernel's UDP_MAX_SEGMENTS is 64 or
# more) and bytes (one IPv4 or IPv6 datagram of at most 64 KB)
GSO_MAX_SEGMENTS = 64
GSO_MAX_BYTES = 65000
# the most an AEAD SA's ESP datagram adds to its inner packet: header and IV (16), padding
# to 4 (3), pad length and next header (2), ICV (16)
ESP_AEAD_OVERHEAD = 37


def tso_max_segments(mtu: int) -> int:
    """How many segments a TCP super-packet read from a TUN of this MTU may hold so
    that its ESP datagrams leave in ONE UDP GSO send and so arrive as ONE GRO train
    (a 64 KB super-packet of 1348-byte segments, 47 of them, would leave as 45 + 2: two
    trains, each paying the per-train work at both ends). Set on the device as its
    ``gso_max_segs``, which caps the super-packets the kernel's TCP builds for it."""
    return max(1, min(GSO_MAX_SEGMENTS, GSO_MAX_BYTES // (mtu + ESP_AEAD_OVERHEAD)))


def _sockaddr(addr: str) -> tuple[int, tuple[Any, ...]]:
    if ":" in addr:
        return socket.AF_INET6, (addr, 0, 0, 0)
    return socket.AF_INET, (addr, 0)


class DeviceSetup(PlaneState):
    """TUN devices and ESP sockets: made, taken over, handed back, closed."""

    def set_interfaces(self, interfaces: list[TunnelInterface], routes: list[Route]) -> None:
        want = {i.name: i for i in interfaces}
        created = False
        problems: list[str] = []
        for name, iface in list(want.items()):
            if name not in self._tuns:
                try:
                    self._tuns[name] = TunDevice(name, offload=self.tun_offload, tso=self.tun_tso)
                except TunError as exc:  # e.g. a device of another kind has the name
                    problems.append(f"{name}: {exc}")
                    del want[name]
                    continue
                created = True
                if not any(":" in a for a in iface.addresses):
                    _no_ipv6_link_local(name)

        def configure(ipr: Any) -> list[str]:
            out: list[str] = []
            for iface in want.values():
                try:
                    tun = self._tuns.get(iface.name)
                    configure_link(ipr, iface.name, iface.addresses, iface.mtu,
                                   gso_max_segs=tso_max_segments(iface.mtu) if tun and tun.tso else None)
                except Exception as exc:  # noqa: BLE001 - reported, the rest goes on
                    out.append(f"{iface.name}: {exc}")
            out += sync_routes(ipr, [r for r in routes if r.interface in want])
            return out

        problems += run_netlink(configure)
        gone = [name for name in self._tuns if name not in want]
        removed = [self._tuns.pop(name) for name in gone]
        if created or removed:
            self._sync_thread("out")
        pool = self._pool
        if pool is not None:  # the workers read and write the devices through duplicates
            for name, tun in self._tuns.items():
                if name not in self._tun_order:
                    self._tun_order[name] = pool.order_slot()
                    pool.call("tun", name, tun.offload, tun.tso, self._tun_order[name], handle=tun.fd)
            pool.call("interfaces", sorted(self._tuns))  # theirs of the others closed
            pool.free_slots(tuple(self._tun_order.pop(t.name) for t in removed if t.name in self._tun_order))
        for tun in removed:
            tun.close()
        self._interfaces = want
        self._routes = list(routes)
        self.problems = problems
        for p in problems:
            log.warning("tunnel interfaces: %s", p)

    def adopt_tun(self, name: str, fd: int, offload: bool, tso: bool, order: tuple[Any, Any]) -> None:
        """A worker process: carry the owner's TUN device ``name`` through ``fd`` (a
        duplicate), its reads kept in order across the workers with ``order`` (the order
        slot's cells and lock, see .shared)."""
        old = self._tuns.pop(name, None)
        self._tuns[name] = TunDevice.adopt(name, fd, offload, tso)
        self.read_order[fd] = order
        self._sync_thread("out")
        if old is not None:
            self.read_order.pop(old.fd, None)
            old.close()

    def set_read_order(self, fd: int, order: tuple[Any, Any]) -> None:
        """A worker process: keep the reads of the taken socket ``fd`` in order across
        the workers (see .shared), and have the inbound thread poll it exclusively."""
        self.read_order[fd] = order
        self._sync_thread("in")

    def keep_tuns(self, names: list[str]) -> None:
        """A worker process: close its duplicates of the devices not in ``names``."""
        gone = [self._tuns.pop(n) for n in list(self._tuns) if n not in names]
        if gone:
            self._sync_thread("out")
        for tun in gone:
            self.read_order.pop(tun.fd, None)
            tun.close()

    def attach_udp_socket(self, local: Address, sock: socket.socket) -> None:
        """Send ESP-in-UDP from ``local`` on (a duplicate of) ``sock`` from the outbound
        thread, instead of through ``events.send_udp`` on the event loop."""
        old = self._udp_fast.pop(local, None)
        dup = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        with contextlib.suppress(OSError):
            dup.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            dup.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._udp_fast = {**self._udp_fast, local: dup}
        if old is not None:
            old.close()

    def take_udp_socket(self, local: Address, sock: socket.socket,
                        deliver: Callable[[bytes, Address, Address], None]) -> None:
        """Receive on the port-4500 socket ``sock`` in the inbound thread (and send on it,
        as :meth:`attach_udp_socket`). The caller stops reading it itself (for ``UdpIo``:
        the transport's ``pause_reading()``). ESP-in-UDP is decapsulated in the thread;
        every other datagram (IKE behind the non-ESP marker, keepalives, runts) goes to
        ``deliver(data, local, remote)`` on the event loop (``UdpIo.dispatch``)."""
        self.attach_udp_socket(local, sock)
        dup = self._udp_fast[local]
        dup.setblocking(False)
        if self._pool is not None:  # every worker reads (and sends on) a duplicate
            self._udp_taken = {**self._udp_taken, local: (dup, deliver)}
            if local not in self._udp_order:
                self._udp_order[local] = self._pool.order_slot()
            self._pool.call("udp", list(local), self._udp_order[local], handle=dup.fileno())
            return
        try:
            dup.setsockopt(SOL_UDP, UDP_GRO, 1)
            self._gro = {*self._gro, dup.fileno()}
        except OSError:
            pass  # an older kernel: one datagram a read
        self._udp_taken = {**self._udp_taken, local: (dup, deliver)}
        self._sync_thread("in")

    def taken_socket(self, local: Address) -> socket.socket | None:
        """This data plane's duplicate of the taken socket of ``local``, if taken."""
        taken = self._udp_taken.get(local)
        return taken[0] if taken is not None else None

    def take_udp_io(self, io: Any, local_ip: str, port: int = 4500) -> bool:
        """:meth:`take_udp_socket` for ``UdpIo``'s socket on ``local_ip:port``: pauses
        its reading and sends it IKE through ``io.dispatch``. Call after ``io.bind``;
        False if ``io`` has no such socket; taking it again does nothing."""
        key = udp_io_key(io, (local_ip, port))
        if key in self._udp_taken:
            return True
        transport = udp_io_transport(io, (local_ip, port))
        if transport is None:
            return False
        sock = transport.get_extra_info("socket")
        transport.pause_reading()
        self.take_udp_socket(key, sock, io.dispatch)
        return True

    def release_udp_io(self, io: Any, local_ip: str, port: int = 4500) -> None:
        """Give the socket back to ``UdpIo`` (call before ``io.unbind``)."""
        self.release_udp_socket(udp_io_key(io, (local_ip, port)))
        transport = udp_io_transport(io, (local_ip, port))
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def release_udp_socket(self, local: Address) -> None:
        """Stop using the socket of ``local`` (before ``UdpIo`` closes it)."""
        taken = self._udp_taken.get(local)
        if taken is not None and self._pool is not None:
            self._pool.call("release", list(local))
            order = self._udp_order.pop(local, None)
            if order is not None:
                self._pool.free_slots((order,))
        if taken is not None:
            self._udp_taken = {k: v for k, v in self._udp_taken.items() if k != local}
            self._sync_thread("in")
        sock = self._udp_fast.get(local)
        if sock is not None:
            self._udp_fast = {k: v for k, v in self._udp_fast.items() if k != local}
            self._gro = self._gro - {sock.fileno()}
            sock.close()

    def _raw_socket(self, local_addr: str) -> socket.socket:
        sock = self._raw.get(local_addr)
        if sock is not None:
            return sock
        family, sockaddr = _sockaddr(local_addr)
        sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_ESP)
        sock.bind(sockaddr)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._raw = {**self._raw, local_addr: sock}
        self._sync_thread("in")
        return sock


def udp_io_key(io: Any, local: Address) -> Address:
    """The key of ``UdpIo``'s socket that serves ``local`` (its wildcard socket)."""
    key = getattr(io, "socket_key", None)
    return key(local) if callable(key) else local


def udp_io_transport(io: Any, local: Address) -> Any:
    """The asyncio transport of ``UdpIo``'s socket on ``local`` (or None)."""
    getter = getattr(io, "transport", None)  # a public accessor, when UdpIo has one
    if callable(getter):
        return getter(local)
    endpoint = getattr(io, "_endpoints", {}).get(local)
    return getattr(endpoint, "transport", None)


def _no_ipv6_link_local(ifname: str) -> None:
    """Keep the kernel from giving a new (down) link an IPv6 link-local address, and so
    from sending router solicitations and MLD reports into the tunnel."""
    with contextlib.suppress(OSError), open(
            f"/proc/sys/net/ipv6/conf/{ifname}/addr_gen_mode", "w") as f:
        f.write("1")
