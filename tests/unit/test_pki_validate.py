"""Chain validation and peer-ID checks with certificates made by strongSwan's ``pki`` tool
(the recipe of shared/notes/strongswan-peer.md) and by the store's own generator."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from vpnsh.engine.pki import validate as v
from vpnsh.engine.pki.profile import CertProfile, check_profiles, profiles_from_config
from vpnsh.engine.pki.store import CertStore


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _pki(*args: str, stdin: bytes | None = None) -> bytes:
    out = subprocess.run(["pki", *args], input=stdin, capture_output=True, check=True, timeout=60)
    return out.stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Root CA -> intermediate -> peer (ECDSA P-256, SAN) and revoked (RSA 3072); a second,
    unrelated root; the intermediate's CRL revoking ``revoked``."""
    if shutil.which("pki") is None:
        pytest.skip("strongswan-pki (pki) is not installed")
    d = tmp_path_factory.mktemp("pki")
    f: dict[str, bytes] = {}
    f["ca.key"] = _pki("--gen", "--type", "rsa", "--size", "2048", "--outform", "pem")
    (d / "ca.key").write_bytes(f["ca.key"])
    f["ca.crt"] = _pki("--self", "--ca", "--lifetime", "3650", "--in", str(d / "ca.key"),
                       "--type", "rsa", "--dn", "C=US, O=Lab, CN=Lab Root CA", "--outform", "pem")
    (d / "ca.crt").write_bytes(f["ca.crt"])
    f["int.key"] = _pki("--gen", "--type", "rsa", "--size", "2048", "--outform", "pem")
    (d / "int.key").write_bytes(f["int.key"])
    pub = _pki("--pub", "--in", str(d / "int.key"), "--type", "rsa")
    f["int.crt"] = _pki("--issue", "--lifetime", "1825", "--cacert", str(d / "ca.crt"),
                        "--cakey", str(d / "ca.key"), "--dn", "C=US, O=Lab, CN=Lab Intermediate",
                        "--ca", "--outform", "pem", stdin=pub)
    (d / "int.crt").write_bytes(f["int.crt"])
    for name, typ, size, dn, san in (
            ("peer", "ecdsa", "256", "C=US, O=Lab, CN=peer.lab.example", "peer.lab.example"),
            ("revoked", "rsa", "3072", "C=US, O=Lab, CN=revoked.lab.example", "revoked.lab.example")):
        f[f"{name}.key"] = _pki("--gen", "--type", typ, "--size", size, "--outform", "pem")
        (d / f"{name}.key").write_bytes(f[f"{name}.key"])
        pub = _pki("--pub", "--in", str(d / f"{name}.key"), "--type", typ)
        f[f"{name}.crt"] = _pki("--issue", "--lifetime", "365", "--cacert", str(d / "int.crt"),
                                "--cakey", str(d / "int.key"), "--dn", dn, "--san", san,
                                "--san", "192.0.2.7", "--san", f"admin@{san}",
                                "--flag", "serverAuth", "--flag", "clientAuth",
                                "--outform", "pem", stdin=pub)
        (d / f"{name}.crt").write_bytes(f[f"{name}.crt"])
    f["int.crl"] = _pki("--signcrl", "--cacert", str(d / "int.crt"), "--cakey", str(d / "int.key"),
                        "--reason", "key-compromise", "--cert", str(d / "revoked.crt"),
                        "--outform", "pem")
    f["other.key"] = _pki("--gen", "--type", "ecdsa", "--size", "384", "--outform", "pem")
    (d / "other.key").write_bytes(f["other.key"])
    f["other.crt"] = _pki("--self", "--ca", "--lifetime", "3650", "--in", str(d / "other.key"),
                          "--type", "ecdsa", "--dn", "C=US, O=Other, CN=Other Root CA",
                          "--outform", "pem")
    return f


def _c(lab: dict[str, bytes], name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(lab[f"{name}.crt"])


@pytest.fixture
def store(tmp_path: Path, lab: dict[str, bytes]) -> CertStore:
    s = CertStore(tmp_path)
    s.import_file("lab-root", lab["ca.crt"], "pem")
    s.import_file("lab-int", lab["int.crt"] + lab["int.key"], "pem", keypair=True)
    s.import_file("other-root", lab["other.crt"], "pem")
    s.import_crl("lab-int", lab["int.crl"])
    return s


def test_chain_with_intermediate_sent_by_peer_validates(lab: dict[str, bytes]) -> None:
    r = v.validate_chain(_c(lab, "peer"), [_c(lab, "int")], [_c(lab, "ca")], now=_now(),
                         policy=v.Policy(use_crl=False))
    assert r.ok, r.reason
    assert [x.subject.rfc4514_string() for x in r.chain] == [
        "CN=peer.lab.example,O=Lab,C=US", "CN=Lab Intermediate,O=Lab,C=US",
        "CN=Lab Root CA,O=Lab,C=US"]


def test_missing_intermediate_is_untrusted_naming_the_issuer(lab: dict[str, bytes]) -> None:
    r = v.validate_chain(_c(lab, "peer"), [], [_c(lab, "ca")], now=_now())
    assert not r.ok and r.failure is not None and r.failure.code == v.UNTRUSTED_CA
    assert "untrusted CA" in r.reason and "CN=Lab Intermediate" in r.reason
    assert "Lab Root CA" in r.reason  # the trusted CAs are named


def test_wrong_ca_is_untrusted(lab: dict[str, bytes]) -> None:
    r = v.validate_chain(_c(lab, "peer"), [_c(lab, "int")], [_c(lab, "other")], now=_now())
    assert r.failure is not None and r.failure.code == v.UNTRUSTED_CA
    assert "Other Root CA" in r.reason


def test_expired_and_not_yet_valid(lab: dict[str, bytes]) -> None:
    late = _now() + datetime.timedelta(days=400)  # the peer certificate lives 365 days
    r = v.validate_chain(_c(lab, "peer"), [_c(lab, "int")], [_c(lab, "ca")], now=late)
    assert r.failure is not None and r.failure.code == v.EXPIRED
    assert "peer.lab.example" in r.reason and "expired on" in r.reason
    early = _now() - datetime.timedelta(days=2)
    r = v.validate_chain(_c(lab, "peer"), [_c(lab, "int")], [_c(lab, "ca")], now=early)
    assert r.failure is not None and r.failure.code == v.NOT_YET_VALID
    assert "not yet valid" in r.reason


def test_revoked_by_the_intermediates_crl(store: CertStore, lab: dict[str, bytes]) -> None:
    prof = CertProfile("CP", ("lab-root",), use_crl=True)
    r = prof.validate(store, _c(lab, "revoked"), [_c(lab, "int")], now=_now())
    assert r.failure is not None and r.failure.code == v.REVOKED, r.reason
    assert "revoked.lab.example" in r.reason and "keyCompromise" in r.reason
    ok = prof.validate(store, _c(lab, "peer"), [_c(lab, "int")], now=_now())
    assert ok.ok, ok.reason
    # the root has no CRL: not strict, so only a warning for the intermediate's own status
    assert any("Lab Intermediate" in w for w in ok.warnings)
    # without CRL checking the revoked certificate passes: the check is what rejected it
    assert CertProfile("CP", ("lab-root",)).validate(
        store, _c(lab, "revoked"), [_c(lab, "int")], now=_now()).ok


def test_strict_revocation_fails_without_a_crl(store: CertStore, lab: dict[str, bytes]) -> None:
    prof = CertProfile("CP", ("lab-root",), use_crl=True)
    r = prof.validate(store, _c(lab, "peer"), [_c(lab, "int")], now=_now(), strict_revocation=True)
    assert r.failure is not None and r.failure.code == v.REVOCATION_UNKNOWN
    assert "no CRL for CA 'C=US, O=Lab, CN=Lab Root CA'" in r.reason


def test_store_intermediate_completes_a_chain_the_peer_did_not_send(
        store: CertStore, lab: dict[str, bytes]) -> None:
    r = CertProfile("CP", ("lab-root",)).validate(store, _c(lab, "peer"), [], now=_now())
    assert r.ok, r.reason and len(r.chain) == 3


def test_tampered_signature(lab: dict[str, bytes]) -> None:
    peer = _c(lab, "peer")
    der = bytearray(peer.public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                                 fromlist=["Encoding"]).Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value
    bad = x509.load_der_x509_certificate(bytes(der))
    r = v.validate_chain(bad, [_c(lab, "int")], [_c(lab, "ca")], now=_now())
    assert r.failure is not None and r.failure.code == v.BAD_SIGNATURE


def test_end_entity_cannot_act_as_ca(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    s.generate("root", "Root", "ECDSA", 256, ca=True)
    s.generate("leaf", "leaf.example", "ECDSA", 256, signed_by="root")
    # forge: a certificate "issued" by the leaf (a non-CA) with the leaf's key
    leaf, key = s.certificate("leaf"), s.private_key("leaf")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    sub = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=sub"))
            .issuer_name(leaf.subject).public_key(sub.public_key()).serial_number(5)
            .not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    r = v.validate_chain(cert, [leaf], [s.certificate("root")], now=_now())
    assert r.failure is not None and r.failure.code == v.NOT_A_CA
    assert "leaf.example" in r.reason


def test_strict_eku(tmp_path: Path) -> None:
    s = CertStore(tmp_path)
    s.generate("root", "Root", "ECDSA", 256, ca=True)
    root_key = s.private_key("root")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID
    k = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=mail"))
            .issuer_name(s.certificate("root").subject).public_key(k.public_key())
            .serial_number(9).not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
            .sign(root_key, hashes.SHA256()))
    anchors = [s.certificate("root")]
    assert v.validate_chain(cert, [], anchors, now=_now()).ok
    r = v.validate_chain(cert, [], anchors, now=_now(), policy=v.Policy(strict_eku=True))
    assert r.failure is not None and r.failure.code == v.KEY_USAGE
    assert "emailProtection" in r.reason


@pytest.mark.parametrize(("id_type", "value", "ok"), [
    ("dn", "C=US, O=Lab, CN=peer.lab.example", True),       # strongSwan order
    ("dn", "CN=peer.lab.example,O=Lab,C=US", True),          # RFC 4514 order
    ("dn", "/C=US/O=Lab/CN=peer.lab.example", True),         # PAN-OS display form
    ("dn", "C=US, O=Lab, CN=other.lab.example", False),
    ("fqdn", "peer.lab.example", True),
    ("fqdn", "PEER.lab.example.", True),
    ("fqdn", "other.lab.example", False),
    ("ufqdn", "admin@peer.lab.example", True),
    ("ufqdn", "root@peer.lab.example", False),
    ("ipaddr", "192.0.2.7", True),
    ("ipaddr", "192.0.2.8", False),
    ("keyid", "peer", False),
])
def test_peer_id_against_certificate(lab: dict[str, bytes], id_type: str, value: str,
                                     ok: bool) -> None:
    fail = v.check_peer_id(_c(lab, "peer"), id_type, value)
    assert (fail is None) == ok
    if fail is not None:
        assert fail.code == v.ID_MISMATCH
        assert f"{id_type}:{value}" in fail.reason  # the peer's ID ...
        assert "CN=peer.lab.example" in fail.reason and "DNS:peer.lab.example" in fail.reason


def test_peer_id_dn_from_an_id_payload_name(lab: dict[str, bytes]) -> None:
    name = x509.Name.from_rfc4514_string("CN=peer.lab.example,O=Lab,C=US")
    assert v.check_peer_id(_c(lab, "peer"), "dn", name) is None


def test_profiles_from_config_and_store_check(store: CertStore) -> None:
    tree = {"shared": {"certificate-profile": {
        "CP": {"CA": {"lab-root": {}}, "use-crl": "yes"},
        "BAD": {"CA": {"nope": {}, "lab-int": {}}}}}}
    profs = profiles_from_config(tree)
    assert profs["CP"] == CertProfile("CP", ("lab-root",), use_crl=True)
    problems = check_profiles(profs, store)
    assert problems == ["certificate-profile BAD: CA nope is not a certificate of this device "
                        "(request certificate generate / scp import)"]


@pytest.mark.parametrize(("cert", "cas", "crl", "trusted"), [
    ("peer", ("ca", "int"), False, True),
    ("revoked", ("ca", "int"), False, True),
    ("revoked", ("ca", "int"), True, False),
    ("peer", ("ca", "int"), True, True),
    ("peer", ("other",), False, False),
    ("peer", ("ca",), False, False),   # the intermediate missing
])
def test_verdicts_agree_with_strongswan_pki_verify(lab: dict[str, bytes], tmp_path: Path, cert: str,
                                                   cas: tuple[str, ...], crl: bool,
                                                   trusted: bool) -> None:
    """strongSwan's own chain check (``pki --verify``) and ours reach the same verdict."""
    (tmp_path / "c.crt").write_bytes(lab[f"{cert}.crt"])
    args = ["pki", "--verify", "--in", str(tmp_path / "c.crt")]
    for ca in cas:
        (tmp_path / f"{ca}.crt").write_bytes(lab[f"{ca}.crt"])
        args += ["--cacert", str(tmp_path / f"{ca}.crt")]
    if crl:
        (tmp_path / "int.crl").write_bytes(lab["int.crl"])
        args += ["--crl", str(tmp_path / "int.crl")]
    theirs = subprocess.run(args, capture_output=True, timeout=60).returncode == 0
    crls = {x509.load_pem_x509_crl(lab["int.crl"]).issuer.public_bytes():
            x509.load_pem_x509_crl(lab["int.crl"])} if crl else {}
    anchors = [_c(lab, "ca")] if "ca" in cas else [_c(lab, "other")]
    inter = [_c(lab, "int")] if "int" in cas else []
    ours = v.validate_chain(_c(lab, cert), inter, anchors, now=_now(),
                            policy=v.Policy(use_crl=crl), crl_for=v.crl_lookup(crls))
    assert theirs == trusted and ours.ok == trusted, ours.reason
