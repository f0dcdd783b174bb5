"""BlockCipher, Aead and Integrity on cryptography."""

from __future__ import annotations

import os

import pytest

from vpnsh.engine.crypto.algorithms import EncrId, IntegId, encr_alg, integ_alg
from vpnsh.engine.crypto.cipher import Aead, AuthenticationFailed, BlockCipher, Integrity


def test_aes_cbc_fips197_style_known_answer() -> None:
    # NIST SP 800-38A F.2.1 CBC-AES128.Encrypt, first block
    c = BlockCipher(encr_alg(EncrId.ENCR_AES_CBC, 128), bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    iv = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    pt = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    ct = c.encrypt(iv, pt)
    assert ct.hex() == "7649abac8119b246cee98e9b12e9197d"
    assert c.decrypt(iv, ct) == pt


@pytest.mark.parametrize("encr,bits", [(EncrId.ENCR_AES_CBC, 128), (EncrId.ENCR_AES_CBC, 192),
                                       (EncrId.ENCR_AES_CBC, 256), (EncrId.ENCR_3DES, 192),
                                       (EncrId.ENCR_NULL, 0)])
def test_block_cipher_round_trip_and_no_padding(encr: EncrId, bits: int) -> None:
    alg = encr_alg(encr, bits)
    c = BlockCipher(alg, os.urandom(alg.key_size))
    iv = os.urandom(alg.iv_size)
    data = os.urandom(alg.block_size * 4)
    ct = c.encrypt(iv, data)
    assert len(ct) == len(data)
    assert (ct != data) == (encr != EncrId.ENCR_NULL)
    assert c.decrypt(iv, ct) == data
    if alg.block_size > 1:
        with pytest.raises(ValueError):
            c.encrypt(iv, data + b"x")
    with pytest.raises(ValueError):
        BlockCipher(alg, b"short" if alg.key_size else b"x")


@pytest.mark.parametrize("encr,bits", [(EncrId.ENCR_AES_GCM_16, 128), (EncrId.ENCR_AES_GCM_16, 256),
                                       (EncrId.ENCR_AES_CCM_16, 128),
                                       (EncrId.ENCR_CHACHA20_POLY1305, 256)])
def test_aead_round_trip_and_tamper(encr: EncrId, bits: int) -> None:
    alg = encr_alg(encr, bits)
    a = Aead(alg, os.urandom(alg.key_size))
    iv, aad, pt = os.urandom(8), b"spi-seq!", os.urandom(100)
    sealed = a.seal(iv, pt, aad)
    assert len(sealed) == len(pt) + 16
    assert a.open(iv, sealed, aad) == pt
    for bad_iv, bad_ct, bad_aad in [(iv, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad),
                                    (iv, sealed, aad + b"x"),
                                    (bytes(8), sealed, aad)]:
        with pytest.raises(AuthenticationFailed):
            a.open(bad_iv, bad_ct, bad_aad)


def test_aead_salt_is_last_four_bytes() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    km = os.urandom(20)
    a = Aead(encr_alg(EncrId.ENCR_AES_GCM_16, 128), km)
    iv = b"\0\0\0\0\0\0\0\1"
    assert a.seal(iv, b"x", b"") == AESGCM(km[:16]).encrypt(km[16:] + iv, b"x", b"")
    with pytest.raises(ValueError):
        Aead(encr_alg(EncrId.ENCR_AES_GCM_16, 128), km[:16])


def test_integrity_none_and_md5_sha1() -> None:
    none = Integrity(integ_alg(IntegId.NONE), b"")
    assert none.sign(b"data") == b"" and none.icv_size == 0
    # RFC 2202 HMAC-MD5 / HMAC-SHA1 test case 2, truncated to 96 bits (RFC 2403/2404)
    md5 = Integrity(integ_alg(IntegId.AUTH_HMAC_MD5_96), b"Jefe" * 4)
    sha1 = Integrity(integ_alg(IntegId.AUTH_HMAC_SHA1_96), b"Jefe" * 5)
    import hashlib
    import hmac

    data = b"what do ya want for nothing?"
    assert md5.sign(data) == hmac.new(b"Jefe" * 4, data, hashlib.md5).digest()[:12]
    assert sha1.sign(data) == hmac.new(b"Jefe" * 5, data, hashlib.sha1).digest()[:12]
    assert sha1.sign_parts(data[:5], data[5:]) == sha1.sign(data)
    with pytest.raises(ValueError):
        Integrity(integ_alg(IntegId.AUTH_HMAC_SHA1_96), b"short")
    assert "Jefe" not in repr(sha1)


@pytest.mark.parametrize("encr,bits", [(EncrId.ENCR_AES_CBC, 128), (EncrId.ENCR_3DES, 192)])
def test_streamed_cbc_is_standard_cbc_with_fresh_ivs(encr: EncrId, bits: int) -> None:
    alg = encr_alg(encr, bits)
    key = os.urandom(alg.key_size)
    sender, receiver, reference = (BlockCipher(alg, key) for _ in range(3))
    ivs = set()
    for n in (1, 5, 1, 90):
        pt = os.urandom(alg.block_size * n)
        out = sender.encrypt_fresh_iv(pt)
        iv, ct = out[: alg.iv_size], out[alg.iv_size :]
        ivs.add(iv)
        assert reference.decrypt(iv, ct) == pt  # a fresh standard CBC context agrees
        assert receiver.decrypt_iv_prefixed(out) == pt
        assert receiver.decrypt_iv_prefixed(iv + reference.encrypt(iv, pt)) == pt
    assert len(ivs) == 4
    with pytest.raises(ValueError):
        sender.encrypt_fresh_iv(b"x")
    with pytest.raises(ValueError):
        receiver.decrypt_iv_prefixed(b"")
