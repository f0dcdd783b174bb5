"""Issue 11, items 6 and 4(d): internal errors are visible, timers survive them, and
floods of log lines from strangers are summarised ("N similar messages suppressed")."""

from __future__ import annotations

import logging
import random
from typing import Any, cast

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import LogLine
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.testing import ike_policy
from vpnsh.engine.ratelimit import Repeats

A = "192.0.2.1"


def _events(engine: Any) -> list[Any]:
    out = []
    while (e := engine.next_event()) is not None:
        out.append(e)
    return out


def _first_message(version: str) -> bytes:
    engine: Any = (Ikev2Engine if version == "ikev2" else Ikev1Engine)(clock=FakeClock())
    engine.add_policies([ike_policy("gw", "198.51.100.1", A, version=version)], now=FakeClock().now)
    assert engine.initiate("gw", now=FakeClock().now)
    return cast(bytes, engine.datagrams_to_send()[0][0])


@pytest.mark.parametrize("cls", [Ikev2Engine, Ikev1Engine])
def test_internal_error_is_counted_and_its_traceback_logged_a_few_times(
        cls: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    engine = cls(clock=clock)

    def boom(*args: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(engine, "_receive", boom)
    with caplog.at_level(logging.ERROR, logger="vpnshd.ike"):
        for _ in range(20):
            engine.receive(b"x" * 40, (A, 500), ("203.0.113.9", 500), clock.now)
    assert engine.drops["internal error"] == 20
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 3  # then counted, not written
    assert "KeyError" in caplog.text and "203.0.113.9" in caplog.text
    assert "Traceback" in caplog.text or tracebacks[0].exc_info[0] is KeyError  # type: ignore[index]
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="vpnshd.ike"):
        clock.advance(61)
        engine.handle_timer(clock.now)
    assert "17 similar messages suppressed" in caplog.text


def test_a_timer_exception_never_stops_later_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    engine = Ikev2Engine(clock=clock, rng=random.Random(3))
    engine.add_policies([ike_policy("g1", A, "203.0.113.1"), ike_policy("g2", A, "203.0.113.2")], now=clock.now)
    assert engine.initiate("g1", now=clock.now) and engine.initiate("g2", now=clock.now)
    engine.datagrams_to_send()
    real = Ikev2Engine._check_timers

    def broken_for_g1(self: Ikev2Engine, sa: Any, now: float) -> None:
        if sa.gateway == "g1":
            raise RuntimeError("timer bug")
        real(self, sa, now)

    monkeypatch.setattr(Ikev2Engine, "_check_timers", broken_for_g1)
    when = engine.next_timer()
    assert when is not None
    clock.now = when + 0.1
    engine.handle_timer(clock.now)  # must not raise
    resent = engine.datagrams_to_send()
    assert [remote[0] for _, _, remote in resent] == ["203.0.113.2"]  # g2's retransmit went
    assert engine.drops["internal error"] == 1


@pytest.mark.parametrize("version", ["ikev2", "ikev1"])
def test_requests_from_unknown_peers_are_summarised(version: str) -> None:
    clock = FakeClock()
    engine: Any = (Ikev2Engine if version == "ikev2" else Ikev1Engine)(clock=clock)
    engine.add_policies([ike_policy("gw", A, "203.0.113.1", version=version)], now=clock.now)
    data = _first_message(version)
    for i in range(200):
        engine.receive(data, (A, 500), (f"198.51.100.{i % 250 + 1}", 500), clock.now)
    lines = [e for e in _events(engine) if isinstance(e, LogLine)]
    assert len(lines) == 5 and all(e.level == "ERROR" for e in lines)
    assert engine.drops["no gateway for peer address" if version == "ikev2" else "no gateway for peer"] == 200
    when = engine.next_timer()
    assert when is not None and when <= clock.now + 60  # the summary is due with the window
    clock.advance(60)
    engine.handle_timer(clock.now)
    summary = [e.text for e in _events(engine) if isinstance(e, LogLine)]
    assert len(summary) == 1 and summary[0].startswith("195 similar messages suppressed")
    # the next one after the window is written again
    engine.receive(data, (A, 500), ("198.51.100.1", 500), clock.now)
    assert len([e for e in _events(engine) if isinstance(e, LogLine)]) == 1


def test_repeats_window() -> None:
    r = Repeats(burst=2, window=10)
    assert [r.allow("k", t)[0] for t in (0, 1, 2, 3)] == [True, True, False, False]
    assert r.allow("other", 3) == (True, 0)
    assert r.next_flush() == 10
    assert r.allow("k", 11) == (True, 2)
    assert r.flush(100) == []


@pytest.mark.parametrize("mode", ["aggressive", "main"])
def test_ikev1_aes_without_key_length_is_aes128_not_an_internal_error(mode: str) -> None:
    """Found by the fuzzer: the transform matched (AES with no length is AES-128) but the
    suite kept key length 0 and deriving the keys raised."""
    from vpnsh.engine.ikev1 import message as m
    from vpnsh.engine.ikev1.message import P1Attr

    first = _first_message_mode(mode)
    msg = m.parse_plain(first)
    sa = msg.get(m.SaPayload)
    assert isinstance(sa, m.SaPayload)
    sa.proposals = [m.Proposal(p.number, p.protocol, p.spi, tuple(
        m.Transform(t.number, t.transform_id, tuple(a for a in t.attrs if a.type != P1Attr.KEY_LENGTH))
        for t in p.transforms)) for p in sa.proposals]
    data = m.encode(msg.header, [r.payload for r in msg.payloads])
    responder = Ikev1Engine(clock=FakeClock())
    responder.add_policies([ike_policy("gw", A, "198.51.100.1", version="ikev1", exchange_mode=mode)], now=FakeClock().now)
    responder.receive(data, (A, 500), ("198.51.100.1", 500), 0.0)
    assert responder.drops["internal error"] == 0, responder.drops
    assert len(responder.datagrams_to_send()) == 1  # answered


def _first_message_mode(mode: str) -> bytes:
    engine = Ikev1Engine(clock=FakeClock())
    engine.add_policies([ike_policy("gw", "198.51.100.1", A, version="ikev1", exchange_mode=mode)], now=FakeClock().now)
    assert engine.initiate("gw", now=FakeClock().now)
    return cast(bytes, engine.datagrams_to_send()[0][0])


def test_one_engines_timer_bug_never_stops_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from vpnsh.engine.ikev1.dual import DualEngine

    clock = FakeClock()
    dual = DualEngine(clock=clock)
    dual.add_policies([ike_policy("v1", A, "203.0.113.1", version="ikev1")], now=clock.now)
    assert dual.initiate("v1", now=clock.now)
    dual.datagrams_to_send()

    def broken(now: float) -> None:
        raise RuntimeError("IKEv2 timer bug")

    monkeypatch.setattr(dual.v2, "handle_timer", broken)
    when = dual.next_timer()
    assert when is not None
    dual.handle_timer(when + 0.1)  # must not raise
    assert [remote[0] for _, _, remote in dual.datagrams_to_send()] == ["203.0.113.1"]  # v1 went on
    assert dual.v2.drops["internal error"] == 1


def test_the_daemon_schedules_its_timers_again_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from vpnsh.engine.service import Engine

    async def run() -> None:
        engine = Engine(dataplane="none")
        engine.ike.add_policies([ike_policy("gw", A, "203.0.113.1")], now=engine.clock())
        assert engine.ike.initiate("gw", now=engine.clock())

        def broken(now: float) -> None:
            raise RuntimeError("timer bug")

        monkeypatch.setattr(engine.ike, "handle_timer", broken)
        engine._on_timer()  # must not raise
        assert engine._timer is not None  # the next run is scheduled
        engine._timer.cancel()

    asyncio.run(run())
