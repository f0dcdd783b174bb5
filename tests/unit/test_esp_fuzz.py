"""Random and mutated ESP packets only ever end as a counted EspDrop."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpnsh.engine.crypto.algorithms import EncrId, IntegId, encr_alg, integ_alg
from vpnsh.engine.dataplane.esp import DropReason, EspDrop, decapsulate, encapsulate
from vpnsh.engine.dataplane.sa import Direction, EspSA
from vpnsh.engine.policy import TrafficSelector

SUITES = [(EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE),
          (EncrId.ENCR_AES_CBC, 256, IntegId.AUTH_HMAC_SHA2_256_128),
          (EncrId.ENCR_NULL, 0, IntegId.AUTH_HMAC_SHA1_96),
          (EncrId.ENCR_AES_CBC, 128, IntegId.NONE)]  # no integrity: garbage decrypts


def _pair(i: int, esn: bool) -> tuple[EspSA, EspSA]:
    encr, bits, integ = SUITES[i]
    ek, ik = os.urandom(encr_alg(encr, bits).key_size), os.urandom(integ_alg(integ).key_size)
    ts = (TrafficSelector.from_prefix("10.0.0.0/8"),)
    mk = lambda d: EspSA(0x1234, d, encr, bits, ek, integ, ik, esn=esn, local_ts=ts, remote_ts=ts)  # noqa: E731
    return mk(Direction.OUT), mk(Direction.IN)


def _total_drops(sa: EspSA) -> int:
    c = sa.counters
    return c.auth_fail + c.replay + c.selector_drop + c.pad_errors + c.other_drops


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SUITES) - 1), st.booleans(), st.binary(max_size=200))
def test_random_bytes(i: int, esn: bool, data: bytes) -> None:
    _, inb = _pair(i, esn)
    for packet in (data, b"\x00\x00\x12\x34" + data):
        try:
            decapsulate(inb, packet)
        except EspDrop:
            continue


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SUITES) - 1), st.booleans(), st.binary(min_size=1, max_size=64),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
       st.integers(-40, 40))
def test_mutated_packets(i: int, esn: bool, body: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    out, inb = _pair(i, esn)
    inner = bytes([0x45, 0, 0, 20 + len(body), 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]) + body
    packet = bytearray(encapsulate(out, inner))
    for pos, value in flips:
        packet[pos % len(packet)] ^= value
    data = bytes(packet[:cut] if cut < 0 else packet + os.urandom(cut))
    before = _total_drops(inb)
    try:
        result = decapsulate(inb, data)
    except EspDrop as e:
        expected = before if e.reason == DropReason.DUMMY else before + 1  # dummies are not counted
        assert _total_drops(inb) == expected
        assert inb.counters.packets == 0
        return
    assert result[0] >> 4 in (4, 6)
    assert inb.counters.packets == 1
