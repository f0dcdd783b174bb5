"""Algorithm names as a PAN-OS engineer reads them: config keywords and show-output abbreviations.

Keyed by IANA transform IDs (RFC 7296 3.3.2 and the IANA IKEv2 registry). Nothing here
is a table of its own: the keywords are crypto.algorithms' PAN-OS crypto-profile tables
read backwards (plus its display-only keywords for algorithms no profile can select),
the AEAD set is its ``AEAD_ENCR`` and the show-output names come from its display_name().
"""

from __future__ import annotations

import functools

from ..crypto import algorithms as alg
from ..crypto.algorithms import EncrId, IntegId, PrfId, display_name
from .constants import NotifyType, TransformType

_ENCRYPTION: dict[str, tuple[EncrId, int]] = {
    **{k: alg.ike_encryption(k) for k in alg.IKE_ENCRYPTION_KEYWORDS},
    **{k: alg.esp_encryption(k) for k in alg.ESP_ENCRYPTION_KEYWORDS},
    **alg.DISPLAY_ONLY_ENCRYPTION,
}
_HASH: dict[str, tuple[PrfId | None, IntegId]] = {
    **{k: alg.ike_hash(k) for k in alg.IKE_HASH_KEYWORDS},
    **alg.DISPLAY_ONLY_HASH,
}

# ENCR id -> keyword, ``{}`` standing for the key length: aes-128-cbc -> aes-{}-cbc.
_ENCR_KEYWORD = {
    int(eid): kw.replace(f"-{bits}-", "-{}-") for kw, (eid, bits) in _ENCRYPTION.items()
}
_PRF_KEYWORD = {int(prf): kw for kw, (prf, _integ) in _HASH.items() if prf is not None}
# ESP's words last: integrity NONE is "none" (IKE's "non-auth" names the hash setting).
_INTEG_KEYWORD = {
    **{int(integ): kw for kw, (_prf, integ) in _HASH.items()},
    **{int(alg.esp_authentication(k)): k for k in alg.ESP_AUTH_KEYWORDS},
}

AEAD_ENCR: frozenset[int] = alg.AEAD_ENCR
# The transforms that carry a Key Length attribute: exactly those whose keyword spells it.
VARIABLE_KEY_ENCR: frozenset[int] = frozenset(e for e, kw in _ENCR_KEYWORD.items() if "{}" in kw)


def encr_keyword(encr: int, bits: int | None) -> str:
    text = _ENCR_KEYWORD.get(encr, f"encr{encr}")
    return text.format(bits or 128) if "{}" in text else text


def prf_keyword(prf: int) -> str:
    return _PRF_KEYWORD.get(prf, f"prf{prf}")


def integ_keyword(integ: int) -> str:
    return _INTEG_KEYWORD.get(integ, f"integ{integ}")


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


def notify_name(notify_type: int) -> str:
    """A notify type in log words: its RFC name, or its number."""
    try:
        return NotifyType(notify_type).name
    except ValueError:
        return f"notify {notify_type}"
