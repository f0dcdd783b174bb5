"""Selector lookup for the user-space data plane (the SPD of RFC 4301, per tunnel interface).

Outbound: a packet read from ``tunnel.N`` is carried by the CHILD SA of that interface
whose selectors match it most specifically (proxy-ids mean several SAs per interface).
Inbound: the inner packet of a decrypted ESP packet must fall within the SA's selectors
(source in the remote selectors, destination in the local ones).

Selectors are compiled once into integer ranges so the per-packet work is a few integer
comparisons; packets are parsed with :func:`parse_inner` straight from the bytes.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from .base import TrafficSelector

T = TypeVar("T")

# protocols whose first 4 payload bytes are source and destination ports
_PORT_PROTOS = frozenset({6, 17, 132, 136})  # TCP, UDP, SCTP, UDP-Lite
_ICMP_PROTOS = frozenset({1, 58})
# IPv6 extension headers walked to find the upper-layer protocol
_IPV6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_IPV6_FRAG = 44

FULL_PORTS = (0, 65535)


class PacketKey(NamedTuple):
    """What the selectors look at in one IP packet; ports are None when absent."""

    version: int  # 4 or 6
    src: int
    dst: int
    proto: int
    sport: int | None
    dport: int | None

    @property
    def src_text(self) -> str:
        return str(_addr(self.version, self.src))

    @property
    def dst_text(self) -> str:
        return str(_addr(self.version, self.dst))


def _addr(version: int, value: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def parse_inner(packet: bytes | bytearray | memoryview) -> PacketKey | None:
    """The selector fields of an IPv4 or IPv6 packet, or None if it is not one.

    Non-first fragments and protocols without ports have ``sport = dport = None``;
    ICMP type and code are one 16-bit "port" (type high), as RFC 7296 3.13.1 says.
    """
    n = len(packet)
    if n < 20:
        return None
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        if ihl < 20 or n < ihl:
            return None
        src = int.from_bytes(packet[12:16], "big")
        dst = int.from_bytes(packet[16:20], "big")
        proto = packet[9]
        frag_offset = ((packet[6] & 0x1F) << 8) | packet[7]
        off = ihl if frag_offset == 0 else -1
    elif version == 6:
        if n < 40:
            return None
        src = int.from_bytes(packet[8:24], "big")
        dst = int.from_bytes(packet[24:40], "big")
        proto = packet[6]
        off = 40
        for _ in range(8):  # bounded walk of extension headers
            if proto in _IPV6_EXT:
                if n < off + 8:
                    return PacketKey(6, src, dst, proto, None, None)
                proto, off = packet[off], off + (packet[off + 1] + 1) * 8
            elif proto == _IPV6_FRAG:
                if n < off + 8:
                    return PacketKey(6, src, dst, proto, None, None)
                first = ((packet[off + 2] << 8) | packet[off + 3]) & 0xFFF8 == 0
                proto, off = packet[off], (off + 8 if first else -1)
                if off < 0:
                    break
            else:
                break
    else:
        return None
    sport = dport = None
    if off >= 0:
        if proto in _PORT_PROTOS and n >= off + 4:
            sport = (packet[off] << 8) | packet[off + 1]
            dport = (packet[off + 2] << 8) | packet[off + 3]
        elif proto in _ICMP_PROTOS and n >= off + 2:
            sport = dport = (packet[off] << 8) | packet[off + 1]
    return PacketKey(version, src, dst, proto, sport, dport)


@dataclass(frozen=True, slots=True)
class CompiledSelector:
    """One traffic selector as integers: address family, range, protocol, port range."""

    version: int
    lo: int
    hi: int
    proto: int  # 0 = any
    plo: int
    phi: int

    @classmethod
    def compile(cls, ts: TrafficSelector) -> CompiledSelector:
        lo, hi = _address(ts.start_addr), _address(ts.end_addr)
        if lo.version != hi.version:
            raise ValueError(f"selector {lo}-{hi} mixes address families")
        return cls(lo.version, int(lo), int(hi), ts.ip_proto, ts.start_port, ts.end_port)

    def matches(self, version: int, addr: int, proto: int, port: int | None) -> bool:
        if version != self.version or not self.lo <= addr <= self.hi:
            return False
        if self.proto and proto != self.proto:
            return False
        if port is None:
            # no ports in this packet: only selectors that do not restrict ports match
            # (an OPAQUE range, start 65535 end 0, is not a restriction either)
            return (self.plo, self.phi) == FULL_PORTS or self.plo > self.phi
        return self.plo <= port <= self.phi

    @property
    def size(self) -> int:
        """How much this selector admits (smaller = more specific)."""
        ports = self.phi - self.plo + 1 if self.plo <= self.phi else 65536
        return (self.hi - self.lo + 1) * ports * (256 if self.proto == 0 else 1)


def _address(addr: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``addr`` as an address object; one already (the usual case) is not re-parsed through
    its text, as ``ipaddress.ip_address`` would."""
    if isinstance(addr, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return addr
    return ipaddress.ip_address(addr)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=4096)
def _compiled(ts: TrafficSelector) -> CompiledSelector:
    return CompiledSelector.compile(ts)  # an SA and its rekeys carry the same selectors


def compile_all(selectors: Iterable[TrafficSelector]) -> tuple[CompiledSelector, ...]:
    return tuple(_compiled(ts) for ts in selectors)


def selectors_admit(local: tuple[CompiledSelector, ...], remote: tuple[CompiledSelector, ...],
                    key: PacketKey, inbound: bool) -> bool:
    """Does the SA with these selectors carry this packet?

    Outbound packets go from ``local`` to ``remote``; inbound ones (decrypted) from
    ``remote`` to ``local``. The source port is matched against the source side's
    selector and the destination port against the destination side's.
    """
    if inbound:
        src_sel, dst_sel = remote, local
    else:
        src_sel, dst_sel = local, remote
    v, proto = key.version, key.proto
    if not any(s.matches(v, key.src, proto, key.sport) for s in src_sel):
        return False
    return any(s.matches(v, key.dst, proto, key.dport) for s in dst_sel)


def _is_catch_all(sel: CompiledSelector) -> bool:
    top = (1 << (32 if sel.version == 4 else 128)) - 1
    return (sel.lo, sel.hi, sel.proto, sel.plo, sel.phi) == (0, top, 0, 0, 65535)


class InboundCheck:
    """``selectors_admit(..., inbound=True)`` compiled for one SA, with shortcuts:
    a family whose selectors admit everything costs one comparison, and selectors
    without protocol or port restrictions are checked on the addresses alone."""

    __slots__ = ("local", "remote", "all4", "all6", "addr_only", "src4", "dst4")

    def __init__(self, local: tuple[CompiledSelector, ...], remote: tuple[CompiledSelector, ...]) -> None:
        self.local, self.remote = local, remote
        self.all4 = any(map(_is_catch_all, (s for s in local if s.version == 4))) and any(
            map(_is_catch_all, (s for s in remote if s.version == 4)))
        self.all6 = any(map(_is_catch_all, (s for s in local if s.version == 6))) and any(
            map(_is_catch_all, (s for s in remote if s.version == 6)))
        self.addr_only = all(s.proto == 0 and (s.plo, s.phi) == FULL_PORTS for s in local + remote)
        self.src4 = tuple((s.lo, s.hi) for s in remote if s.version == 4)
        self.dst4 = tuple((s.lo, s.hi) for s in local if s.version == 4)

    def admits(self, packet: bytes | memoryview) -> bool:
        """Is this decrypted inner packet within the SA's selectors (remote -> local)?"""
        version = packet[0] >> 4
        if version == 4:
            if self.all4:
                return True
            if self.addr_only and len(packet) >= 20:
                src = int.from_bytes(packet[12:16], "big")
                for lo, hi in self.src4:
                    if lo <= src <= hi:
                        break
                else:
                    return False
                dst = int.from_bytes(packet[16:20], "big")
                for lo, hi in self.dst4:  # noqa: SIM110 - a loop is faster than any()
                    if lo <= dst <= hi:
                        return True
                return False
        elif version == 6 and self.all6:
            return True
        key = parse_inner(packet)
        return key is not None and selectors_admit(self.local, self.remote, key, inbound=True)


@dataclass(slots=True)
class _Entry(Generic[T]):
    specificity: int
    order: int
    local: CompiledSelector
    remote: CompiledSelector
    sa_id: int
    value: T


def _entry_rank(e: _Entry[Any]) -> tuple[int, int]:
    return (e.specificity, -e.order)


class Spd(Generic[T]):
    """Outbound selector table: tunnel interface -> selector pairs -> a value (the SA).

    Entries are keyed by an ``sa_id`` (the inbound SPI). For one packet the match with
    the smallest selector pair wins; among equally specific ones the newest (so that a
    rekeyed SA takes over from the old one with the same selectors as soon as it is
    added: make-before-break).
    """

    def __init__(self) -> None:
        self._by_if: dict[str, list[_Entry[T]]] = {}
        self._if_of: dict[int, str] = {}
        self._order = itertools.count()
        # tunnel_if -> the value carrying every IPv4 (IPv6) packet of that interface,
        # when one SA's catch-all selectors win for all of them: no parsing needed
        self.catch_all4: dict[str, T] = {}
        self.catch_all6: dict[str, T] = {}

    # Writers replace lists and dicts entries whole (copy-on-write), so a reader in
    # another thread never sees a half-sorted table.

    def add(self, tunnel_if: str, sa_id: int, local_ts: Iterable[TrafficSelector],
            remote_ts: Iterable[TrafficSelector], value: T) -> None:
        self.remove(sa_id)
        order = next(self._order)
        local, remote = compile_all(local_ts), compile_all(remote_ts)
        entries = list(self._by_if.get(tunnel_if, []))
        for lsel in local:
            for rsel in remote:
                if lsel.version != rsel.version:
                    continue
                # the list stays sorted: insert, no re-sort of every SA's entries per add
                bisect.insort(entries, _Entry(lsel.size * rsel.size, order, lsel, rsel, sa_id, value),
                              key=_entry_rank)
        self._if_of[sa_id] = tunnel_if
        self._set(tunnel_if, entries)

    def remove(self, sa_id: int) -> None:
        tunnel_if = self._if_of.pop(sa_id, None)
        if tunnel_if is None:
            return
        self._set(tunnel_if, [e for e in self._by_if.get(tunnel_if, []) if e.sa_id != sa_id])

    def _set(self, tunnel_if: str, entries: list[_Entry[T]]) -> None:
        if entries:
            self._by_if[tunnel_if] = entries
        else:
            self._by_if.pop(tunnel_if, None)
        for version, fast in ((4, self.catch_all4), (6, self.catch_all6)):
            family = [e for e in entries if e.local.version == version]
            # the first entry wins for every packet if it admits everything of its family
            if family and _is_catch_all(family[0].local) and _is_catch_all(family[0].remote):
                fast[tunnel_if] = family[0].value
            else:
                fast.pop(tunnel_if, None)

    def lookup(self, tunnel_if: str, key: PacketKey) -> T | None:
        """The value of the most specific entry of ``tunnel_if`` carrying ``key``."""
        entries = self._by_if.get(tunnel_if)
        if not entries:
            return None
        v, src, dst, proto, sport, dport = key
        for e in entries:  # inlined CompiledSelector.matches: this is the per-packet path
            loc, rem = e.local, e.remote
            if loc.version != v or not loc.lo <= src <= loc.hi or not rem.lo <= dst <= rem.hi:
                continue
            if (loc.proto and loc.proto != proto) or (rem.proto and rem.proto != proto):
                continue
            if sport is None:
                if loc.matches(v, src, proto, None) and rem.matches(v, dst, proto, None):
                    return e.value
            elif loc.plo <= sport <= loc.phi and rem.plo <= dport <= rem.phi:  # type: ignore[operator]
                return e.value
        return None

    def interfaces(self) -> list[str]:
        return list(self._by_if)

    def sa_ids(self, tunnel_if: str) -> list[int]:
        return sorted({e.sa_id for e in self._by_if.get(tunnel_if, [])})

    def __len__(self) -> int:
        return len(self._if_of)
