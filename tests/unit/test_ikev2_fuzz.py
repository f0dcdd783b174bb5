"""Property-based fuzzing: random and mutated datagrams give only counted drops."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpnsh.engine.ikev2.message import parse
from vpnsh.engine.ikev2.payloads import ParseError
from vpnsh.engine.ikev2.testing import child_policy, ike_policy, make_pair

A, B = "192.0.2.1", "192.0.2.2"


def _capture() -> list[tuple[str, bytes]]:
    w, a, b = make_pair(
        ike_policy("gw", A, B),
        ike_policy("gw", B, A),
        (child_policy("tun", "gw"),),
        (child_policy("tun", "gw"),),
    )
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    a.engine.delete_child("tun", now=w.clock.now)
    w.run()
    a.engine.initiate("gw", "tun", now=w.clock.now)
    w.run()
    return [(sender, data) for sender, data, _, _ in w.sent]


SAMPLES = _capture()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    _, data = draw(st.sampled_from(SAMPLES))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del buf[pos : pos + draw(st.integers(1, 16))]
        elif kind == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "zero" and buf:
            buf[pos] = 0
    return bytes(buf)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.binary(max_size=600), mutated()))
def test_parser_raises_only_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(data)


def test_parser_accepts_every_sample() -> None:
    for _, data in SAMPLES:
        parse(data)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), mutated()), min_size=1, max_size=5))
def test_engines_count_and_drop_bad_datagrams(datagrams: list[bytes]) -> None:
    w, a, b = make_pair(
        ike_policy("gw", A, B),
        ike_policy("gw", B, A),
        (child_policy("tun", "gw"),),
        (child_policy("tun", "gw"),),
    )
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    before = [c.spi_in for c in a.engine.child_sas()]
    for data in datagrams:
        for node, peer in ((a, B), (b, A)):
            for port in (500, 4500):
                node.engine.receive(data, (node.address, port), (peer, port), w.clock.now)
    for node in (a, b):
        assert not any(k.startswith("internal error") for k in node.engine.drops), node.engine.drops
    # whatever the garbage did, the established SAs still work
    w.run()
    assert [c.spi_in for c in a.engine.child_sas()] == before
    a.engine.delete_child("tun", now=w.clock.now)
    w.run()
    assert a.engine.child_sas() == [] and b.engine.child_sas() == []
