"""Issue 12: the IKEv1 tasks alone, each against a fake context (no engine), and the
authentication seam of main and aggressive mode (tasks/auth.py Phase1Auth)."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.crypto import keymat as km
from vpnsh.engine.ike.events import ChildInstalled, IkeEstablished, IkeFailed
from vpnsh.engine.ike.retransmit import IKEV1
from vpnsh.engine.ike.spi import SpiAllocator
from vpnsh.engine.ikev1 import message as m
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev1.message import Message, NatDPayload, NotifyType, VendorIdPayload
from vpnsh.engine.ikev1.sa import Child, P1Suite, Phase1
from vpnsh.engine.ikev1.tasks import auth as auth_mod
from vpnsh.engine.ikev1.tasks import phase1 as phase1_mod
from vpnsh.engine.ikev1.tasks.base import Incoming, Outgoing, Status
from vpnsh.engine.ikev1.tasks.dpd import Dpd
from vpnsh.engine.ikev1.tasks.natd import NatD, natd_hash
from vpnsh.engine.ikev1.tasks.vendor import Vendor
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy

A, B = "192.0.2.1", "192.0.2.2"


class FakeContext:
    """The narrow context a task sees (tasks/base.py Context), recording what it is asked."""

    retransmit = IKEV1

    def __init__(self) -> None:
        self.rng = random.Random(1)
        self.spis = SpiAllocator()
        self.force_udp_encap = False
        self.nat_traversal = True
        self.children: dict[int, Child] = {}
        self.sas: list[Phase1] = []
        self.sent: list[bytes] = []
        self.logs: list[str] = []
        self.removed: list[tuple[str, str]] = []

    def log(self, sa: Any, text: str, *, gateway: str = "", level: str = "INFO") -> None:
        self.logs.append(text)

    def send(self, data: bytes, local: Any, remote: Any) -> None:
        self.sent.append(data)

    def remove_p1(self, sa: Phase1, reason: str, announce: bool = True) -> None:
        self.removed.append(("p1", reason))

    def remove_child(self, c: Child, reason: str) -> None:
        self.removed.append(("child", reason))

    def phase1_sas(self, gateway: str) -> list[Phase1]:
        return [s for s in self.sas if s.gateway == gateway]

    def children_of(self, gateway: str) -> list[Child]:
        return [c for c in self.children.values() if c.gateway == gateway]


def _sa(initiator: bool = True, aggressive: bool = False, **kw: Any) -> Phase1:
    pol = ike_policy("G", A, B, version="ikev1", **kw)
    sa = Phase1(sn=1, policy=pol, initiator=initiator, aggressive=aggressive,
                cky_i=b"\x01" * 8, cky_r=b"\x02" * 8, local=(A, 500), remote=(B, 500),
                created=0.0)
    sa.suite = P1Suite(7, 128, 2, 14, 28800)
    return sa


def _msg(*payloads: m.Payload) -> Message:
    return m.parse_plain(m.encode(m.Header(b"\x01" * 8, b"\x02" * 8, 0, m.Exchange.MAIN, 0, 0),
                                  list(payloads)))


def test_vendor_and_natd_fill_the_messages_of_their_role() -> None:
    ctx, sa = FakeContext(), _sa()
    vendor, natd = Vendor(cast(Any, ctx), sa, True), NatD(cast(Any, ctx), sa, True)
    out1 = Outgoing(1)
    vendor.build(out1)
    natd.build(out1)
    assert [p.data for p in out1.payloads] == [m.VID_RFC3947, m.VID_DPD]  # no NAT-D in 1
    # the peer's message 2 announces NAT-T; message 4 has NAT-D saying a NAT is in front of us
    vendor.process(Incoming(2, _msg(VendorIdPayload(m.VID_RFC3947)), 0.0))
    assert sa.peer_natt
    out3 = Outgoing(3)
    natd.build(out3)
    assert [p.data for p in out3.payloads] == [natd_hash(sa, sa.remote), natd_hash(sa, sa.local)]
    natd.process(Incoming(4, _msg(NatDPayload(b"\x00" * 20), NatDPayload(natd_hash(sa, sa.remote))),
                          0.0))
    assert sa.nat_local and not sa.nat_remote
    assert sa.local[1] == sa.remote[1] == m.NATT_PORT  # the initiator floated


def test_natd_is_only_read_in_its_messages_and_not_without_nat_t() -> None:
    ctx, sa = FakeContext(), _sa()
    natd = NatD(cast(Any, ctx), sa, True)
    natd.process(Incoming(2, _msg(NatDPayload(b"\x00" * 20), NatDPayload(b"\x00" * 20)), 0.0))
    assert not sa.nat_local  # main mode: NAT-D belongs to message 4, not 2
    ctx.nat_traversal = False
    natd.process(Incoming(4, _msg(NatDPayload(b"\x00" * 20), NatDPayload(b"\x00" * 20)), 0.0))
    assert not sa.nat_local and sa.local[1] == 500


def test_dpd_sends_r_u_there_and_declares_the_peer_dead_after_the_retries() -> None:
    ctx = FakeContext()
    sa = _sa(dpd_enabled=True, dpd_interval=5, dpd_retry=2)
    ctx.sas.append(sa)
    dpd = Dpd(cast(Any, ctx), sa)
    out = Outgoing(1, now=1.0)
    assert dpd.build(out) is Status.DONE and not out.payloads  # heard from the peer lately
    first = Outgoing(1, now=10.0)
    dpd.build(first)
    (n,) = first.payloads
    assert isinstance(n, m.NotifyPayload) and n.notify_type == NotifyType.R_U_THERE
    assert sa.dpd_waiting is not None
    dpd.build(Outgoing(1, now=15.0))  # unanswered: once more
    assert dpd.build(Outgoing(1, now=20.0)) is Status.FAILED
    assert ("p1", f"peer {B} is dead: no answer to 2 DPD R-U-THERE messages") in ctx.removed


def test_dpd_counts_a_late_ack_or_any_message_from_the_peer_as_an_answer() -> None:
    """An ACK of an earlier R-U-THERE that comes after the next one went out matches no
    sequence number, but it is the peer, alive: its tries start again."""
    ctx = FakeContext()
    sa = _sa(dpd_enabled=True, dpd_interval=5, dpd_retry=2)
    ctx.sas.append(sa)
    dpd = Dpd(cast(Any, ctx), sa)
    t, sent, acks = 10.0, 0, []  # acks: when each ACK arrives
    while t < 120.0:  # every ACK comes 6 s late: after our next R-U-THERE went out
        sa.last_rx = max([sa.last_rx, *[x for x in acks if x <= t]])  # ack_in ignores them
        out = Outgoing(1, now=t)
        assert dpd.build(out) is Status.DONE
        if out.payloads:
            sent += 1
            acks.append(t + 6.0)
        t = sa.dpd_next
    assert sent >= 10
    assert ctx.removed == [] and sa.dpd_tries < 2  # never two unanswered in a row
    # then silence (the last ACK lost too): dead after the retries, as before
    assert [dpd.build(Outgoing(1, now=t + 5 * i)) for i in range(3)][-1] is Status.FAILED
    assert ctx.removed[0][0] == "p1"


class _OtherSkeyid(auth_mod.PskAuth):
    """Another authentication method on the same seam: SKEYID derived differently."""

    calls: list[str] = []

    def skeyid(self, prf: int, ni: bytes, nr: bytes, shared: bytes) -> bytes:
        self.calls.append("skeyid")
        return km.ikev1_skeyid_sig(prf, ni, nr, shared)

    def verify(self, sa: Phase1, msg: Message, digest: bytes) -> bool:
        self.calls.append("verify")
        return super().verify(sa, msg, digest)


def _pair(mode: str) -> tuple[Wire, Node, Node]:
    clock = FakeClock()
    a = Node("a", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(1))), A)
    b = Node("b", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(2))), B)
    a.engine.add_policies([ike_policy("GA", A, B, version="ikev1", exchange_mode=mode)],
                          (child_policy("TA", "GA"),), now=clock.now)
    b.engine.add_policies([ike_policy("GB", B, A, version="ikev1", exchange_mode=mode)],
                          (child_policy("TB", "GB"),), now=clock.now)
    return Wire(clock, a, b), a, b


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_another_auth_method_plugs_in_without_touching_the_flow(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _OtherSkeyid.calls = []
    monkeypatch.setattr(phase1_mod, "auth_for", lambda policy: _OtherSkeyid(policy.psk))
    wire, a, b = _pair(mode)
    a.engine.initiate("GA", now=wire.clock.now)
    wire.run()
    assert a.of(IkeEstablished) and b.of(IkeEstablished) and a.of(ChildInstalled)
    assert _OtherSkeyid.calls.count("skeyid") == 2 and _OtherSkeyid.calls.count("verify") == 2


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_a_different_auth_on_one_side_fails_phase_1(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wire, a, b = _pair(mode)
    real = phase1_mod.auth_for
    monkeypatch.setattr(phase1_mod, "auth_for", lambda policy: _OtherSkeyid(policy.psk)
                        if policy.name == "GB" else real(policy))
    a.engine.initiate("GA", now=wire.clock.now)
    wire.run()
    wire.advance(40)
    # main mode: the responder cannot read or verify message 5; aggressive mode: the
    # initiator cannot verify HASH_R. Either way phase 1 fails with the method's hint.
    checker = b if mode == "main" else a
    (failed, *_) = checker.of(IkeFailed)
    assert "authentication failed" in failed.reason
    assert "pre-shared key mismatch" in failed.reason
    assert not a.of(ChildInstalled)
