"""TUN devices: one per tunnel interface, carrying bare IP packets (no packet info header).

A device lives as long as its file descriptor: closing the :class:`TunDevice` removes the
interface from the kernel, together with its addresses and routes.

With ``offload=True`` the device carries a virtio-net header before each packet
(``IFF_VNET_HDR``), which lets :meth:`TunDevice.write_batch` hand the kernel a run of
consecutive segments of one TCP/IPv4 flow as one large packet (the GRO the kernel would
do itself for a NIC): one trip through the kernel's IP and TCP input for the whole run.
With ``tso=True`` as well, the kernel's side gets offloads (``TUNSETOFFLOAD``: CSUM, TSO4,
TSO6): a read returns a TCP super-packet of up to 64 KB, or a packet whose checksum is
left partial, behind a header that says so; :func:`.segment.split` makes the IP packets.

Every segment's TCP checksum is verified before it joins a run, as the kernel's GRO does
(the large packet goes to the kernel with its checksum to be completed, so nobody else
would): for a batch, NumPy sums all the segments' 16-bit words in one call
(:func:`tcp4_checksums_ok`), a few times cheaper per packet than Python integers.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Sequence

import numpy as np

from .segment import split

TUN_PATH = "/dev/net/tun"
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUNSETOFFLOAD = 0x400454D0
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
IFNAMSIZ = 16

# struct virtio_net_hdr { u8 flags; u8 gso_type; u16 hdr_len, gso_size, csum_start, csum_offset; }
VNET_HDR = struct.Struct("=BBHHHH")
VNET_HDR_LEN = VNET_HDR.size  # 10
VNET_ZERO = bytes(VNET_HDR_LEN)
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_GSO_TCPV4 = 1
MAX_COALESCED = 64000  # bytes of one coalesced packet
VECTOR_MIN = 4  # batches this large get their checksums from NumPy, smaller ones one by one
_ACK, _PSH = 0x10, 0x08
# header bytes that must be equal in every segment of a run (as in _same_flow), per
# (header length, rows, last row short): 0xFF where they must (write_rows)
_SAME_FLOW_MASKS: dict[tuple[int, int, bool], np.ndarray] = {}


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

    __slots__ = ("name", "fd", "offload", "tso", "coalesced")

    def __init__(self, name: str, offload: bool = False, tso: bool = False) -> None:
        if not name or len(name.encode()) >= IFNAMSIZ or "/" in name or " " in name:
            raise TunError(f"bad interface name {name!r}")
        try:
            fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(exc.errno, f"cannot open {TUN_PATH}: {exc.strerror}") from None
        try:
            flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if offload else 0)
            ifr = struct.pack("16sH22x", name.encode(), flags)
            fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as exc:
            os.close(fd)
            raise TunError(exc.errno, f"cannot create TUN {name}: {exc.strerror}") from None
        self.name = name
        self.fd = fd
        self.offload = offload
        self.tso = False  # reads may return super-packets and partial checksums
        if offload and tso:
            try:
                fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
                self.tso = True
            except OSError:
                pass  # an old kernel: whole packets, as without
        self.coalesced = 0  # segments handed to the kernel inside larger packets

    def fileno(self) -> int:
        return self.fd

    @classmethod
    def adopt(cls, name: str, fd: int, offload: bool, tso: bool) -> TunDevice:
        """The device whose fd (a duplicate, passed by the owner process) this is: a data
        plane worker reads and writes the owner's device through it."""
        tun = cls.__new__(cls)
        tun.name, tun.fd, tun.offload, tun.tso, tun.coalesced = name, fd, offload, tso, 0
        return tun

    def read(self, size: int = 65535) -> list[bytes] | None:
        """The IP packets of one read (several for a TCP super-packet when ``tso``),
        or None when none is waiting (the fd is non-blocking)."""
        try:
            data = os.read(self.fd, size + (VNET_HDR_LEN if self.offload else 0))
        except BlockingIOError:
            return None
        if self.tso:
            return split(data)
        return [data[VNET_HDR_LEN:] if self.offload else data]

    def write(self, packet: bytes | bytearray | memoryview) -> bool:
        """Hand one IP packet to the kernel; False if it was refused (counted by the caller)."""
        try:
            if self.offload:
                os.writev(self.fd, (VNET_ZERO, packet))
            else:
                os.write(self.fd, packet)
            return True
        except OSError:
            return False

    def write_batch(self, packets: list[bytes]) -> int:
        """Hand these IP packets to the kernel in order, runs of one TCP/IPv4 flow's
        consecutive segments as one packet when the device has ``offload``; returns
        how many packets were refused."""
        if not self.offload:
            return sum(not self.write(p) for p in packets)
        errors = 0
        i, n = 0, len(packets)
        sums_ok = tcp4_checksums_ok(packets) if n >= VECTOR_MIN else None
        while i < n:
            first = packets[i]
            j = i + 1
            info = _tcp4_segment(first, sums_ok[i] if sums_ok else None)
            if info is not None and j < n:
                hlen, plen, seq = info
                total = len(first)
                next_seq = (seq + plen) & 0xFFFFFFFF
                while j < n and total < MAX_COALESCED:
                    q = packets[j]
                    qi = _tcp4_segment(q, sums_ok[j] if sums_ok else None)
                    if (qi is None or qi[0] != hlen or qi[2] != next_seq or qi[1] > plen
                            or total + qi[1] > MAX_COALESCED or not _same_flow(first, q, hlen)):
                        break
                    total += qi[1]
                    next_seq = (next_seq + qi[1]) & 0xFFFFFFFF
                    j += 1
                    if qi[1] < plen or q[33] & _PSH:  # a short or pushed one ends a run
                        break
            if j - i > 1:
                if not self._write_run([memoryview(p) for p in packets[i:j]], hlen, plen):
                    errors += j - i
            elif not self.write(first):
                errors += 1
            i = j
        return errors

    def write_rows(self, buf: bytearray, rows: list[tuple[int, int]], stride: int) -> int | None:
        """Hand the kernel the packets ``buf[o:o + n]`` for ``(o, n)`` in ``rows`` as ONE
        large TCP/IPv4 packet, when they are consecutive full-size segments of one flow
        (the last may be shorter and pushed) whose checksums verify: every row is checked
        at once with NumPy (the rows of a GRO train opened by :func:`.fused.open_train`
        sit ``stride`` bytes apart, and ``o`` is a multiple of it); more than 64 KB goes
        as several. Returns how many packets were refused, or None, with nothing written,
        for anything else: the caller then hands them to :meth:`write_batch`."""
        k = len(rows)
        if not self.offload or k < 2 or stride & 1:
            return None
        first_len = rows[0][1]
        if first_len & 1 or first_len < 40:
            return None
        full = k if rows[-1][1] == first_len else k - 1
        offsets, lengths = zip(*rows, strict=True)  # (checks in C: once per GRO train)
        if lengths.count(first_len) != full or rows[-1][1] > first_len:
            return None
        base = offsets[0]
        if offsets != tuple(range(base, base + k * stride, stride)):
            return None  # a dropped datagram in between: not one slab
        b0 = buf[base:base + 60]
        if (len(b0) < 40 or b0[0] != 0x45 or b0[9] != 6 or b0[6] & 0x3F or b0[7]
                or (b0[2] << 8 | b0[3]) != first_len or b0[33] != _ACK):
            return None
        hlen = 20 + (b0[32] >> 4) * 4
        mss = first_len - hlen
        if hlen < 40 or mss <= 0 or hlen > 60:
            return None
        lo, ln = rows[-1]
        if buf[lo + 33] not in (_ACK, _ACK | _PSH) or (buf[lo + 2] << 8 | buf[lo + 3]) != ln:
            return None
        table = np.frombuffer(buf, dtype=np.uint8)
        if len(table) < base + k * stride:
            table = np.concatenate((table, np.zeros(base + k * stride - len(table), np.uint8)))
        slab = table[base:base + k * stride].reshape(k, stride)
        head = slab[:, :hlen]
        # every row: what must equal the first row's (version, header length, TOS, flags
        # and fragment fields, TTL, protocol, addresses, ports, ACK number, data offset,
        # window, options); full rows: the total length too; all but the last: flags ACK
        # (the first row's, checked above). The last row's flags and length were checked
        # above. One masked XOR against the first row; count_nonzero, not any(): this
        # runs once per GRO train and NumPy's any() and all() cost microseconds each.
        mask = _SAME_FLOW_MASKS.get((hlen, k, full < k))
        if mask is None:
            if len(_SAME_FLOW_MASKS) >= 256:  # one per train shape seen: a few
                _SAME_FLOW_MASKS.clear()
            mask = np.zeros((k, hlen), dtype=np.uint8)
            mask[:, np.r_[0:4, 6:10, 12:24, 28:36, 40:hlen]] = 0xFF
            mask[k - 1, 33] = 0
            if full < k:
                mask[k - 1, 2:4] = 0
            _SAME_FLOW_MASKS[(hlen, k, full < k)] = mask
        diff = head ^ head[0]
        diff &= mask
        if np.count_nonzero(diff):
            return None
        # sequence numbers: each row's is the one before plus the MSS
        if stride & 3:
            return None
        words = table[base:base + k * stride].view("<u4").reshape(k, stride // 4)
        seqs = words[:, 6].byteswap()  # uint32: the differences wrap as TCP's do
        if np.count_nonzero((seqs[1:] - seqs[:-1]) != mss):
            return None
        # TCP checksums: words from the addresses to the end of each full row (read as
        # little-endian 32-bit words: congruent mod 0xFFFF to the byte-swapped sum, undone
        # by * 256), plus the pseudo-header's protocol and TCP length. A row verifies when
        # sum * 256 + rest = 0 mod 0xFFFF, that is (256 * 256 = 1 mod 0xFFFF) when
        # sum = -rest * 256 mod 0xFFFF: one comparison per row
        if first_len & 3:
            sums = slab[:full, 12:first_len].copy().view("<u2").sum(axis=1, dtype=np.uint64)
        else:
            sums = words[:full, 3:first_len // 4].sum(axis=1, dtype=np.uint64)
        if np.count_nonzero(sums % 0xFFFF != -(6 + mss + hlen - 20) * 256 % 0xFFFF):
            return None
        view = memoryview(buf)
        if full < k:
            o, n = rows[-1]
            if not tcp4_checksum_ok(view[o:o + n], 20):
                return None
        run = [view[o:o + n] for o, n in rows]
        per_run = max(1, (MAX_COALESCED - hlen) // mss)  # the kernel's 64 KB limit
        errors = 0
        for i in range(0, k, per_run):
            part = run[i:i + per_run]
            if len(part) > 1:
                if not self._write_run(part, hlen, mss):
                    errors += len(part)
            elif not self.write(part[0]):
                errors += 1
        return errors

    def _write_run(self, run: list[memoryview], hlen: int, mss: int) -> bool:
        """One large TCP/IPv4 packet for the kernel to take as ``len(run)`` segments."""
        first, last = run[0], run[-1]
        ihl = (first[0] & 0x0F) * 4
        total = hlen + sum(len(p) - hlen for p in run)
        # IP header: total length and checksum of the large packet
        ip = bytearray(first[:ihl])
        ip[2:4] = total.to_bytes(2, "big")
        ip[10:12] = b"\x00\x00"
        ip[10:12] = (~_fold(int.from_bytes(ip, "big") % 0xFFFF) & 0xFFFF).to_bytes(2, "big")
        # TCP header: the flags of the last segment (PSH), the pseudo-header sum for the
        # kernel to complete (CHECKSUM_PARTIAL, as a NIC driver with TSO would get)
        tcp = bytearray(first[ihl:hlen])
        tcp[13] = last[33]
        tcp_len = total - ihl
        pseudo = int.from_bytes(first[12:20], "big") % 0xFFFF + 6 + tcp_len
        tcp[16:18] = _fold(pseudo).to_bytes(2, "big")
        vnet = VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, hlen, mss,
                             ihl, 16)
        parts: list[bytes | memoryview] = [vnet, bytes(ip), bytes(tcp)]
        parts += [p[hlen:] for p in run]
        try:
            os.writev(self.fd, parts)
        except OSError:
            return False
        self.coalesced += len(run)
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def __repr__(self) -> str:
        return f"<TunDevice {self.name} fd={self.fd}>"


def _fold(value: int) -> int:
    """Ones' complement 16-bit fold of a (small) sum."""
    while value >> 16:
        value = (value & 0xFFFF) + (value >> 16)
    return value


def tcp4_checksum_ok(packet: bytes | memoryview, ihl: int) -> bool:
    """Does the TCP checksum of this IPv4 packet verify? (sum over the pseudo-header
    and the segment; a big-endian integer modulo 0xFFFF is the ones' complement sum
    of its 16-bit words)."""
    seg = packet[ihl:]  # packet may be a memoryview (fused inbound path): no copy
    if len(seg) & 1:
        seg = bytes(seg) + b"\x00"
    total = (int.from_bytes(packet[12:20], "big") % 0xFFFF + 6 + len(packet) - ihl
             + int.from_bytes(seg, "big") % 0xFFFF)
    return total % 0xFFFF == 0


def tcp4_checksums_ok(packets: Sequence[bytes]) -> list[bool]:
    """For each packet, taken as IPv4 with a 20-byte header carrying TCP: does the TCP
    checksum verify? One NumPy pass over all of them: the words from the addresses
    (offset 12) to the end of each packet are summed per packet (``reduceat``), plus
    the protocol and TCP length of the pseudo-header. Meaningless (but harmless) for
    packets that are not TCP/IPv4; :func:`_tcp4_segment` looks at those first."""
    parts: list[bytes | memoryview] = []
    starts: list[int] = []
    extra: list[int] = []
    pos = 0
    for p in packets:
        n = len(p)
        if n < 20:  # never a candidate; keeps every packet's start inside the buffer
            p, n = bytes(20), 20
        parts.append(memoryview(p)[12:])
        starts.append(pos >> 1)
        extra.append(6 + n - 20)
        pos += n - 12
        if pos & 1:  # an odd length: pad its last byte to a word, as the checksum does
            parts.append(b"\x00")
            pos += 1
    words = np.frombuffer(b"".join(parts), dtype=">u2")
    sums = np.add.reduceat(words, np.array(starts), dtype=np.uint64)
    sums += np.array(extra, dtype=np.uint64)
    ok: list[bool] = (sums % 0xFFFF == 0).tolist()
    return ok


def _tcp4_segment(p: bytes, checksum_ok: bool | None = None) -> tuple[int, int, int] | None:
    """(header length, payload length, sequence number) of a plain TCP/IPv4 data
    segment that may join a run: no IP options or fragments, only ACK (and PSH) set,
    some payload, a checksum that verifies (``checksum_ok`` when the caller knows
    already, from :func:`tcp4_checksums_ok`). None for anything else."""
    if len(p) < 40 or p[0] != 0x45 or p[9] != 6 or p[6] & 0x3F or p[7]:
        return None
    hlen = 20 + (p[32] >> 4) * 4
    total = (p[2] << 8) | p[3]
    if total != len(p) or hlen < 40 or total <= hlen or p[33] & ~(_ACK | _PSH) or not p[33] & _ACK:
        return None
    if not (tcp4_checksum_ok(p, 20) if checksum_ok is None else checksum_ok):
        return None
    return hlen, total - hlen, int.from_bytes(p[24:28], "big")


def _same_flow(a: bytes, b: bytes, hlen: int) -> bool:
    """Same addresses, ports, TOS, TTL, DF, ACK number, window and TCP options; flags
    equal but for PSH."""
    return (a[1] == b[1] and a[6] == b[6] and a[8:10] == b[8:10] and a[12:24] == b[12:24]
            and a[28:32] == b[28:32] and a[34:36] == b[34:36] and a[40:hlen] == b[40:hlen]
            and (a[33] | _PSH) == (b[33] | _PSH))
