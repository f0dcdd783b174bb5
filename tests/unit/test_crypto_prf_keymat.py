"""PRF, prf+ and IKEv2/IKEv1 key derivation against published vectors."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from vpnsh.engine.crypto.algorithms import (
    EncrId,
    IntegId,
    PrfId,
    encr_alg,
    integ_alg,
)
from vpnsh.engine.crypto.cipher import AuthenticationFailed, Integrity
from vpnsh.engine.crypto.keymat import (
    child_sa_keys,
    ike_sa_keys,
    ike_sa_keys_rekey,
    ikev1_encryption_key,
    ikev1_hash_i,
    ikev1_hash_r,
    ikev1_keymat,
    ikev1_keys,
    ikev1_phase1_iv,
    ikev1_phase2_iv,
    ikev1_skeyid_psk,
    psk_auth,
    signed_octets,
    skeyseed,
)
from vpnsh.engine.crypto.prf import prf, prf_plus

VECTORS = Path(__file__).parents[1] / "vectors"


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


CAVP = _load("ikev2_kdf_cavp.json")["vectors"]
RFC4868 = _load("hmac_sha2_rfc4868.json")


@pytest.mark.parametrize("v", RFC4868["prf"], ids=lambda v: f"prf{v['prf']}-{v['out'][:8]}")
def test_prf_hmac_sha2_rfc4868(v: dict) -> None:
    assert prf(v["prf"], bytes.fromhex(v["key"]), bytes.fromhex(v["data"])).hex() == v["out"]


@pytest.mark.parametrize("v", RFC4868["integ"], ids=lambda v: f"integ{v['integ']}-{v['icv'][:8]}")
def test_integrity_truncation_rfc4868(v: dict) -> None:
    integ = Integrity(integ_alg(v["integ"]), bytes.fromhex(v["key"]))
    data = bytes.fromhex(v["data"])
    assert integ.sign(data).hex() == v["icv"]
    assert integ.verify(data, bytes.fromhex(v["icv"]))
    bad = bytearray.fromhex(v["icv"])
    bad[-1] ^= 1
    with pytest.raises(AuthenticationFailed):
        integ.verify(data, bytes(bad))


@pytest.mark.parametrize("v", CAVP, ids=lambda v: v["skeyseed"][:8])
def test_ikev2_kdf_cavp(v: dict) -> None:
    h = {k: bytes.fromhex(val) for k, val in v.items() if isinstance(val, str)}
    p = v["prf"]
    seed = skeyseed(p, h["ni"], h["nr"], h["gir"])
    assert seed == h["skeyseed"]
    dkm = prf_plus(p, seed, h["ni"] + h["nr"] + h["spii"] + h["spir"], len(h["dkm"]))
    assert dkm == h["dkm"]
    sk_d = dkm[:20]
    n = len(h["dkm_child"])
    assert prf_plus(p, sk_d, h["ni"] + h["nr"], n) == h["dkm_child"]
    assert prf_plus(p, sk_d, h["gir_new"] + h["ni"] + h["nr"], n) == h["dkm_child_dh"]
    assert prf(p, sk_d, h["gir_new"] + h["ni"] + h["nr"]) == h["skeyseed_rekey"]


def test_ike_sa_keys_split_matches_cavp_dkm() -> None:
    """The seven keys are consecutive slices of the CAVP DKM (AES-CBC-128 + HMAC-SHA1)."""
    v = {k: bytes.fromhex(val) for k, val in CAVP[0].items() if isinstance(val, str)}
    encr = encr_alg(EncrId.ENCR_AES_CBC, 128)
    integ = integ_alg(IntegId.AUTH_HMAC_SHA1_96)
    keys = ike_sa_keys(PrfId.PRF_HMAC_SHA1, encr, integ, v["ni"], v["nr"], v["gir"], v["spii"], v["spir"])
    parts = [keys.sk_d, keys.sk_ai, keys.sk_ar, keys.sk_ei, keys.sk_er, keys.sk_pi, keys.sk_pr]
    assert [len(x) for x in parts] == [20, 20, 20, 16, 16, 20, 20]
    assert b"".join(parts) == v["dkm"][:132]


def test_child_keys_match_cavp_dkm() -> None:
    v = {k: bytes.fromhex(val) for k, val in CAVP[0].items() if isinstance(val, str)}
    sk_d = v["dkm"][:20]
    encr = encr_alg(EncrId.ENCR_AES_CBC, 256)
    integ = integ_alg(IntegId.AUTH_HMAC_SHA2_256_128)
    plain = child_sa_keys(PrfId.PRF_HMAC_SHA1, sk_d, v["ni"], v["nr"], encr, integ)
    assert plain.encr_i + plain.integ_i + plain.encr_r + plain.integ_r == v["dkm_child"][:128]
    pfs = child_sa_keys(PrfId.PRF_HMAC_SHA1, sk_d, v["ni"], v["nr"], encr, integ, v["gir_new"])
    assert pfs.encr_i + pfs.integ_i + pfs.encr_r + pfs.integ_r == v["dkm_child_dh"][:128]


def test_rekey_skeyseed_matches_cavp() -> None:
    v = {k: bytes.fromhex(val) for k, val in CAVP[1].items() if isinstance(val, str)}
    encr = encr_alg(EncrId.ENCR_AES_CBC, 128)
    integ = integ_alg(IntegId.AUTH_HMAC_SHA1_96)
    new = ike_sa_keys_rekey(
        PrfId.PRF_HMAC_SHA1, v["dkm"][:20], encr, integ, v["gir_new"], v["ni"], v["nr"],
        v["spii"], v["spir"],
    )
    expected = prf_plus(
        PrfId.PRF_HMAC_SHA1, v["skeyseed_rekey"], v["ni"] + v["nr"] + v["spii"] + v["spir"], 20
    )
    assert new.sk_d == expected


def test_gcm_ike_keys_include_salt_and_no_integrity() -> None:
    encr = encr_alg(EncrId.ENCR_AES_GCM_16, 256)
    keys = ike_sa_keys(
        PrfId.PRF_HMAC_SHA2_256, encr, None, b"i" * 32, b"r" * 32, b"s" * 256, b"1" * 8, b"2" * 8
    )
    assert len(keys.sk_ei) == 36 and len(keys.sk_er) == 36
    assert keys.sk_ai == b"" and keys.sk_ar == b""
    assert keys.sk_ei != keys.sk_er
    assert "sk_ei=<36 bytes>" in repr(keys) and keys.sk_ei.hex() not in repr(keys)


def test_prf_plus_structure_and_limits() -> None:
    key, seed = b"k" * 20, b"seed"
    out = prf_plus(PrfId.PRF_HMAC_SHA1, key, seed, 45)
    t1 = hmac.new(key, seed + b"\x01", hashlib.sha1).digest()
    t2 = hmac.new(key, t1 + seed + b"\x02", hashlib.sha1).digest()
    t3 = hmac.new(key, t2 + seed + b"\x03", hashlib.sha1).digest()
    assert out == (t1 + t2 + t3)[:45]
    assert len(prf_plus(PrfId.PRF_HMAC_SHA1, key, seed, 255 * 20)) == 255 * 20
    with pytest.raises(ValueError):
        prf_plus(PrfId.PRF_HMAC_SHA1, key, seed, 255 * 20 + 1)


def test_psk_auth_and_signed_octets() -> None:
    p = PrfId.PRF_HMAC_SHA2_256
    psk, msg, nonce, sk_p, idb = b"secret", b"IKE_SA_INIT bytes", b"N" * 32, b"P" * 32, b"\x01\0\0\0\x0a\0\0\x01"
    octets = signed_octets(p, msg, nonce, sk_p, idb)
    assert octets == msg + nonce + hmac.new(sk_p, idb, hashlib.sha256).digest()
    pad = hmac.new(psk, b"Key Pad for IKEv2", hashlib.sha256).digest()
    assert psk_auth(p, psk, octets) == hmac.new(pad, octets, hashlib.sha256).digest()
    assert psk_auth(p, b"wrong", octets) != psk_auth(p, psk, octets)


# --- IKEv1: no published vectors found, so a second, independent derivation ---------


def _h(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def test_ikev1_skeyid_family_cross_check() -> None:
    p = PrfId.PRF_HMAC_SHA2_256
    psk, ni, nr = b"psk", b"n" * 16, b"r" * 16
    gxy, ci, cr = b"\x07" * 256, b"I" * 8, b"R" * 8
    skeyid = ikev1_skeyid_psk(p, psk, ni, nr)
    assert skeyid == _h(psk, ni + nr)
    keys = ikev1_keys(p, skeyid, gxy, ci, cr)
    d = _h(skeyid, gxy + ci + cr + b"\0")
    a = _h(skeyid, d + gxy + ci + cr + b"\1")
    e = _h(skeyid, a + gxy + ci + cr + b"\2")
    assert (keys.skeyid_d, keys.skeyid_a, keys.skeyid_e) == (d, a, e)
    assert skeyid.hex() not in repr(keys)


def test_ikev1_encryption_key_extension() -> None:
    p = PrfId.PRF_HMAC_SHA1
    skeyid_e = b"\x42" * 20
    assert ikev1_encryption_key(p, skeyid_e, 16) == skeyid_e[:16]
    k1 = hmac.new(skeyid_e, b"\0", hashlib.sha1).digest()
    k2 = hmac.new(skeyid_e, k1, hashlib.sha1).digest()
    assert ikev1_encryption_key(p, skeyid_e, 32) == (k1 + k2)[:32]
    assert ikev1_encryption_key(p, skeyid_e, 24) == (k1 + k2)[:24]


def test_ikev1_keymat_and_ivs() -> None:
    p = PrfId.PRF_HMAC_SHA1
    d, spi, ni, nr = b"D" * 20, b"\x11\x22\x33\x44", b"n" * 16, b"r" * 16
    tail = bytes((3,)) + spi + ni + nr
    k1 = hmac.new(d, tail, hashlib.sha1).digest()
    k2 = hmac.new(d, k1 + tail, hashlib.sha1).digest()
    assert ikev1_keymat(p, d, 3, spi, ni, nr, 36) == (k1 + k2)[:36]
    g = b"\x05" * 128
    k1 = hmac.new(d, g + tail, hashlib.sha1).digest()
    assert ikev1_keymat(p, d, 3, spi, ni, nr, 20, g_xy=g) == k1
    assert ikev1_phase1_iv(p, b"a", b"b", 16) == hashlib.sha1(b"ab").digest()[:16]
    assert ikev1_phase2_iv(p, b"L" * 16, b"\0\0\0\1", 8) == hashlib.sha1(b"L" * 16 + b"\0\0\0\1").digest()[:8]
    hi = ikev1_hash_i(p, d, b"x", b"y", b"I" * 8, b"R" * 8, b"sa", b"id")
    assert hi == hmac.new(d, b"xy" + b"I" * 8 + b"R" * 8 + b"said", hashlib.sha1).digest()
    hr = ikev1_hash_r(p, d, b"x", b"y", b"I" * 8, b"R" * 8, b"sa", b"id")
    assert hr == hmac.new(d, b"yx" + b"R" * 8 + b"I" * 8 + b"said", hashlib.sha1).digest()


def test_ikev1_quick_mode_hashes() -> None:
    from vpnsh.engine.crypto.keymat import ikev1_qm_hash1, ikev1_qm_hash2, ikev1_qm_hash3

    p, a, mid = PrfId.PRF_HMAC_SHA1, b"A" * 20, b"\x12\x34\x56\x78"
    assert ikev1_qm_hash1(p, a, mid, b"SA|Ni") == hmac.new(a, mid + b"SA|Ni", hashlib.sha1).digest()
    assert ikev1_qm_hash2(p, a, mid, b"ni", b"SA|Nr") == hmac.new(a, mid + b"ni" + b"SA|Nr", hashlib.sha1).digest()
    assert ikev1_qm_hash3(p, a, mid, b"ni", b"nr") == hmac.new(a, b"\0" + mid + b"ninr", hashlib.sha1).digest()
