"""IKE fragmentation: SKF messages sized to the path and opened by the SA's own SK code,
IKEv1 fragments as strongSwan makes them, and reassembly against hostile fragments."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vpnsh.engine.ikefrag import ikev1 as f1
from vpnsh.engine.ikefrag import ikev2 as f2
from vpnsh.engine.ikefrag import reassembly as r
from vpnsh.engine.ikev2.protection import SkProtection

ENC_KEY, MAC_KEY = os.urandom(16), os.urandom(32)
CBC = f2.CipherShape(iv_size=16, block_size=16, icv_size=16)  # AES-CBC-128, HMAC-SHA-256-128
HEADER = (os.urandom(16) + bytes((35, 0x20, 35, 0x08)) + struct.pack("!I", 1)
          + struct.pack("!I", 0))  # IKE_AUTH request, message ID 1


def cbc_hmac_seal(prefix: bytes, iv: bytes, padded: bytes) -> bytes:
    enc = Cipher(algorithms.AES(ENC_KEY), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    icv = hmac.new(MAC_KEY, prefix + iv + ct, hashlib.sha256).digest()[:16]
    return ct + icv


def test_skf_fragments_fit_the_path_and_open_with_the_sa_code() -> None:
    inner = os.urandom(3900)  # e.g. CERT(RSA 3072 + intermediate) + AUTH + SA + TS
    per = f2.max_inner_per_fragment(1280, 4, natt=True, cipher=CBC)
    msgs = f2.fragment_messages(HEADER, 37, inner, per, CBC, cbc_hmac_seal)
    assert len(msgs) == 4
    for m in msgs:
        assert 20 + 8 + 4 + len(m) <= 1280  # the UDP datagram with non-ESP marker fits
    assert 20 + 8 + 4 + len(msgs[0]) > 1280 - 16  # and the fragments are not needlessly small
    sk = SkProtection(12, 128, 12, ENC_KEY, MAC_KEY, ENC_KEY, MAC_KEY)  # AES-CBC, HMAC-SHA-256
    re = r.Reassembler()
    out = None
    for m in reversed(msgs):  # any order
        assert m[16] == f2.PAYLOAD_SKF and struct.unpack("!I", m[24:28])[0] == len(m)
        hdr = f2.parse_skf_header(m[28:])
        plain = sk.open(m, 28 + 4)  # AAD/ICV cover the IKE and the whole SKF header
        out = re.add_v2(1, hdr.number, hdr.total, hdr.next_payload, plain, now=0.0)
    assert out is not None and out.complete
    assert out.data == inner and out.first_payload == 37
    assert f2.parse_skf_header(msgs[1][28:]).next_payload == 0


def test_tampered_fragment_fails_the_sa_integrity_check() -> None:
    msgs = f2.fragment_messages(HEADER, 37, os.urandom(2000), 1000, CBC, cbc_hmac_seal)
    bad = bytearray(msgs[0])
    bad[28 + 5] ^= 1  # the fragment number is authenticated
    sk = SkProtection(12, 128, 12, ENC_KEY, MAC_KEY, ENC_KEY, MAC_KEY)
    with pytest.raises(Exception, match="integrity"):
        sk.open(bytes(bad), 32)


@pytest.mark.parametrize(("mtu", "ipv", "natt"), [(576, 4, False), (1280, 6, True), (1500, 4, True),
                                                  (100, 4, False)])
def test_fragment_sizes(mtu: int, ipv: int, natt: bool) -> None:
    per = f2.max_inner_per_fragment(mtu, ipv, natt, CBC)
    msgs = f2.fragment_messages(HEADER, 37, os.urandom(5000), per, CBC, cbc_hmac_seal)
    floor = max(mtu, f2.MIN_MTU[ipv])  # never below what RFC 7383 says every path carries
    overhead = (20 if ipv == 4 else 40) + 8 + (4 if natt else 0)
    assert max(len(m) for m in msgs) + overhead <= floor
    assert max(len(m) for m in msgs) + overhead > floor - 16


def test_skf_header_checks() -> None:
    for bad in (b"\x00" * 7, f2.skf_header(0, 8, 0, 1), f2.skf_header(0, 8, 3, 2),
                f2.skf_header(0, 200, 1, 1)):
        with pytest.raises(ValueError):
            f2.parse_skf_header(bad)


# ------------------------------------------------------------------ hostile reassembly (v2)

def test_duplicates_and_inconsistent_duplicates_are_dropped() -> None:
    re = r.Reassembler()
    assert re.add_v2(5, 1, 3, 35, b"a" * 10, 0).status == "pending"
    dup = re.add_v2(5, 1, 3, 35, b"a" * 10, 0)
    assert dup.status == "dropped" and dup.reason == r.DUPLICATE
    clash = re.add_v2(5, 1, 3, 35, b"b" * 10, 0)
    assert clash.reason == r.INCONSISTENT
    re.add_v2(5, 2, 3, 0, b"c", 0)
    done = re.add_v2(5, 3, 3, 0, b"d", 0)
    assert done.complete and done.data == b"a" * 10 + b"cd"  # the first copy kept
    late = re.add_v2(5, 1, 3, 35, b"a" * 10, 1)
    assert late.reason == r.STALE and late.number == 1  # responder: retransmit its answer


def test_too_many_fragments() -> None:
    re = r.Reassembler(r.Limits(max_fragments=8))
    out = re.add_v2(1, 1, 9, 35, b"x", 0)
    assert out.reason == r.TOO_MANY and re.pending() == 0
    assert re.add_v2(1, 1, 65535, 35, b"x", 0).reason == r.TOO_MANY


def test_invalid_numbers() -> None:
    re = r.Reassembler()
    for number, total in ((0, 3), (4, 3), (1, 0)):
        assert re.add_v2(1, number, total, 35, b"x", 0).reason == r.INVALID
    assert re.pending() == 0


def test_too_big_drops_the_whole_message_and_frees_memory() -> None:
    re = r.Reassembler(r.Limits(max_size=3000))
    assert re.add_v2(1, 1, 4, 35, b"x" * 1200, 0).status == "pending"
    assert re.add_v2(1, 2, 4, 0, b"x" * 1200, 0).status == "pending"
    out = re.add_v2(1, 3, 4, 0, b"x" * 1200, 0)
    assert out.reason == r.TOO_BIG and re.pending() == 0 and re.held_bytes() == 0


def test_total_changes_restart_or_drop() -> None:
    re = r.Reassembler()
    re.add_v2(2, 1, 2, 35, b"A" * 8, 0)
    smaller = re.add_v2(2, 1, 1, 35, b"A", 0)
    assert smaller.reason == r.INCONSISTENT
    # the sender re-fragmented for a smaller MTU: more fragments; the old ones are discarded
    assert re.add_v2(2, 2, 3, 0, b"B", 0).status == "pending"
    assert re.held_bytes() == 1
    re.add_v2(2, 1, 3, 35, b"A", 0)
    assert re.add_v2(2, 3, 3, 0, b"C", 0).data == b"ABC"


def test_timeout_and_pending_limit() -> None:
    re = r.Reassembler(r.Limits(max_pending=2, timeout=10.0))
    re.add_v2(1, 1, 2, 35, b"a", now=0.0)
    re.add_v2(2, 1, 2, 35, b"b", now=1.0)
    assert re.next_deadline() == 10.0
    third = re.add_v2(3, 1, 2, 35, b"c", now=2.0)
    assert third.status == "pending" and third.reason == r.EVICTED  # message 1 gave way
    assert re.pending() == 2
    again = re.add_v2(1, 2, 2, 0, b"a", now=3.0)  # 1 starts over and pushes out 2
    assert again.status == "pending" and again.reason == r.EVICTED
    assert re.expire(11.5) == []  # 3 (t=2) and 1 (t=3) are younger than 10 s
    assert re.expire(12.5) == [3] and re.pending() == 1
    assert re.expire(100.0) == [1] and re.pending() == 0 and re.next_deadline() is None


def test_a_flood_of_random_fragments_stays_bounded() -> None:
    limits = r.Limits(max_fragments=16, max_size=20000, max_pending=4)
    re = r.Reassembler(limits)
    rnd = __import__("random").Random(7)
    for i in range(5000):
        total = rnd.randint(0, 40)
        re.add_v2(rnd.randint(0, 50), rnd.randint(0, 40), total, 0, os.urandom(rnd.randint(0, 3000)),
                  now=i / 100)
        assert re.pending() <= 4 and re.held_bytes() <= 4 * 20000


# ------------------------------------------------------------------ IKEv1

def _v1_message(size: int) -> bytes:
    body = os.urandom(size - 28)
    hdr = os.urandom(16) + bytes((5, 0x10, 2, 0x01)) + b"\x00\x00\x00\x00" + struct.pack("!I", size)
    return hdr + body


def test_ikev1_vendor_id() -> None:
    assert hashlib.md5(b"FRAGMENTATION").digest() == f1.VID_FRAGMENTATION  # noqa: S324 - the VID is MD5
    assert f1.is_fragmentation_vid(f1.VID_FRAGMENTATION_STRONGSWAN)
    assert f1.is_fragmentation_vid(f1.VID_FRAGMENTATION + bytes.fromhex("c0000000"))  # Cisco
    assert not f1.is_fragmentation_vid(os.urandom(16))


def test_ikev1_fragments_round_trip() -> None:
    msg = _v1_message(3000)  # main mode message 5 with a certificate chain, encrypted
    per = f1.max_data_per_fragment(1280, 4, natt=True)
    frags = f1.fragment_message(msg, per)
    assert len(frags) == 3 and all(20 + 8 + 4 + len(x) <= 1280 for x in frags)
    re = r.Reassembler()
    out = None
    for m in (frags[2], frags[0], frags[1]):
        assert m[:16] == msg[:16] and m[16] == f1.PAYLOAD_FRAGMENT and m[18] == 2
        assert m[19] & f1.FLAG_ENCRYPTION == 0
        mid, frag = f1.parse_fragment_message(m)
        out = re.add_v1((mid, frag.fragment_id), frag.number, frag.last, frag.data, now=0)
    assert out is not None and out.complete and out.data == msg
    assert f1.parse_fragment_message(frags[2])[1].last and not f1.parse_fragment_message(frags[0])[1].last


def test_ikev1_hostile_fragments() -> None:
    re = r.Reassembler(r.Limits(max_fragments=10, max_size=5000))
    assert re.add_v1(1, 0, False, b"x", 0).reason == r.INVALID
    assert re.add_v1(1, 11, True, b"x", 0).reason == r.TOO_MANY
    assert re.add_v1(1, 3, True, b"c", 0).status == "pending"
    assert re.add_v1(1, 2, True, b"b", 0).reason == r.INCONSISTENT  # a second last fragment
    assert re.add_v1(1, 4, False, b"d", 0).reason == r.INCONSISTENT  # beyond the last
    assert re.add_v1(1, 3, True, b"c", 0).reason == r.DUPLICATE
    re.add_v1(2, 5, False, b"y", 0)
    assert re.add_v1(2, 3, True, b"y", 0).reason == r.INCONSISTENT  # last below a held number
    assert re.add_v1(3, 1, False, b"z" * 4000, 0).status == "pending"
    assert re.add_v1(3, 2, False, b"z" * 1001, 0).reason == r.TOO_BIG
    for bad in (b"short", _v1_message(100)):
        with pytest.raises(ValueError):
            f1.parse_fragment_message(bad)
    good = f1.fragment_message(_v1_message(300), 100)[0]
    with pytest.raises(ValueError, match="length"):
        f1.parse_fragment_message(good[:-1])


def test_skf_with_aes_gcm_sealed_and_opened_by_the_sa_aead() -> None:
    from vpnsh.engine.crypto.algorithms import encr_alg
    from vpnsh.engine.crypto.cipher import Aead
    alg = encr_alg(20, 128)  # ENCR_AES_GCM_16, 128-bit key + 4-octet salt
    key = os.urandom(alg.key_size)
    shape = f2.CipherShape(alg.iv_size, alg.block_size, alg.icv_size)
    aead = Aead(alg, key)
    inner = os.urandom(2500)
    per = f2.max_inner_per_fragment(1280, 6, natt=False, cipher=shape)
    msgs = f2.fragment_messages(HEADER, 38, inner, per, shape,
                                lambda prefix, iv, padded: aead.seal(iv, padded, prefix))
    assert len(msgs) == 3 and all(40 + 8 + len(m) <= 1280 for m in msgs)
    sk = SkProtection(20, 128, 0, key, b"", key, b"")
    re = r.Reassembler()
    outs = [re.add_v2(9, f2.parse_skf_header(m[28:]).number, f2.parse_skf_header(m[28:]).total,
                      f2.parse_skf_header(m[28:]).next_payload, sk.open(m, 32), 0.0) for m in msgs]
    assert outs[-1].complete and outs[-1].data == inner and outs[-1].first_payload == 38
