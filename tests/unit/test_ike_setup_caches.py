"""The look-ups that IKE setup no longer repeats (issue 17, item 4) give what the
uncached code gave: child policies by gateway follow every add/remove/replace, a cached
transform is the one the bytes say, and ``selectors.contains`` is still
``intersect(outer, inner) == inner``."""

from __future__ import annotations

import ipaddress
import random

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.crypto.algorithms import EncrId, encr_alg, integ_alg, prf_alg
from vpnsh.engine.ikev2 import identity, selectors
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.payloads import ParseError, Proposal, SaPayload, Transform
from vpnsh.engine.ikev2.testing import child_policy, ike_policy
from vpnsh.engine.policy import Identity, TrafficSelector


def test_child_policies_by_gateway_follow_every_change() -> None:
    clock = FakeClock()
    eng = Ikev2Engine(clock=clock, rng=random.Random(1))
    eng.add_policies([ike_policy("gw1", "192.0.2.1", "192.0.2.2"),
                      ike_policy("gw2", "192.0.2.1", "192.0.2.3")],
                     [child_policy("t1", "gw1"), child_policy("t2", "gw2"),
                      child_policy("t3", "gw1")], now=clock.now)
    assert [c.name for c in eng.child_candidates("gw1")] == ["t1", "t3"]
    assert [c.name for c in eng.child_candidates("gw2")] == ["t2"]
    eng.remove_policies(child_names=["t1"], now=clock.now)
    assert [c.name for c in eng.child_candidates("gw1")] == ["t3"]
    eng.add_policies([], [child_policy("t4", "gw1")], now=clock.now)
    assert [c.name for c in eng.child_candidates("gw1")] == ["t3", "t4"]
    # replaced: now under gw2, and a disabled one is no candidate
    eng.add_policies([], [child_policy("t3", "gw2"), child_policy("t4", "gw1", enabled=False)],
                     now=clock.now)
    assert eng.child_candidates("gw1") == []
    assert [c.name for c in eng.child_candidates("gw2")] == ["t2", "t3"]


def test_proxy_id_selectors_follow_the_policy_values() -> None:
    c = child_policy("t", "gw", local_ts=("10.1.0.0/24",), remote_ts=("10.2.0.0/16",))
    assert c.local_selectors() == (TrafficSelector.from_prefix("10.1.0.0/24"),)
    c.local_ts = ("10.9.0.0/24", "10.8.0.0/24")  # a changed value is parsed anew
    assert [ts.short() for ts in c.local_selectors()] == ["10.9.0.0/24", "10.8.0.0/24"]
    c.ip_proto, c.remote_port = 6, 443
    (ts,) = c.remote_selectors()
    assert (ts.ip_proto, ts.start_port, ts.end_port) == (6, 443, 443)


def test_identity_encoding_is_cached_but_errors_are_not() -> None:
    p = identity.to_payload(Identity("ipaddr", "192.0.2.7"), True)
    q = identity.to_payload(Identity("ipaddr", "192.0.2.7"), False)
    assert p.data == q.data == bytes([192, 0, 2, 7]) and p.initiator and not q.initiator
    for _ in range(2):
        with pytest.raises(ValueError):
            identity.to_payload(Identity("ipaddr", "not-an-address"), True)
        with pytest.raises(identity.IdentityError):
            identity.to_payload(Identity("x509", "whatever"), True)


def test_transform_read_from_the_cache_is_the_one_the_bytes_say() -> None:
    sa = SaPayload((Proposal(1, 1, b"", (Transform(1, 20, 128), Transform(2, 5),
                                         Transform(4, 19))),))
    raw = sa.body()
    assert SaPayload.parse_body(memoryview(raw)) == sa
    assert SaPayload.parse_body(memoryview(raw)) == sa  # the second read hits the cache
    # a known transform with a bad last-substruc value still fails (checked before the cache)
    bad = bytearray(raw)
    bad[8 + 12 + 8] = 1  # the last transform's flag (after the proposal header, 12 + 8 bytes)
    with pytest.raises(ParseError, match="last-substruc"):
        SaPayload.parse_body(memoryview(bytes(bad)))


def test_algorithm_look_up_by_int_and_by_enum_agree() -> None:
    assert encr_alg(20, 128) is encr_alg(EncrId.ENCR_AES_GCM_16, 128)
    assert encr_alg(3, None).key_bits == 192 and encr_alg(3, 0).key_bits == 192
    assert prf_alg(5) is prf_alg(prf_alg(5).id) and integ_alg(12) is integ_alg(integ_alg(12).id)
    with pytest.raises(Exception, match="needs a key length"):
        encr_alg(12, 0)


def test_contains_is_intersect_equals_inner() -> None:
    rng = random.Random(17)

    def one() -> TrafficSelector:
        v6 = rng.random() < 0.3
        top = 2**128 - 1 if v6 else 2**32 - 1
        make = ipaddress.IPv6Address if v6 else ipaddress.IPv4Address
        a, b = (rng.choice((0, 1, 5, 10, top - 1, top)) for _ in range(2))
        p, q = (rng.choice((0, 1, 80, 443, 65535)) for _ in range(2))
        return TrafficSelector(make(a), make(b), rng.choice((0, 0, 6, 17)), p, q)

    seen = set()
    for _ in range(20000):
        outer, inner = one(), one()
        want = selectors.intersect(outer, inner) == inner
        assert selectors.contains(outer, inner) == want, (outer, inner)
        seen.add(want)
    assert seen == {True, False}
