"""IKEv2 certificate authentication and RFC 7383 fragmentation between two engines on an
in-process wire: CERT with the intermediate, CERTREQ, AUTH method 14 (and 1/9 without
SIGNATURE_HASH_ALGORITHMS), failures in plain words, IKE_AUTH split into SKF fragments and
reassembled, every fragment retransmitted."""

from __future__ import annotations

import pytest

from tests.helpers.pki import two_gateway_stores
from vpnsh.engine.ike.events import IkeEstablished, IkeFailed
from vpnsh.engine.ikefrag.ikev2 import PAYLOAD_SKF
from vpnsh.engine.ikev2 import auth as authn
from vpnsh.engine.ikev2 import fragments
from vpnsh.engine.ikev2.show import ike_info
from vpnsh.engine.ikev2.testing import child_policy, ike_policy, make_pair
from vpnsh.engine.pki.ikeauth import LocalCredential, PeerCheck
from vpnsh.engine.pki.profile import CertProfile
from vpnsh.engine.pki.store import CertStore
from vpnsh.engine.policy import CertAuth, Identity


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CertStore]:
    return two_gateway_stores(tmp_path_factory, b_key=("ECDSA", 256), b_knows_intermediate=True)


def _policy(store: CertStore, name: str, local: str, peer: str, cert: str, peer_fqdn: str,
            **kw: object) -> object:
    cred = LocalCredential.load(store, cert, "fqdn", f"{cert}.example"
                                if cert != "rogue" else "b.example")
    check = PeerCheck(store, CertProfile("CP", ("root",)), "fqdn", peer_fqdn)
    ca = CertAuth(cert, "CP", credential=cred, peer_check=check)
    return ike_policy(name, local, peer, psk=b"", certificate=ca,
                      local_id=Identity("fqdn", cred.id_data.decode()),
                      peer_id=Identity("fqdn", peer_fqdn), **kw)


def _pair(stores: dict[str, CertStore], b_store: str = "b", b_cert: str = "b",
          fragmentation: bool = True):  # type: ignore[no-untyped-def]
    a = _policy(stores["a"], "gw", "192.0.2.1", "192.0.2.2", "a", "b.example",
                fragmentation=fragmentation)
    b = _policy(stores[b_store], "gw", "192.0.2.2", "192.0.2.1", b_cert, "a.example",
                fragmentation=fragmentation)
    return make_pair(a, b, (child_policy("t", "gw"),), (child_policy("t", "gw"),))  # type: ignore[arg-type]


def test_certificates_both_ways_with_fragments(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(stores)
    a.engine.initiate("gw", now=wire.clock.now)
    wire.run()
    assert a.of(IkeEstablished) and b.of(IkeEstablished), (a.of(IkeFailed), b.of(IkeFailed))
    # A's IKE_AUTH (RSA 3072 + intermediate) went as SKF fragments, each within 1280 octets
    frags = [d for who, d, _l, _r in wire.sent if who == "a" and d[16] == PAYLOAD_SKF]
    assert len(frags) >= 2
    assert all(len(d) + 20 + 8 + 4 * (r[1] == 4500) <= fragments.FRAGMENT_SIZE
               for who, d, _l, r in wire.sent if who == "a")
    sa_a = a.engine._unique_sas()[0]
    sa_b = b.engine._unique_sas()[0]
    assert sa_a.fragmentation and sa_b.fragmentation
    # RFC 7427 both ways: A signs RSA with SHA-256 PKCS#1, B ECDSA P-256
    assert sa_b.peer_auth_text == "RSA signature" and sa_a.peer_auth_text == "ECDSA signature"
    assert sa_b.peer_auth_scheme.startswith("AUTH method 14") and "256" in sa_b.peer_auth_scheme
    assert sa_a.peer_auth_scheme.startswith("AUTH method 14")
    assert ike_info(sa_a).auth == "RSA signature, peer ECDSA signature"
    assert ike_info(sa_a).algorithm.startswith("RSA/DH14/")
    assert sa_b.peer_id_text == "fqdn:a.example"


def test_no_fragmentation_sends_one_big_message(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(stores, fragmentation=False)
    a.engine.initiate("gw", now=wire.clock.now)
    wire.run()
    assert a.of(IkeEstablished) and b.of(IkeEstablished)
    assert not [d for _w, d, _l, _r in wire.sent if d[16] == PAYLOAD_SKF]
    assert max(len(d) for _w, d, _l, _r in wire.sent) > fragments.FRAGMENT_SIZE


def test_all_fragments_are_retransmitted(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(stores)
    lost = {"n": 0}

    def lose_first_auth(data: bytes, who: str) -> bool:  # every fragment of A's first try
        if who == "a" and data[16] == PAYLOAD_SKF and lost["n"] < 100:
            lost["n"] += 1
            return lost["n"] <= nfrag
        return False

    nfrag = 0
    probe, pa, _pb = _pair(stores)
    pa.engine.initiate("gw", now=probe.clock.now)
    probe.run()
    nfrag = len([d for w, d, _l, _r in probe.sent if w == "a" and d[16] == PAYLOAD_SKF])
    wire.drop = lose_first_auth
    a.engine.initiate("gw", now=wire.clock.now)
    wire.advance(10)
    assert a.of(IkeEstablished) and b.of(IkeEstablished)
    sent = [d for w, d, _l, _r in wire.sent if w == "a" and d[16] == PAYLOAD_SKF]
    assert len(sent) == 2 * nfrag  # the whole set again, not only one fragment


def test_untrusted_ca_rejected_in_plain_words(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(stores, b_store="r", b_cert="rogue")
    b.engine.initiate("gw", now=wire.clock.now)  # B's certificate is from "Other Root"
    wire.run()
    failed = a.of(IkeFailed)
    assert failed and "untrusted CA" in failed[0].reason, failed
    assert "AUTHENTICATION_FAILED" in b.of(IkeFailed)[0].reason
    assert not a.of(IkeEstablished)


def test_id_mismatch_names_both_ids(stores: dict[str, CertStore]) -> None:
    a = _policy(stores["a"], "gw", "192.0.2.1", "192.0.2.2", "a", "c.example")
    b = _policy(stores["b"], "gw", "192.0.2.2", "192.0.2.1", "b", "a.example")
    wire, na, _nb = make_pair(a, b)  # type: ignore[arg-type]
    na.engine.initiate("gw", now=wire.clock.now)
    wire.run()
    reason = na.of(IkeFailed)[0].reason
    assert "ID mismatch" in reason and "c.example" in reason and "b.example" in reason


def test_method_1_without_signature_hash_algorithms(stores: dict[str, CertStore],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = authn.CertAuthenticator.init_notifies

    def no_hashes(self):  # type: ignore[no-untyped-def]
        return [p for p in real(self) if getattr(p, "notify_type", 0) != 16431]

    monkeypatch.setattr(authn.CertAuthenticator, "init_notifies", no_hashes)
    wire, a, b = _pair(stores)
    a.engine.initiate("gw", now=wire.clock.now)
    wire.run()
    assert a.of(IkeEstablished) and b.of(IkeEstablished)
    sa_b = b.engine._unique_sas()[0]
    sa_a = a.engine._unique_sas()[0]
    assert sa_b.peer_auth_scheme.startswith("AUTH method 1,")
    assert sa_a.peer_auth_scheme.startswith("AUTH method 9,")


def test_hostile_fragment_counted_and_dropped(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(stores)
    a.engine.initiate("gw", now=wire.clock.now)
    wire.run()
    sa = b.engine._unique_sas()[0]
    frag = next(d for w, d, _l, _r in wire.sent if w == "a" and d[16] == PAYLOAD_SKF)
    bad = frag[:-1] + bytes([frag[-1] ^ 1])  # fails the ICV
    before = sum(b.engine.drops.values())
    b.engine.receive(bad, ("192.0.2.2", 500), ("192.0.2.1", 500), wire.clock.now)
    assert sum(b.engine.drops.values()) == before + 1
    assert sa.state.value  # still there


def test_psk_and_certificate_gateways_in_one_engine(stores: dict[str, CertStore]) -> None:
    """A has a certificate gateway to B and a PSK gateway to C; both come up side by side."""
    import random

    from vpnsh.engine.clock import FakeClock
    from vpnsh.engine.ikev2.engine import Ikev2Engine
    from vpnsh.engine.ikev2.testing import Node, Wire

    clock = FakeClock()
    a_cert = _policy(stores["a"], "gw-b", "192.0.2.1", "192.0.2.2", "a", "b.example")
    b_cert = _policy(stores["b"], "gw-a", "192.0.2.2", "192.0.2.1", "b", "a.example")
    a_psk = ike_policy("gw-c", "192.0.2.1", "192.0.2.3")
    c_psk = ike_policy("gw-a", "192.0.2.3", "192.0.2.1")
    nodes = []
    for i, (name, addr, pols, kids) in enumerate((
            ("a", "192.0.2.1", [a_cert, a_psk], (child_policy("tb", "gw-b"),
                                                 child_policy("tc", "gw-c"))),
            ("b", "192.0.2.2", [b_cert], (child_policy("ta", "gw-a"),)),
            ("c", "192.0.2.3", [c_psk], (child_policy("ta", "gw-a"),)))):
        n = Node(name, Ikev2Engine(clock=clock, rng=random.Random(i)), addr)
        n.engine.add_policies(pols, kids, now=clock.now)  # type: ignore[arg-type]
        nodes.append(n)
    a, b, c = nodes
    wire = Wire(clock, a, b, c)
    a.engine.initiate("gw-b", now=clock.now)
    b.engine.initiate("gw-a", now=clock.now)  # B starts too: a collision to sort out as well
    c.engine.initiate("gw-a", now=clock.now)
    wire.advance(5)
    up = {e.gateway for e in a.of(IkeEstablished)}
    assert up == {"gw-b", "gw-c"}, a.of(IkeFailed)
    auths = {sa.gateway: ike_info(sa).auth for sa in a.engine._unique_sas()
             if sa.state.name == "ESTABLISHED"}
    assert auths.get("gw-c") == "PSK, peer PSK"
    assert auths.get("gw-b") == "RSA signature, peer ECDSA signature"
