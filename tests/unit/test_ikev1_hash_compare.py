"""Issue 11, item 7: IKEv1 HASH_I, HASH_R and HASH(1..3) are compared in constant time
(hmac.compare_digest, as IKEv2 compares AUTH), never with ``==``/``!=``."""

from __future__ import annotations

import hmac
import random
from typing import Any, cast

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import ChildInstalled, IkeEstablished
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_every_hash_is_compared_with_compare_digest(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[int] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        compared.append(len(a))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    clock = FakeClock()
    a = Node("a", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(1))), "192.0.2.1")
    b = Node("b", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(2))), "192.0.2.2")
    a.engine.add_policies([ike_policy("GA", "192.0.2.1", "192.0.2.2", version="ikev1",
                                      exchange_mode=mode)], (child_policy("TA", "GA"),), now=clock.now)
    b.engine.add_policies([ike_policy("GB", "192.0.2.2", "192.0.2.1", version="ikev1",
                                      exchange_mode=mode)], (child_policy("TB", "GB"),), now=clock.now)
    a.engine.initiate("GA", now=clock.now)
    Wire(clock, a, b).run()
    assert a.of(IkeEstablished) and b.of(ChildInstalled)
    # HASH_I (responder) + HASH_R (initiator) + quick mode HASH(1), HASH(2), HASH(3)
    assert len(compared) >= 5, compared
