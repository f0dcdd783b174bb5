"""IKE signature formats: RFC 7427 AlgorithmIdentifiers (its appendix A blobs), AUTH methods
1/9/10/14 sign and verify, SIGNATURE_HASH_ALGORITHMS, CERT/CERTREQ, IKEv1 RSA signatures."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from vpnsh.engine.pki import ikesig as s
from vpnsh.engine.pki.validate import check_peer_id

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
P256 = ec.generate_private_key(ec.SECP256R1())
P384 = ec.generate_private_key(ec.SECP384R1())
OCTETS = b"IKE_SA_INIT message" + b"\x11" * 32 + b"prf(SK_pi, ID')"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# RFC 7427 Appendix A.1 (PKCS#1 1.5 RSA) and A.3 (ECDSA) AlgorithmIdentifier blobs
RFC7427_BLOBS = [
    ("30 0d 06 09 2a 86 48 86 f7 0d 01 01 0b 05 00", s.SigScheme("rsa", s.HASH_SHA256)),
    ("30 0d 06 09 2a 86 48 86 f7 0d 01 01 0c 05 00", s.SigScheme("rsa", s.HASH_SHA384)),
    ("30 0d 06 09 2a 86 48 86 f7 0d 01 01 0d 05 00", s.SigScheme("rsa", s.HASH_SHA512)),
    ("30 0a 06 08 2a 86 48 ce 3d 04 03 02", s.SigScheme("ecdsa", s.HASH_SHA256)),
    ("30 0a 06 08 2a 86 48 ce 3d 04 03 03", s.SigScheme("ecdsa", s.HASH_SHA384)),
    ("30 0a 06 08 2a 86 48 ce 3d 04 03 04", s.SigScheme("ecdsa", s.HASH_SHA512)),
]


@pytest.mark.parametrize(("blob", "scheme"), RFC7427_BLOBS, ids=[b[1].name for b in RFC7427_BLOBS])
def test_rfc7427_algorithm_identifiers(blob: str, scheme: s.SigScheme) -> None:
    assert scheme.algorithm_identifier() == h(blob)
    assert s.parse_algorithm_identifier(h(blob)) == scheme


PSS_SHA256 = ("30 41 06 09 2a 86 48 86 f7 0d 01 01 0a 30 34"
              " a0 0f 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00"
              " a1 1c 30 1a 06 09 2a 86 48 86 f7 0d 01 01 08 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00"
              " a2 03 02 01 20")


def test_pss_algorithm_identifier_der_and_with_explicit_trailer() -> None:
    pss = s.SigScheme("rsa", s.HASH_SHA256, pss=True)
    assert pss.algorithm_identifier() == h(PSS_SHA256)  # DER: default trailerField left out
    # RFC 7427 A.4.3 as published, trailerField 1 written out (length 0x46); its erratum gives
    # the DER form above (0x41, no trailerField), which is what vpnsh and strongSwan send
    explicit = h("30 46 06 09 2a 86 48 86 f7 0d 01 01 0a 30 39" + PSS_SHA256[44:] + " a3 03 02 01 01")
    assert s.parse_algorithm_identifier(explicit) == pss
    for hid in (s.HASH_SHA384, s.HASH_SHA512):
        sch = s.SigScheme("rsa", hid, pss=True)
        assert s.parse_algorithm_identifier(sch.algorithm_identifier()) == sch


@pytest.mark.parametrize("blob", [
    # RFC 7427 A.4.1 "RSASSA-PSS with empty parameters" (all defaults: SHA-1, MGF1-SHA-1, salt 20)
    "30 0d 06 09 2a 86 48 86 f7 0d 01 01 0a 30 00",
    # RFC 7427 A.4.2 "RSASSA-PSS with default parameters", written out (SHA-1 again); the
    # erratum to A.4 says DER leaves defaults out, but a peer may still send this form
    "30 3e 06 09 2a 86 48 86 f7 0d 01 01 0a 30 31 a0 0b 30 09 06 05 2b 0e 03 02 1a 05 00"
    " a1 18 30 16 06 09 2a 86 48 86 f7 0d 01 01 08 30 09 06 05 2b 0e 03 02 1a 05 00"
    " a2 03 02 01 14 a3 03 02 01 01",
    "30 0b 06 09 2a 86 48 86 f7 0d 01 01 0a",        # PSS with no parameters at all (not DER)
    "30 0d 06 09 2a 86 48 86 f7 0d 01 01 05 05 00",  # sha1WithRSAEncryption: not offered...
    "30 0d 06 09 2a 86 48 86 f7 0d 01 01",           # truncated
    "31 00", "", "30 03 06 01 00",
])
def test_unusable_algorithm_identifiers(blob: str) -> None:
    if blob.endswith("01 05 05 00"):  # ... it parses, verify_auth refuses the hash
        assert s.parse_algorithm_identifier(h(blob)).hash_id == s.HASH_SHA1
        return
    with pytest.raises(s.SignatureError):
        s.parse_algorithm_identifier(h(blob))


def test_pss_with_wrong_salt_or_mgf_hash_refused() -> None:
    bad_salt = h(PSS_SHA256[:-2] + "14")  # salt 20 with SHA-256
    with pytest.raises(s.SignatureError, match="salt length 20"):
        s.parse_algorithm_identifier(bad_salt)


ALL = [(RSA_KEY, sch) for sch in s.SCHEMES if sch.key == "rsa"] + [
    (P256, s.SigScheme("ecdsa", s.HASH_SHA256)), (P384, s.SigScheme("ecdsa", s.HASH_SHA384))]


@pytest.mark.parametrize(("key", "scheme"), ALL, ids=[a[1].name for a in ALL])
def test_method14_sign_verify_and_tamper(key: object, scheme: s.SigScheme) -> None:
    data = s.sign_auth(key, OCTETS, s.AUTH_DIGITAL_SIGNATURE, scheme)
    algid = scheme.algorithm_identifier()
    assert data[0] == len(algid) and data[1:1 + len(algid)] == algid
    pub = key.public_key()  # type: ignore[attr-defined]
    assert s.verify_auth(pub, OCTETS, s.AUTH_DIGITAL_SIGNATURE, data) == scheme
    with pytest.raises(s.SignatureError, match="does not verify"):
        s.verify_auth(pub, OCTETS + b"x", s.AUTH_DIGITAL_SIGNATURE, data)
    # the signature proper checks out with cryptography directly
    sig = data[1 + len(algid):]
    hh = {s.HASH_SHA256: hashes.SHA256(), s.HASH_SHA384: hashes.SHA384(),
          s.HASH_SHA512: hashes.SHA512()}[scheme.hash_id]
    if scheme.key == "ecdsa":
        pub.verify(sig, OCTETS, ec.ECDSA(hh))
    elif scheme.pss:
        pub.verify(sig, OCTETS, padding.PSS(padding.MGF1(hh), len(hh.digest_size * b"x")), hh)
    else:
        pub.verify(sig, OCTETS, padding.PKCS1v15(), hh)


def test_method14_hash_not_offered_and_key_mismatch() -> None:
    data = s.sign_auth(RSA_KEY, OCTETS, s.AUTH_DIGITAL_SIGNATURE, s.SigScheme("rsa", s.HASH_SHA512))
    with pytest.raises(s.NoSignatureAlgorithm, match="SHA2_512, which was not offered"):
        s.verify_auth(RSA_KEY.public_key(), OCTETS, 14, data, accepted_hashes=(s.HASH_SHA256,))
    with pytest.raises(s.SignatureError, match="certificate key is EllipticCurvePublicKey|"
                                               "certificate key is _EllipticCurvePublicKey|key is"):
        s.verify_auth(P256.public_key(), OCTETS, 14, data)
    with pytest.raises(s.SignatureError, match="truncated"):
        s.verify_auth(P256.public_key(), OCTETS, 14, b"\x40abc")


def test_legacy_methods_1_9_10() -> None:
    d1 = s.sign_auth(RSA_KEY, OCTETS, s.AUTH_RSA)
    RSA_KEY.public_key().verify(d1, OCTETS, padding.PKCS1v15(), hashes.SHA1())
    assert s.verify_auth(RSA_KEY.public_key(), OCTETS, s.AUTH_RSA, d1) is None
    d9 = s.sign_auth(P256, OCTETS, s.AUTH_ECDSA_256)
    assert len(d9) == 64
    s.verify_auth(P256.public_key(), OCTETS, s.AUTH_ECDSA_256, d9)
    d10 = s.sign_auth(P384, OCTETS, s.AUTH_ECDSA_384)
    assert len(d10) == 96
    s.verify_auth(P384.public_key(), OCTETS, s.AUTH_ECDSA_384, d10)
    with pytest.raises(s.SignatureError, match="does not verify"):
        s.verify_auth(P384.public_key(), OCTETS[1:], s.AUTH_ECDSA_384, d10)
    with pytest.raises(s.SignatureError, match="does not match"):
        s.verify_auth(P384.public_key(), OCTETS, s.AUTH_ECDSA_256, d9)
    with pytest.raises(s.SignatureError, match="not RSA"):
        s.verify_auth(P256.public_key(), OCTETS, s.AUTH_RSA, d1)
    with pytest.raises(s.SignatureError, match="not a signature method"):
        s.verify_auth(P256.public_key(), OCTETS, s.AUTH_PSK, d1)


def test_choose_auth() -> None:
    assert s.choose_auth(RSA_KEY, None) == (s.AUTH_RSA, None)
    assert s.choose_auth(RSA_KEY, [s.HASH_SHA512, s.HASH_SHA384]) == (
        14, s.SigScheme("rsa", s.HASH_SHA384))
    assert s.choose_auth(RSA_KEY, [s.HASH_SHA256], prefer_pss=True) == (
        14, s.SigScheme("rsa", s.HASH_SHA256, pss=True))
    assert s.choose_auth(RSA_KEY, [s.HASH_SHA1]) == (s.AUTH_RSA, None)
    assert s.choose_auth(P256, None) == (s.AUTH_ECDSA_256, None)
    assert s.choose_auth(P384, [s.HASH_SHA256, s.HASH_SHA384]) == (
        14, s.SigScheme("ecdsa", s.HASH_SHA384))
    with pytest.raises(s.NoSignatureAlgorithm, match="no usable signature algorithm"):
        s.choose_auth(ec.generate_private_key(ec.SECP521R1()), None)


def test_signature_hash_algorithms_notify() -> None:
    assert s.signature_hash_algorithms() == h("0002 0003 0004")
    assert s.parse_signature_hash_algorithms(h("0001000200030004 0005")) == [1, 2, 3, 4, 5]
    for bad in (b"", b"\x00"):
        with pytest.raises(ValueError):
            s.parse_signature_hash_algorithms(bad)
    assert s.auth_payload_body(14, b"ab") == b"\x0e\x00\x00\x00ab"
    assert s.parse_auth_payload_body(b"\x0e\x00\x00\x00ab") == (14, b"ab")


def _ca(name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    n = x509.Name.from_rfc4514_string(f"CN={name}")
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(n).issuer_name(n).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("gw.example")]), False)
            .sign(key, hashes.SHA256()))


def test_cert_and_certreq_payloads() -> None:
    a, b = _ca("A"), _ca("B")
    body = s.cert_payload_body(a)
    assert body[0] == 4 and s.parse_cert_payload_body(body) == a
    with pytest.raises(ValueError, match="encoding 12"):
        s.parse_cert_payload_body(b"\x0c" + body[1:])
    req = s.certreq_payload_body([a, b])
    spki = a.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    assert req[:21] == b"\x04" + hashlib.sha1(spki).digest()  # noqa: S324 - RFC 7296 says SHA-1
    assert len(req) == 41
    hashes_ = s.parse_certreq_payload_body(req)
    assert s.requested_cas(hashes_, {"a": a, "b": b, "c": _ca("C")}) == ["a", "b"]
    with pytest.raises(ValueError, match="not a list of SHA-1"):
        s.parse_certreq_payload_body(req[:-1])


def test_id_payloads_round_trip_to_peer_id_checks() -> None:
    cert = _ca("gw")
    t, data = s.id_payload_data("dn", "", cert)
    assert t == s.ID_DER_ASN1_DN and data == cert.subject.public_bytes()
    kind, value = s.peer_id(t, data)
    assert kind == "dn" and check_peer_id(cert, kind, value) is None
    t, data = s.id_payload_data("dn", "CN=gw")
    assert data == cert.subject.public_bytes()
    t, data = s.id_payload_data("fqdn", "gw.example")
    assert s.peer_id(t, data) == ("fqdn", "gw.example")
    assert s.peer_id(*s.id_payload_data("ipaddr", "2001:db8::1")) == ("ipaddr", "2001:db8::1")
    with pytest.raises(ValueError):
        s.peer_id(s.ID_DER_ASN1_DN, b"\x30\x05\x31")


def test_ikev1_rsa_signature() -> None:
    hash_i = hashlib.sha256(b"HASH_I inputs").digest()
    sig = s.ikev1_sign(RSA_KEY, hash_i)
    assert len(sig) == 256
    # independent check: the raw PKCS#1 v1.5 block recovered by cryptography is HASH_I itself
    assert RSA_KEY.public_key().recover_data_from_signature(sig, padding.PKCS1v15(), None) == hash_i
    s.ikev1_verify(RSA_KEY.public_key(), hash_i, sig)
    assert s.ikev1_sign(RSA_KEY, hash_i) == sig  # deterministic despite the blinding
    with pytest.raises(s.SignatureError, match="does not verify"):
        s.ikev1_verify(RSA_KEY.public_key(), hash_i[:-1] + bytes([hash_i[-1] ^ 1]), sig)
    with pytest.raises(s.SignatureError, match="does not verify"):
        s.ikev1_verify(RSA_KEY.public_key(), hash_i, sig[:-1] + bytes([sig[-1] ^ 1]))
    with pytest.raises(s.SignatureError, match="needs an RSA key"):
        s.ikev1_sign(P256, hash_i)
