"""IKEv1 main mode with RSA signatures (auth method 3) between two engines: CERT with the
intermediate, SIG over HASH_I/HASH_R, the chain and ID checks of pki.ikeauth, failures in
plain words."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from tests.helpers.pki import two_gateway_stores
from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import IkeEstablished, IkeFailed, LogLine
from vpnsh.engine.ikefrag.ikev1 import PAYLOAD_FRAGMENT
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy
from vpnsh.engine.pki.ikeauth import LocalCredential, PeerCheck
from vpnsh.engine.pki.profile import CertProfile
from vpnsh.engine.pki.store import CertStore
from vpnsh.engine.policy import CertAuth, Identity, IkeProposal

A, B = "192.0.2.1", "192.0.2.2"
AES256_SHA1_G14 = IkeProposal(((12, 256),), (2,), (2,), (14,))


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CertStore]:
    return two_gateway_stores(tmp_path_factory, b_key=("RSA", 2048), b_knows_intermediate=False)


def _policy(store: CertStore, name: str, local: str, peer: str, cert: str, my_id: str,
            peer_id: str, fragmentation: bool = False) -> Any:
    cred = LocalCredential.load(store, cert, "fqdn", my_id)
    check = PeerCheck(store, CertProfile("CP", ("root",)), "fqdn", peer_id)
    return ike_policy(name, local, peer, psk=b"", version="ikev1", exchange_mode="main",
                      proposals=(AES256_SHA1_G14,),
                      certificate=CertAuth(cert, "CP", credential=cred, peer_check=check),
                      local_id=Identity("fqdn", my_id), peer_id=Identity("fqdn", peer_id),
                      fragmentation=fragmentation)


def _pair(a_pol: Any, b_pol: Any) -> tuple[Wire, Node, Node]:
    clock = FakeClock()
    a = Node("a", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(1))), A)
    b = Node("b", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(2))), B)
    a.engine.add_policies([a_pol], (child_policy("TA", "GA"),), now=clock.now)
    b.engine.add_policies([b_pol], (child_policy("TB", "GB"),), now=clock.now)
    return Wire(clock, a, b), a, b


def test_main_mode_rsa_signatures_both_ways(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(
        _policy(stores["a"], "GA", A, B, "a", "a.example", "b.example"),
        _policy(stores["b"], "GB", B, A, "b", "b.example", "a.example"))
    a.engine.initiate("GA", now=wire.clock.now)
    wire.run()
    assert a.of(IkeEstablished) and b.of(IkeEstablished), (a.of(IkeFailed), b.of(IkeFailed))
    b_log = "\n".join(e.text for e in b.of(LogLine))
    assert "peer fqdn:a.example authenticated with RSA signature" in b_log
    assert "Lab Intermediate" in b_log  # B validated A's chain with the intermediate A sent


def test_main_mode_untrusted_ca_rejected(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(
        _policy(stores["a"], "GA", A, B, "a", "a.example", "b.example"),
        _policy(stores["r"], "GB", B, A, "rogue", "b.example", "a.example"))
    a.engine.initiate("GA", now=wire.clock.now)
    wire.run()
    reason = a.of(IkeFailed)[0].reason
    assert "untrusted CA" in reason, reason
    assert not a.of(IkeEstablished)


def test_main_mode_id_mismatch_names_both(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(
        _policy(stores["a"], "GA", A, B, "a", "a.example", "b.example"),
        _policy(stores["b"], "GB", B, A, "b", "b.example", "c.example"))
    a.engine.initiate("GA", now=wire.clock.now)
    wire.run()
    reason = b.of(IkeFailed)[0].reason
    assert "ID mismatch" in reason and "c.example" in reason and "a.example" in reason, reason


def test_main_mode_message_5_fragmented_and_retransmitted_whole(
        stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(
        _policy(stores["a"], "GA", A, B, "a", "a.example", "b.example", fragmentation=True),
        _policy(stores["b"], "GB", B, A, "b", "b.example", "a.example", fragmentation=True))
    first: list[bytes] = []

    def lose_first_try(data: bytes, who: str) -> bool:  # every fragment of A's first message 5
        if who == "a" and data[16] == PAYLOAD_FRAGMENT and data not in first:
            first.append(data)
            return True
        return False

    wire.drop = lose_first_try
    a.engine.initiate("GA", now=wire.clock.now)
    wire.advance(10)
    assert a.of(IkeEstablished) and b.of(IkeEstablished), (a.of(IkeFailed), b.of(IkeFailed))
    frags = [d for who, d, _l, _r in wire.sent if who == "a" and d[16] == PAYLOAD_FRAGMENT]
    assert len(first) >= 2 and frags == first + first  # the whole set, lost, then again
    assert all(len(d) + 28 <= 1280 for _w, d, _l, _r in wire.sent)
    b_log = "\n".join(e.text for e in b.of(LogLine))
    assert "reassembled a message of" in b_log


def test_no_fragments_unless_both_announce(stores: dict[str, CertStore]) -> None:
    wire, a, b = _pair(
        _policy(stores["a"], "GA", A, B, "a", "a.example", "b.example", fragmentation=True),
        _policy(stores["b"], "GB", B, A, "b", "b.example", "a.example"))
    a.engine.initiate("GA", now=wire.clock.now)
    wire.run()
    assert a.of(IkeEstablished)
    assert not [d for _w, d, _l, _r in wire.sent if d[16] == PAYLOAD_FRAGMENT]
