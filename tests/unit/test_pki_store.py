"""The certificate store: generate, import PEM/PKCS#12, export, CRLs; keys never in clear."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from vpnsh.engine.pki.store import CertStore, PkiError, read_local_file

NOW = datetime.datetime.now(datetime.UTC)


def test_generate_root_and_signed_certificates(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    root = s.generate("root-ca", "Lab Root", "RSA", 2048, ca=True, digest="sha384",
                      organization="Lab", country="US")
    leaf = s.generate("fw-a", "fw-a.example", "ECDSA", 384, signed_by="root-ca",
                      hostnames=["fw-a.example"], ips=["192.0.2.1"], emails=["vpn@example.com"])
    assert root.issuer == root.subject and root.signature_hash_algorithm is not None
    assert root.signature_hash_algorithm.name == "sha384"
    leaf.verify_directly_issued_by(root)
    info = s.describe("fw-a")
    assert info["subject"] == "/CN=fw-a.example" and info["issuer"] == "/C=US/O=Lab/CN=Lab Root"
    assert info["key_type"] == "ECDSA P-384" and info["ca"] is False
    assert info["key_usage"] == ["digitalSignature"]
    assert info["subject_alt_name"] == {"dns": ["fw-a.example"], "email": ["vpn@example.com"],
                                        "ip": ["192.0.2.1"]}
    assert info["signed_by"] == "root-ca" and info["private_key"] is True
    assert s.describe("root-ca")["key_usage"] == ["digitalSignature", "keyCertSign", "cRLSign"]
    assert s.chain_for("fw-a") == [leaf]  # the root is not sent
    assert s.names() == ["fw-a", "root-ca"]


def test_private_key_encrypted_on_disk_with_the_master_key(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    s.generate("k", "k.example", "RSA", 2048)
    sealed = (tmp_path / "pki" / "keys" / "k.key").read_text()
    assert sealed.startswith("-AQ==") and "PRIVATE KEY" not in sealed
    assert (tmp_path / "pki" / "keys" / "k.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "master.key").exists()
    key = s.private_key("k")
    assert key.public_key().public_numbers() == s.certificate("k").public_key().public_numbers()
    # another master key cannot read it
    (tmp_path / "master.key").write_bytes(b"\x01" * 32)
    with pytest.raises(ValueError, match="cannot be decrypted"):
        CertStore(tmp_path).private_key("k")


@pytest.mark.parametrize(("kw", "msg"), [
    ({"algorithm": "RSA", "nbits": 512}, "rsa-nbits 512 is not supported"),
    ({"algorithm": "ECDSA", "nbits": 521}, "ecdsa-nbits 521 is not supported"),
    ({"algorithm": "DSA"}, "algorithm DSA is not supported"),
    ({"digest": "md5"}, "digest md5 is not supported"),
    ({"signed_by": "missing"}, "certificate missing does not exist"),
    ({"ips": ["fw"]}, "ip fw is not an IP address"),
])
def test_generate_rejects_bad_input_and_stores_nothing(tmp_path: Path, kw: dict,
                                                       msg: str) -> None:
    s = CertStore(tmp_path)
    with pytest.raises(PkiError, match=msg):
        s.generate("x", "x.example", **kw)
    assert s.names() == []


def test_generate_refuses_non_ca_signer_and_duplicates_and_bad_names(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    s.generate("leaf", "leaf", "ECDSA", 256)
    with pytest.raises(PkiError, match="not a CA"):
        s.generate("x", "x", "ECDSA", 256, signed_by="leaf")
    with pytest.raises(PkiError, match="already exists"):
        s.generate("leaf", "leaf", "ECDSA", 256)
    with pytest.raises(PkiError, match="not valid"):
        s.generate("../etc/passwd", "x")


def _ec_pair() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=imported.example,O=Lab")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(77)
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert, key


def test_import_pem_with_encrypted_key_and_pkcs12(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    cert, key = _ec_pair()
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw123"))
    with pytest.raises(PkiError, match="give its passphrase"):
        s.import_file("a", pem, "pem")
    with pytest.raises(PkiError, match="wrong passphrase"):
        s.import_file("a", pem, "pem", passphrase="nope")
    assert s.names() == []
    s.import_file("a", pem, "pem", passphrase="pw123", keypair=True)
    assert s.has_key("a")
    p12 = pkcs12.serialize_key_and_certificates(b"fw", key, cert, None,
                                                serialization.BestAvailableEncryption(b"s3"))
    with pytest.raises(PkiError, match="passphrase is wrong"):
        s.import_file("b", p12, "pkcs12", passphrase="bad")
    s.import_file("b", p12, "pkcs12", passphrase="s3", keypair=True)
    assert s.certificate("b") == cert and s.has_key("b")
    # a certificate alone, and keypair demanded without a key
    s.import_file("c", cert.public_bytes(serialization.Encoding.PEM), "pem")
    assert not s.has_key("c")
    with pytest.raises(PkiError, match="holds no private key"):
        s.import_file("d", cert.public_bytes(serialization.Encoding.PEM), "pem", keypair=True)
    # a key that is not the certificate's
    _, other = _ec_pair()
    bad = cert.public_bytes(serialization.Encoding.PEM) + other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with pytest.raises(PkiError, match="does not belong"):
        s.import_file("e", bad, "pem")
    assert s.names() == ["a", "b", "c"]
    # export: the public part only
    out = s.export_pem("a")
    assert b"PRIVATE" not in out and x509.load_pem_x509_certificate(out) == cert


def test_import_crl_checks_issuer_and_number(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    s.generate("ca", "CA", "ECDSA", 256, ca=True)
    s.generate("other", "Other", "ECDSA", 256, ca=True)

    def crl(issuer: str, number: int) -> bytes:
        b = (x509.CertificateRevocationListBuilder().issuer_name(s.certificate(issuer).subject)
             .last_update(NOW).next_update(NOW + datetime.timedelta(days=7))
             .add_extension(x509.CRLNumber(number), False)
             .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(42)
                                      .revocation_date(NOW).build()))
        return b.sign(s.private_key(issuer), hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM)

    with pytest.raises(PkiError, match="not issued by ca"):
        s.import_crl("ca", crl("other", 1))
    s.import_crl("ca", crl("ca", 2))
    with pytest.raises(PkiError, match="older than the one held"):
        s.import_crl("ca", crl("ca", 1))
    with pytest.raises(PkiError, match="not a CRL"):
        s.import_crl("ca", b"garbage")
    info = s.describe("ca")
    assert info["crl"]["revoked"] == 1


def test_read_local_file_refuses_remote_and_relative_paths(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="only files on this system"):
        read_local_file("admin@10.0.0.1:/tmp/x.pem")
    with pytest.raises(PkiError, match="absolute path"):
        read_local_file("x.pem")
    with pytest.raises(PkiError, match="cannot read"):
        read_local_file(str(tmp_path / "missing.pem"))
    (tmp_path / "f.pem").write_bytes(b"abc")
    assert read_local_file(str(tmp_path / "f.pem")) == b"abc"


def test_import_pem_key_before_certificate(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    cert, key = _ec_pair()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    s.import_file("k", pem, "pem", keypair=True)
    assert s.certificate("k") == cert and s.has_key("k")
