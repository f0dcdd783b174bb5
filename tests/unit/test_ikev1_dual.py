"""DualEngine: IKEv1 and IKEv2 behind one API; ikev2-preferred falls back to IKEv1."""

from __future__ import annotations

import random
from typing import Any, cast

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import ChildInstalled, IkeEstablished, IkeFailed, LogLine
from vpnsh.engine.ikev1.dual import DualEngine
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev1.sa import Ikev1ChildInfo, Ikev1SaInfo
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy

A, B = "192.0.2.1", "192.0.2.2"


def nodes(a_version: str, b_engine: Any, b_version: str) -> tuple[Wire, Node, Node]:
    clock = FakeClock()
    a_eng = DualEngine(clock=clock, rng=random.Random(1))
    b_eng = b_engine(clock=clock, rng=random.Random(2))
    a = Node("a", cast(Any, a_eng), A)
    b = Node("b", cast(Any, b_eng), B)
    a.engine.add_policies([ike_policy("GA", A, B, version=a_version)],
                          [child_policy("TA", "GA")], now=clock.now)
    b.engine.add_policies([ike_policy("GB", B, A, version=b_version)],
                          [child_policy("TB", "GB")], now=clock.now)
    return Wire(clock, a, b), a, b


def test_ikev2_preferred_falls_back_to_ikev1_when_the_peer_only_speaks_ikev1() -> None:
    wire, a, b = nodes("ikev2-preferred", Ikev1Engine, "ikev1")
    dual = cast(DualEngine, a.engine)
    assert dual.initiate("GA", now=wire.clock.now)
    wire.advance(400)
    assert "GA" in dual.fallen_back
    assert any("falling back to IKEv1" in e.text for e in a.of(LogLine))
    assert not a.of(IkeFailed)  # the IKEv2 failure is not the outcome
    assert len(a.of(IkeEstablished)) == 1 and len(a.of(ChildInstalled)) == 1
    assert all(isinstance(s, Ikev1SaInfo) for s in dual.ike_sas())
    assert all(isinstance(c, Ikev1ChildInfo) for c in dual.child_sas())
    # the next initiation goes straight to IKEv1
    assert dual.uses_ikev1("GA")


def test_ikev2_preferred_uses_ikev2_when_the_peer_does() -> None:
    wire, a, b = nodes("ikev2-preferred", DualEngine, "ikev2-preferred")
    dual = cast(DualEngine, a.engine)
    dual.initiate("GA", now=wire.clock.now)
    wire.run()
    assert len(a.of(ChildInstalled)) == 1 and not dual.fallen_back
    assert dual.ike_sas() and not any(isinstance(s, Ikev1SaInfo) for s in dual.ike_sas())


def test_ikev1_gateway_through_the_dual_engine_both_roles() -> None:
    wire, a, b = nodes("ikev1", DualEngine, "ikev1")
    cast(DualEngine, b.engine).initiate("GB", now=wire.clock.now)
    wire.run()
    assert len(a.of(ChildInstalled)) == 1 and len(b.of(ChildInstalled)) == 1
    assert isinstance(cast(DualEngine, a.engine).ike_sas()[0], Ikev1SaInfo)
    assert cast(DualEngine, a.engine).delete_child("TA", now=wire.clock.now) == 1
    wire.run()
    assert cast(DualEngine, b.engine).child_sas() == []


def test_ikev1_fallback_uses_the_ikev1_profile() -> None:
    from vpnsh.engine.policy import IkeProposal

    gcm_only = IkeProposal(((20, 128),), (5,), (), (19,))  # IKEv2 only: no IKEv1 phase 1 form
    aes = IkeProposal(((12, 128),), (5,), (12,), (14,))
    clock = FakeClock()
    a = Node("a", cast(Any, DualEngine(clock=clock, rng=random.Random(1))), A)
    b = Node("b", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(2))), B)
    a.engine.add_policies([ike_policy("GA", A, B, version="ikev2-preferred",
                                      proposals=(gcm_only,), ikev1_proposals=(aes,))],
                          [child_policy("TA", "GA")], now=clock.now)
    b.engine.add_policies([ike_policy("GB", B, A, version="ikev1")], [child_policy("TB", "GB")], now=clock.now)
    wire = Wire(clock, a, b)
    a.engine.initiate("GA", now=clock.now)
    wire.advance(400)
    (sa,) = cast(DualEngine, a.engine).ike_sas()
    assert isinstance(sa, Ikev1SaInfo) and sa.algorithm == "PSK/DH14/A128/SHA256"


def test_ikev2_preferred_reports_an_ikev2_failure_after_sa_init_without_falling_back() -> None:
    """The peer answers IKE_SA_INIT, so it speaks IKEv2 with us: a wrong pre-shared key
    is the outcome to report, not a reason to try IKEv1."""
    wire, a, b = nodes("ikev2-preferred", DualEngine, "ikev2")
    b.engine.add_policies([ike_policy("GB", B, A, version="ikev2", psk=b"another key")],
                          [child_policy("TB", "GB")], now=wire.clock.now)
    dual = cast(DualEngine, a.engine)
    assert dual.initiate("GA", now=wire.clock.now)
    wire.advance(400)
    assert not dual.fallen_back and not dual.uses_ikev1("GA")
    [failed] = a.of(IkeFailed)
    assert not failed.at_sa_init and "AUTHENTICATION_FAILED" in failed.reason, failed
    assert not any("falling back" in e.text for e in a.of(LogLine))
    assert not dual.v1.ike_sas()  # no IKEv1 attempt was made


def test_ikev2_preferred_falls_back_when_ike_sa_init_goes_unanswered() -> None:
    """A peer that never answers IKE_SA_INIT (here: nothing at the address) gets IKEv1."""
    wire, a, b = nodes("ikev2-preferred", Ikev1Engine, "ikev1")
    wire.drop = lambda data, sender: sender == "a" and data[17] >> 4 == 2  # IKEv2 lost
    dual = cast(DualEngine, a.engine)
    dual.initiate("GA", now=wire.clock.now)
    wire.advance(400)
    assert "GA" in dual.fallen_back and len(a.of(ChildInstalled)) == 1
