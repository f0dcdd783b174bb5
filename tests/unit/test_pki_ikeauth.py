"""Certificate authentication between two gateways' stores, end to end through the API the
IKE tasks call: CERT with the intermediate, CERTREQ, AUTH (methods 9 and 14), IKEv1 SIG."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.helpers.pki import keypair_pem
from vpnsh.engine.pki import ikesig
from vpnsh.engine.pki.ikeauth import BAD_SIGNATURE, NO_ALGORITHM, LocalCredential, PeerCheck
from vpnsh.engine.pki.profile import CertProfile
from vpnsh.engine.pki.store import CertStore
from vpnsh.engine.pki.validate import ID_MISMATCH, UNTRUSTED_CA

OCTETS = b"first message" + b"\x42" * 32 + b"prf(SK_p, ID')"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertStore, CertStore]:
    ca = CertStore(tmp_path_factory.mktemp("ca"))
    ca.generate("root", "Lab Root", "RSA", 2048, ca=True)
    ca.generate("int", "Lab Intermediate", "ECDSA", 384, ca=True, signed_by="root")
    ca.generate("a", "a.example", "ECDSA", 256, signed_by="int", hostnames=["a.example"])
    ca.generate("b", "b.example", "RSA", 2048, signed_by="int", hostnames=["b.example"],
                ips=["192.0.2.2"])
    ca.generate("other", "Other Root", "ECDSA", 256, ca=True)
    a = CertStore(tmp_path_factory.mktemp("a"))
    a.import_file("root", ca.export_pem("root"), "pem")
    a.import_file("int", ca.export_pem("int"), "pem")  # A knows its intermediate and sends it
    a.import_file("a", keypair_pem(ca, "a"), "pem", keypair=True)
    b = CertStore(tmp_path_factory.mktemp("b"))
    b.import_file("root", ca.export_pem("root"), "pem")  # B trusts only the root
    b.import_file("b", keypair_pem(ca, "b"), "pem", keypair=True)
    b.import_file("other", ca.export_pem("other"), "pem")
    return a, b


def test_ikev2_auth_ecdsa_with_intermediate(gateways: tuple[CertStore, CertStore]) -> None:
    a, b = gateways
    me = LocalCredential.load(a, "a", "fqdn", "a.example")
    assert [c.subject.rfc4514_string() for c in [me.cert, *me.chain]] == [
        "CN=a.example", "CN=Lab Intermediate"]
    assert len(me.cert_payloads()) == 2 and me.auth_label == "ECDSA signature"
    check = PeerCheck(b, CertProfile("CP", ("root",)), peer_id_type="fqdn", peer_id="a.example")
    assert ikesig.parse_certreq_payload_body(check.certreq()) == [
        ikesig.spki_sha1(b.certificate("root"))]
    for hashes_ in (list(ikesig.OUR_HASHES), None):  # RFC 7427, then method 9
        auth = me.auth_payload(OCTETS, hashes_)
        v = check.check(me.cert_payloads(), me.id_type, me.id_data, auth, OCTETS, _now())
        assert v.ok, v.reason
        assert v.peer_id == "fqdn:a.example"
        assert v.scheme == ("ecdsa-with-sha256" if hashes_ else "method 9")
        assert len(v.chain) == 3


def test_ikev2_auth_rsa_pss_and_failures(gateways: tuple[CertStore, CertStore]) -> None:
    a, b = gateways
    me = LocalCredential.load(b, "b", "dn")
    check = PeerCheck(a, CertProfile("CP", ("root",)))
    auth = me.auth_payload(OCTETS, [ikesig.HASH_SHA384], prefer_pss=True)
    v = check.check(me.cert_payloads(), me.id_type, me.id_data, auth, OCTETS, _now())
    assert v.ok and v.scheme == "rsassa-pss-sha384" and v.peer_id == "dn:CN=b.example"
    # the signature over other octets
    v = check.check(me.cert_payloads(), me.id_type, me.id_data, auth, OCTETS + b"!", _now())
    assert not v.ok and v.code == BAD_SIGNATURE and "does not verify" in v.reason
    # a hash we did not offer
    v = check.check(me.cert_payloads(), me.id_type, me.id_data, auth, OCTETS, _now(),
                    accepted_hashes=(ikesig.HASH_SHA256,))
    assert v.code == NO_ALGORITHM and v.reason.startswith("no usable signature algorithm")
    # an ID payload the certificate does not carry, unless allowed
    t, d = ikesig.id_payload_data("fqdn", "c.example")
    v = check.check(me.cert_payloads(), t, d, auth, OCTETS, _now())
    assert v.code == ID_MISMATCH and "fqdn:c.example" in v.reason and "CN=b.example" in v.reason
    lax = PeerCheck(a, CertProfile("CP", ("root",)), allow_id_payload_mismatch=True)
    assert lax.check(me.cert_payloads(), t, d, auth, OCTETS, _now()).ok
    # a configured peer-id the certificate does not carry: both IDs named
    strict = PeerCheck(a, CertProfile("CP", ("root",)), peer_id_type="ipaddr", peer_id="192.0.2.9")
    v = strict.check(me.cert_payloads(), me.id_type, me.id_data, auth, OCTETS, _now())
    assert v.code == ID_MISMATCH and "ipaddr:192.0.2.9" in v.reason and "dn:CN=b.example" in v.reason


def test_wrong_ca_and_missing_intermediate(gateways: tuple[CertStore, CertStore]) -> None:
    a, b = gateways
    me = LocalCredential.load(a, "a", "fqdn", "a.example")
    auth = me.auth_payload(OCTETS, None)
    wrong = PeerCheck(b, CertProfile("CP", ("other",)))
    v = wrong.check(me.cert_payloads(), me.id_type, me.id_data, auth, OCTETS, _now())
    assert v.code == UNTRUSTED_CA and "untrusted CA" in v.reason
    alone = PeerCheck(b, CertProfile("CP", ("root",)))  # B lacks the intermediate
    v = alone.check(me.cert_payloads()[:1], me.id_type, me.id_data, auth, OCTETS, _now())
    assert v.code == UNTRUSTED_CA and "Lab Intermediate" in v.reason
    assert alone.check([], me.id_type, me.id_data, auth, OCTETS, _now()).code == "no-certificate"


def test_local_id_must_be_in_the_certificate(gateways: tuple[CertStore, CertStore]) -> None:
    a, _ = gateways
    with pytest.raises(ValueError, match="local-id fqdn:x.example is not in certificate a"):
        LocalCredential.load(a, "a", "fqdn", "x.example")


def test_ikev1_main_mode_rsa_signature(gateways: tuple[CertStore, CertStore], tmp_path: Path) -> None:
    a, b = gateways
    me = LocalCredential.load(b, "b", "ipaddr", "192.0.2.2")
    hash_r = b"\x17" * 20
    sig = me.sign_ikev1(hash_r)
    check = PeerCheck(a, CertProfile("CP", ("root",)), peer_id_type="ipaddr", peer_id="192.0.2.2")
    v = check.check_ikev1(me.cert_payloads(), me.id_type, me.id_data, hash_r, sig, _now())
    assert v.ok and v.peer_id == "ipaddr:192.0.2.2"
    v = check.check_ikev1(me.cert_payloads(), me.id_type, me.id_data, b"\x18" * 20, sig, _now())
    assert v.code == BAD_SIGNATURE
