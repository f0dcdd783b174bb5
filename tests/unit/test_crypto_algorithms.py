"""IANA IDs, descriptors and the PAN-OS keyword mapping."""

from __future__ import annotations

import pytest

from vpnsh.engine.crypto.algorithms import (
    DH_GROUP_KEYWORDS,
    ESP_AUTH_KEYWORDS,
    ESP_ENCRYPTION_KEYWORDS,
    IKE_ENCRYPTION_KEYWORDS,
    IKE_HASH_KEYWORDS,
    DhId,
    EncrId,
    IntegId,
    PrfId,
    UnsupportedAlgorithm,
    dh_group,
    display_name,
    encr_alg,
    esp_authentication,
    esp_display_name,
    esp_encryption,
    ike_encryption,
    ike_hash,
    integ_alg,
    prf_alg,
)


def test_iana_numbers() -> None:
    assert (EncrId.ENCR_3DES, EncrId.ENCR_NULL, EncrId.ENCR_AES_CBC, EncrId.ENCR_AES_GCM_16) == (3, 11, 12, 20)
    assert [int(p) for p in (PrfId.PRF_HMAC_MD5, PrfId.PRF_HMAC_SHA1, PrfId.PRF_HMAC_SHA2_256,
                             PrfId.PRF_HMAC_SHA2_384, PrfId.PRF_HMAC_SHA2_512)] == [1, 2, 5, 6, 7]
    assert [int(i) for i in (IntegId.NONE, IntegId.AUTH_HMAC_MD5_96, IntegId.AUTH_HMAC_SHA1_96,
                             IntegId.AUTH_HMAC_SHA2_256_128, IntegId.AUTH_HMAC_SHA2_384_192,
                             IntegId.AUTH_HMAC_SHA2_512_256)] == [0, 1, 2, 12, 13, 14]
    assert sorted(int(d) for d in DhId) == [1, 2, 5, 14, 15, 16, 19, 20, 21]


def test_panos_ike_keywords_all_map() -> None:
    assert set(IKE_ENCRYPTION_KEYWORDS) == {
        "3des", "aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "aes-128-gcm", "aes-256-gcm"}
    for kw in IKE_ENCRYPTION_KEYWORDS:
        encr_alg(*ike_encryption(kw))  # every keyword has a descriptor
    assert ike_encryption("aes-256-gcm") == (EncrId.ENCR_AES_GCM_16, 256)
    assert ike_encryption("3des") == (EncrId.ENCR_3DES, 192)
    assert ike_hash("non-auth") == (None, IntegId.NONE)
    assert ike_hash("sha384") == (PrfId.PRF_HMAC_SHA2_384, IntegId.AUTH_HMAC_SHA2_384_192)
    for kw in IKE_HASH_KEYWORDS:
        p, i = ike_hash(kw)
        integ_alg(i)
        if p is not None:
            prf_alg(p)


def test_panos_esp_keywords_all_map() -> None:
    assert esp_encryption("null") == (EncrId.ENCR_NULL, 0)
    assert esp_encryption("aes-128-ccm") == (EncrId.ENCR_AES_CCM_16, 128)
    for kw in ESP_ENCRYPTION_KEYWORDS:
        encr_alg(*esp_encryption(kw))
    assert esp_authentication("none") == IntegId.NONE
    assert esp_authentication("sha512") == IntegId.AUTH_HMAC_SHA2_512_256
    assert {esp_authentication(k) for k in ESP_AUTH_KEYWORDS} == {
        IntegId.NONE, IntegId.AUTH_HMAC_MD5_96, IntegId.AUTH_HMAC_SHA1_96,
        IntegId.AUTH_HMAC_SHA2_256_128, IntegId.AUTH_HMAC_SHA2_384_192,
        IntegId.AUTH_HMAC_SHA2_512_256}


def test_dh_keywords() -> None:
    assert dh_group("no-pfs") is None
    assert dh_group("group14") == DhId.MODP_2048
    assert dh_group("group21") == DhId.ECP_521
    assert len(DH_GROUP_KEYWORDS) == 10


@pytest.mark.parametrize("fn,kw", [(ike_encryption, "des"), (ike_encryption, "null"),
                                   (ike_hash, "sha3"), (esp_authentication, "non-auth"),
                                   (dh_group, "group24")])
def test_unknown_keywords_rejected(fn, kw) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsupportedAlgorithm):
        fn(kw)


def test_descriptors() -> None:
    gcm = encr_alg(EncrId.ENCR_AES_GCM_16, 128)
    assert (gcm.aead, gcm.iv_size, gcm.icv_size, gcm.salt_size, gcm.key_size) == (True, 8, 16, 4, 20)
    cbc = encr_alg(EncrId.ENCR_AES_CBC, 256)
    assert (cbc.block_size, cbc.iv_size, cbc.key_size, cbc.aead) == (16, 16, 32, False)
    assert encr_alg(EncrId.ENCR_3DES).key_size == 24
    assert encr_alg(EncrId.ENCR_3DES, 0).block_size == 8
    assert prf_alg(PrfId.PRF_HMAC_SHA2_512).out_size == 64
    assert integ_alg(IntegId.AUTH_HMAC_SHA2_384_192).icv_size == 24
    with pytest.raises(UnsupportedAlgorithm):
        encr_alg(EncrId.ENCR_AES_CBC, 100)
    with pytest.raises(UnsupportedAlgorithm):
        encr_alg(EncrId.ENCR_AES_CBC)
    with pytest.raises(UnsupportedAlgorithm):
        prf_alg(PrfId.PRF_AES128_XCBC)
    with pytest.raises(UnsupportedAlgorithm):
        integ_alg(99)


def test_display_names_reference_4_3() -> None:
    assert display_name(EncrId.ENCR_AES_CBC, 128) == "A128"
    assert display_name(EncrId.ENCR_AES_CBC, 256) == "A256"
    assert display_name(EncrId.ENCR_AES_CBC, 128, "bracket") == "AES128"
    assert display_name(EncrId.ENCR_AES_CBC, 256, "detail") == "AES256-CBC"
    assert display_name(EncrId.ENCR_NULL, 0, "bracket") == "NULL"
    assert display_name(EncrId.ENCR_3DES, 192) == "3DES"
    assert display_name(PrfId.PRF_HMAC_SHA1) == "SHA1"
    assert display_name(IntegId.AUTH_HMAC_SHA2_256_128) == "SHA256"
    assert display_name(IntegId.AUTH_HMAC_MD5_96, style="bracket") == "MD5"
    assert display_name(DhId.MODP_1024) == "DH2"
    assert display_name(DhId.MODP_2048, style="detail") == "DH14"
    assert display_name(None) == "NONE"
    assert esp_display_name(EncrId.ENCR_AES_CBC, 256, IntegId.AUTH_HMAC_SHA2_256_128) == "ESP/A256/SHA256"
    with pytest.raises(ValueError):
        display_name(DhId.MODP_2048, style="fancy")


def test_ikev1_attribute_values() -> None:
    from vpnsh.engine.crypto.algorithms import (
        Ikev1AuthAlg,
        Ikev1Encr,
        Ikev1Hash,
        ikev1_auth,
        ikev1_auth_from_integ,
        ikev1_encr,
        ikev1_encr_from_keyword,
        ikev1_hash_from_keyword,
        ikev1_prf,
    )

    assert ikev1_encr(7, 256) == encr_alg(EncrId.ENCR_AES_CBC, 256)
    assert ikev1_encr(5).id == EncrId.ENCR_3DES
    assert ikev1_prf(2) == PrfId.PRF_HMAC_SHA1 and ikev1_prf(4) == PrfId.PRF_HMAC_SHA2_256
    assert ikev1_auth(5) == IntegId.AUTH_HMAC_SHA2_256_128
    assert ikev1_hash_from_keyword("sha384") == Ikev1Hash.SHA2_384
    assert ikev1_encr_from_keyword("aes-192-cbc") == (Ikev1Encr.AES_CBC, 192)
    assert ikev1_auth_from_integ(IntegId.AUTH_HMAC_SHA1_96) == Ikev1AuthAlg.HMAC_SHA1
    assert ikev1_auth_from_integ(IntegId.NONE) is None
    for bad in (lambda: ikev1_encr(1), lambda: ikev1_prf(3), lambda: ikev1_auth(4),
                lambda: ikev1_encr_from_keyword("aes-128-gcm"), lambda: ikev1_hash_from_keyword("non-auth")):
        with pytest.raises(UnsupportedAlgorithm):
            bad()
