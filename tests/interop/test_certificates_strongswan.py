"""vpnsh <-> strongSwan with X.509 certificates. IKEv2 on a 1280-octet path that drops IP
fragments, so IKE_AUTH has to be split into RFC 7383 fragments; IKEv1 main mode with RSA
signatures (auth method 3).

strongSwan's `pki` tool makes the PKI: a root CA (RSA 3072), two intermediates (one per side,
RSA 3072), vpnsh's end-entity certificate (ECDSA P-256, issued by intermediate A) and
strongSwan's (RSA 3072, issued by intermediate B). Each side knows only the root and its own
intermediate, so a tunnel comes up only if each side sends its intermediate. vpnsh imports
everything with its own commands (`scp import certificate|keypair|crl`). The bad
certificates (revoked, expired, from another CA, with another ID) are each rejected by vpnsh
with its reason in `test vpn ike-sa` output and in ikemgr.log.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.netns import (  # noqa: F401  (netlab is a fixture)
    NetLab,
    TwoSites,
    netlab,
    two_sites,
    wait_until,
)
from tests.helpers.strongswan import (
    PLUGINS,
    Child,
    Connection,
    StrongSwan,
    ViciError,
    requires_strongswan,
)
from tests.interop.test_ikev2_strongswan import Pair as Ikev2Pair

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan]

SW_PLUGINS = PLUGINS + " pkcs8 revocation constraints"
VPNSH_ID = "vpnsh.lab.example"
SW_ID = "sw.lab.example"
PATH_MTU = 1280


def _pki(*args: str, stdin: bytes | None = None) -> bytes:
    res = subprocess.run(["pki", *args], input=stdin, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout


def _key(d: Path, name: str, kind: str, size: int) -> Path:
    path = d / f"{name}.key"
    path.write_bytes(_pki("--gen", "--type", kind, "--size", str(size), "--outform", "pem"))
    return path


def _issue(d: Path, name: str, key: Path, kind: str, ca: str, dn: str, *extra: str) -> Path:
    pub = _pki("--pub", "--in", str(key), "--type", kind)
    path = d / f"{name}.crt"
    path.write_bytes(_pki("--issue", "--cacert", str(d / f"{ca}.crt"), "--cakey",
                          str(d / f"{ca}.key"), "--dn", dn, "--outform", "pem", *extra,
                          stdin=pub))
    return path


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    root = _key(d, "root", "rsa", 3072)
    (d / "root.crt").write_bytes(_pki("--self", "--ca", "--lifetime", "3650", "--in", str(root),
                                      "--type", "rsa", "--dn", "C=US, O=Lab, CN=Lab Root CA",
                                      "--outform", "pem"))
    for side in ("A", "B"):
        k = _key(d, f"int{side}", "rsa", 3072)
        _issue(d, f"int{side}", k, "rsa", "root", f"C=US, O=Lab, CN=Lab Intermediate {side}",
               "--ca", "--lifetime", "1825")
    ee = ("--flag", "serverAuth", "--flag", "clientAuth", "--lifetime", "365")
    vk = _key(d, "vpnsh", "ecdsa", 256)
    _issue(d, "vpnsh", vk, "ecdsa", "intA", f"C=US, O=Lab, CN={VPNSH_ID}", "--san", VPNSH_ID, *ee)
    (d / "vpnsh.pem").write_bytes((d / "vpnsh.crt").read_bytes() + vk.read_bytes())
    rk = _key(d, "vpnsh-rsa", "rsa", 3072)  # IKEv1 signs with RSA (auth method 3)
    _issue(d, "vpnsh-rsa", rk, "rsa", "intA", f"C=US, O=Lab, CN={VPNSH_ID}", "--san", VPNSH_ID,
           *ee)
    (d / "vpnsh-rsa.pem").write_bytes((d / "vpnsh-rsa.crt").read_bytes() + rk.read_bytes())
    sk = _key(d, "sw", "rsa", 3072)
    _issue(d, "sw", sk, "rsa", "intB", f"C=US, O=Lab, CN={SW_ID}", "--san", SW_ID, *ee)
    _issue(d, "revoked", sk, "rsa", "intB", f"C=US, O=Lab, CN={SW_ID}", "--san", SW_ID, *ee)
    (d / "intB.crl").write_bytes(_pki("--signcrl", "--cacert", str(d / "intB.crt"), "--cakey",
                                      str(d / "intB.key"), "--reason", "key-compromise",
                                      "--cert", str(d / "revoked.crt"), "--outform", "pem"))
    _issue(d, "expired", sk, "rsa", "intB", f"C=US, O=Lab, CN={SW_ID}", "--san", SW_ID,
           "--flag", "serverAuth", "--not-before", "01.01.20 00:00:00",
           "--not-after", "01.01.21 00:00:00")
    other = _key(d, "other", "ecdsa", 256)
    (d / "other.crt").write_bytes(_pki("--self", "--ca", "--lifetime", "3650", "--in", str(other),
                                       "--type", "ecdsa", "--dn", "C=US, O=Else, CN=Other Root CA",
                                       "--outform", "pem"))
    _issue(d, "rogue", sk, "rsa", "other", f"C=US, O=Lab, CN={SW_ID}", "--san", SW_ID, *ee)
    return d


def vpnsh_config(sites: TwoSites, d: Path, *, peer_id: str = SW_ID, use_crl: bool = False,
                 fragmentation: bool = True, version: int = 2) -> list[str]:
    left, right = sites.left, sites.right
    p = "set network ike crypto-profiles"
    gw = "set network ike gateway GW"
    lines = [
        f"set network interface ethernet {left.outer_if} layer3 ip {left.outer}/24",
        "set network interface tunnel units tunnel.1 mtu 1200",
        *((f"{p} ike-crypto-profiles IKE encryption aes-128-gcm",
           f"{p} ike-crypto-profiles IKE hash non-auth",
           f"{p} ike-crypto-profiles IKE dh-group group19",
           f"{p} ipsec-crypto-profiles ESP esp encryption aes-128-gcm",
           f"{p} ipsec-crypto-profiles ESP esp authentication none") if version == 2 else
          (f"{p} ike-crypto-profiles IKE encryption aes-128-cbc",
           f"{p} ike-crypto-profiles IKE hash sha256",
           f"{p} ike-crypto-profiles IKE dh-group group14",
           f"{p} ipsec-crypto-profiles ESP esp encryption aes-128-cbc",
           f"{p} ipsec-crypto-profiles ESP esp authentication sha256")),
        f"{p} ipsec-crypto-profiles ESP dh-group no-pfs",
        "set shared certificate-profile CP CA lab-root",
        f"set shared certificate-profile CP use-crl {'yes' if use_crl else 'no'}",
        f"{gw} protocol version ikev{version}",
        f"{gw} protocol ikev{version} ike-crypto-profile IKE",
        *((f"{gw} protocol ikev1 exchange-mode main",) if version == 1 else ()),
        f"{gw} local-address interface {left.outer_if}",
        f"{gw} local-address ip {left.outer}/24",
        f"{gw} peer-address ip {right.outer}",
        f"{gw} authentication certificate local-certificate name fw-a",
        f"{gw} authentication certificate certificate-profile CP",
        f"{gw} local-id type fqdn",
        f"{gw} local-id id {VPNSH_ID}",
        f"{gw} peer-id type fqdn",
        f"{gw} peer-id id {peer_id}",
        f"{gw} protocol-common nat-traversal enable yes",
        f"{gw} protocol-common fragmentation enable {'yes' if fragmentation else 'no'}",
        "set network tunnel ipsec T tunnel-interface tunnel.1",
        "set network tunnel ipsec T auto-key ike-gateway GW",
        "set network tunnel ipsec T auto-key ipsec-crypto-profile ESP",
        f"set network virtual-router default routing-table ip static-route r1 destination {right.inner_net}",
        "set network virtual-router default routing-table ip static-route r1 interface tunnel.1",
    ]
    return lines


class Pair(Ikev2Pair):
    """The IKEv2 tests' pair, with the whole logs at hand (reasons are asserted from them)."""

    def ikemgr(self) -> str:
        log = self.vpnsh.log_dir / "ikemgr.log"
        return log.read_text() if log.exists() else ""

    def sw_log(self) -> str:
        return self.sw.log_path.read_text() if self.sw.log_path.exists() else ""

    def debug(self) -> str:
        return f"\n--- vpnsh ikemgr.log ---\n{self.ikemgr()[-5000:]}\n--- strongSwan ---\n" \
               f"{self.sw.log_tail()}"


def _small_path_without_ip_fragments(sites: TwoSites) -> None:
    """Link MTU 1280 and IP fragments dropped on arrival, in both namespaces: an IKE message
    larger than the path only gets through as IKE fragments."""
    for site in (sites.left, sites.right):
        site.ns.run("ip", "link", "set", "dev", site.outer_if, "mtu", str(PATH_MTU))
        site.ns.sh("nft add table ip nofrag && "
                   "nft 'add chain ip nofrag in { type filter hook prerouting priority -400; }' && "
                   "nft add rule ip nofrag in 'ip frag-off & 0x3fff != 0 counter drop'")


def _dropped_fragments(site: Any) -> int:
    out = site.ns.run("nft", "list", "chain", "ip", "nofrag", "in").stdout
    m = re.search(r"counter packets (\d+)", out)
    return int(m.group(1)) if m else 0


def make_pair(lab: NetLab, tmp_path: Path, d: Path, *, sw_cert: str = "sw",
              fragmentation: bool = True, version: int = 2, small_path: bool = True,
              sw_options: dict[str, object] | None = None, **config: Any) -> Pair:
    sites = two_sites(lab)
    if small_path:
        _small_path_without_ip_fragments(sites)
    left, right = sites.left, sites.right
    daemon = Daemon(tmp_path / "vpnsh", dataplane="userspace", netns=left.ns.name)
    daemon.start()
    pair = Pair(sites, daemon, None)  # type: ignore[arg-type]
    imports = [
        f"scp import certificate from {d}/root.crt certificate-name lab-root format pem",
        f"scp import certificate from {d}/intA.crt certificate-name lab-int-a format pem",
        f"scp import keypair from {d}/{'vpnsh' if version == 2 else 'vpnsh-rsa'}.pem "
        "certificate-name fw-a format pem",
    ]
    if config.get("use_crl"):
        imports += [
            f"scp import certificate from {d}/intB.crt certificate-name lab-int-b format pem",
            f"scp import crl from {d}/intB.crl certificate-name lab-int-b",
        ]
    pair.shell(*imports)
    daemon.configure(vpnsh_config(sites, d, fragmentation=fragmentation, version=version,
                                  **config))
    sw_dir = tmp_path / "sw"
    for sub, files in (("x509", [f"{sw_cert}.crt"]), ("x509ca", ["root.crt", "intB.crt"]),
                       ("private", ["sw.key"])):
        (sw_dir / sub).mkdir(parents=True, exist_ok=True)
        for f in files:
            (sw_dir / sub / f).write_bytes((d / f).read_bytes())
    child = Child("net", [right.inner_net], [left.inner_net],
                  ["aes128gcm16" if version == 2 else "aes128-sha256"])
    conn = Connection("s2s", [right.outer], [left.outer], "", [child], version=version,
                      proposals=["aes128gcm16-prfsha256-ecp256" if version == 2
                                 else "aes128-sha256-modp2048"], local_id=SW_ID,
                      remote_id=VPNSH_ID, auth="pubkey", certs=f"{sw_cert}.crt",
                      send_cert="always", fragmentation="yes" if fragmentation else "no")
    sw = StrongSwan(right.ns, sw_dir, connections=[conn], plugins=SW_PLUGINS,
                    charon_options=sw_options,
                    log_levels={"default": 1, "ike": 2, "cfg": 2, "enc": 1, "net": 1, "knl": 1,
                                "esp": 1, "chd": 1, "lib": 1})
    sw.start()
    sw.load_all()
    pair.sw = sw
    return pair


@pytest.fixture
def pair_factory(netlab: NetLab, tmp_path: Path, pki_dir: Path) -> Iterator[Any]:  # noqa: F811
    made: list[Pair] = []

    def factory(**kw: Any) -> Pair:
        p = make_pair(netlab, tmp_path, pki_dir, **kw)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.vpnsh.stop()
        if p.sw is not None:
            p.sw.stop()


def _assert_fragmented(p: Pair) -> None:
    """Both sides split their IKE_AUTH into fragments and reassembled the other's."""
    sw = p.sw_log()
    assert "splitting IKE message" in sw and "reassembled fragmented IKE message" in sw, \
        p.debug()
    ours = p.ikemgr()
    assert "fragments (RFC 7383" in ours and "reassembled IKE_AUTH" in ours, p.debug()


# ----------------------------------------------------------------------------- tests


def test_vpnsh_initiates_with_certificates_and_fragments(pair_factory: Any) -> None:
    p: Pair = pair_factory()
    out = p.shell("test vpn ike-sa gateway GW")
    assert "Initiate 1 IKE SA." in out, out + p.debug()
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert not sa.initiator
    assert p.ping(), p.debug()
    _assert_fragmented(p)
    sw = p.sw_log()
    # strongSwan validated vpnsh's chain with the intermediate vpnsh sent
    assert "Lab Intermediate A" in sw and f'authentication of \'{VPNSH_ID}\' with ' \
        'ECDSA' in sw, p.debug()
    ours = p.ikemgr()
    assert "NEGOTIATION SUCCEEDED AS INITIATOR" in ours
    assert f"peer fqdn:{SW_ID} authenticated with RSA signature (AUTH method 14" in ours, ours
    assert "Lab Intermediate B <- " in ours  # the chain strongSwan sent, to our root
    detail = p.shell("show vpn ike-sa detail gateway GW")
    assert "Authentication:  ECDSA signature, peer RSA signature" in detail, detail


def test_strongswan_initiates_with_certificates_and_fragments(pair_factory: Any) -> None:
    p: Pair = pair_factory()
    p.sw.initiate("net")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.initiator
    wait_until(lambda: p.op("vpn.ipsec-sa.show")["sas"], timeout=10,
               what="vpnsh to install the CHILD SA")
    assert p.ping(), p.debug()
    _assert_fragmented(p)
    assert "NEGOTIATION SUCCEEDED AS RESPONDER" in p.ikemgr()


def test_without_fragmentation_ike_auth_does_not_cross_the_path(pair_factory: Any) -> None:
    """The control: the same path with fragmentation off loses IKE_AUTH."""
    p: Pair = pair_factory(fragmentation=False)
    p.shell("test vpn ike-sa gateway GW", ok=False)
    # vpnsh's IKE_AUTH leaves as IP fragments, which the path drops; then again, retransmitted
    first = wait_until(lambda: _dropped_fragments(p.sites.right), timeout=15,
                       what="IP fragments of IKE_AUTH at strongSwan's side")
    wait_until(lambda: _dropped_fragments(p.sites.right) > first, timeout=20,
               what="the retransmitted IKE_AUTH")
    assert "IKE_AUTH request" not in p.sw_log(), p.debug()
    assert "IKE_AUTH request sent" in p.ikemgr() and "reassembled" not in p.ikemgr()


@pytest.mark.parametrize("case,reason", [
    ("revoked", "revoked"),
    ("expired", "expired on 2021-01-01"),
    ("rogue", "untrusted CA"),
    ("wrong-id", "ID mismatch"),
], ids=["revoked", "expired", "wrong-ca", "wrong-id"])
def test_bad_peer_certificate_rejected_with_reason(pair_factory: Any, case: str,
                                                   reason: str) -> None:
    kw: dict[str, Any] = {}
    if case == "revoked":
        kw = {"sw_cert": "revoked", "use_crl": True}
    elif case in ("expired", "rogue"):
        kw = {"sw_cert": case}
    else:
        kw = {"peer_id": "other.lab.example"}
    p: Pair = pair_factory(**kw)
    out = p.shell("test vpn ike-sa gateway GW", ok=False)
    assert reason in out, out + p.debug()
    if case == "wrong-id":  # both IDs named
        assert "other.lab.example" in out and SW_ID in out, out
    assert reason in p.ikemgr()
    assert not p.op("vpn.ipsec-sa.show")["sas"]


def test_strongswan_signs_with_rsa_pss(pair_factory: Any) -> None:
    """charon.rsa_pss = yes: strongSwan's RSA AUTH is RSASSA-PSS (RFC 7427), which vpnsh
    verifies; vpnsh answers with ECDSA."""
    p: Pair = pair_factory(sw_options={"rsa_pss": "yes"})
    p.sw.initiate("net")
    p.sw.wait_for_sa(ike="s2s", child="net")
    assert "with RSA_EMSA_PSS" in p.sw_log(), p.debug()
    assert "RSA signature (AUTH method 14, rsassa-pss-sha256)" in p.ikemgr(), p.debug()
    assert p.ping(), p.debug()


def test_vpnsh_as_responder_rejects_an_untrusted_ca(pair_factory: Any) -> None:
    p: Pair = pair_factory(sw_cert="rogue")
    with pytest.raises(ViciError):
        p.sw.initiate("net", timeout=10)
    wait_until(lambda: "untrusted CA" in p.ikemgr(), timeout=10, what="vpnsh's reason")
    assert "NEGOTIATION FAILED AS RESPONDER" in p.ikemgr()
    assert "AUTHENTICATION_FAILED" in p.sw_log(), p.debug()
    assert not p.op("vpn.ipsec-sa.show")["sas"]


# ----------------------------------------------------------------------------- IKEv1


def test_ikev1_vpnsh_initiates_main_mode_with_rsa_signatures(pair_factory: Any) -> None:
    """IKEv1 main mode, auth method 3, both certificates RSA 3072 with their intermediates,
    on the 1280-octet path without IP fragments: messages 5 and 6 go as IKEv1 fragments."""
    p: Pair = pair_factory(version=1)
    out = p.shell("test vpn ike-sa gateway GW")
    assert "Initiate 1 IKE SA." in out, out + p.debug()
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.version == 1 and not sa.initiator
    assert p.ping(), p.debug()
    sw = p.sw_log()
    assert "Lab Intermediate A" in sw and f"authentication of '{VPNSH_ID}' with RSA" in sw, \
        p.debug()
    assert f"peer fqdn:{SW_ID} authenticated with RSA signature" in p.ikemgr(), p.debug()
    _assert_fragmented_v1(p)


def _assert_fragmented_v1(p: Pair) -> None:
    sw = p.sw_log()
    assert "splitting IKE message" in sw and "reassembled fragmented IKE message" in sw, \
        p.debug()
    ours = p.ikemgr()
    assert "IKEv1 fragments (packets of at most 1280)" in ours, p.debug()
    assert "reassembled a message of" in ours, p.debug()


def test_ikev1_strongswan_initiates_main_mode_with_rsa_signatures(pair_factory: Any) -> None:
    p: Pair = pair_factory(version=1)
    p.sw.initiate("net")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.version == 1 and sa.initiator
    wait_until(lambda: p.op("vpn.ipsec-sa.show")["sas"], timeout=10,
               what="vpnsh to install the CHILD SA")
    assert p.ping(), p.debug()
    assert f"peer fqdn:{SW_ID} authenticated with RSA signature" in p.ikemgr(), p.debug()
    _assert_fragmented_v1(p)


def test_ikev1_revoked_certificate_rejected(pair_factory: Any) -> None:
    p: Pair = pair_factory(version=1, sw_cert="revoked", use_crl=True)
    out = p.shell("test vpn ike-sa gateway GW", ok=False)
    assert "revoked" in out, out + p.debug()
