"""Segmentation at the ESP boundary: a TUN read with offloads on, made whole IP packets.

With ``TUNSETOFFLOAD`` (TSO4, TSO6, CSUM) the kernel hands the TUN reader what it would
hand a NIC with TCP segmentation offload: one TCP "super-packet" of up to 64 KB behind a
virtio-net header that says how to cut it (``gso_size``: the MSS), and packets whose
transport checksum is left for the "hardware" to complete (``NEEDS_CSUM``). The kernel
then skips its own segmentation and checksumming of the sending socket's data, and the
reader gets ~45 segments for one system call. This module does the NIC's part, as
wireguard-go does: :func:`split` turns one read into the IP packets that go into ESP,
each with its checksums complete, so the peer (any peer) gets ordinary packets.

The TCP checksum of every segment needs the ones' complement sum of its payload: one
NumPy ``reduceat`` over the whole super-packet gives all of them at once (when the MSS is
even, which it is for every real MTU; odd ones fall back to Python integers). Headers are
summed as big integers modulo 0xFFFF (2**16 = 1 mod 0xFFFF, so that is the ones'
complement sum of the 16-bit words).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

# struct virtio_net_hdr { u8 flags; u8 gso_type; u16 hdr_len, gso_size, csum_start, csum_offset; }
VNET_HDR = struct.Struct("=BBHHHH")
VNET_HDR_LEN = VNET_HDR.size
F_NEEDS_CSUM = 1
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3
GSO_TCPV6 = 4
GSO_ECN = 0x80
_FIN, _PSH, _CWR = 0x01, 0x08, 0x80


class SegmentError(ValueError):
    """A read that cannot be made into IP packets (counted and dropped by the caller)."""


def split(buf: bytes) -> list[bytes]:
    """The IP packets in one TUN read (virtio-net header first): one for a plain
    packet (its checksum completed when the kernel left it partial), several for a
    TCP super-packet. ``SegmentError`` for what makes no sense."""
    if len(buf) < VNET_HDR_LEN + 1:
        raise SegmentError("shorter than the virtio-net header")
    flags, gso_type, _hdr_len, gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(buf)
    gso_type &= ~GSO_ECN
    if gso_type == GSO_NONE:
        packet = buf[VNET_HDR_LEN:]
        if flags & F_NEEDS_CSUM:
            return [complete_checksum(packet, csum_start, csum_offset)]
        return [packet]
    if gso_type in (GSO_TCPV4, GSO_TCPV6):
        return split_tcp(memoryview(buf)[VNET_HDR_LEN:], gso_size)
    raise SegmentError(f"GSO type {gso_type} not offered")


def complete_checksum(packet: bytes, start: int, offset: int) -> bytes:
    """The packet with the checksum at ``start + offset`` completed over
    ``packet[start:]`` (the field holds the pseudo-header sum: CHECKSUM_PARTIAL)."""
    at = start + offset
    if at + 2 > len(packet) or start >= len(packet):
        raise SegmentError(f"checksum at {at} outside a {len(packet)}-byte packet")
    data = packet[start:]
    if len(data) & 1:
        data += b"\x00"
    s = int.from_bytes(data, "big") % 0xFFFF
    out = bytearray(packet)
    out[at:at + 2] = (0xFFFF - s).to_bytes(2, "big")  # s == 0 -> 0xFFFF, never 0 (UDP)
    return bytes(out)


def payload_sums(payload: memoryview | bytes, mss: int) -> np.ndarray:
    """Sums congruent (mod 0xFFFF) to the ones' complement sums of ``payload`` cut
    every ``mss`` bytes, as a uint64 array (callers reduce them with what they add)."""
    n = len(payload)
    if mss & 1:
        return np.array([int.from_bytes(bytes(payload[o:o + mss]) + (b"\x00" if min(mss, n - o) & 1 else b""),
                                        "big") % 0xFFFF for o in range(0, n, mss)], dtype=np.uint64)
    if not mss & 3 and not n & 3:
        # native 32-bit words: 2**16 = 1 (mod 0xFFFF), so a word's value is the sum of its
        # two 16-bit halves; read little-endian, each half is byte-swapped, which is a
        # multiplication by 256 (mod 0xFFFF), undone by another (256 * 256 = 1)
        words32 = np.frombuffer(payload, dtype="<u4")
        sums = np.add.reduceat(words32, np.arange(0, n // 4, mss // 4), dtype=np.uint64)
        return (sums % 0xFFFF) * 256 % 0xFFFF
    if n & 1:
        payload = bytes(payload) + b"\x00"
    words = np.frombuffer(payload, dtype=">u2")
    starts = np.arange(0, n // 2 + (n & 1), mss // 2)
    return np.add.reduceat(words, starts, dtype=np.uint64)


@dataclass
class Segments:
    """How a TCP super-packet is cut: ``rows[i]`` is the IP + TCP header of segment
    ``i`` (checksums complete); its payload is ``packet[hlen + i * mss:][:mss]``."""

    rows: np.ndarray  # (count, hlen) uint8
    hlen: int
    mss: int
    count: int
    last_len: int  # payload bytes of the last segment (mss for all the others)
    version: int


def tcp_segments(packet: memoryview | bytes, mss: int) -> Segments:
    """The headers of every segment of a TCP super-packet, built for all segments at
    once (NumPy): sequence numbers, flags (CWR on the first only, FIN and PSH on the
    last only), IPv4 total length, ID and header checksum or IPv6 payload length, and
    the TCP checksum over the pseudo-header, the header and the segment's payload."""
    n = len(packet)
    if n < 1:
        raise SegmentError("empty super-packet")
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        if ihl < 20 or n < ihl + 20 or packet[9] != 6:
            raise SegmentError("TSO packet that is not TCP/IPv4")
        pseudo = int.from_bytes(packet[12:20], "big") + 6
    elif version == 6:
        ihl = 40
        if n < 60 or packet[6] != 6:  # extension headers: not offered by the kernel for TSO6 here
            raise SegmentError("TSO packet that is not TCP/IPv6")
        pseudo = int.from_bytes(packet[8:40], "big") + 6
    else:
        raise SegmentError(f"TSO packet of IP version {version}")
    thl = (packet[ihl + 12] >> 4) * 4
    hlen = ihl + thl
    if thl < 20 or n < hlen or mss <= 0:
        raise SegmentError("bad TCP header or MSS")
    body = n - hlen
    if body == 0:
        raise SegmentError("TSO packet without payload")
    count = -(-body // mss)
    last_len = body - mss * (count - 1)
    sums = payload_sums(packet[hlen:], mss)
    head = bytearray(packet[:hlen])
    rows = np.empty((count, hlen), dtype=np.uint8)
    rows[:] = np.frombuffer(head, dtype=np.uint8)
    # the fields that differ per row, each written for all rows in one assignment
    fields = rows.reshape(-1).view(_row_fields(version, ihl, hlen))
    index = np.arange(count, dtype=np.uint64)
    seg_len = np.full(count, mss, dtype=np.uint64)
    seg_len[-1] = last_len
    tcp_len = seg_len + thl
    seq0 = int.from_bytes(packet[ihl + 4:ihl + 8], "big")
    seqs = (index * mss + seq0) & 0xFFFFFFFF
    fields["seq"] = seqs
    flags = packet[ihl + 13]
    row_flags = np.full(count, flags & ~(_FIN | _PSH | _CWR), dtype=np.uint64)
    row_flags[0] |= flags & _CWR
    row_flags[-1] |= flags & (_FIN | _PSH)
    fields["flags"] = row_flags
    # checksums from the sums of what every row shares (Python integers, once) plus
    # what differs per row (1-D arrays): congruent mod 0xFFFF to the ones' complement sums
    head[ihl + 4:ihl + 8] = bytes(4)  # sequence number
    head[ihl + 13] = 0  # flags (the data offset byte stays)
    head[ihl + 16:ihl + 18] = bytes(2)  # checksum
    tcp_base = int.from_bytes(head[ihl:], "big") % 0xFFFF
    if version == 4:
        fields["length"] = tcp_len + ihl
        ip_id = (packet[4] << 8) | packet[5]
        ids = (index + ip_id) & 0xFFFF
        fields["id"] = ids
        head[2:6] = bytes(4)  # total length, ID
        head[10:12] = bytes(2)  # checksum
        ip_sum = (int.from_bytes(head[:ihl], "big") % 0xFFFF + tcp_len + ihl + ids) % 0xFFFF
        fields["ip_sum"] = 0xFFFF - ip_sum
    else:
        fields["length"] = tcp_len
    tcp_sum = (tcp_base + (seqs >> 16) + (seqs & 0xFFFF) + row_flags + sums + tcp_len
               + pseudo % 0xFFFF) % 0xFFFF
    fields["tcp_sum"] = 0xFFFF - tcp_sum
    return Segments(rows, hlen, mss, count, last_len, version)


_ROW_FIELDS: dict[tuple[int, int, int], np.dtype] = {}


def _row_fields(version: int, ihl: int, hlen: int) -> np.dtype:
    """A record of ``hlen`` bytes naming the header fields :func:`tcp_segments` sets per
    segment (big-endian): IPv4 total length, ID and header checksum, or IPv6 payload
    length; TCP sequence number, flags and checksum."""
    dt = _ROW_FIELDS.get((version, ihl, hlen))
    if dt is None:
        fields = {"seq": (">u4", ihl + 4), "flags": ("u1", ihl + 13), "tcp_sum": (">u2", ihl + 16)}
        if version == 4:
            fields.update(length=(">u2", 2), id=(">u2", 4), ip_sum=(">u2", 10))
        else:
            fields.update(length=(">u2", 4))
        dt = _ROW_FIELDS[(version, ihl, hlen)] = np.dtype({
            "names": list(fields), "formats": [f for f, _ in fields.values()],
            "offsets": [o for _, o in fields.values()], "itemsize": hlen})
    return dt


def split_tcp(packet: memoryview | bytes, mss: int) -> list[bytes]:
    """The TCP segments of a super-packet, as whole IP packets."""
    segs = tcp_segments(packet, mss)
    view = memoryview(packet)
    hlen = segs.hlen
    return [row.tobytes() + view[hlen + i * mss: hlen + (i + 1) * mss]
            for i, row in enumerate(segs.rows)]
