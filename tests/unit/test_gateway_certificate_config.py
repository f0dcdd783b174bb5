"""``set network ike gateway GW authentication certificate ...`` (issue 16): the grammar
keeps PSK and certificate exclusive, commit validation names what is missing, and the
mapping checks the certificate store (certificate present, with its key; profile CAs)."""

from __future__ import annotations

import pytest

from tests.unit.test_config_helpers import apply_lines, site_a
from vpnsh.config.tree import effective
from vpnsh.config.validate import validate
from vpnsh.config.vpn_schema import GATEWAYS
from vpnsh.engine.config_map import engine_config
from vpnsh.engine.pki.ikeauth import LocalCredential, PeerCheck
from vpnsh.engine.pki.store import CertStore

GW = "set network ike gateway GW-SiteB"
CERT_LINES = f"""
set shared certificate-profile CP CA lab-root
{GW} authentication certificate local-certificate name fw-a
{GW} authentication certificate certificate-profile CP
{GW} authentication certificate strict-validation-revocation yes
{GW} local-id type fqdn id fw-a.example
{GW} peer-id type dn id "CN=fw-b.example"
{GW} peer-id matching wildcard
{GW} protocol-common fragmentation enable yes
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> CertStore:
    st = CertStore(tmp_path_factory.mktemp("state"))
    st.generate("lab-root", "Lab Root", "ECDSA", 256, ca=True)
    st.generate("fw-a", "fw-a.example", "ECDSA", 256, signed_by="lab-root",
                hostnames=["fw-a.example"])
    st.import_file("no-key", st.export_pem("fw-a"), "pem")
    return st


def _plain(text: str) -> str:
    return text.removeprefix("-AQ==")


def test_certificate_replaces_the_pre_shared_key() -> None:
    tree = apply_lines(site_a(), CERT_LINES)
    auth = effective(tree, GATEWAYS + ("GW-SiteB",))["authentication"]
    assert "pre-shared-key" not in auth and auth["certificate"]["local-certificate"]["name"] == "fw-a"
    assert validate(tree) == []


@pytest.mark.parametrize("extra,message", [
    (f"{GW} authentication certificate certificate-profile NOPE", "not a valid reference"),
    (f"{GW} authentication certificate local-certificate hash-and-url enable yes",
     "is not supported"),
])
def test_commit_names_what_is_wrong(extra: str, message: str) -> None:
    tree = apply_lines(site_a(), CERT_LINES + extra)
    assert any(message in str(p) for p in validate(tree)), validate(tree)


def test_dn_needs_a_certificate_gateway() -> None:
    tree = apply_lines(site_a(), f'{GW} peer-id type dn id "CN=x"')
    assert any("dn needs authentication certificate" in str(p) for p in validate(tree))


def test_mapping_loads_the_credential_and_the_checks(store: CertStore) -> None:
    cfg = engine_config(apply_lines(site_a(), CERT_LINES), _plain, store=store)
    assert cfg.warnings == []
    gw = cfg.gateways["GW-SiteB"]
    assert gw.certificate is not None and gw.fragmentation and gw.peer_id_wildcard
    assert isinstance(gw.certificate.credential, LocalCredential)
    check = gw.certificate.peer_check
    assert isinstance(check, PeerCheck) and check.strict_validation_revocation
    assert check.peer_id_wildcard and check.peer_id_type == "dn"


@pytest.mark.parametrize("cert,message", [
    ("missing", "certificate missing does not exist"),
    ("no-key", "certificate no-key has no private key"),
])
def test_a_bad_certificate_leaves_the_gateway_out_with_why(store: CertStore, cert: str,
                                                           message: str) -> None:
    lines = CERT_LINES.replace("local-certificate name fw-a", f"local-certificate name {cert}")
    cfg = engine_config(apply_lines(site_a(), lines), _plain, store=store)
    assert "GW-SiteB" not in cfg.gateways
    assert message in cfg.problems["gateway GW-SiteB"]


def test_local_id_must_be_in_the_certificate(store: CertStore) -> None:
    lines = CERT_LINES.replace("id fw-a.example", "id other.example")
    cfg = engine_config(apply_lines(site_a(), lines), _plain, store=store)
    assert "local-id fqdn:other.example is not in certificate fw-a" in \
        cfg.problems["gateway GW-SiteB"]
