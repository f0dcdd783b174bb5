"""DH groups: agreement, published ECP vectors, the MODP primes, bad peer values."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from vpnsh.engine.crypto.algorithms import DhId, UnsupportedAlgorithm
from vpnsh.engine.crypto.dh import MODP_PRIMES, group

VECTORS = Path(__file__).parents[1] / "vectors"
ALL = [int(g) for g in DhId]


@pytest.mark.parametrize("gid", ALL)
def test_two_key_pairs_agree(gid: int) -> None:
    g = group(gid)
    a, b = g.generate(), g.generate()
    assert len(a.public) == g.public_size
    assert a.public != b.public
    s1, s2 = a.shared(b.public), b.shared(a.public)
    assert s1 == s2
    expected = {1: 96, 2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 19: 32, 20: 48, 21: 66}[gid]
    assert len(s1) == expected
    assert g is group(gid)  # cached


@pytest.mark.parametrize("gid", ALL)
def test_bad_peer_values_rejected(gid: int) -> None:
    g = group(gid)
    kp = g.generate()
    size = g.public_size
    bad = [b"", kp.public[:-1], kp.public + b"\0", bytes(size)]
    if gid in MODP_PRIMES:
        p = MODP_PRIMES[DhId(gid)]
        bad += [(1).to_bytes(size, "big"), (p - 1).to_bytes(size, "big"), p.to_bytes(size, "big")]
    else:
        pub = bytearray(kp.public)
        pub[-1] ^= 1  # y no longer matches x: off the curve
        bad.append(bytes(pub))
    for value in bad:
        with pytest.raises(ValueError):
            kp.shared(value)


@pytest.mark.parametrize("v", json.loads((VECTORS / "dh_ecp_rfc5114.json").read_text())["vectors"],
                         ids=lambda v: f"group{v['group']}")
def test_ecp_rfc5114_vectors(v: dict) -> None:
    g = group(v["group"])
    i = g.from_private(int(v["priv_i"], 16))
    r = g.from_private(int(v["priv_r"], 16))
    assert i.public.hex() == v["pub_i"]
    assert r.public.hex() == v["pub_r"]
    assert i.shared(bytes.fromhex(v["pub_r"])).hex() == v["shared"]
    assert r.shared(bytes.fromhex(v["pub_i"])).hex() == v["shared"]


def _pi_fixed(bits: int) -> int:
    """floor(pi * 2^bits) by Machin's formula, with guard bits."""
    guard = 64
    one = 1 << (bits + guard)

    def atan_inv(x: int) -> int:
        total = term = one // x
        n, sign = 1, 1
        while term:
            term //= x * x
            n += 2
            sign = -sign
            total += sign * (term // n)
        return total

    return (16 * atan_inv(5) - 4 * atan_inv(239)) >> guard


@pytest.mark.parametrize("gid,k", [(1, 149686), (2, 129093), (5, 741804), (14, 124476),
                                   (15, 1690314), (16, 240904)])
def test_modp_primes_follow_rfc_formula(gid: int, k: int) -> None:
    p = MODP_PRIMES[DhId(gid)]
    n = p.bit_length()
    assert p == 2**n - 2 ** (n - 64) - 1 + 2**64 * (_pi_fixed(n - 130) + k)


def test_modp_public_value_is_padded() -> None:
    g = group(DhId.MODP_1024)
    kp = g.from_private(1)  # 2^1 = 2: a short integer on the wire is still 128 bytes
    assert kp.public == (2).to_bytes(128, "big")


def test_modp_generation_is_fast() -> None:
    g = group(DhId.MODP_2048)
    g.generate()
    start = time.perf_counter()
    for _ in range(10):
        g.generate()
    assert (time.perf_counter() - start) / 10 < 0.05


def test_unknown_group() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        group(24)
    assert "public=" in repr(group(19).generate())
