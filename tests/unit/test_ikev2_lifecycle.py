"""Lifetimes, lifesize, half-open SAs, cookies under load, INITIAL_CONTACT."""

from __future__ import annotations

from vpnsh.engine.ike.events import (
    ChildInstalled,
    ChildRemoved,
    IkeDeleted,
    IkeEstablished,
    LogLine,
)
from vpnsh.engine.ikev2.constants import ExchangeType, NotifyType
from vpnsh.engine.ikev2.message import parse
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy, make_pair

A, B = "192.0.2.1", "192.0.2.2"


def pair(
    a_kw: dict | None = None, b_kw: dict | None = None, child_kw: dict | None = None
) -> tuple[Wire, Node, Node]:
    return make_pair(
        ike_policy("gw", A, B, **(a_kw or {})),
        ike_policy("gw", B, A, **(b_kw or {})),
        (child_policy("tun", "gw", **(child_kw or {})),),
        (child_policy("tun", "gw", **(child_kw or {})),),
    )


def test_lifesize_soft_rekeys_and_hard_deletes() -> None:
    w, a, b = pair()
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    [old] = a.engine.child_sas()
    a.engine.child_lifesize_exceeded(old.spi_in, hard=False, now=w.clock.now)
    w.run()
    [new] = a.engine.child_sas()
    assert new.spi_in != old.spi_in
    assert [e.rekey_of for e in a.of(ChildInstalled)] == [None, old.spi_in]
    a.engine.child_lifesize_exceeded(new.spi_in, hard=True, now=w.clock.now)
    w.run()
    assert a.engine.child_sas() == [] and b.engine.child_sas() == []
    assert a.of(ChildRemoved)[-1].reason == "lifesize expired"


def test_ike_sa_rekeys_before_its_lifetime_and_children_survive() -> None:
    w, a, b = pair(
        {"lifetime": 600, "dpd_enabled": False},
        {"lifetime": 900, "dpd_enabled": False},
        {"lifetime": 3600},
    )
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    spis = {c.spi_in for c in a.engine.child_sas()}
    w.advance(515, step=5)  # a rekeys at 80-85 % of its 600 s: the shorter lifetime wins
    sas = a.engine.ike_sas()
    assert len(sas) == 1 and sas[0].sn > 1 and sas[0].role == "Init"
    assert {c.spi_in for c in a.engine.child_sas()} == spis
    assert [e.rekey for e in b.of(IkeEstablished)] == [False, True]


def test_child_hard_expiry_without_rekey_deletes() -> None:
    w, a, b = pair(child_kw={"lifetime": 300})
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    w.drop = lambda data, sender: parse(data).message.exchange == ExchangeType.CREATE_CHILD_SA
    w.advance(301, step=5)
    assert any(e.reason == "lifetime expired" for e in a.of(ChildRemoved) + b.of(ChildRemoved))


def test_half_open_sa_times_out() -> None:
    w, a, b = pair()
    w.drop = lambda data, sender: parse(data).message.exchange == ExchangeType.IKE_AUTH
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    assert b.engine.half_open_count() == 1
    w.advance(31)
    assert b.engine.half_open_count() == 0 and b.engine.ike_sas() == []
    assert any("half-open" in e.text for e in b.of(LogLine))


def test_cookie_demanded_when_half_open_sas_pile_up() -> None:
    w, a, b = pair()
    b.engine.half_open_limit = 0
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    assert len(a.of(IkeEstablished)) == 1
    cookies = [m for _, d, _, _ in w.sent if (m := parse(d).message).notify(NotifyType.COOKIE)]
    assert len(cookies) == 2  # the challenge and the retried request


def test_retransmitted_init_request_gets_the_same_response() -> None:
    w, a, b = pair()
    w.drop = lambda data, sender: sender == "b"
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    w.advance(1.5)
    answers = [d for n, d, _, _ in w.sent if n == "b"]
    assert len(answers) == 2 and answers[0] == answers[1]
    assert b.engine.half_open_count() == 1


def test_initial_contact_replaces_stale_sas() -> None:
    w, a, b = pair()
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    [stale] = b.engine.ike_sas()
    # a reboots: a fresh engine with the same config initiates again
    from vpnsh.engine.ikev2.engine import Ikev2Engine

    fresh = Ikev2Engine(clock=w.clock)
    fresh.add_policies([ike_policy("gw", A, B)], [child_policy("tun", "gw")], now=w.clock.now)
    a.engine = fresh
    fresh.initiate("gw", now=w.clock.now)
    w.run()
    sas = b.engine.ike_sas()
    assert len(sas) == 1 and sas[0].sn != stale.sn
    assert [e.reason for e in b.of(IkeDeleted)] == ["peer sent INITIAL_CONTACT"]
    assert len(b.engine.child_sas()) == 1


def test_ikev1_gateway_is_not_initiated_here() -> None:
    w, a, b = pair({"version": "ikev1"})
    assert a.engine.initiate("gw", now=w.clock.now) is False
    assert a.engine.datagrams_to_send() == []


def test_clear_while_connecting_and_next_timer() -> None:
    w, a, b = pair()
    a.engine.initiate("gw", now=w.clock.now)
    assert a.engine.next_timer() is not None
    assert a.engine.delete_ike("gw", now=w.clock.now) == 1
    assert a.engine.ike_sas() == [] and a.engine.next_timer() is None
