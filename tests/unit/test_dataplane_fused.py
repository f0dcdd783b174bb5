"""TSO segmentation at the ESP boundary and the fused (batch) ESP paths.

Each fused path must give exactly what the per-packet path gives: the same segments
(checksums by the textbook sum), the same ESP bytes, sequence numbers, counters, replay
window and drops.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpnsh.engine.crypto.algorithms import EncrId, IntegId
from vpnsh.engine.dataplane import fused, segment
from vpnsh.engine.dataplane.esp import EspDrop, decapsulate, encapsulate
from vpnsh.engine.dataplane.sa import Direction, EspSA
from vpnsh.engine.dataplane.tun import TunDevice

from .test_spd_tun_offload import ref_sum

SRC4, DST4 = ipaddress.IPv4Address("10.1.0.1").packed, ipaddress.IPv4Address("10.2.0.1").packed
SRC6, DST6 = ipaddress.IPv6Address("fd00:1::1").packed, ipaddress.IPv6Address("fd00:2::1").packed
KEY = bytes(range(20))


def super_packet(payload: bytes, *, v6: bool = False, seq: int = 1000, flags: int = 0x18,
                 options: bytes = bytes([1, 1, 8, 10]) + bytes(8), ip_id: int = 77) -> bytes:
    """A TCP super-packet as the kernel hands it to a TUN with TSO: lengths of the whole,
    the checksum field holding the pseudo-header sum (CHECKSUM_PARTIAL)."""
    doff = (20 + len(options)) // 4
    tcp = struct.pack(">HHIIBBHHH", 40000, 5201, seq, 5, doff << 4, flags, 500, 0, 0) + options
    if v6:
        ip = struct.pack(">IHBB16s16s", 0x60000000, len(tcp) + len(payload), 6, 64, SRC6, DST6)
    else:
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), ip_id, 0x4000,
                         64, 6, 0, SRC4, DST4)
    return ip + tcp + payload


def vnet(mss: int, v6: bool = False) -> bytes:
    return segment.VNET_HDR.pack(segment.F_NEEDS_CSUM, segment.GSO_TCPV6 if v6 else segment.GSO_TCPV4,
                                 0, mss, 40 if v6 else 20, 16)


def tcp_checksum_ok(packet: bytes) -> bool:
    if packet[0] >> 4 == 4:
        ihl = (packet[0] & 0x0F) * 4
        pseudo = packet[12:20] + struct.pack(">BBH", 0, 6, len(packet) - ihl)
    else:
        ihl = 40
        pseudo = packet[8:40] + struct.pack(">IxxxB", len(packet) - 40, 6)
    return ref_sum(pseudo + packet[ihl:]) == 0xFFFF


def gcm(direction: Direction, esn: bool = False, **kw: int) -> EspSA:
    return EspSA(0x1234, direction, EncrId.ENCR_AES_GCM_16, 128, KEY, IntegId.NONE, b"", esn=esn, **kw)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 9000), mss=st.integers(500, 1460), v6=st.booleans(),
       seq=st.integers(0, 0xFFFFFFFF), flags=st.sampled_from([0x10, 0x18, 0x19, 0x90, 0x98]))
def test_split_cuts_a_super_packet_into_valid_segments(size: int, mss: int, v6: bool, seq: int,
                                                        flags: int) -> None:
    payload = os.urandom(size)
    pkt = super_packet(payload, v6=v6, seq=seq, flags=flags)
    segs = segment.split(vnet(mss, v6) + pkt)
    hlen = (40 if v6 else 20) + 32
    assert len(segs) == -(-size // mss)
    assert b"".join(s[hlen:] for s in segs) == payload
    for i, s in enumerate(segs):
        assert tcp_checksum_ok(s), i
        ihl = 40 if v6 else 20
        assert int.from_bytes(s[ihl + 4:ihl + 8], "big") == (seq + i * mss) & 0xFFFFFFFF
        f = s[ihl + 13]
        assert bool(f & 0x80) == (i == 0 and bool(flags & 0x80))  # CWR on the first only
        assert f & 0x09 == (flags & 0x09 if i == len(segs) - 1 else 0)  # FIN, PSH on the last
        if v6:
            assert int.from_bytes(s[4:6], "big") == len(s) - 40
        else:
            assert int.from_bytes(s[2:4], "big") == len(s)
            assert ref_sum(s[:20]) == 0xFFFF
            assert int.from_bytes(s[4:6], "big") == (77 + i) & 0xFFFF


def test_partial_checksum_is_completed() -> None:
    udp_payload = b"hello, world!"  # odd length
    udp = struct.pack(">HHHH", 5000, 5001, 8 + len(udp_payload), 0) + udp_payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, SRC4, DST4)
    pseudo = ref_sum(SRC4 + DST4 + struct.pack(">BBH", 0, 17, len(udp)))
    partial = ip + udp[:6] + struct.pack(">H", pseudo) + udp[8:]
    hdr = segment.VNET_HDR.pack(segment.F_NEEDS_CSUM, 0, 0, 0, 20, 6)
    (out,) = segment.split(hdr + partial)
    assert ref_sum(SRC4 + DST4 + struct.pack(">BBH", 0, 17, len(udp)) + out[20:]) == 0xFFFF
    plain = segment.VNET_HDR.pack(0, 0, 0, 0, 0, 0) + partial
    assert segment.split(plain) == [partial]  # no flag: handed on as it is


@pytest.mark.parametrize("bad", [b"", bytes(5), segment.VNET_HDR.pack(0, 3, 0, 1000, 0, 0) + bytes(60),
                                 vnet(1000) + bytes(10),
                                 vnet(1000) + super_packet(b"")])
def test_nonsense_offload_reads_raise_segment_error(bad: bytes) -> None:
    with pytest.raises(segment.SegmentError):
        segment.split(bad)


@pytest.mark.parametrize("esn", [False, True])
@pytest.mark.parametrize("size", [1348 * 30, 1348 * 30 + 101, 700, 1348 * 47])
def test_fused_seal_equals_the_per_packet_transform(esn: bool, size: int) -> None:
    pkt = super_packet(os.urandom(size))
    fast, ref = gcm(Direction.OUT, esn), gcm(Direction.OUT, esn)
    fast.seq = ref.seq = 0xFFFFFFF0 if esn else 5  # ESN: crosses the 32-bit boundary
    train = fused.seal_tcp_super(fast, memoryview(pkt), 1348)
    assert train is not None
    expect = [encapsulate(ref, s) for s in segment.split(vnet(1348) + pkt)]
    got = [bytes(train.buf[i * train.size:(i + 1) * train.size]) for i in range(train.count)]
    assert got == expect
    assert (fast.seq, fast.counters) == (ref.seq, ref.counters)
    assert len(train.buf) == train.size * (train.count - 1) + train.last_size


def test_fused_seal_refuses_to_cross_a_limit_so_the_per_packet_path_stops_exactly() -> None:
    pkt = super_packet(os.urandom(1348 * 10))
    sa = gcm(Direction.OUT, lifesize_hard_kb=10)  # 10240 bytes: the batch would cross it
    assert fused.seal_tcp_super(sa, memoryview(pkt), 1348) is None
    assert sa.seq == 0 and sa.counters.packets == 0
    near_end = gcm(Direction.OUT)
    near_end.seq = 0xFFFFFFFF - 5
    assert fused.seal_tcp_super(near_end, memoryview(pkt), 1348) is None
    cbc = EspSA(1, Direction.OUT, EncrId.ENCR_AES_CBC, 128, bytes(16), IntegId.AUTH_HMAC_SHA2_256_128,
                bytes(32))
    assert fused.seal_tcp_super(cbc, memoryview(pkt), 1348) is None


@pytest.mark.parametrize("esn", [False, True])
def test_open_train_of_an_in_order_train_equals_decapsulate(esn: bool) -> None:
    """The usual train (consecutive numbers above the window: checked and recorded in
    one step) leaves the window, counters and packets as decapsulate of each does; the
    same train again is all replays."""
    out_sa = gcm(Direction.OUT, esn)
    fast, ref = gcm(Direction.IN, esn), gcm(Direction.IN, esn)
    for train_len in (3, 40, 63):  # moving the window into new blocks of its bitmap
        packets = [bytes([0x45]) + os.urandom(1399) for _ in range(train_len)] + [bytes([0x45]) + os.urandom(99)]
        esps = [encapsulate(out_sa, p) for p in packets]
        buf, accepted = fused.open_train(fast, b"".join(esps), len(esps[0]))
        assert [bytes(buf[o:o + n]) for o, n in accepted] == [
            decapsulate(ref, e, check_selectors=False) for e in esps]
        assert fast.counters == ref.counters
        assert (fast.replay.top, fast.replay._blocks) == (ref.replay.top, ref.replay._blocks)
        _, again = fused.open_train(fast, b"".join(esps), len(esps[0]))
        assert again == [] and fast.counters.replay == len(esps)
        fast.counters.replay = 0


def opens_as_decapsulate_does(esps: list[bytes], esn: bool) -> EspSA:
    """Open ``esps`` as one train on a new inbound SA: the same packets, counters and
    window as ``decapsulate`` of each on another; returns the SA that opened the train."""
    fast, ref = gcm(Direction.IN, esn), gcm(Direction.IN, esn)
    buf, accepted = fused.open_train(fast, b"".join(esps), len(esps[0]))
    expect = []
    for e in esps:
        with contextlib.suppress(EspDrop):
            expect.append(decapsulate(ref, e, check_selectors=False))
    assert [bytes(buf[o:o + n]) for o, n in accepted] == expect
    assert fast.counters == ref.counters
    assert (fast.replay.top, fast.replay._blocks) == (ref.replay.top, ref.replay._blocks)
    return fast


@pytest.mark.parametrize("esn", [False, True])
def test_open_train_equals_decapsulate_with_replays_and_forgeries(esn: bool) -> None:
    out_sa = gcm(Direction.OUT, esn)
    packets = [bytes([0x45]) + os.urandom(1399) for _ in range(12)] + [bytes([0x45]) + os.urandom(300)]
    esps = [encapsulate(out_sa, p) for p in packets]
    esps[3] = esps[3][:-1] + bytes([esps[3][-1] ^ 1])  # forged ICV
    esps[6] = esps[5]  # replayed inside the train
    esps[8] = esps[1]  # replayed from earlier
    seg = len(esps[0])
    fast = opens_as_decapsulate_does(esps, esn)
    assert (fast.counters.replay, fast.counters.auth_fail) == (2, 1)
    # the same train again: every datagram is a replay now
    _, again = fused.open_train(fast, b"".join(esps), seg)
    assert again == [] and fast.counters.replay == 2 + 12


# plaintexts of one length (1404 bytes: inner + padding + pad length + next header),
# each a way a row of a train can look: the usual one, other padding, drops of each kind
_ROWS = {
    "v4": lambda: bytes([0x45]) + os.urandom(1399) + bytes([1, 2, 2, 4]),
    "v4 pad 1": lambda: bytes([0x45]) + os.urandom(1400) + bytes([1, 1, 4]),
    "v4 pad 0": lambda: bytes([0x45]) + os.urandom(1401) + bytes([0, 4]),
    "v6": lambda: bytes([0x60]) + os.urandom(1399) + bytes([1, 2, 2, 41]),
    "bad pad byte": lambda: bytes([0x45]) + os.urandom(1399) + bytes([1, 3, 2, 4]),
    "pad too long": lambda: bytes([0x45]) + os.urandom(1401) + bytes([255, 4]),
    "TFC dummy": lambda: bytes([0x45]) + os.urandom(1399) + bytes([1, 2, 2, 59]),
    "wrong version": lambda: bytes([0x60]) + os.urandom(1399) + bytes([1, 2, 2, 4]),
    "unknown next header": lambda: bytes([0x45]) + os.urandom(1399) + bytes([1, 2, 2, 17]),
    "pad 255": lambda: bytes([0x45]) + os.urandom(1146) + bytes(range(1, 256)) + bytes([255, 4]),
}


def _sealed(sa: EspSA, plain: bytes) -> bytes:
    """ESP of this exact plaintext (trailer included) with the next sequence number."""
    assert sa.aead is not None
    cipher, salt = sa.aead.primitive()
    sa.seq += 1
    head = sa.spi.to_bytes(4, "big") + (sa.seq & 0xFFFFFFFF).to_bytes(4, "big")
    iv = sa.seq.to_bytes(8, "big")
    aad = head if not sa.esn else head[:4] + (sa.seq >> 32).to_bytes(4, "big") + head[4:]
    return head + iv + cipher.encrypt(salt + iv, plain, aad)


@settings(max_examples=80, deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(_ROWS)), min_size=2, max_size=40),
       uniform=st.booleans(), esn=st.booleans())
def test_open_train_checks_each_rows_trailer_as_decapsulate(kinds: list[str], uniform: bool,
                                                            esn: bool) -> None:
    """Rows of one length with every kind of trailer (the usual train's trailers are
    checked for all rows at once; any difference goes row by row): the same packets,
    counters and window as decapsulate of each."""
    if uniform:
        kinds = [kinds[0]] * len(kinds)
    out_sa = gcm(Direction.OUT, esn)
    esps = [_sealed(out_sa, _ROWS[kind]()) for kind in kinds]
    assert len({len(e) for e in esps}) == 1
    opens_as_decapsulate_does(esps, esn)


class CapturingTun(TunDevice):
    """A TunDevice without a device: records what would be written."""

    def __init__(self) -> None:  # noqa: D107 - no super(): no /dev/net/tun needed
        self.name, self.fd, self.offload, self.tso, self.coalesced = "t", 99, True, False, 0
        self.runs: list[list[bytes]] = []

    def _write_run(self, run: list[bytes], hlen: int, mss: int) -> bool:  # type: ignore[override]
        self.runs.append([bytes(p) for p in run])
        return True

    def write(self, packet: bytes | bytearray | memoryview) -> bool:
        self.runs.append([bytes(packet)])
        return True


def opened_train(payload_size: int, corrupt: int | None = None,
                 seq: int = 1000) -> tuple[bytearray, list[tuple[int, int]], int, list[bytes]]:
    segs = segment.split(vnet(1348) + super_packet(os.urandom(payload_size), seq=seq))
    if corrupt is not None:
        s = bytearray(segs[corrupt])
        s[-1] ^= 0xFF  # a payload byte: the TCP checksum no longer verifies
        segs[corrupt] = bytes(s)
    out_sa, in_sa = gcm(Direction.OUT), gcm(Direction.IN)
    esps = [encapsulate(out_sa, s) for s in segs]
    buf, accepted = fused.open_train(in_sa, b"".join(esps), len(esps[0]))
    return buf, accepted, len(esps[0]) - 32, segs


def test_write_rows_coalesces_one_flow_and_checks_every_segment() -> None:
    buf, accepted, stride, segs = opened_train(1348 * 20 + 77)
    tun = CapturingTun()
    assert tun.write_rows(buf, accepted, stride) == 0
    assert tun.runs == [segs]
    buf, accepted, stride, segs = opened_train(1348 * 47 + 5)  # over 64 KB: two runs
    tun = CapturingTun()
    assert tun.write_rows(buf, accepted, stride) == 0
    assert [len(r) for r in tun.runs] == [47, 1] and sum(tun.runs, []) == segs
    for corrupt in (0, 7, 20):  # a bad checksum anywhere: not coalesced (write_batch decides)
        buf, accepted, stride, segs = opened_train(1348 * 20 + 77, corrupt)
        tun = CapturingTun()
        assert tun.write_rows(buf, accepted, stride) is None and tun.runs == []
    buf, accepted, stride, segs = opened_train(1348 * 10)
    tun = CapturingTun()
    assert tun.write_rows(buf, accepted[:4] + accepted[5:], stride) is None  # a gap in the sequence
    for col, value in ((33, 0x18), (33, 0x11), (13, 0x55), (22, 0x99), (8, 1)):
        # a pushed or FIN segment mid-run, another source, port or TTL: not one run
        changed = bytearray(buf)
        changed[accepted[3][0] + col] = value
        assert tun.write_rows(changed, accepted, stride) is None, col
    assert tun.runs == []


def test_write_rows_checks_the_last_row_and_sequence_numbers_that_wrap() -> None:
    # the TCP sequence numbers pass 2**32 inside the run: still one run
    buf, accepted, stride, segs = opened_train(1348 * 9 + 300, seq=(1 << 32) - 1348 * 4 - 7)
    tun = CapturingTun()
    assert tun.write_rows(buf, accepted, stride) == 0 and tun.runs == [segs]
    # the last (shorter) row may differ from the others in length and flags (PSH), in
    # nothing else. These changes leave its TCP checksum valid (the TTL is not in it;
    # source port + 1 and destination port - 1 keep the sum): only the header check
    # can refuse them
    last = accepted[-1][0]
    ttl = bytearray(buf)
    ttl[last + 8] -= 1
    ports = bytearray(buf)
    ports[last + 20:last + 24] = struct.pack(">HH", 40001, 5200)
    assert tcp_checksum_ok(bytes(ports[last:last + accepted[-1][1]]))
    # a full-size row with another total length (not in the TCP checksum either)
    length = bytearray(buf)
    length[accepted[2][0] + 3] ^= 4
    for changed in (ttl, ports, length):
        tun = CapturingTun()
        assert tun.write_rows(changed, accepted, stride) is None and tun.runs == []


@settings(max_examples=80, deadline=None)
@given(data=st.binary(min_size=1, max_size=6000), mss=st.integers(1, 1500))
def test_payload_sums_agree_with_the_textbook_sum(data: bytes, mss: int) -> None:
    got = [int(x) % 0xFFFF for x in segment.payload_sums(data, mss)]
    want = [ref_sum(data[o:o + mss]) % 0xFFFF for o in range(0, len(data), mss)]
    assert got == want
