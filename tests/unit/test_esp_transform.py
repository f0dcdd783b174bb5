"""The ESP tunnel-mode transform: round trips, drops with the right reason, ESN,
selectors, lifetimes, counters."""

from __future__ import annotations

import os
import struct

import pytest

from vpnsh.engine.crypto.algorithms import (
    ESP_AUTH_KEYWORDS,
    ESP_ENCRYPTION_KEYWORDS,
    EncrId,
    IntegId,
    encr_alg,
    esp_authentication,
    esp_encryption,
    integ_alg,
)
from vpnsh.engine.dataplane.base import ChildSaSpec, EspKeys
from vpnsh.engine.dataplane.esp import (
    NH_IPV4,
    DropReason,
    EspDrop,
    decapsulate,
    encapsulate,
    outer_tos,
    seal_payload,
)
from vpnsh.engine.dataplane.sa import Direction, EspSA, LifeState
from vpnsh.engine.policy import TrafficSelector


def ipv4(src: str, dst: str, proto: int = 1, payload: bytes = b"\x08\x00" + bytes(30), tos: int = 0) -> bytes:
    total = 20 + len(payload)
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, tos, total, 1, 0, 64, proto, 0,
                      bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split(".")))
    return hdr + payload


def ipv6(payload_len: int = 40) -> bytes:
    return bytes([0x60, 0, 0, 0]) + struct.pack(">HBB", payload_len, 59, 64) + bytes(32) + bytes(payload_len)


def pair(encr: EncrId, bits: int, integ: IntegId, **kw) -> tuple[EspSA, EspSA]:  # type: ignore[no-untyped-def]
    ek = os.urandom(encr_alg(encr, bits).key_size)
    ik = os.urandom(integ_alg(integ).key_size)
    spi = 0xC0FFEE01
    out = EspSA(spi, Direction.OUT, encr, bits, ek, integ, ik, **kw)
    inb = EspSA(spi, Direction.IN, encr, bits, ek, integ, ik, **kw)
    return out, inb


def _combos() -> list[tuple[str, str]]:
    combos = []
    for e in ESP_ENCRYPTION_KEYWORDS:
        encr, bits = esp_encryption(e)
        for a in ESP_AUTH_KEYWORDS:
            integ = esp_authentication(a)
            aead = encr_alg(encr, bits).aead
            if aead and integ != IntegId.NONE:
                continue
            if encr == EncrId.ENCR_NULL and integ == IntegId.NONE:
                continue
            combos.append((e, a))
    return combos


COMBOS = _combos()


@pytest.mark.parametrize("enc,auth", COMBOS, ids=[f"{e}/{a}" for e, a in COMBOS])
@pytest.mark.parametrize("esn", [False, True], ids=["seq32", "esn"])
def test_round_trip_every_combination(enc: str, auth: str, esn: bool) -> None:
    encr, bits = esp_encryption(enc)
    out, inb = pair(encr, bits, esp_authentication(auth), esn=esn)
    alg = encr_alg(encr, bits)
    icv = alg.icv_size if alg.aead else integ_alg(esp_authentication(auth)).icv_size
    for inner in (ipv4("10.1.0.1", "10.2.0.1"), ipv6(0), ipv6(1), ipv4("1.1.1.1", "2.2.2.2", payload=os.urandom(1380))):
        esp = encapsulate(out, inner)
        body = len(esp) - 8 - alg.iv_size - icv
        assert body % max(alg.block_size, 4) == 0
        assert inner not in esp or encr == EncrId.ENCR_NULL
        assert decapsulate(inb, esp) == inner
    assert out.counters.packets == inb.counters.packets == 4
    assert out.counters.bytes == inb.counters.bytes
    assert inb.recv_seq == out.seq == 4


def test_sequence_numbers_and_gcm_iv() -> None:
    out, _ = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE)
    a = encapsulate(out, ipv4("10.0.0.1", "10.0.0.2"))
    b = encapsulate(out, ipv4("10.0.0.1", "10.0.0.2"))
    assert struct.unpack(">II", a[:8]) == (0xC0FFEE01, 1)
    assert struct.unpack(">I", b[4:8])[0] == 2
    assert a[8:16] == (1).to_bytes(8, "big") and b[8:16] == (2).to_bytes(8, "big")


def _flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


@pytest.mark.parametrize("encr,bits,integ", [(EncrId.ENCR_AES_GCM_16, 256, IntegId.NONE),
                                             (EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA1_96),
                                             (EncrId.ENCR_NULL, 0, IntegId.AUTH_HMAC_SHA2_256_128)])
def test_bad_icv_dropped_and_window_not_advanced(encr: EncrId, bits: int, integ: IntegId) -> None:
    out, inb = pair(encr, bits, integ)
    esp = encapsulate(out, ipv4("10.0.0.1", "10.0.0.2"))
    for index in (-1, 4, 20, len(esp) // 2):  # ICV, sequence number, IV/body, body
        with pytest.raises(EspDrop) as e:
            decapsulate(inb, _flip(esp, index))
        assert e.value.reason == DropReason.AUTH
    assert inb.counters.auth_fail == 4
    assert inb.recv_seq == 0
    assert decapsulate(inb, esp)  # the genuine packet still goes through


def test_replay_dropped_and_counted() -> None:
    out, inb = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE, replay_window=64)
    packets = [encapsulate(out, ipv4("10.0.0.1", "10.0.0.2")) for _ in range(70)]
    decapsulate(inb, packets[0])
    with pytest.raises(EspDrop) as e:
        decapsulate(inb, packets[0])
    assert e.value.reason == DropReason.REPLAY
    decapsulate(inb, packets[69])  # seq 70
    for p in (packets[69], packets[5]):  # duplicate; too old (6 <= 70 - 64)
        with pytest.raises(EspDrop) as e:
            decapsulate(inb, p)
        assert e.value.reason == DropReason.REPLAY
    decapsulate(inb, packets[10])  # seq 11: late but inside the window
    assert inb.counters.replay == 3
    assert inb.counters.packets == 3


def test_anti_replay_off_accepts_duplicates() -> None:
    out, inb = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE, anti_replay=False)
    p = encapsulate(out, ipv4("10.0.0.1", "10.0.0.2"))
    assert decapsulate(inb, p) == decapsulate(inb, p)


def _raw(sa: EspSA, seq: int, plaintext: bytes) -> bytes:
    """An authentic ESP packet around an arbitrary (possibly malformed) plaintext."""
    header = struct.pack(">II", sa.spi, seq)
    if sa.aead is not None:
        iv = seq.to_bytes(8, "big")
        return header + iv + sa.aead.seal(iv, plaintext, header)
    assert sa.cipher is not None
    iv = os.urandom(sa.encr_alg.iv_size)
    body = header + iv + sa.cipher.encrypt(iv, plaintext)
    return body + sa.integrity.sign(body)


@pytest.mark.parametrize("encr,bits,integ", [(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE),
                                             (EncrId.ENCR_AES_CBC, 256, IntegId.AUTH_HMAC_SHA2_256_128)])
def test_bad_padding_dropped(encr: EncrId, bits: int, integ: IntegId) -> None:
    _, inb = pair(encr, bits, integ)
    inner = ipv4("10.0.0.1", "10.0.0.2", payload=bytes(20))  # 40 bytes; +6 pad +2 = 48
    wrong_contents = inner + b"\x01\x02\x03\x05\x05\x06" + bytes([6, 4])
    too_long = inner + b"\x01\x02\x03\x04\x05\x06" + bytes([60, 4])
    good = inner + b"\x01\x02\x03\x04\x05\x06" + bytes([6, 4])
    for seq, pt in ((1, wrong_contents), (2, too_long)):
        with pytest.raises(EspDrop) as e:
            decapsulate(inb, _raw(inb, seq, pt))
        assert e.value.reason == DropReason.PADDING
    assert inb.counters.pad_errors == 2
    assert inb.counters.packets == 0
    assert decapsulate(inb, _raw(inb, 3, good)) == inner  # the helper builds valid packets


def test_unknown_next_header_and_dummy() -> None:
    out, inb = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE)
    inner = ipv4("10.0.0.1", "10.0.0.2")
    with pytest.raises(EspDrop) as e:
        decapsulate(inb, seal_payload(out, inner, 17))
    assert e.value.reason == DropReason.NEXT_HEADER
    with pytest.raises(EspDrop) as e:  # next header 41 but an IPv4 packet inside
        decapsulate(inb, seal_payload(out, inner, 41))
    assert e.value.reason == DropReason.NEXT_HEADER
    with pytest.raises(EspDrop) as e:
        decapsulate(inb, seal_payload(out, b"", 59))
    assert e.value.reason == DropReason.DUMMY
    assert inb.counters.other_drops == 2
    with pytest.raises(EspDrop) as e:
        encapsulate(out, b"\x20garbage")
    assert e.value.reason == DropReason.NEXT_HEADER


def test_short_and_wrong_spi() -> None:
    out, inb = pair(EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA1_96)
    esp = encapsulate(out, ipv4("10.0.0.1", "10.0.0.2"))
    for data, reason in ((esp[:20], DropReason.SHORT), (b"", DropReason.SHORT),
                         (b"\0\0\0\1" + esp[4:], DropReason.SPI)):
        with pytest.raises(EspDrop) as e:
            decapsulate(inb, data)
        assert e.value.reason == reason
    # whole-block check on a packet with a valid ICV over a truncated body
    body = esp[:8 + 16 + 15]
    with pytest.raises(EspDrop) as e:
        decapsulate(inb, body + inb.integrity.sign(body))
    assert e.value.reason == DropReason.PADDING


def test_sequence_overflow_without_esn() -> None:
    out, _ = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE)
    out.seq = 0xFFFFFFFE
    encapsulate(out, ipv4("10.0.0.1", "10.0.0.2"))
    with pytest.raises(EspDrop) as e:
        encapsulate(out, ipv4("10.0.0.1", "10.0.0.2"))
    assert e.value.reason == DropReason.SEQ_OVERFLOW
    assert out.seq == 0xFFFFFFFF


@pytest.mark.parametrize("encr,bits,integ", [(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE),
                                             (EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA1_96)])
def test_esn_crosses_the_32_bit_boundary(encr: EncrId, bits: int, integ: IntegId) -> None:
    out, inb = pair(encr, bits, integ, esn=True)
    start = 0xFFFFFFFF - 3
    out.seq = start
    inb.replay.update(start)
    packets = [encapsulate(out, ipv4("10.0.0.1", "10.0.0.2")) for _ in range(8)]
    assert [struct.unpack(">I", p[4:8])[0] for p in packets[:5]] == [0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF, 0, 1]
    for p in packets[4:] + packets[:4]:  # after the wrap first, then the late ones
        decapsulate(inb, p)
    assert inb.recv_seq == start + 8
    with pytest.raises(EspDrop) as e:
        decapsulate(inb, packets[3])
    assert e.value.reason == DropReason.REPLAY


def test_esn_high_bits_are_in_the_icv() -> None:
    ek, ik = os.urandom(16), os.urandom(20)
    out = EspSA(7, Direction.OUT, EncrId.ENCR_AES_CBC, 128, ek, IntegId.AUTH_HMAC_SHA1_96, ik, esn=True)
    plain = EspSA(7, Direction.IN, EncrId.ENCR_AES_CBC, 128, ek, IntegId.AUTH_HMAC_SHA1_96, ik, esn=False)
    with pytest.raises(EspDrop) as e:
        decapsulate(plain, encapsulate(out, ipv4("10.0.0.1", "10.0.0.2")))
    assert e.value.reason == DropReason.AUTH


def _ts(prefix: str, proto: int = 0, port: int = 0) -> TrafficSelector:
    return TrafficSelector.from_prefix(prefix, proto, port)


def test_selectors_checked_inbound() -> None:
    out, inb = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE,
                    local_ts=(_ts("10.1.0.0/24"),), remote_ts=(_ts("10.2.0.0/24"), _ts("10.9.9.9/32")))
    assert decapsulate(inb, encapsulate(out, ipv4("10.2.0.5", "10.1.0.7")))
    assert decapsulate(inb, encapsulate(out, ipv4("10.9.9.9", "10.1.0.1")))
    for src, dst in (("10.3.0.1", "10.1.0.7"), ("10.2.0.5", "10.1.1.7")):
        with pytest.raises(EspDrop) as e:
            decapsulate(inb, encapsulate(out, ipv4(src, dst)))
        assert e.value.reason == DropReason.SELECTOR
        assert "->" in e.value.detail
    assert inb.counters.selector_drop == 2
    # the caller may match selectors itself
    assert decapsulate(inb, encapsulate(out, ipv4("10.3.0.1", "10.1.0.7")), check_selectors=False)
    with pytest.raises(EspDrop):
        decapsulate(inb, encapsulate(out, ipv6(8)))  # IPv6 against IPv4 selectors


def test_selectors_protocol_and_port() -> None:
    out, inb = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE,
                    local_ts=(_ts("10.1.0.0/24", 6, 80),), remote_ts=(_ts("10.2.0.0/24", 6),))
    tcp80 = struct.pack(">HH", 40000, 80) + bytes(16)
    tcp22 = struct.pack(">HH", 40000, 22) + bytes(16)
    assert decapsulate(inb, encapsulate(out, ipv4("10.2.0.1", "10.1.0.1", 6, tcp80)))
    for proto, payload in ((6, tcp22), (17, tcp80)):
        with pytest.raises(EspDrop) as e:
            decapsulate(inb, encapsulate(out, ipv4("10.2.0.1", "10.1.0.1", proto, payload)))
        assert e.value.reason == DropReason.SELECTOR


def test_lifetimes_seconds_and_kilobytes() -> None:
    out, _ = pair(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE, created=1000.0,
                  lifetime_soft=80, lifetime_hard=100, lifesize_soft_kb=2, lifesize_hard_kb=3)
    assert out.life_state(1050.0) == LifeState.OK
    assert out.life_state(1080.0) == LifeState.SOFT
    assert out.life_state(1100.0) == LifeState.HARD
    inner = ipv4("10.0.0.1", "10.0.0.2", payload=bytes(1004))  # 1 KiB
    encapsulate(out, inner)
    encapsulate(out, inner)
    assert out.life_state(1001.0) == LifeState.SOFT
    encapsulate(out, inner)
    assert out.life_state(1001.0) == LifeState.HARD
    with pytest.raises(EspDrop) as e:
        encapsulate(out, inner)
    assert e.value.reason == DropReason.EXPIRED
    assert out.counters.packets == 3


def test_from_spec_pairs_two_gateways() -> None:
    ek_i, ek_r = os.urandom(20), os.urandom(20)
    a_in = EspKeys(0x1111, EncrId.ENCR_AES_GCM_16, 128, ek_r, IntegId.NONE, b"")
    a_out = EspKeys(0x2222, EncrId.ENCR_AES_GCM_16, 128, ek_i, IntegId.NONE, b"")
    local, remote = (_ts("10.1.0.0/24"),), (_ts("10.2.0.0/24"),)
    spec_a = ChildSaSpec("T:P", 1, "tunnel.1", "192.0.2.1", "198.51.100.1", a_in, a_out, local, remote,
                         encap=(4500, 4500), esn=True, replay_window=128, copy_tos=True,
                         lifetime_soft=2900, lifetime_hard=3600)
    spec_b = ChildSaSpec("T:P", 1, "tunnel.1", "198.51.100.1", "192.0.2.1", a_out, a_in, remote, local)
    sa_a_out = EspSA.from_spec(spec_a, Direction.OUT, now=5.0)
    sa_b_in = EspSA.from_spec(spec_b, Direction.IN, now=5.0)
    assert (sa_a_out.spi, sa_a_out.encap, sa_a_out.created, sa_a_out.copy_tos) == (0x2222, (4500, 4500), 5.0, True)
    assert sa_a_out.replay.size == 128 and sa_a_out.esn
    inner = ipv4("10.1.0.3", "10.2.0.4", tos=0xB8)
    sa_b_in.esn = True
    sa_b_in.replay.esn = True
    assert decapsulate(sa_b_in, encapsulate(sa_a_out, inner)) == inner
    assert outer_tos(sa_a_out, inner) == 0xB8
    assert outer_tos(sa_b_in, inner) == 0  # copy-tos off


def test_sa_validation_and_no_keys_in_repr() -> None:
    key = os.urandom(20)
    sa = EspSA(1, Direction.OUT, EncrId.ENCR_AES_GCM_16, 128, key)
    assert key.hex() not in repr(sa) and repr(key) not in repr(sa)
    with pytest.raises(ValueError):
        EspSA(1, Direction.OUT, EncrId.ENCR_AES_GCM_16, 128, key, IntegId.AUTH_HMAC_SHA1_96, os.urandom(20))
    with pytest.raises(ValueError):
        EspSA(1, Direction.OUT, EncrId.ENCR_NULL, 0, b"")
    with pytest.raises(ValueError):
        EspSA(1, Direction.OUT, EncrId.ENCR_AES_CBC, 128, key)  # 20 bytes for a 16-byte key


def test_ipv6_next_header_41() -> None:
    out, inb = pair(EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA2_256_128)
    esp = encapsulate(out, ipv6(24))
    plain = inb.cipher.decrypt(esp[8:24], esp[24:-16])  # type: ignore[union-attr]
    assert plain[-1] == 41
    assert decapsulate(inb, esp) == ipv6(24)
    assert NH_IPV4 == 4
