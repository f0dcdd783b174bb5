"""Two IKEv1 engines on an in-process wire with a fake clock: main and aggressive mode,
quick mode with proxy IDs, PFS, lifetimes, rekey, delete, DPD, NAT-T, failures."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from vpnsh.engine.clock import FakeClock
from vpnsh.engine.ike.events import (
    ChildFailed,
    ChildInstalled,
    ChildRemoved,
    IkeDeleted,
    IkeEstablished,
    IkeFailed,
    LogLine,
)
from vpnsh.engine.ikev1 import message as m
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev1.message import is_ikev1
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy
from vpnsh.engine.policy import ChildPolicy, EspProposal, IkePolicy, IkeProposal

A, B = "192.0.2.1", "192.0.2.2"
AES256_SHA1_G2 = IkeProposal(((12, 256),), (2,), (2,), (2,))
TDES_SHA1_G2 = IkeProposal(((3, 192),), (2,), (2,), (2,))


def pair(
    a_kw: dict[str, Any] | None = None,
    b_kw: dict[str, Any] | None = None,
    a_children: tuple[ChildPolicy, ...] | None = None,
    b_children: tuple[ChildPolicy, ...] | None = None,
) -> tuple[Wire, Node, Node]:
    clock = FakeClock()
    a_pol = ike_policy("GA", A, B, version="ikev1", **(a_kw or {}))
    b_pol = ike_policy("GB", B, A, version="ikev1", **(b_kw or {}))
    a = Node("a", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(1))), A)
    b = Node("b", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(2))), B)
    a.engine.add_policies([a_pol], a_children if a_children is not None
                          else (child_policy("TA", "GA"),), now=clock.now)
    b.engine.add_policies([b_pol], b_children if b_children is not None
                          else (child_policy("TB", "GB"),), now=clock.now)
    return Wire(clock, a, b), a, b


def eng(n: Node) -> Ikev1Engine:
    return cast(Ikev1Engine, n.engine)


def logs(n: Node) -> str:
    return "\n".join(e.text for e in n.of(LogLine))


def installed(n: Node) -> list[ChildInstalled]:
    return n.of(ChildInstalled)


def assert_keys_mirror(x: ChildInstalled, y: ChildInstalled) -> None:
    kx, ky = x.keys, y.keys
    assert kx.spi_in == ky.spi_out and kx.spi_out == ky.spi_in
    assert kx.encr_key_out == ky.encr_key_in and kx.encr_key_in == ky.encr_key_out
    assert kx.integ_key_out == ky.integ_key_in and kx.integ_key_in == ky.integ_key_out
    assert kx.encr_key_in != kx.encr_key_out


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_phase1_and_quick_mode_establish(mode: str) -> None:
    wire, a, b = pair({"exchange_mode": mode})
    assert eng(a).initiate("GA", now=wire.clock.now)
    sent = eng(a).datagrams_to_send()
    assert sent and is_ikev1(sent[0][0])
    hdr = m.parse_header(sent[0][0])
    assert hdr.exchange == (m.Exchange.MAIN if mode == "main" else m.Exchange.AGGRESSIVE)
    for d in sent:
        eng(b).receive(d[0], (B, 500), (A, 500), wire.clock.now)
    wire.run()
    assert [e.initiator for e in a.of(IkeEstablished)] == [True]
    assert [e.initiator for e in b.of(IkeEstablished)] == [False]
    (ia,), (ib,) = installed(a), installed(b)
    assert_keys_mirror(ia, ib)
    assert ia.keys.initiator and not ib.keys.initiator
    words = "main mode" if mode == "main" else "aggressive mode"
    assert f"IKE phase-1 negotiation is succeeded as initiator, {words}" in logs(a)
    assert f"IKE phase-1 negotiation is succeeded as responder, {words}" in logs(b)
    (sa_a,) = eng(a).ike_sas()
    assert sa_a.mode == ("Main" if mode == "main" else "Aggr")
    assert sa_a.algorithm == "PSK/DH14/A128/SHA256" and sa_a.st == 13 and sa_a.phase2 == 1
    (ch,) = eng(b).child_sas()
    assert ch.role == "Resp" and ch.algorithm == "ESP/A128/SHA256" and ch.st == 9
    # the default proxy ID 0.0.0.0/0 both ways
    assert ch.local_ts == ("Proto:any, 0.0.0.0-255.255.255.255, Ports:any",)


@pytest.mark.parametrize("proposal", [AES256_SHA1_G2, TDES_SHA1_G2], ids=["aes256", "3des"])
def test_other_phase1_suites(proposal: IkeProposal) -> None:
    wire, a, b = pair({"proposals": (proposal,)}, {"proposals": (proposal,)})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    assert len(a.of(IkeEstablished)) == 1 and len(installed(b)) == 1


def test_several_proxy_ids_each_get_their_own_sa_pair() -> None:
    a_children = (
        child_policy("T:one", "GA", local_ts=("10.1.0.0/24",), remote_ts=("10.2.0.0/24",)),
        child_policy("T:two", "GA", local_ts=("10.1.1.0/24",), remote_ts=("10.2.1.5/32",),
                     ip_proto=6, remote_port=443),
    )
    b_children = (
        child_policy("U:one", "GB", local_ts=("10.2.0.0/24",), remote_ts=("10.1.0.0/24",)),
        child_policy("U:two", "GB", local_ts=("10.2.1.5/32",), remote_ts=("10.1.1.0/24",),
                     ip_proto=6, local_port=443),
    )
    wire, a, b = pair(a_children=a_children, b_children=b_children)
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    names_a = sorted(e.keys.name for e in installed(a))
    names_b = sorted(e.keys.name for e in installed(b))
    assert names_a == ["T:one", "T:two"] and names_b == ["U:one", "U:two"]
    two = next(e.keys for e in installed(b) if e.keys.name == "U:two")
    assert two.local_ts[0].ip_proto == 6 and two.local_ts[0].start_port == 443
    assert str(two.remote_ts[0].start_addr) == "10.1.1.0"
    assert len({e.keys.spi_in for e in installed(a)}) == 2


def test_proxy_id_mismatch_is_rejected_with_the_ids_in_the_log() -> None:
    a_children = (child_policy("T", "GA", local_ts=("10.1.0.0/24",), remote_ts=("10.2.0.0/24",)),)
    b_children = (child_policy("U:p", "GB", local_ts=("10.9.0.0/24",),
                               remote_ts=("10.1.0.0/24",)),)
    wire, a, b = pair(a_children=a_children, b_children=b_children)
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    assert len(a.of(IkeEstablished)) == 1 and not installed(a) and not installed(b)
    text = logs(b)
    assert "no matching proxy-id" in text and "10.1.0.0/24" in text and "10.2.0.0/24" in text
    assert "U:p: local 10.9.0.0/24 remote 10.1.0.0/24" in text
    (failed,) = a.of(ChildFailed)
    assert failed.name == "T" and "INVALID-ID-INFORMATION" in failed.reason


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_wrong_psk_fails_in_plain_words(mode: str) -> None:
    wire, a, b = pair({"exchange_mode": mode}, {"psk": b"another-key-0000"})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.advance(120)
    assert not a.of(IkeEstablished) and not b.of(IkeEstablished)
    reasons = [e.reason for e in a.of(IkeFailed) + b.of(IkeFailed)]
    assert reasons and any("pre-shared key mismatch" in r for r in reasons), reasons
    assert eng(a).ike_sas() == [] and eng(b).ike_sas() == []


def test_no_common_proposal_names_both_sides() -> None:
    wire, a, b = pair({"proposals": (TDES_SHA1_G2,)})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (fb,) = b.of(IkeFailed)
    assert "no proposal chosen" in fb.reason and "3DES/SHA1/DH2" in fb.reason
    assert "AES128-CBC/SHA256/DH14" in fb.reason
    (fa,) = a.of(IkeFailed)
    assert "NO-PROPOSAL-CHOSEN" in fa.reason


def test_pfs_and_responder_lifetime() -> None:
    esp = (EspProposal(((12, 256),), (2,)),)
    a_children = (child_policy("TA", "GA", proposals=esp, pfs_group=14, lifetime=3600,
                               lifesize_kb=100000),)
    b_children = (child_policy("TB", "GB", proposals=esp, pfs_group=14, lifetime=1200),)
    wire, a, b = pair(a_children=a_children, b_children=b_children)
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (ia,), (ib,) = installed(a), installed(b)
    assert_keys_mirror(ia, ib)
    assert ia.keys.lifetime_hard == 1200 and ib.keys.lifetime_hard == 1200
    assert ia.keys.lifesize_kb == 100000 and ib.keys.lifesize_kb == 100000
    assert eng(a).child_sas()[0].proposal == "AES256-CBC/SHA1/DH14"


def test_pfs_mismatch_is_no_proposal_chosen() -> None:
    wire, a, b = pair(a_children=(child_policy("TA", "GA", pfs_group=14),))
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    assert not installed(a)
    assert "no proposal chosen for tunnel TB" in logs(b)
    assert a.of(ChildFailed)


def test_phase2_rekey_installs_new_before_removing_old() -> None:
    kids = (child_policy("TA", "GA", lifetime=100),)
    wire, a, b = pair(a_children=kids, b_children=(child_policy("TB", "GB", lifetime=100),))
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (first_a,) = installed(a)
    wire.advance(86)  # soft lifetime of the initiator: 80..85 s
    new_a = [e for e in installed(a) if e.rekey_of == first_a.keys.spi_in]
    assert len(new_a) == 1
    assert not a.of(ChildRemoved)  # the old SA lives on through the grace time
    new_b = [e for e in installed(b) if e.rekey_of is not None]
    assert len(new_b) == 1
    assert_keys_mirror(new_a[0], new_b[0])
    wire.advance(11)
    removed_a = a.of(ChildRemoved)
    assert [r.spi_in for r in removed_a] == [first_a.keys.spi_in]
    assert [r.spi_out for r in b.of(ChildRemoved)] == [first_a.keys.spi_in]
    assert len(eng(a).child_sas()) == 1 and len(eng(b).child_sas()) == 1
    assert eng(a).child_sas()[0].spi_in == new_a[0].keys.spi_in


def test_delete_child_and_phase1_are_honoured() -> None:
    wire, a, b = pair()
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    assert eng(b).delete_child("TB", now=wire.clock.now) == 1
    wire.run()
    assert len(a.of(ChildRemoved)) == 1 and eng(a).child_sas() == []
    assert "the peer deleted it" in a.of(ChildRemoved)[0].reason
    assert eng(b).delete_ike("GB", now=wire.clock.now) == 1
    wire.run()
    assert eng(a).ike_sas() == [] and len(a.of(IkeDeleted)) == 1


def test_phase1_renegotiated_when_a_phase2_rekey_needs_it() -> None:
    wire, a, b = pair(a_children=(child_policy("TA", "GA", lifetime=200),),
                      b_children=(child_policy("TB", "GB", lifetime=200),))
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    assert eng(b).delete_ike("GB", now=wire.clock.now) == 1
    wire.run()
    assert eng(a).ike_sas() == [] and len(eng(a).child_sas()) == 1  # phase 2 outlives it
    wire.advance(190)  # the soft lifetime (160..170 s): a new phase 1, quick mode, grace
    assert len(a.of(IkeEstablished)) == 2
    assert any(e.rekey_of is not None for e in installed(a))
    assert len(eng(a).child_sas()) == 1 and len(eng(b).child_sas()) == 1


def test_phase1_renegotiated_before_it_expires_while_phase2_is_up() -> None:
    wire, a, b = pair({"lifetime": 60}, {"lifetime": 60},
                      a_children=(child_policy("TA", "GA", lifetime=300),),
                      b_children=(child_policy("TB", "GB", lifetime=300),))
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    first = eng(a).ike_sas()[0].sn
    wire.advance(61)  # soft lifetime 48..51 s: a new phase 1; the old one deleted by 60 s
    (now_a,) = eng(a).ike_sas()
    assert now_a.sn != first and len(eng(b).ike_sas()) == 1
    assert any("replaced by a new phase 1" in e.reason for e in a.of(IkeDeleted))
    assert len(eng(a).child_sas()) == 1 and len(eng(b).child_sas()) == 1
    assert not a.of(ChildRemoved) and not b.of(ChildRemoved)


def test_replaced_phase1_is_deleted_only_after_a_grace_time() -> None:
    """A peer adopting the phase 2 SAs of the old phase 1 (strongSwan's IKEv1
    reauthentication) does it after the new phase 1 is up: a Delete of the old ISAKMP SA
    right then would take them down with it, so the old one lives on for a while."""
    wire, a, b = pair({"lifetime": 300}, {"lifetime": 300},
                      a_children=(child_policy("TA", "GA", lifetime=3000),),
                      b_children=(child_policy("TB", "GB", lifetime=3000),))
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    first_a, first_b = eng(a).ike_sas()[0].sn, eng(b).ike_sas()[0].sn
    start = wire.clock.now
    wire.advance(239)
    assert len(a.of(IkeEstablished)) == 1
    while len(a.of(IkeEstablished)) < 2 and wire.clock.now < start + 260:
        wire.advance(1)  # the soft lifetime, 240..255 s: a new phase 1
    assert len(a.of(IkeEstablished)) == 2 and len(b.of(IkeEstablished)) == 2
    wire.advance(9)
    # both phase 1 SAs are still up on both sides: no Delete went out yet
    assert [s.sn for s in eng(a).ike_sas()][0] == first_a and len(eng(a).ike_sas()) == 2
    assert [s.sn for s in eng(b).ike_sas()][0] == first_b and len(eng(b).ike_sas()) == 2
    assert not a.of(IkeDeleted) and not b.of(IkeDeleted)
    assert "a new phase 1 SA is up: this one is deleted in 10 seconds" in logs(a)
    wire.advance(2)
    (now_a,), (now_b,) = eng(a).ike_sas(), eng(b).ike_sas()
    assert now_a.sn != first_a and now_b.sn != first_b
    assert [e.reason for e in a.of(IkeDeleted)] == ["replaced by a new phase 1 SA"]
    assert [e.reason for e in b.of(IkeDeleted)] == ["the peer deleted the ISAKMP SA"]
    assert len(eng(a).child_sas()) == 1 and len(eng(b).child_sas()) == 1
    assert not a.of(ChildRemoved) and not b.of(ChildRemoved)


def test_dpd_notices_a_dead_peer_and_cleans_up() -> None:
    wire, a, b = pair({"dpd_interval": 5, "dpd_retry": 3}, {"dpd_interval": 5})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    wire.advance(20)  # R-U-THERE / ACK keep it up
    assert not a.of(IkeDeleted)
    assert "R_U_THERE" not in logs(a)
    wire.drop = lambda data, sender: sender == "b"
    wire.advance(40)
    (gone,) = a.of(IkeDeleted)
    assert "is dead" in gone.reason
    assert eng(a).ike_sas() == [] and eng(a).child_sas() == []
    assert len(a.of(ChildRemoved)) == 1


def test_between_two_dpd_peers_only_the_initiator_of_the_isakmp_sa_probes() -> None:
    """The responder waits half an interval longer (ike/liveness.py): the initiator's
    R-U-THERE comes first and counts as hearing from the peer, so one R-U-THERE/ACK pair an
    interval, not two (10,000 tunnels at 5 s: 2,000 exchanges a second, not 4,000)."""
    wire, a, b = pair({"dpd_interval": 5}, {"dpd_interval": 5})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    since = len(wire.sent)
    wire.advance(60)
    info = [(name, m.parse_header(data).exchange) for name, data, _l, _r in wire.sent[since:]]
    assert all(x == m.Exchange.INFORMATIONAL for _n, x in info)
    from_a = sum(1 for n, _x in info if n == "a")
    from_b = sum(1 for n, _x in info if n == "b")
    assert 11 <= from_a <= 12 and from_b == from_a  # a's R-U-THERE, b's ACK: b never asks
    assert not a.of(IkeDeleted) and not b.of(IkeDeleted)


def test_the_probed_side_is_not_woken_for_a_check_it_would_put_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each R-U-THERE from the initiator moves the responder's check on (its deadline is
    last heard + 1.5 intervals): it never runs a check that finds the peer heard lately."""
    from vpnsh.engine.ikev1.tasks import dpd

    checks = {"a": 0, "b": 0}
    build = dpd.Dpd.build

    def counting(self: dpd.Dpd, out: Any) -> Any:
        checks["a" if self.sa.initiator else "b"] += 1
        return build(self, out)

    monkeypatch.setattr(dpd.Dpd, "build", counting)
    wire, a, b = pair({"dpd_interval": 5}, {"dpd_interval": 5})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    wire.advance(60)
    assert 11 <= checks["a"] <= 12 and checks["b"] == 0
    wire.drop = lambda data, sender: sender == "a"  # the initiator falls silent
    wire.advance(10)
    assert checks["b"] >= 1  # and then the responder checks


def test_dpd_messages_do_not_pile_up_message_ids() -> None:
    """An hour of R-U-THERE/ACK (720 informational messages each way) leaves the SA's
    record of used message IDs to its quick modes (the first, and the phase 2 rekey)."""
    wire, a, b = pair({"dpd_interval": 5}, {"dpd_interval": 5})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (sa_a,) = eng(a).sas.values()
    (sa_b,) = eng(b).sas.values()
    wire.advance(3600, step=5)
    assert len(wire.sent) > 1400 and not a.of(IkeDeleted)
    assert len(sa_a.manager.used_msgids) <= 3 and len(sa_b.manager.used_msgids) <= 3


def test_retransmission_recovers_lost_messages() -> None:
    wire, a, b = pair()
    lost: set[int] = set()

    def drop(data: bytes, sender: str) -> bool:
        n = len(wire.sent)
        if n in (1, 4, 6) and n not in lost:  # the first M1, M4 and M6
            lost.add(n)
            return True
        return False

    wire.drop = drop
    eng(a).initiate("GA", now=wire.clock.now)
    wire.advance(30)
    assert len(lost) == 3
    assert len(a.of(IkeEstablished)) == 1 and len(installed(a)) == 1 and len(installed(b)) == 1
    assert eng(a).ike_sas()[0].retransmits >= 1


def test_nat_traversal_floats_to_4500_and_encapsulates() -> None:
    wire, a, b = pair()
    wire.add_nat(A, "203.0.113.9")
    eng(b).add_policies([ike_policy("GB", B, None, version="ikev1")], (), now=wire.clock.now)
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (ia,), (ib,) = installed(a), installed(b)
    assert ia.keys.encap and ib.keys.encap
    assert ia.keys.local_port == 4500 and ia.keys.remote_port == 4500
    assert ib.keys.remote_addr == "203.0.113.9" and ib.keys.remote_port != 500
    assert eng(a).ike_sas()[0].nat == "ME" and eng(b).ike_sas()[0].nat == "PEER"


@pytest.mark.parametrize("mode", ["main", "aggressive"])
@pytest.mark.parametrize("forcing", ["initiator", "responder"])
def test_forced_udp_encapsulation_without_nat(mode: str, forcing: str) -> None:
    """The user-space data plane's ESP-in-UDP without a NAT: the forcing side sends a
    random NAT-D for its own address (RFC 3947), and both float to 4500 and encapsulate."""
    wire, a, b = pair({"exchange_mode": mode})
    (a if forcing == "initiator" else b).engine.force_udp_encap = True
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (ia,), (ib,) = installed(a), installed(b)
    for keys in (ia.keys, ib.keys):
        assert keys.encap and keys.local_port == keys.remote_port == 4500
    forced, other = (eng(a), eng(b)) if forcing == "initiator" else (eng(b), eng(a))
    assert forced.ike_sas()[0].nat == "Not detected (UDP encapsulation forced)"
    assert other.ike_sas()[0].nat == "PEER"
    assert "NAT not detected, UDP encapsulation forced" in logs(a if forcing == "initiator" else b)


def test_forced_udp_encapsulation_needs_a_nat_t_peer() -> None:
    """A peer without NAT-T (no RFC 3947 vendor ID) gets raw ESP: no NAT-D, no fake."""
    wire, a, b = pair()
    eng(a).force_udp_encap = True
    # b knows no NAT-T: it neither announces it nor sends or reads NAT-D
    eng(b).nat_traversal = False
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (ia,), (ib,) = installed(a), installed(b)
    assert not ia.keys.encap and not ib.keys.encap and ia.keys.remote_port == 500
    assert eng(a).ike_sas()[0].nat == "Not detected"


def test_exchange_mode_mismatch_and_ikev2_only_gateway() -> None:
    wire, a, b = pair({"exchange_mode": "aggressive"}, {"exchange_mode": "main"})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    assert "configured for main mode" in b.of(IkeFailed)[0].reason
    pol: IkePolicy = ike_policy("G2", A, B, version="ikev2")
    eng(a).add_policies([pol], now=wire.clock.now)
    assert not eng(a).initiate("G2", now=wire.clock.now)


def test_show_sections_for_the_renderer() -> None:
    from vpnsh.render.vpn import show_ike_sa

    wire, a, b = pair()
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    sections = eng(a).show_sections(lambda g: 1)
    data: dict[str, Any] = {"gateways_configured": 1, **sections}
    (p1,), (p2,) = sections["ikev1_p1"], sections["ikev1_p2"]
    assert p1["mode"] == "Main" and p1["state"] == 13 and p1["phase2"] == 1
    assert p2["state"] == 9 and p2["tunnel"] == "TA" and p2["role"] == "Init"
    # the rows say what the snapshots (show ... detail) say
    (info,), (child,) = eng(a).ike_sas(), eng(a).child_sas()
    assert (p1["sn"], p1["peer"], p1["role"], p1["algorithm"], p1["established"],
            p1["expiration"], p1["phase2"]) == (info.sn, info.peer_address, info.role,
                                                info.algorithm, info.created, info.expires,
                                                info.phase2)
    assert (p2["spi_in"], p2["spi_out"], p2["msgid"], p2["algorithm"], p2["tnid"]) == (
        child.spi_in, child.spi_out, child.message_id, child.algorithm, child.tunnel_id)
    assert eng(a).show_sections(lambda g: 1, "nope") == {"ikev1_p1": [], "ikev1_p2": []}
    text = show_ike_sa(data)
    assert "IKEv1 phase-1 SAs" in text and "PSK/DH14/A128/SHA256" in text
    assert "IKEv1 phase-2 SAs" in text and f"{p2['spi_in']:08X}" in text
    assert "There is no IKEv2 SA found." in text


def test_simultaneous_quick_modes_leave_one_sa_pair() -> None:
    wire, a, b = pair()
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    # both sides start phase 2 for the same proxy ID again at the same time
    eng(a).delete_child("TA", now=wire.clock.now)
    wire.run()
    eng(a).initiate("GA", now=wire.clock.now)
    eng(b).initiate("GB", now=wire.clock.now)
    wire.run()
    wire.advance(15)  # past the grace time of the replaced pair
    assert len(eng(a).child_sas()) == 1 and len(eng(b).child_sas()) == 1
    ca, cb = eng(a).child_sas()[0], eng(b).child_sas()[0]
    assert ca.spi_in == cb.spi_out and ca.spi_out == cb.spi_in


def _record_session(mode: str) -> tuple[list[tuple[str, bytes]], Wire, Node, Node]:
    wire, a, b = pair({"exchange_mode": mode})
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    return [(sender, data) for sender, data, _l, _r in wire.sent], wire, a, b


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_fuzzed_session_messages_are_counted_drops(mode: str) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    recorded, done_wire, done_a, done_b = _record_session(mode)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
              database=None)
    @given(st.integers(0, len(recorded) - 1), st.integers(0, 10_000), st.binary(min_size=1,
                                                                                   max_size=8),
           st.booleans())
    def run(index: int, pos: int, junk: bytes, truncate: bool) -> None:
        sender, data = recorded[index]
        # fresh engines: a mangled first message may start an SA, later ones must be dropped
        wire, a, b = pair({"exchange_mode": mode})
        eng(a).initiate("GA", now=wire.clock.now)
        target = b if sender == "a" else a
        p = pos % len(data)
        mangled = data[:p] if truncate else data[:p] + junk + data[p + len(junk):]
        src = (A, 500) if sender == "a" else (B, 500)
        dst = (B, 500) if sender == "a" else (A, 500)
        eng(target).receive(mangled, dst, src, wire.clock.now)
        # and to the engines that finished the session (established phase 1 and 2)
        done_target = done_b if sender == "a" else done_a
        eng(done_target).receive(mangled, dst, src, done_wire.clock.now)
        for e in (target, done_target):
            assert eng(e).drops["internal error"] == 0, eng(e).drops
            for out, _local, _remote in eng(e).datagrams_to_send():
                assert out == b"\xff" or m.parse_header(out).length == len(out)

    run()
    assert eng(done_a).ike_sas() and eng(done_b).child_sas()


def test_initial_contact_from_a_rebooted_peer_clears_the_old_sas() -> None:
    wire, a, b = pair()
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    old_sn = eng(b).ike_sas()[0].sn
    # a reboots: a fresh engine at the same address initiates again (with INITIAL-CONTACT)
    fresh = Ikev1Engine(clock=wire.clock, rng=random.Random(9))
    fresh.add_policies([ike_policy("GA", A, B, version="ikev1")], (child_policy("TA", "GA"),), now=wire.clock.now)
    a.engine = cast(Any, fresh)
    a.events.clear()
    fresh.initiate("GA", now=wire.clock.now)
    wire.run()
    assert [s.sn for s in eng(b).ike_sas()] != [old_sn] and len(eng(b).ike_sas()) == 1
    assert any("INITIAL-CONTACT" in r.reason for r in b.of(ChildRemoved))
    assert len(eng(b).child_sas()) == 1 and len(installed(a)) == 1


def test_lifesize_soft_rekeys_and_hard_deletes() -> None:
    wire, a, b = pair()
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    (first,) = installed(a)
    eng(a).child_lifesize_exceeded(first.keys.spi_in, hard=False, now=wire.clock.now)
    wire.run()
    assert [e.rekey_of for e in installed(a)][1:] == [first.keys.spi_in]
    newest = installed(a)[-1].keys.spi_in
    eng(a).child_lifesize_exceeded(newest, hard=True, now=wire.clock.now)
    wire.run()
    assert newest in [r.spi_in for r in a.of(ChildRemoved)]
    assert newest not in [c.spi_in for c in eng(a).child_sas()]


def test_nat_keepalives_from_the_side_behind_nat() -> None:
    wire, a, b = pair({"keepalive_interval": 10})
    wire.add_nat(A, "203.0.113.9")
    eng(b).add_policies([ike_policy("GB", B, None, version="ikev1")], (), now=wire.clock.now)
    eng(a).initiate("GA", now=wire.clock.now)
    wire.run()
    start = len(wire.sent)
    wire.advance(25)
    keepalives = [s for s in wire.sent[start:] if s[1] == b"\xff"]
    assert keepalives and all(s[0] == "a" and s[2][1] == 4500 for s in keepalives)
