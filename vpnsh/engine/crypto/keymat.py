"""Key derivation for IKEv2 (RFC 7296 2.13-2.18) and IKEv1 (RFC 2409 5 and appendix B).

Every function is pure: bytes in, bytes out. Keys never appear in ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from cryptography.hazmat.primitives import hashes

from .algorithms import EncrAlg, IntegAlg, IntegId, integ_alg, prf_alg
from .prf import prf, prf_plus


def _redacted(obj: object) -> str:
    parts = ", ".join(f"{f.name}=<{len(getattr(obj, f.name))} bytes>" for f in fields(obj))  # type: ignore[arg-type]
    return f"{type(obj).__name__}({parts})"


@dataclass(frozen=True, repr=False)
class IkeKeys:
    """The seven IKE SA keys; ``sk_ei``/``sk_er`` include the AEAD salt."""

    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes

    def __repr__(self) -> str:
        return _redacted(self)


@dataclass(frozen=True, repr=False)
class ChildKeys:
    """CHILD SA keys: ``*_i`` protect initiator-to-responder traffic."""

    encr_i: bytes
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes

    def __repr__(self) -> str:
        return _redacted(self)


def _integ_key_size(integ: IntegAlg | IntegId | None) -> int:
    if integ is None:
        return 0
    if not isinstance(integ, IntegAlg):
        integ = integ_alg(integ)
    return integ.key_size


def _prf_key_from_nonces(prf_id: int, ni: bytes, nr: bytes) -> bytes:
    # RFC 7296 2.14: PRFs with a fixed key size take 64 bits of each nonce. All
    # HMAC PRFs accept any key length and use the full nonces.
    return ni + nr


def _split_ike_keys(
    prf_id: int, skeyseed: bytes, encr: EncrAlg, integ: IntegAlg | IntegId | None,
    ni: bytes, nr: bytes, spi_i: bytes, spi_r: bytes,
) -> IkeKeys:
    if len(spi_i) != 8 or len(spi_r) != 8:
        raise ValueError("IKE SPIs are 8 bytes")
    p = prf_alg(prf_id).out_size
    a = _integ_key_size(integ)
    e = encr.key_size
    km = prf_plus(prf_id, skeyseed, ni + nr + spi_i + spi_r, 3 * p + 2 * a + 2 * e)
    sizes = (p, a, a, e, e, p, p)
    out: list[bytes] = []
    pos = 0
    for n in sizes:
        out.append(km[pos : pos + n])
        pos += n
    return IkeKeys(*out)


def skeyseed(prf_id: int, ni: bytes, nr: bytes, shared_secret: bytes) -> bytes:
    """``SKEYSEED = prf(Ni | Nr, g^ir)``."""
    return prf(prf_id, _prf_key_from_nonces(prf_id, ni, nr), shared_secret)


def ike_sa_keys(
    prf_id: int,
    encr: EncrAlg,
    integ: IntegAlg | IntegId | None,
    ni: bytes,
    nr: bytes,
    shared_secret: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeKeys:
    """RFC 7296 2.14: {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr). ``integ`` None (or NONE) for AEAD."""
    seed = skeyseed(prf_id, ni, nr, shared_secret)
    return _split_ike_keys(prf_id, seed, encr, integ, ni, nr, spi_i, spi_r)


def ike_sa_keys_rekey(
    prf_id: int,
    old_sk_d: bytes,
    encr: EncrAlg,
    integ: IntegAlg | IntegId | None,
    shared_secret: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
    old_prf_id: int | None = None,
) -> IkeKeys:
    """RFC 7296 2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old
    IKE SA's PRF (``old_prf_id``, default ``prf_id``); the keys then come from the new
    SA's PRF. ``ni``/``nr``/``spi_*`` are those of the CREATE_CHILD_SA exchange and
    the new SA (initiator = who started the rekey)."""
    seed = prf(prf_id if old_prf_id is None else old_prf_id, old_sk_d, shared_secret + ni + nr)
    return _split_ike_keys(prf_id, seed, encr, integ, ni, nr, spi_i, spi_r)


def child_sa_keys(
    prf_id: int,
    sk_d: bytes,
    ni: bytes,
    nr: bytes,
    encr: EncrAlg,
    integ: IntegAlg | IntegId | None,
    shared_secret: bytes | None = None,
) -> ChildKeys:
    """RFC 7296 2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), taken as
    encr_i | integ_i | encr_r | integ_r."""
    e = encr.key_size
    a = _integ_key_size(integ)
    seed = (shared_secret or b"") + ni + nr
    km = prf_plus(prf_id, sk_d, seed, 2 * (e + a))
    return ChildKeys(km[:e], km[e : e + a], km[e + a : 2 * e + a], km[2 * e + a :])


KEY_PAD = b"Key Pad for IKEv2"


def psk_auth(prf_id: int, psk: bytes, signed_octets: bytes) -> bytes:
    """RFC 7296 2.15: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <msg octets>)."""
    return prf(prf_id, prf(prf_id, psk, KEY_PAD), signed_octets)


def signed_octets(
    prf_id: int, message: bytes, peer_nonce: bytes, sk_p: bytes, id_payload_body: bytes
) -> bytes:
    """RFC 7296 2.15: the octets a side signs: its first message (IKE_SA_INIT as sent),
    the peer's nonce data, and prf(SK_px, IDx') where IDx' is the ID payload body
    (ID type, three reserved octets, identification data; no generic header).
    Use SK_pi for the initiator's AUTH and SK_pr for the responder's."""
    return message + peer_nonce + prf(prf_id, sk_p, id_payload_body)


# --- IKEv1 (RFC 2409) -------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Ikev1Keys:
    """SKEYID and its three children (RFC 2409 section 5)."""

    skeyid: bytes
    skeyid_d: bytes
    skeyid_a: bytes
    skeyid_e: bytes

    def __repr__(self) -> str:
        return _redacted(self)


def ikev1_skeyid_psk(prf_id: int, psk: bytes, ni_b: bytes, nr_b: bytes) -> bytes:
    """Pre-shared keys: SKEYID = prf(pre-shared-key, Ni_b | Nr_b)."""
    return prf(prf_id, psk, ni_b + nr_b)


def ikev1_skeyid_sig(prf_id: int, ni_b: bytes, nr_b: bytes, g_xy: bytes) -> bytes:
    """Signatures: SKEYID = prf(Ni_b | Nr_b, g^xy)."""
    return prf(prf_id, ni_b + nr_b, g_xy)


def ikev1_keys(
    prf_id: int, skeyid: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes
) -> Ikev1Keys:
    """SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
    SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
    SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)"""
    tail = g_xy + cky_i + cky_r
    d = prf(prf_id, skeyid, tail + b"\x00")
    a = prf(prf_id, skeyid, d + tail + b"\x01")
    e = prf(prf_id, skeyid, a + tail + b"\x02")
    return Ikev1Keys(skeyid, d, a, e)


def ikev1_encryption_key(prf_id: int, skeyid_e: bytes, key_size: int) -> bytes:
    """RFC 2409 appendix B: the first ``key_size`` bytes of SKEYID_e, extended as
    Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1) when short."""
    if len(skeyid_e) >= key_size:
        return skeyid_e[:key_size]
    out = b""
    k = prf(prf_id, skeyid_e, b"\x00")
    out += k
    while len(out) < key_size:
        k = prf(prf_id, skeyid_e, k)
        out += k
    return out[:key_size]


def ikev1_hash(prf_id: int, data: bytes) -> bytes:
    """The plain hash behind an HMAC PRF (used for the IKEv1 IVs)."""
    h = hashes.Hash(prf_alg(prf_id).hash)
    h.update(data)
    return h.finalize()


def ikev1_phase1_iv(prf_id: int, g_xi: bytes, g_xr: bytes, block_size: int) -> bytes:
    """RFC 2409 appendix B: IV = hash(g^xi | g^xr) truncated to the block size."""
    return ikev1_hash(prf_id, g_xi + g_xr)[:block_size]


def ikev1_phase2_iv(
    prf_id: int, last_phase1_block: bytes, message_id: bytes, block_size: int
) -> bytes:
    """IV of a quick mode / informational exchange: hash(last phase 1 CBC block | M-ID)."""
    return ikev1_hash(prf_id, last_phase1_block + message_id)[:block_size]


def ikev1_hash_i(
    prf_id: int, skeyid: bytes, g_xi: bytes, g_xr: bytes, cky_i: bytes, cky_r: bytes,
    sai_b: bytes, idii_b: bytes,
) -> bytes:
    """HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)."""
    return prf(prf_id, skeyid, g_xi + g_xr + cky_i + cky_r + sai_b + idii_b)


def ikev1_hash_r(
    prf_id: int, skeyid: bytes, g_xi: bytes, g_xr: bytes, cky_i: bytes, cky_r: bytes,
    sai_b: bytes, idir_b: bytes,
) -> bytes:
    """HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)."""
    return prf(prf_id, skeyid, g_xr + g_xi + cky_r + cky_i + sai_b + idir_b)


def ikev1_keymat(
    prf_id: int,
    skeyid_d: bytes,
    protocol: int,
    spi: bytes,
    ni_b: bytes,
    nr_b: bytes,
    length: int,
    g_xy: bytes | None = None,
) -> bytes:
    """Quick mode KEYMAT (RFC 2409 5.5), one direction (the SPI of the receiver):
    K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
    Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b).
    ``protocol`` is 3 for ESP; split the result as encryption key then auth key."""
    tail = (g_xy or b"") + bytes((protocol,)) + spi + ni_b + nr_b
    out = b""
    k = b""
    while len(out) < length:
        k = prf(prf_id, skeyid_d, k + tail)
        out += k
    return out[:length]


def ikev1_qm_hash1(prf_id: int, skeyid_a: bytes, message_id: bytes, payloads: bytes) -> bytes:
    """Quick mode HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [| KE] [| IDci | IDcr]);
    ``payloads`` is every payload after HASH(1), generic headers included. The same
    form gives the HASH of an informational exchange (RFC 2409 5.7)."""
    return prf(prf_id, skeyid_a, message_id + payloads)


def ikev1_qm_hash2(
    prf_id: int, skeyid_a: bytes, message_id: bytes, ni_b: bytes, payloads: bytes
) -> bytes:
    """Quick mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [| KE] [| IDci | IDcr])."""
    return prf(prf_id, skeyid_a, message_id + ni_b + payloads)


def ikev1_qm_hash3(
    prf_id: int, skeyid_a: bytes, message_id: bytes, ni_b: bytes, nr_b: bytes
) -> bytes:
    """Quick mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)."""
    return prf(prf_id, skeyid_a, b"\x00" + message_id + ni_b + nr_b)
