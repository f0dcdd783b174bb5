"""Anti-replay window edge cases (RFC 4303 3.4.3, appendix A; RFC 6479)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpnsh.engine.dataplane.replay import ReplayWindow


def test_first_packet_and_zero() -> None:
    w = ReplayWindow(64)
    assert not w.check(0)
    assert w.check(1)
    w.update(1)
    assert not w.check(1)
    assert w.check(2)
    assert w.top == 1


def test_first_packet_may_be_large() -> None:
    w = ReplayWindow(64)
    assert w.accept(1000)
    assert w.check(999) and w.check(1000 - 63)
    assert not w.check(1000 - 64)


@pytest.mark.parametrize("size", [64, 100, 1024, 4096])
def test_window_edge(size: int) -> None:
    w = ReplayWindow(size)
    top = 10_000
    w.update(top)
    assert w.check(top - size + 1)  # oldest still inside
    assert not w.check(top - size)  # just left of the window
    w.update(top - size + 1)
    assert not w.check(top - size + 1)
    assert w.check(top - size + 2)


def test_far_ahead_clears_everything() -> None:
    w = ReplayWindow(128)
    for s in range(1, 129):
        w.update(s)
    w.update(1_000_000)
    for s in range(1_000_000 - 127, 1_000_000):
        assert w.check(s), s
    assert not w.check(1_000_000)


def test_duplicates_in_window_and_out_of_order() -> None:
    w = ReplayWindow(64)
    for s in (5, 3, 9, 4, 70):
        assert w.accept(s)
    for s in (5, 3, 9, 4, 70):
        assert not w.check(s)
    assert not w.check(6)  # 70 - 64: left of the window
    assert w.check(7) and w.check(69)


def test_update_ignores_too_old() -> None:
    w = ReplayWindow(64)
    w.update(500)
    w.update(10)  # outside: must not disturb the bitmap
    assert w.check(500 - 63)


def test_size_limits() -> None:
    with pytest.raises(ValueError):
        ReplayWindow(32)
    with pytest.raises(ValueError):
        ReplayWindow(4097)


def test_esn_inference_within_subspace() -> None:
    w = ReplayWindow(64, esn=True)
    w.update((5 << 32) | 1000)
    assert w.infer(1000 - 10) == (5 << 32) | 990  # in the window: same high bits
    assert w.infer(2000) == (5 << 32) | 2000  # ahead
    assert w.infer(500) == (6 << 32) | 500  # far behind the window: must be next subspace


def test_esn_wraparound() -> None:
    w = ReplayWindow(64, esn=True)
    top = (2 << 32) | 0xFFFFFFF0
    w.update(top)
    nxt = w.infer(5)  # the sender wrapped its low 32 bits
    assert nxt == (3 << 32) | 5
    assert w.check(nxt)
    w.update(nxt)
    # a late packet from before the wrap, still inside the window
    late = w.infer(0xFFFFFFF0 - 1)
    assert late == (2 << 32) | (0xFFFFFFF0 - 1)
    assert w.check(late)
    # the pre-wrap top is now a duplicate
    assert w.infer(0xFFFFFFF0) == top
    assert not w.check(top)


def test_esn_low_bits_only_start() -> None:
    w = ReplayWindow(1024, esn=True)
    assert w.infer(1) == 1
    w.update(1)
    assert w.infer(2) == 2


@settings(max_examples=200, deadline=None)
@given(st.integers(64, 512), st.lists(st.integers(1, 3000), min_size=1, max_size=300))
def test_matches_a_set_model(size: int, seqs: list[int]) -> None:
    """Against the obvious model: a set of seen numbers and the highest one."""
    w = ReplayWindow(size)
    seen: set[int] = set()
    top = 0
    for s in seqs:
        expected = s > top or (s > top - size and s not in seen)
        assert w.check(s) == expected, (s, top)
        if expected:
            w.update(s)
            seen.add(s)
            top = max(top, s)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([64, 1024, 4096]), st.integers(4096, (1 << 64) - (1 << 33)), st.data())
def test_esn_inference_recovers_every_number_it_can(size: int, top: int, data: st.DataObject) -> None:
    """RFC 4303 A2: from top T, any s in [T - W + 1, T + 2^32 - W] is inferred exactly."""
    w = ReplayWindow(size, esn=True)
    w.update(top)
    lo, hi = top - size + 1, top + (1 << 32) - size
    wrap = max(lo, (hi >> 32) << 32)  # the 2^32 boundary inside [lo, hi]
    s = data.draw(st.one_of(
        st.integers(lo, hi),
        st.integers(lo, top + size),  # near the window, where mistakes live
        st.integers(max(lo, wrap - 2), min(hi, wrap + 2)),  # around the wrap
    ))
    assert w.infer(s & 0xFFFFFFFF) == s


@settings(max_examples=300, deadline=None)
@given(size=st.sampled_from([64, 65, 100, 128, 1024, 4096]), start=st.integers(1, 3000),
       history=st.lists(st.integers(0, 400), max_size=60),
       gap=st.one_of(st.integers(1, 200), st.integers(1, 9000)), length=st.integers(1, 63),
       esn=st.booleans())
def test_update_run_is_update_of_each(size: int, start: int, history: list[int], gap: int,
                                      length: int, esn: bool) -> None:
    """update_run(first, last) leaves the window exactly as update() of each number in
    turn would: the top, and every number's verdict (the bitmap)."""
    a, b = ReplayWindow(size, esn), ReplayWindow(size, esn)
    for seq in (start + h for h in history):
        a.update(seq)
        b.update(seq)
    first = a.top + gap
    last = first + length - 1
    for seq in range(first, last + 1):
        a.update(seq)
    b.update_run(first, last)
    assert a.top == b.top
    assert a._blocks == b._blocks
    assert [a.check(s) for s in range(max(1, last - size - 70), last + 70)] == \
        [b.check(s) for s in range(max(1, last - size - 70), last + 70)]


def test_update_run_refuses_what_it_is_not_for() -> None:
    w = ReplayWindow(64)
    w.update(100)
    for first, last in ((100, 110), (90, 110), (101, 101 + 64), (120, 119)):
        with pytest.raises(ValueError):
            w.update_run(first, last)
    assert w.top == 100
