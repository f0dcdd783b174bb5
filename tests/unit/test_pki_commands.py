"""The certificate commands end to end: shell -> real vpnshd -> certificate store, text and
``--output json``; the show layout against a golden file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon
from vpnsh.control.client import Client
from vpnsh.render import pki as pki_render
from vpnsh.shell.session import Session

GOLDEN = Path(__file__).parent.parent / "golden"


def test_show_layout_matches_golden() -> None:
    data = {"certificates": [
        {"name": "lab-root", "subject": "/C=US/O=Lab/CN=Lab Root CA",
         "issuer": "/C=US/O=Lab/CN=Lab Root CA", "serial": "3009E7757920E7",
         "not_before": "2026-12-06T12:00:00Z", "not_after": "2036-12-04T12:00:00Z",
         "status": "valid", "key_type": "RSA 3072", "ca": True,
         "key_usage": ["keyCertSign", "cRLSign"], "ext_key_usage": None,
         "subject_alt_name": {"dns": [], "email": [], "ip": []}, "self_signed": True,
         "private_key": False, "crl": {"revoked": 1, "this_update": "2026-12-06T12:00:00Z",
                                       "next_update": "2026-12-21T12:00:00Z"}},
        {"name": "fw-a", "subject": "/C=US/O=Lab/CN=fw-a.lab.example",
         "issuer": "/C=US/O=Lab/CN=Lab Root CA", "serial": "5A",
         "not_before": "2026-12-06T12:00:00Z", "not_after": "2027-12-06T12:00:00Z",
         "status": "expired", "key_type": "ECDSA P-256", "ca": False,
         "key_usage": ["digitalSignature"], "ext_key_usage": ["serverAuth", "clientAuth"],
         "subject_alt_name": {"dns": ["fw-a.lab.example"], "email": [], "ip": ["192.0.2.1"]},
         "self_signed": False, "private_key": True, "signed_by": "lab-root"},
    ]}
    assert pki_render.show_certificates(data) == (GOLDEN / "sslmgr_certificate_info.txt").read_text()
    assert pki_render.show_certificates({"certificates": []}) == "No certificates\n"


def _run(s: Session, line: str) -> str:
    out = s.execute(line)
    assert out.ok, (line, out.error)
    return out.output


def test_certificate_commands_against_vpnshd(vpnshd: Daemon, tmp_path: Path) -> None:
    with Client(str(vpnshd.socket)) as client:
        s = Session(client, user="admin")
        out = _run(s, 'request certificate generate certificate-name lab-root name "Lab Root CA" '
                      "algorithm RSA rsa-nbits 2048 ca yes digest sha384 organization Lab "
                      "country-code US")
        assert out == "Successfully generated certificate lab-root\n"
        out = _run(s, "request certificate generate signed-by lab-root certificate-name fw-a "
                      "name fw-a.lab.example algorithm ECDSA ecdsa-nbits 256 "
                      "hostname [ fw-a.lab.example vpn.lab.example ] ip 192.0.2.1")
        assert out == "Successfully generated certificate fw-a\n"
        text = _run(s, "show sslmgr-store config-certificate-info")
        assert "db-name: /C=US/O=Lab/CN=Lab Root CA\n" in text
        assert "certificate-name: fw-a\n" in text and "key-type: ECDSA P-256\n" in text
        assert "subject-alt-name: DNS:fw-a.lab.example, DNS:vpn.lab.example, IP:192.0.2.1\n" in text
        assert "signed-by: lab-root\n" in text and "private-key: yes (encrypted)\n" in text
        # keys are never in clear in the state dir
        for f in (vpnshd.state_dir / "pki").rglob("*"):
            if f.is_file():
                assert b"PRIVATE KEY" not in f.read_bytes(), f

        # bad input: a clear error, nothing stored
        for line, msg in (
                ("request certificate generate certificate-name x name x algorithm RSA rsa-nbits 512",
                 "rsa-nbits 512 is not supported"),
                ("request certificate generate certificate-name fw-a name x algorithm ECDSA ecdsa-nbits 256",
                 "already exists"),
                ("request certificate generate certificate-name y name y algorithm ECDSA "
                 "ecdsa-nbits 256 signed-by fw-a", "not a CA"),
                ("scp import certificate from admin@10.1.1.1:/x.pem certificate-name z format pem",
                 "only files on this system"),
                (f"scp import certificate from {tmp_path}/none.pem certificate-name z format pem",
                 "cannot read")):
            bad = s.execute(line)
            assert not bad.ok and msg in bad.error, (line, bad.error)

        # export (public part) and import it back under another name
        _run(s, f"scp export certificate to {tmp_path}/fw-a.pem certificate-name fw-a format pem")
        pem = (tmp_path / "fw-a.pem").read_bytes()
        assert b"PRIVATE" not in pem
        out = _run(s, f"scp import certificate from {tmp_path}/fw-a.pem certificate-name fw-a-copy "
                      "format pem")
        assert out == "fw-a.pem saved\n"

        # a CA and CRL made by strongSwan's pki, imported as files
        if shutil.which("pki"):
            key = subprocess.run(["pki", "--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"],
                                 capture_output=True, check=True).stdout
            (tmp_path / "ss.key").write_bytes(key)
            crt = subprocess.run(["pki", "--self", "--ca", "--in", str(tmp_path / "ss.key"),
                                  "--type", "ecdsa", "--dn", "C=US, O=SS, CN=SS CA",
                                  "--outform", "pem"], capture_output=True, check=True).stdout
            (tmp_path / "ss.crt").write_bytes(crt)
            (tmp_path / "ss.pem").write_bytes(crt + key)
            crl = subprocess.run(["pki", "--signcrl", "--cacert", str(tmp_path / "ss.crt"),
                                  "--cakey", str(tmp_path / "ss.key"), "--serial", "0a",
                                  "--outform", "pem"], capture_output=True, check=True).stdout
            (tmp_path / "ss.crl").write_bytes(crl)
            _run(s, f"scp import keypair from {tmp_path}/ss.pem certificate-name ss-ca format pem")
            _run(s, f"scp import crl from {tmp_path}/ss.crl certificate-name ss-ca")
            bad = s.execute(f"scp import crl from {tmp_path}/ss.crl certificate-name lab-root")
            assert not bad.ok and "not issued by lab-root" in bad.error

        s.output_json = True
        data = json.loads(_run(s, "show sslmgr-store config-certificate-info"))
        by_name = {c["name"]: c for c in data["certificates"]}
        assert by_name["fw-a"]["issuer"] == "/C=US/O=Lab/CN=Lab Root CA"
        assert by_name["lab-root"]["ca"] is True and by_name["lab-root"]["key_type"] == "RSA 2048"
        assert by_name["fw-a-copy"]["private_key"] is False
        if "ss-ca" in by_name:
            assert by_name["ss-ca"]["crl"]["revoked"] == 1
        gen = json.loads(_run(s, "request certificate generate certificate-name e2 name e2 "
                                 "algorithm ECDSA ecdsa-nbits 384"))
        assert gen["certificate"]["key_type"] == "ECDSA P-384"
        assert json.loads(_run(s, "request certificate delete certificate-name e2"))["result"] == "success"
        assert not (vpnshd.state_dir / "pki" / "keys" / "e2.key").exists()


@pytest.mark.parametrize("line", [
    "configure", "set shared certificate-profile CP CA lab-root",
    "set shared certificate-profile CP use-crl yes",
    "set shared certificate-profile CP block-expired-cert yes",
    "set shared certificate-profile CP crl-receive-timeout 10",
])
def test_certificate_profile_config_lines_parse(line: str) -> None:
    from vpnsh.shell import parser
    mode = "operational" if line == "configure" else "configure"
    assert parser.parse(line, mode) is not None


def test_certificate_profile_validation_in_words() -> None:
    from vpnsh.config.validate import validate
    ok = {"shared": {"certificate-profile": {"CP": {"CA": {"lab-root": {}}, "use-crl": "yes"}}}}
    assert validate(ok) == []
    no_ca = {"shared": {"certificate-profile": {"CP": {"use-crl": "yes"}}}}
    assert [str(p) for p in validate(no_ca)] == [
        "shared -> certificate-profile -> CP needs at least one CA "
        "(set shared certificate-profile CP CA <certificate-name>)"]
    ocsp_only = {"shared": {"certificate-profile": {"CP": {"CA": {"r": {}}, "use-ocsp": "yes"}}}}
    assert "OCSP is not supported" in str(validate(ocsp_only)[0])
    bad = {"shared": {"certificate-profile": {"CP": {"CA": {"r": {}}, "crl-receive-timeout": 99}}}}
    assert validate(bad) and "crl-receive-timeout" in str(validate(bad)[0])


def test_history_masks_import_passphrases() -> None:
    from vpnsh.shell.history import mask_line
    line = "scp import keypair from /tmp/a.p12 certificate-name A format pkcs12 passphrase 'S3cr3t'"
    assert mask_line(line) == ("scp import keypair from /tmp/a.p12 certificate-name A format pkcs12 "
                               "passphrase ******")
    assert "S3cr3t" not in mask_line('run scp import keypair from /x certificate-name A format pem '
                                      'passphrase "S3cr3t"', ["network"])
    assert mask_line("show sslmgr-store config-certificate-info") == (
        "show sslmgr-store config-certificate-info")


def test_commit_warns_of_profile_cas_missing_from_the_store(vpnshd: Daemon) -> None:
    with Client(str(vpnshd.socket)) as client:
        s = Session(client, user="admin")
        _run(s, "request certificate generate certificate-name root name Root algorithm ECDSA "
                "ecdsa-nbits 256 ca yes")
        _run(s, "request certificate generate certificate-name leaf name leaf algorithm ECDSA "
                "ecdsa-nbits 256 signed-by root")
        for line in ("configure", "set shared certificate-profile CP CA root",
                     "set shared certificate-profile CP use-crl yes",
                     "set shared certificate-profile BAD CA nope",
                     "set shared certificate-profile BAD CA leaf"):
            _run(s, line)
        out = _run(s, "commit")
        assert "certificate-profile BAD: CA nope is not a certificate of this device" in out
        assert "certificate-profile BAD: certificate leaf is not a CA" in out
        assert "certificate-profile CP" not in out
        assert out.splitlines()[-1] == "Configuration committed successfully"
        bad = s.execute("set shared certificate-profile CP crl-receive-timeout 99")
        assert not bad.ok
