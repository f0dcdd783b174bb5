"""DualEngine.renegotiate (the tunnel monitor's recovery): new IKE and CHILD SAs at once,
the old ones dropped without waiting for the peer, for IKEv2 and IKEv1 gateways."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import ChildInstalled
from vpnsh.engine.ikev1.dual import DualEngine
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy

A, B = "192.0.2.1", "192.0.2.2"


@pytest.mark.parametrize("version", ["ikev2", "ikev1"])
def test_renegotiate_brings_new_spis_and_leaves_one_sa(version: str) -> None:
    clock = FakeClock()
    a = Node("a", cast(Any, DualEngine(clock=clock, rng=random.Random(1))), A)
    b = Node("b", cast(Any, DualEngine(clock=clock, rng=random.Random(2))), B)
    a.engine.add_policies([ike_policy("GA", A, B, version=version)], [child_policy("TA", "GA")], now=clock.now)
    b.engine.add_policies([ike_policy("GB", B, A, version=version)], [child_policy("TB", "GB")], now=clock.now)
    wire = Wire(clock, a, b)
    dual = cast(DualEngine, a.engine)
    assert dual.initiate("GA", "TA", now=clock.now)
    wire.run()
    [first] = dual.child_sas()
    assert dual.renegotiate("GA", "TA", "tunnel monitor: TA is down", now=wire.clock.now)
    wire.run()
    installed = a.of(ChildInstalled)
    assert len(installed) == 2
    children = dual.child_sas()
    assert len(children) == 1 and children[0].spi_in != first.spi_in
    assert len(dual.ike_sas()) == 1
    # the peer followed: it carries the new pair only
    assert [c.spi_out for c in cast(DualEngine, b.engine).child_sas()] == [children[0].spi_in]
