"""IKEv2 transform identifiers, algorithm descriptors and the PAN-OS keyword mapping.

The IANA numbers are those of the "IKEv2 Transform Attribute" registries (RFC 7296
section 3.3.2 and its updates). This module is the one place that maps PAN-OS
crypto-profile keywords (reference section 4.3) to algorithms and back to the
abbreviations PAN-OS shows in ``show vpn ...`` output.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cryptography.hazmat.primitives import hashes


class EncrId(IntEnum):
    """Transform type 1: encryption algorithm (ENCR)."""

    ENCR_DES = 2
    ENCR_3DES = 3
    ENCR_NULL = 11
    ENCR_AES_CBC = 12
    ENCR_AES_CTR = 13
    ENCR_AES_CCM_8 = 14
    ENCR_AES_CCM_12 = 15
    ENCR_AES_CCM_16 = 16
    ENCR_AES_GCM_8 = 18
    ENCR_AES_GCM_12 = 19
    ENCR_AES_GCM_16 = 20
    ENCR_NULL_AUTH_AES_GMAC = 21
    ENCR_CHACHA20_POLY1305 = 28


class PrfId(IntEnum):
    """Transform type 2: pseudorandom function (PRF)."""

    PRF_HMAC_MD5 = 1
    PRF_HMAC_SHA1 = 2
    PRF_HMAC_TIGER = 3
    PRF_AES128_XCBC = 4
    PRF_HMAC_SHA2_256 = 5
    PRF_HMAC_SHA2_384 = 6
    PRF_HMAC_SHA2_512 = 7
    PRF_AES128_CMAC = 8


class IntegId(IntEnum):
    """Transform type 3: integrity algorithm (INTEG)."""

    NONE = 0
    AUTH_HMAC_MD5_96 = 1
    AUTH_HMAC_SHA1_96 = 2
    AUTH_DES_MAC = 3
    AUTH_KPDK_MD5 = 4
    AUTH_AES_XCBC_96 = 5
    AUTH_HMAC_MD5_128 = 6
    AUTH_HMAC_SHA1_160 = 7
    AUTH_AES_CMAC_96 = 8
    AUTH_AES_128_GMAC = 9
    AUTH_AES_192_GMAC = 10
    AUTH_AES_256_GMAC = 11
    AUTH_HMAC_SHA2_256_128 = 12
    AUTH_HMAC_SHA2_384_192 = 13
    AUTH_HMAC_SHA2_512_256 = 14


class DhId(IntEnum):
    """Transform type 4: key exchange method (Diffie-Hellman group)."""

    MODP_768 = 1
    MODP_1024 = 2
    MODP_1536 = 5
    MODP_2048 = 14
    MODP_3072 = 15
    MODP_4096 = 16
    ECP_256 = 19
    ECP_384 = 20
    ECP_521 = 21


class UnsupportedAlgorithm(ValueError):
    """An algorithm identifier, key size or keyword this implementation cannot do."""


@dataclass(frozen=True, slots=True)
class EncrAlg:
    """An encryption transform with a fixed key size.

    ``key_bits`` is the cipher key only; ``key_size`` (bytes of keying material to
    derive) adds ``salt_size`` for AEAD modes (RFC 4106/5282 put the salt last).
    ``block_size`` is what payloads are padded to (1 for stream and AEAD modes,
    callers still align ESP to 4 bytes).
    """

    id: EncrId
    key_bits: int
    block_size: int
    iv_size: int
    aead: bool
    icv_size: int
    salt_size: int

    @property
    def key_size(self) -> int:
        return self.key_bits // 8 + self.salt_size


@dataclass(frozen=True, slots=True)
class PrfAlg:
    """A PRF: ``hash`` is the HMAC hash, ``key_size`` the preferred key length."""

    id: PrfId
    hash: hashes.HashAlgorithm
    key_size: int
    out_size: int


@dataclass(frozen=True, slots=True)
class IntegAlg:
    """An integrity transform: HMAC over ``hash`` truncated to ``icv_size`` bytes.

    ``IntegId.NONE`` has ``hash`` None and zero sizes.
    """

    id: IntegId
    hash: hashes.HashAlgorithm | None
    key_size: int
    icv_size: int


# --- descriptor tables -------------------------------------------------------

_AES_BITS = (128, 192, 256)


def _encr_table() -> dict[tuple[EncrId, int], EncrAlg]:
    t: dict[tuple[EncrId, int], EncrAlg] = {}
    t[(EncrId.ENCR_3DES, 192)] = EncrAlg(EncrId.ENCR_3DES, 192, 8, 8, False, 0, 0)
    t[(EncrId.ENCR_NULL, 0)] = EncrAlg(EncrId.ENCR_NULL, 0, 1, 0, False, 0, 0)
    for bits in _AES_BITS:
        t[(EncrId.ENCR_AES_CBC, bits)] = EncrAlg(EncrId.ENCR_AES_CBC, bits, 16, 16, False, 0, 0)
        t[(EncrId.ENCR_AES_GCM_16, bits)] = EncrAlg(EncrId.ENCR_AES_GCM_16, bits, 1, 8, True, 16, 4)
        t[(EncrId.ENCR_AES_CCM_16, bits)] = EncrAlg(EncrId.ENCR_AES_CCM_16, bits, 1, 8, True, 16, 3)
    t[(EncrId.ENCR_CHACHA20_POLY1305, 256)] = EncrAlg(
        EncrId.ENCR_CHACHA20_POLY1305, 256, 1, 8, True, 16, 4
    )
    return t


_ENCR: dict[tuple[EncrId, int], EncrAlg] = _encr_table()

# AEAD transforms (RFC 5282, RFC 7634) take no INTEG transform. The supported ones say
# so in their descriptor; the short-ICV CCM/GCM variants (RFC 4309, RFC 4106) are only
# named, never run, but a peer's proposal offering them must still be read as AEAD.
AEAD_ENCR: frozenset[EncrId] = frozenset(
    {eid for (eid, _bits), alg in _ENCR.items() if alg.aead}
    | {
        EncrId.ENCR_AES_CCM_8,
        EncrId.ENCR_AES_CCM_12,
        EncrId.ENCR_AES_GCM_8,
        EncrId.ENCR_AES_GCM_12,
    }
)

# Algorithms whose Transform carries no Key Length attribute (fixed key size).
FIXED_KEY_ENCR: frozenset[EncrId] = frozenset(
    {EncrId.ENCR_3DES, EncrId.ENCR_NULL, EncrId.ENCR_CHACHA20_POLY1305}
)

_PRF: dict[PrfId, PrfAlg] = {
    PrfId.PRF_HMAC_MD5: PrfAlg(PrfId.PRF_HMAC_MD5, hashes.MD5(), 16, 16),
    PrfId.PRF_HMAC_SHA1: PrfAlg(PrfId.PRF_HMAC_SHA1, hashes.SHA1(), 20, 20),
    PrfId.PRF_HMAC_SHA2_256: PrfAlg(PrfId.PRF_HMAC_SHA2_256, hashes.SHA256(), 32, 32),
    PrfId.PRF_HMAC_SHA2_384: PrfAlg(PrfId.PRF_HMAC_SHA2_384, hashes.SHA384(), 48, 48),
    PrfId.PRF_HMAC_SHA2_512: PrfAlg(PrfId.PRF_HMAC_SHA2_512, hashes.SHA512(), 64, 64),
}

_INTEG: dict[IntegId, IntegAlg] = {
    IntegId.NONE: IntegAlg(IntegId.NONE, None, 0, 0),
    IntegId.AUTH_HMAC_MD5_96: IntegAlg(IntegId.AUTH_HMAC_MD5_96, hashes.MD5(), 16, 12),
    IntegId.AUTH_HMAC_SHA1_96: IntegAlg(IntegId.AUTH_HMAC_SHA1_96, hashes.SHA1(), 20, 12),
    IntegId.AUTH_HMAC_SHA2_256_128: IntegAlg(
        IntegId.AUTH_HMAC_SHA2_256_128, hashes.SHA256(), 32, 16
    ),
    IntegId.AUTH_HMAC_SHA2_384_192: IntegAlg(
        IntegId.AUTH_HMAC_SHA2_384_192, hashes.SHA384(), 48, 24
    ),
    IntegId.AUTH_HMAC_SHA2_512_256: IntegAlg(
        IntegId.AUTH_HMAC_SHA2_512_256, hashes.SHA512(), 64, 32
    ),
}

SUPPORTED_DH: frozenset[DhId] = frozenset(DhId)


def encr_alg(id: int, key_bits: int | None = None) -> EncrAlg:
    """The descriptor for encryption ``id`` with ``key_bits`` (None for fixed-size ciphers)."""
    if type(id) in (int, EncrId) and type(key_bits) is int:  # the usual case: one look-up
        # (IntEnum members hash and compare as their ints; key_bits 0 is not a key)
        alg = _ENCR.get((id, key_bits))  # type: ignore[arg-type]
        if alg is not None:
            return alg
    try:
        eid = EncrId(id)
    except ValueError:
        raise UnsupportedAlgorithm(f"encryption transform {id} not supported") from None
    if key_bits is None or key_bits == 0:
        if eid == EncrId.ENCR_3DES:
            key_bits = 192
        elif eid == EncrId.ENCR_NULL:
            key_bits = 0
        elif eid == EncrId.ENCR_CHACHA20_POLY1305:
            key_bits = 256
        else:
            raise UnsupportedAlgorithm(f"{eid.name} needs a key length")
    alg = _ENCR.get((eid, key_bits))
    if alg is None:
        raise UnsupportedAlgorithm(f"{eid.name} with {key_bits}-bit key not supported")
    return alg


def prf_alg(id: int) -> PrfAlg:
    alg = _PRF.get(id) if type(id) in (int, PrfId) else None  # type: ignore[call-overload]
    if alg is not None:  # the usual case: no IntEnum construction
        return alg
    try:
        alg = _PRF.get(PrfId(id))
    except ValueError:
        alg = None
    if alg is None:
        raise UnsupportedAlgorithm(f"PRF transform {id} not supported")
    return alg


def integ_alg(id: int) -> IntegAlg:
    alg = _INTEG.get(id) if type(id) in (int, IntegId) else None  # type: ignore[call-overload]
    if alg is not None:  # the usual case: no IntEnum construction
        return alg
    try:
        alg = _INTEG.get(IntegId(id))
    except ValueError:
        alg = None
    if alg is None:
        raise UnsupportedAlgorithm(f"integrity transform {id} not supported")
    return alg


def is_supported_encr(id: int, key_bits: int | None = None) -> bool:
    try:
        encr_alg(id, key_bits)
    except UnsupportedAlgorithm:
        return False
    return True


# --- PAN-OS keywords (reference section 4.3) -----------------------------------

_IKE_ENCRYPTION: dict[str, tuple[EncrId, int]] = {
    "3des": (EncrId.ENCR_3DES, 192),
    "aes-128-cbc": (EncrId.ENCR_AES_CBC, 128),
    "aes-192-cbc": (EncrId.ENCR_AES_CBC, 192),
    "aes-256-cbc": (EncrId.ENCR_AES_CBC, 256),
    "aes-128-gcm": (EncrId.ENCR_AES_GCM_16, 128),
    "aes-256-gcm": (EncrId.ENCR_AES_GCM_16, 256),
}

_ESP_ENCRYPTION: dict[str, tuple[EncrId, int]] = {
    **_IKE_ENCRYPTION,
    "aes-128-ccm": (EncrId.ENCR_AES_CCM_16, 128),
    "null": (EncrId.ENCR_NULL, 0),
}

_IKE_HASH: dict[str, tuple[PrfId | None, IntegId]] = {
    "non-auth": (None, IntegId.NONE),
    "md5": (PrfId.PRF_HMAC_MD5, IntegId.AUTH_HMAC_MD5_96),
    "sha1": (PrfId.PRF_HMAC_SHA1, IntegId.AUTH_HMAC_SHA1_96),
    "sha256": (PrfId.PRF_HMAC_SHA2_256, IntegId.AUTH_HMAC_SHA2_256_128),
    "sha384": (PrfId.PRF_HMAC_SHA2_384, IntegId.AUTH_HMAC_SHA2_384_192),
    "sha512": (PrfId.PRF_HMAC_SHA2_512, IntegId.AUTH_HMAC_SHA2_512_256),
}

_ESP_AUTH: dict[str, IntegId] = {
    "none": IntegId.NONE,
    "md5": IntegId.AUTH_HMAC_MD5_96,
    "sha1": IntegId.AUTH_HMAC_SHA1_96,
    "sha256": IntegId.AUTH_HMAC_SHA2_256_128,
    "sha384": IntegId.AUTH_HMAC_SHA2_384_192,
    "sha512": IntegId.AUTH_HMAC_SHA2_512_256,
}

_DH: dict[str, DhId | None] = {
    "no-pfs": None,
    **{f"group{int(g)}": g for g in DhId},
}

# Keywords for algorithms a peer may propose but no PAN-OS profile can select: they
# name them in proposal logs only and are never accepted from configuration (not in
# the *_KEYWORDS below). Same shapes as the tables above; the key length in a
# keyword is an example (``aes-128-ctr`` names every AES-CTR key size).
DISPLAY_ONLY_ENCRYPTION: dict[str, tuple[EncrId, int]] = {
    "des": (EncrId.ENCR_DES, 64),
    "aes-128-ctr": (EncrId.ENCR_AES_CTR, 128),
    "aes-128-ccm8": (EncrId.ENCR_AES_CCM_8, 128),
    "aes-128-ccm12": (EncrId.ENCR_AES_CCM_12, 128),
    "aes-128-gcm8": (EncrId.ENCR_AES_GCM_8, 128),
    "aes-128-gcm12": (EncrId.ENCR_AES_GCM_12, 128),
    "chacha20-poly1305": (EncrId.ENCR_CHACHA20_POLY1305, 256),
}
DISPLAY_ONLY_HASH: dict[str, tuple[PrfId | None, IntegId]] = {
    "aes-xcbc": (PrfId.PRF_AES128_XCBC, IntegId.AUTH_AES_XCBC_96),
}

IKE_ENCRYPTION_KEYWORDS: tuple[str, ...] = tuple(_IKE_ENCRYPTION)
ESP_ENCRYPTION_KEYWORDS: tuple[str, ...] = tuple(_ESP_ENCRYPTION)
IKE_HASH_KEYWORDS: tuple[str, ...] = tuple(_IKE_HASH)
ESP_AUTH_KEYWORDS: tuple[str, ...] = tuple(_ESP_AUTH)
DH_GROUP_KEYWORDS: tuple[str, ...] = tuple(_DH)


def _lookup(table: dict[str, Any], keyword: str, what: str) -> Any:
    try:
        return table[keyword]
    except KeyError:
        raise UnsupportedAlgorithm(f"{what} '{keyword}' is not supported") from None


def ike_encryption(keyword: str) -> tuple[EncrId, int]:
    """IKE crypto-profile ``encryption`` keyword -> (EncrId, key bits)."""
    result: tuple[EncrId, int] = _lookup(_IKE_ENCRYPTION, keyword, "IKE encryption")
    return result


def ike_hash(keyword: str) -> tuple[PrfId | None, IntegId]:
    """IKE crypto-profile ``hash`` keyword -> (PRF or None for non-auth, integrity)."""
    result: tuple[PrfId | None, IntegId] = _lookup(_IKE_HASH, keyword, "IKE hash")
    return result


def esp_encryption(keyword: str) -> tuple[EncrId, int]:
    """IPsec crypto-profile ``esp encryption`` keyword -> (EncrId, key bits)."""
    result: tuple[EncrId, int] = _lookup(_ESP_ENCRYPTION, keyword, "ESP encryption")
    return result


def esp_authentication(keyword: str) -> IntegId:
    """IPsec crypto-profile ``esp authentication`` keyword -> IntegId."""
    result: IntegId = _lookup(_ESP_AUTH, keyword, "ESP authentication")
    return result


def dh_group(keyword: str) -> DhId | None:
    """``dh-group`` keyword -> DhId, or None for ``no-pfs``."""
    result: DhId | None = _lookup(_DH, keyword, "DH group")
    return result


# --- display names ----------------------------------------------------------------

_HASH_NAMES: dict[str, str] = {
    "md5": "MD5",
    "sha1": "SHA1",
    "sha256": "SHA256",
    "sha384": "SHA384",
    "sha512": "SHA512",
}


def _encr_names(encr: EncrId, key_bits: int) -> tuple[str, str, str]:
    """(short, bracket, detail) names of an encryption algorithm."""
    if encr == EncrId.ENCR_3DES:
        return "3DES", "3DES", "3DES"
    if encr == EncrId.ENCR_DES:
        return "DES", "DES", "DES"
    if encr == EncrId.ENCR_NULL:
        return "NULL", "NULL", "NULL"
    if encr == EncrId.ENCR_CHACHA20_POLY1305:
        return "CHACHA20", "CHACHA20", "CHACHA20-POLY1305"
    if encr == EncrId.ENCR_AES_CBC:
        return f"A{key_bits}", f"AES{key_bits}", f"AES{key_bits}-CBC"
    if encr in (EncrId.ENCR_AES_GCM_8, EncrId.ENCR_AES_GCM_12, EncrId.ENCR_AES_GCM_16):
        # Not observed on PAN-OS (reference 4.3 marks GCM abbreviations [U]).
        return f"AG{key_bits}", f"AES{key_bits}-GCM", f"AES{key_bits}-GCM"
    if encr in (EncrId.ENCR_AES_CCM_8, EncrId.ENCR_AES_CCM_12, EncrId.ENCR_AES_CCM_16):
        return f"AC{key_bits}", f"AES{key_bits}-CCM", f"AES{key_bits}-CCM"
    if encr == EncrId.ENCR_AES_CTR:
        return f"AT{key_bits}", f"AES{key_bits}-CTR", f"AES{key_bits}-CTR"
    return encr.name, encr.name, encr.name


# The hash keyword of each PRF and integrity algorithm, read back from the IKE ``hash``
# table (which pairs them).
_PRF_HASH = {prf: kw for kw, (prf, _integ) in _IKE_HASH.items() if prf is not None}
_INTEG_HASH = {integ: kw for kw, (_prf, integ) in _IKE_HASH.items() if integ != IntegId.NONE}


def display_name(
    alg: EncrId | PrfId | IntegId | DhId | None, key_bits: int = 0, style: str = "short"
) -> str:
    """The name PAN-OS shows for an algorithm.

    ``style``:
      * ``short``  -- ``show vpn ike-sa`` / ``ipsec-sa``: ``A128``, ``3DES``, ``SHA1``, ``DH14``
      * ``bracket`` -- ``show vpn gateway`` / ``tunnel`` (without the brackets): ``AES128``
      * ``detail`` -- ``show vpn ike-sa detail``: ``AES256-CBC``, ``SHA256``, ``DH14``

    ``key_bits`` matters for encryption only. ``None`` (no PFS, no PRF) gives ``NONE``;
    ``IntegId.NONE`` gives ``NONE``. GCM/CCM names are guesses (reference 4.3 [U]).
    """
    if style not in ("short", "bracket", "detail"):
        raise ValueError(f"unknown display style {style!r}")
    if alg is None:
        return "NONE"
    if isinstance(alg, EncrId):
        short, bracket, detail = _encr_names(alg, key_bits)
        return {"short": short, "bracket": bracket, "detail": detail}[style]
    if isinstance(alg, PrfId):
        h = _PRF_HASH.get(alg)
        return _HASH_NAMES[h] if h else alg.name
    if isinstance(alg, IntegId):
        if alg == IntegId.NONE:
            return "NONE"
        h = _INTEG_HASH.get(alg)
        return _HASH_NAMES[h] if h else alg.name
    if isinstance(alg, DhId):
        return f"DH{int(alg)}"
    raise TypeError(f"not an algorithm: {alg!r}")


def esp_display_name(
    encr: EncrId, key_bits: int, integ: IntegId, style: str = "short"
) -> str:
    """``ESP/A128/SHA1`` as in ``show vpn ipsec-sa``."""
    return f"ESP/{display_name(encr, key_bits, style)}/{display_name(integ, 0, style)}"


# --- IKEv1 attribute values (RFC 2409 appendix A, RFC 2407 4.4-4.5, RFC 4868 for SHA-2) ---


class Ikev1Encr(IntEnum):
    """Phase 1 SA attribute "Encryption Algorithm" (class 1)."""

    DES_CBC = 1
    TRIPLE_DES_CBC = 5
    AES_CBC = 7


class Ikev1Hash(IntEnum):
    """Phase 1 SA attribute "Hash Algorithm" (class 2); the PRF is its HMAC."""

    MD5 = 1
    SHA1 = 2
    SHA2_256 = 4
    SHA2_384 = 5
    SHA2_512 = 6


class Ikev1AuthAlg(IntEnum):
    """IPsec DOI (phase 2) attribute "Authentication Algorithm" (class 5)."""

    HMAC_MD5 = 1
    HMAC_SHA1 = 2
    HMAC_SHA2_256 = 5
    HMAC_SHA2_384 = 6
    HMAC_SHA2_512 = 7


# IPsec DOI ESP transform IDs (RFC 2407 4.4.4) use the same numbers as IKEv2 ENCR
# for 3DES (3), NULL (11), AES-CBC (12) and AES-GCM-16 (20): EncrId serves for both.

_V1_ENCR = {Ikev1Encr.TRIPLE_DES_CBC: EncrId.ENCR_3DES, Ikev1Encr.AES_CBC: EncrId.ENCR_AES_CBC}
_V1_HASH = {
    Ikev1Hash.MD5: (PrfId.PRF_HMAC_MD5, IntegId.AUTH_HMAC_MD5_96),
    Ikev1Hash.SHA1: (PrfId.PRF_HMAC_SHA1, IntegId.AUTH_HMAC_SHA1_96),
    Ikev1Hash.SHA2_256: (PrfId.PRF_HMAC_SHA2_256, IntegId.AUTH_HMAC_SHA2_256_128),
    Ikev1Hash.SHA2_384: (PrfId.PRF_HMAC_SHA2_384, IntegId.AUTH_HMAC_SHA2_384_192),
    Ikev1Hash.SHA2_512: (PrfId.PRF_HMAC_SHA2_512, IntegId.AUTH_HMAC_SHA2_512_256),
}
_V1_AUTH = {
    Ikev1AuthAlg.HMAC_MD5: IntegId.AUTH_HMAC_MD5_96,
    Ikev1AuthAlg.HMAC_SHA1: IntegId.AUTH_HMAC_SHA1_96,
    Ikev1AuthAlg.HMAC_SHA2_256: IntegId.AUTH_HMAC_SHA2_256_128,
    Ikev1AuthAlg.HMAC_SHA2_384: IntegId.AUTH_HMAC_SHA2_384_192,
    Ikev1AuthAlg.HMAC_SHA2_512: IntegId.AUTH_HMAC_SHA2_512_256,
}


def ikev1_encr(value: int, key_bits: int | None = None) -> EncrAlg:
    """Phase 1 encryption attribute (+ Key Length attribute) -> descriptor."""
    try:
        eid = _V1_ENCR[Ikev1Encr(value)]
    except (ValueError, KeyError):
        raise UnsupportedAlgorithm(f"IKEv1 encryption algorithm {value} not supported") from None
    return encr_alg(eid, key_bits)


def ikev1_prf(value: int) -> PrfId:
    """Phase 1 hash attribute -> the PRF (HMAC with that hash) IKEv1 uses."""
    try:
        return _V1_HASH[Ikev1Hash(value)][0]
    except (ValueError, KeyError):
        raise UnsupportedAlgorithm(f"IKEv1 hash algorithm {value} not supported") from None


def ikev1_auth(value: int) -> IntegId:
    """Phase 2 authentication algorithm attribute -> ESP integrity."""
    try:
        return _V1_AUTH[Ikev1AuthAlg(value)]
    except (ValueError, KeyError):
        raise UnsupportedAlgorithm(f"IKEv1 authentication algorithm {value} not supported") from None


def ikev1_hash_from_keyword(keyword: str) -> Ikev1Hash:
    """IKE crypto-profile ``hash`` keyword -> phase 1 hash attribute (not non-auth)."""
    prf_id, _ = ike_hash(keyword)
    for h, (p, _i) in _V1_HASH.items():
        if p == prf_id:
            return h
    raise UnsupportedAlgorithm(f"IKEv1 has no hash for '{keyword}'")


def ikev1_encr_from_keyword(keyword: str) -> tuple[Ikev1Encr, int]:
    """IKE crypto-profile ``encryption`` keyword -> (phase 1 attribute, key bits)."""
    eid, bits = ike_encryption(keyword)
    for v1, v2 in _V1_ENCR.items():
        if v2 == eid:
            return v1, bits
    raise UnsupportedAlgorithm(f"IKEv1 phase 1 cannot use '{keyword}'")


def ikev1_auth_from_integ(integ: IntegId) -> Ikev1AuthAlg | None:
    """ESP integrity -> phase 2 authentication attribute (None for NONE/AEAD)."""
    for v1, v2 in _V1_AUTH.items():
        if v2 == integ:
            return v1
    if integ == IntegId.NONE:
        return None
    raise UnsupportedAlgorithm(f"IKEv1 has no authentication algorithm for {integ.name}")
