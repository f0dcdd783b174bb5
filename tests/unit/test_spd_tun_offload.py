"""TUN offload helpers: which decrypted TCP segments may be written as one packet."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given
from hypothesis import strategies as st

from vpnsh.engine.dataplane.tun import (
    _fold,
    _same_flow,
    _tcp4_segment,
    tcp4_checksum_ok,
    tcp4_checksums_ok,
)


def ref_sum(data: bytes) -> int:
    """Ones' complement sum of 16-bit words, the textbook way."""
    if len(data) & 1:
        data += b"\x00"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def segment(payload: bytes, seq: int = 1000, flags: int = 0x10, sport: int = 40000,
            ack: int = 5, options: bytes = b"", frag: int = 0x4000, ip_opts: bytes = b"",
            good_checksum: bool = True) -> bytes:
    src, dst = ipaddress.IPv4Address("10.1.0.1").packed, ipaddress.IPv4Address("10.2.0.1").packed
    doff = (20 + len(options)) // 4
    tcp = struct.pack(">HHIIBBHHH", sport, 5201, seq, ack, doff << 4, flags, 500, 0, 0) + options
    seg = tcp + payload
    pseudo = src + dst + struct.pack(">BBH", 0, 6, len(seg))
    csum = ~ref_sum(pseudo + seg) & 0xFFFF
    if not good_checksum:
        csum ^= 0x0101
    seg = seg[:16] + struct.pack(">H", csum) + seg[18:]
    ihl = 5 + len(ip_opts) // 4
    ip = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(seg), 7, frag, 64, 6, 0,
                     src, dst) + ip_opts
    return ip + seg


def test_checksum_verifies_a_good_segment_and_refuses_a_bad_one() -> None:
    assert tcp4_checksum_ok(segment(b"x" * 1001), 20)
    assert not tcp4_checksum_ok(segment(b"x" * 1001, good_checksum=False), 20)
    bad = bytearray(segment(b"hello world"))
    bad[-1] ^= 0x40
    assert not tcp4_checksum_ok(bytes(bad), 20)


@given(st.binary(min_size=1, max_size=300), st.integers(0, 2**32 - 1))
def test_checksum_agrees_with_the_textbook_sum(payload: bytes, seq: int) -> None:
    assert tcp4_checksum_ok(segment(payload, seq=seq), 20)


@given(st.lists(st.tuples(st.binary(max_size=1500), st.booleans(), st.integers(0, 3)),
                min_size=1, max_size=24))
def test_batch_checksums_agree_with_one_by_one(batch: list[tuple[bytes, bool, int]]) -> None:
    """The NumPy pass over a batch gives each packet the verdict of the per-packet sum:
    odd and even lengths, bad checksums, and junk shorter than a header among them."""
    packets = []
    for payload, good, kind in batch:
        if kind == 0:
            packets.append(payload[:19])  # shorter than an IP header
        else:
            packets.append(segment(payload, good_checksum=good))
    got = tcp4_checksums_ok(packets)
    assert got == [len(p) >= 20 and tcp4_checksum_ok(p, 20) for p in packets]


@given(st.integers(0, 2**20))
def test_fold(value: int) -> None:
    assert _fold(value) == ref_sum(value.to_bytes(6, "big"))


def test_plain_ack_data_segment_may_join_a_run() -> None:
    ts = b"\x01\x01\x08\x0a" + bytes(8)  # NOP NOP timestamps
    info = _tcp4_segment(segment(b"y" * 1348, seq=77, options=ts))
    assert info == (52, 1348, 77)
    assert _tcp4_segment(segment(b"y" * 10, flags=0x18)) == (40, 10, 1000)  # PSH too


def test_segments_that_never_join() -> None:
    assert _tcp4_segment(segment(b"", flags=0x10)) is None  # no payload (a bare ACK)
    assert _tcp4_segment(segment(b"z", flags=0x02)) is None  # SYN
    assert _tcp4_segment(segment(b"z", flags=0x11)) is None  # FIN
    assert _tcp4_segment(segment(b"z", flags=0x08)) is None  # no ACK
    assert _tcp4_segment(segment(b"z", frag=0x2000)) is None  # a fragment
    assert _tcp4_segment(segment(b"z", ip_opts=b"\x01\x01\x01\x00")) is None  # IP options
    assert _tcp4_segment(segment(b"z", good_checksum=False)) is None
    assert _tcp4_segment(segment(b"z")[:-1]) is None  # truncated: length disagrees


def test_same_flow_compares_what_must_be_equal() -> None:
    a = segment(b"a" * 100, seq=1)
    assert _same_flow(a, segment(b"b" * 100, seq=101), 40)
    assert _same_flow(a, segment(b"b" * 100, seq=101, flags=0x18), 40)  # PSH may differ
    assert not _same_flow(a, segment(b"b" * 100, seq=101, sport=40001), 40)
    assert not _same_flow(a, segment(b"b" * 100, seq=101, ack=6), 40)
    ts1, ts2 = b"\x01\x01\x08\x0a" + bytes(8), b"\x01\x01\x08\x0a" + bytes(7) + b"\x01"
    assert not _same_flow(segment(b"a", options=ts1), segment(b"a", options=ts2), 52)
