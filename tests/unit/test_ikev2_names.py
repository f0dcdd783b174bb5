"""ikev2.names reads crypto.algorithms' keyword tables backwards: the two must not drift."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vpnsh.engine.crypto import algorithms as alg
from vpnsh.engine.crypto.algorithms import DhId, EncrId, IntegId, PrfId
from vpnsh.engine.ikev2 import names

# Every encryption keyword there is: configurable (IKE, ESP) and display-only.
ENCRYPTION = {
    **{k: alg.ike_encryption(k) for k in alg.IKE_ENCRYPTION_KEYWORDS},
    **{k: alg.esp_encryption(k) for k in alg.ESP_ENCRYPTION_KEYWORDS},
    **alg.DISPLAY_ONLY_ENCRYPTION,
}

SUPPORTED_ENCR = [
    alg.encr_alg(e, bits or None)
    for e in EncrId
    for bits in (0, 128, 192, 256)
    if alg.is_supported_encr(e, bits or None)
]


def _supported(lookup: Callable[[int], object], tid: int) -> bool:
    try:
        lookup(tid)
    except alg.UnsupportedAlgorithm:
        return False
    return True


@pytest.mark.parametrize("keyword", list(ENCRYPTION))
def test_encryption_keyword_round_trip(keyword: str) -> None:
    eid, bits = ENCRYPTION[keyword]
    assert names.encr_keyword(eid, bits) == keyword


@pytest.mark.parametrize("a", SUPPORTED_ENCR, ids=lambda a: f"{a.id.name}-{a.key_bits}")
def test_supported_encryption_is_named_for_itself(a: alg.EncrAlg) -> None:
    keyword = names.encr_keyword(a.id, a.key_bits or None)
    assert keyword != f"encr{int(a.id)}"
    if keyword in ENCRYPTION:  # aes-192-gcm, say, has no keyword of its own
        assert ENCRYPTION[keyword] == (a.id, a.key_bits)
    assert (a.id in names.AEAD_ENCR) == a.aead


@pytest.mark.parametrize("prf", [p for p in PrfId if _supported(alg.prf_alg, p)])
def test_prf_keyword_round_trip(prf: PrfId) -> None:
    assert alg.ike_hash(names.prf_keyword(prf))[0] == prf


@pytest.mark.parametrize("integ", [i for i in IntegId if _supported(alg.integ_alg, i)])
def test_integ_keyword_round_trip(integ: IntegId) -> None:
    assert alg.esp_authentication(names.integ_keyword(integ)) == integ


@pytest.mark.parametrize("group", sorted(alg.SUPPORTED_DH) + [0])
def test_dh_keyword_round_trip(group: int) -> None:
    assert alg.dh_group(names.dh_keyword(group)) == (DhId(group) if group else None)


def test_display_only_keywords_are_not_configurable() -> None:
    for keyword in alg.DISPLAY_ONLY_ENCRYPTION:
        with pytest.raises(alg.UnsupportedAlgorithm):
            alg.esp_encryption(keyword)
    for keyword in alg.DISPLAY_ONLY_HASH:
        with pytest.raises(alg.UnsupportedAlgorithm):
            alg.ike_hash(keyword)


def test_unknown_ids_fall_back() -> None:
    assert names.encr_keyword(23, 128) == "encr23"
    assert names.prf_keyword(8) == "prf8"
    assert names.integ_keyword(9) == "integ9"
    assert names.encr_keyword(EncrId.ENCR_AES_CBC, None) == "aes-128-cbc"
    assert names.VARIABLE_KEY_ENCR.isdisjoint(alg.FIXED_KEY_ENCR)
