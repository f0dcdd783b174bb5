"""Both gateways initiate the IKE SA to each other at the same moment (the tunnel monitor,
or traffic on both sides): they end with one IKE SA and one CHILD SA pair per proxy-id,
chosen alike on both sides, with matching keys and a Delete for the other IKE SA."""

from __future__ import annotations

import pytest

from vpnsh.engine.ike.events import (
    ChildInstalled,
    ChildRemoved,
    IkeDeleted,
    IkeEstablished,
    LogLine,
)
from vpnsh.engine.ikev2 import collision
from vpnsh.engine.ikev2.constants import ExchangeType
from vpnsh.engine.ikev2.message import parse
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy, make_pair

A, B = "192.0.2.1", "192.0.2.2"
PROXIES = {"tun:p1": ("10.1.0.0/24", "10.2.0.0/24"), "tun:p2": ("10.1.1.0/24", "10.2.1.0/24")}


def pair(seed: int, proxies: tuple[str, ...] = ("tun:p1",)) -> tuple[Wire, Node, Node]:
    ca = tuple(child_policy(n, "gw", local_ts=(PROXIES[n][0],), remote_ts=(PROXIES[n][1],))
               for n in proxies)
    cb = tuple(child_policy(n, "gw", local_ts=(PROXIES[n][1],), remote_ts=(PROXIES[n][0],))
               for n in proxies)
    return make_pair(ike_policy("gw", A, B), ike_policy("gw", B, A), ca, cb, seed=seed)


def installed(n: Node) -> dict[int, int]:
    return {c.spi_in: c.spi_out for c in n.engine.child_sas()}


def assert_one_pair_per_proxy(a: Node, b: Node, proxies: tuple[str, ...]) -> None:
    ia, ib = a.engine.ike_sas(), b.engine.ike_sas()
    assert len(ia) == 1 and len(ib) == 1, (ia, ib)
    assert (ia[0].spi_i, ia[0].spi_r) == (ib[0].spi_i, ib[0].spi_r)
    for n in (a, b):
        assert sorted(c.name for c in n.engine.child_sas()) == sorted(proxies)
    assert installed(b) == {o: i for i, o in installed(a).items()}
    ka = {e.keys.spi_in: e.keys for e in a.of(ChildInstalled)}
    kb = {e.keys.spi_in: e.keys for e in b.of(ChildInstalled)}
    for spi_in, spi_out in installed(a).items():
        assert ka[spi_in].encr_key_out == kb[spi_out].encr_key_in
        assert ka[spi_in].encr_key_in == kb[spi_out].encr_key_out
        assert ka[spi_in].integ_key_out == kb[spi_out].integ_key_in


@pytest.mark.parametrize("seed", range(1, 9))
def test_simultaneous_initiation_ends_with_one_ike_sa(seed: int) -> None:
    w, a, b = pair(seed)
    now = w.clock.now
    assert a.engine.initiate("gw", now=now) and b.engine.initiate("gw", now=now)
    w.run()
    w.advance(5)
    assert_one_pair_per_proxy(a, b, ("tun:p1",))
    # one IKE SA was deleted with a Delete the peer answered, on both sides alike
    [gone_a], [gone_b] = a.of(IkeDeleted), b.of(IkeDeleted)
    assert gone_a.replaced and gone_b.replaced
    assert any("IKE SA collision" in e.text for e in a.of(LogLine))
    assert any("IKE SA collision" in e.text for e in b.of(LogLine))
    deletes = [parse(d).message for _, d, _, _ in w.sent
               if parse(d).message.exchange == ExchangeType.INFORMATIONAL]
    assert deletes and a.engine.drops == {} and b.engine.drops == {}
    # the survivor carries work: a CHILD SA rekey and a delete go through
    assert a.engine.delete_child("tun:p1", now=w.clock.now) == 1
    w.run()
    assert installed(a) == {} and installed(b) == {}


def test_collision_with_a_proxy_id_only_on_the_redundant_sa() -> None:
    """Each side starts a different proxy-id: the survivor gets the other's before the
    redundant IKE SA goes, so no proxy-id is left without a CHILD SA pair."""
    w, a, b = pair(3, ("tun:p1", "tun:p2"))
    now = w.clock.now
    assert a.engine.initiate("gw", "tun:p1", now=now)
    assert b.engine.initiate("gw", "tun:p2", now=now)
    w.run()
    w.advance(5)
    assert_one_pair_per_proxy(a, b, ("tun:p1", "tun:p2"))
    # a proxy-id never went without a CHILD SA once it had one (make-before-break)
    for n in (a, b):
        live: dict[str, int] = {}
        for e in n.events:
            if isinstance(e, ChildInstalled):
                live[e.keys.name] = live.get(e.keys.name, 0) + 1
            elif isinstance(e, ChildRemoved):
                live[e.name] -= 1
                assert live[e.name] >= 1, (n.name, e)


def test_sequential_initiation_is_not_a_collision() -> None:
    """The peer's new IKE SA after ours is up (a re-authentication, say) is no collision:
    nothing is deleted by the rule."""
    w, a, b = pair(1)
    assert a.engine.initiate("gw", now=w.clock.now)
    w.run()
    [sa_b] = b.engine._sas.values()
    b.engine.abandon_ike("gw", "test")  # b forgets it (sends one Delete, lost here)
    w.drop = lambda data, sender: sender == "b"
    w.run()
    w.drop = None
    assert b.engine.initiate("gw", now=w.clock.now)
    w.run()
    assert not any("IKE SA collision" in e.text for n in (a, b) for e in n.of(LogLine))


def _drop_first_init_of(sender: str):
    seen: list[bool] = []

    def drop(data: bytes, who: str) -> bool:
        msg = parse(data).message
        if who == sender and msg.exchange == ExchangeType.IKE_SA_INIT and not msg.is_response \
                and not seen:
            seen.append(True)
            return True
        return False
    return drop


@pytest.mark.parametrize("seed", range(1, 5))
def test_late_initiation_of_the_peer_converges(seed: int) -> None:
    """b's first IKE_SA_INIT is lost: its retransmission reaches a after a's IKE SA is up.
    a cannot tell that from a re-authentication and waits; b saw the overlap and ends it."""
    w, a, b = pair(seed)
    w.drop = _drop_first_init_of("b")
    now = w.clock.now
    assert a.engine.initiate("gw", now=now) and b.engine.initiate("gw", now=now)
    w.run()
    w.advance(collision.GRACE + 5)
    assert_one_pair_per_proxy(a, b, ("tun:p1",))
    assert any("IKE SA collision" in e.text for e in b.of(LogLine))


@pytest.mark.parametrize("late", [False, True])
def test_a_peer_that_keeps_both_sas_gets_one(monkeypatch: pytest.MonkeyPatch, late: bool) -> None:
    """A peer that does nothing about collisions (strongSwan): we end it alone."""
    w, a, b = pair(2)
    real = collision.established

    def only_a(ctx, sa, same, now):  # type: ignore[no-untyped-def]
        if ctx is a.engine:
            real(ctx, sa, same, now)

    monkeypatch.setattr(collision, "established", only_a)
    if late:
        w.drop = _drop_first_init_of("b")
    now = w.clock.now
    assert a.engine.initiate("gw", now=now) and b.engine.initiate("gw", now=now)
    w.run()
    w.advance(2 * collision.GRACE + 5)
    assert len(a.of(IkeEstablished)) == 2 and len(b.of(IkeEstablished)) == 2
    assert_one_pair_per_proxy(a, b, ("tun:p1",))
    assert any("redundant after IKE SA collision" in e.text for e in a.of(LogLine))


def test_two_peers_behind_one_nat_address_are_no_collision() -> None:
    """One dynamic gateway, two branches behind the same NAT address with their own IDs,
    coming up at once: two IKE SAs that both stay."""
    import random

    from vpnsh.engine.clock import FakeClock
    from vpnsh.engine.ikev2.engine import Ikev2Engine
    from vpnsh.engine.policy import Identity

    clock = FakeClock()
    hub = Node("hub", Ikev2Engine(clock=clock, rng=random.Random(1)), B)
    hub.engine.add_policies([ike_policy("gw", B, None, peer_id=None)],
                            [child_policy("tun", "gw")], now=clock.now)
    branches = []
    for i in (1, 2):
        inside = f"10.9.0.{i}"
        n = Node(f"c{i}", Ikev2Engine(clock=clock, rng=random.Random(10 + i)), inside)
        n.engine.add_policies(
            [ike_policy("gw", inside, B, local_id=Identity("fqdn", f"branch{i}.example"))],
            [child_policy("tun", "gw")], now=clock.now)
        branches.append(n)
    w = Wire(clock, hub, *branches)
    for n in branches:
        w.add_nat(n.address, "203.0.113.5")
    for n in branches:
        assert n.engine.initiate("gw", now=clock.now)
    w.run()
    w.advance(2 * collision.GRACE + 5)
    ids = sorted(s.id_remote for s in hub.engine.ike_sas())
    assert ids == ["fqdn:branch1.example", "fqdn:branch2.example"]
    assert not any("collision" in e.text for e in hub.of(LogLine))
    assert all(len(n.engine.child_sas()) == 1 for n in branches)
