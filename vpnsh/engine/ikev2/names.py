"""Algorithm names as a PAN-OS engineer reads them: config keywords and show-output abbreviations.

Keyed by IANA transform IDs (RFC 7296 3.3.2 and the IANA IKEv2 registry).
"""

from __future__ import annotations

import functools

from ..crypto.algorithms import EncrId, IntegId, PrfId, display_name
from .constants import TransformType

AEAD_ENCR = frozenset({14, 15, 16, 18, 19, 20, 28})
VARIABLE_KEY_ENCR = frozenset({12, 13, 14, 15, 16, 18, 19, 20, 23})

_ENCR_KEYWORD = {
    2: "des",
    3: "3des",
    11: "null",
    12: "aes-{}-cbc",
    13: "aes-{}-ctr",
    14: "aes-{}-ccm8",
    15: "aes-{}-ccm12",
    16: "aes-{}-ccm",
    18: "aes-{}-gcm8",
    19: "aes-{}-gcm12",
    20: "aes-{}-gcm",
    28: "chacha20-poly1305",
}
_HASH_KEYWORD_PRF = {1: "md5", 2: "sha1", 4: "aes-xcbc", 5: "sha256", 6: "sha384", 7: "sha512"}
_HASH_KEYWORD_INTEG = {
    0: "none",
    1: "md5",
    2: "sha1",
    5: "aes-xcbc",
    12: "sha256",
    13: "sha384",
    14: "sha512",
}


def encr_keyword(encr: int, bits: int | None) -> str:
    text = _ENCR_KEYWORD.get(encr, f"encr{encr}")
    return text.format(bits or 128) if "{}" in text else text


def prf_keyword(prf: int) -> str:
    return _HASH_KEYWORD_PRF.get(prf, f"prf{prf}")


def integ_keyword(integ: int) -> str:
    return _HASH_KEYWORD_INTEG.get(integ, f"integ{integ}")


def dh_keyword(group: int) -> str:
    return "no-pfs" if group == 0 else f"group{group}"


@functools.cache  # pure, and asked for on every show and log line
def encr_display(encr: int, bits: int, style: str) -> str:
    """The show-output name (``A128``, ``AES256-CBC``), from the one table in crypto.algorithms."""
    try:
        return display_name(EncrId(encr), bits or 192 if encr == EncrId.ENCR_3DES else bits, style)
    except ValueError:
        return f"ENCR{encr}"


@functools.cache  # pure, and asked for on every show and log line
def prf_display(prf: int) -> str:
    try:
        return display_name(PrfId(prf))
    except ValueError:
        return f"PRF{prf}"


@functools.cache  # pure, and asked for on every show and log line
def integ_display(integ: int) -> str:
    try:
        return display_name(IntegId(integ))
    except ValueError:
        return f"INTEG{integ}"


def transform_keyword(ttype: int, tid: int, key_length: int | None) -> str:
    if ttype == TransformType.ENCR:
        return encr_keyword(tid, key_length)
    if ttype == TransformType.PRF:
        return prf_keyword(tid)
    if ttype == TransformType.INTEG:
        return integ_keyword(tid)
    if ttype == TransformType.DH:
        return dh_keyword(tid)
    if ttype == TransformType.ESN:
        return "esn" if tid else "no-esn"
    return f"{ttype}:{tid}"
