"""Proposal building, selection and verification; traffic selector narrowing."""

from __future__ import annotations

import ipaddress

import pytest

from vpnsh.engine.crypto.algorithms import (
    dh_group,
    esp_authentication,
    esp_encryption,
    ike_encryption,
    ike_hash,
)
from vpnsh.engine.ikev2.constants import ProtocolId, TransformType
from vpnsh.engine.ikev2.payloads import Proposal, SaPayload, Transform
from vpnsh.engine.ikev2.proposals import (
    NoProposalChosen,
    build,
    esp_offers,
    esp_suite,
    ike_offers,
    ike_suite,
    select,
    verify,
)
from vpnsh.engine.ikev2.selectors import intersect, narrow, within
from vpnsh.engine.policy import EspProposal, IkeProposal, TrafficSelector


def ike_profile(encs: list[str], hashes: list[str], groups: list[str]) -> IkeProposal:
    prfs = tuple(p for p, _ in map(ike_hash, hashes) if p is not None)
    integs = tuple(i for _, i in map(ike_hash, hashes) if i)
    return IkeProposal(
        tuple(ike_encryption(e) for e in encs),
        prfs,
        integs,
        tuple(g for g in map(dh_group, groups) if g is not None),
    )


PANOS_DEFAULT = ike_profile(["aes-128-cbc", "3des"], ["sha1"], ["group2"])
SUITE_B_128 = ike_profile(["aes-128-cbc"], ["sha256"], ["group19"])
GCM = ike_profile(["aes-256-gcm"], ["sha384"], ["group20"])


def test_ike_proposal_carries_every_transform_in_configured_order() -> None:
    sa = build(ike_offers([PANOS_DEFAULT, SUITE_B_128]), ProtocolId.IKE)
    assert [p.number for p in sa.proposals] == [1, 2]
    first = sa.proposals[0]
    assert first.of_type(TransformType.ENCR) == [Transform(1, 12, 128), Transform(1, 3, None)]
    assert first.of_type(TransformType.PRF) == [Transform(2, 2)]
    assert first.of_type(TransformType.INTEG) == [Transform(3, 2)]
    assert first.of_type(TransformType.DH) == [Transform(4, 2)]


def test_aead_and_cbc_in_one_profile_are_split() -> None:
    mixed = ike_profile(["aes-256-gcm", "aes-256-cbc"], ["sha256"], ["group14"])
    sa = build(ike_offers([mixed]), ProtocolId.IKE)
    assert len(sa.proposals) == 2
    cbc, gcm = sa.proposals
    assert cbc.of_type(TransformType.INTEG) and not gcm.of_type(TransformType.INTEG)


def test_responder_selects_in_its_own_order() -> None:
    offered = build(ike_offers([SUITE_B_128, PANOS_DEFAULT]), ProtocolId.IKE)
    reply, chosen = select(ike_offers([PANOS_DEFAULT, SUITE_B_128]), offered, ProtocolId.IKE, b"")
    suite = ike_suite(chosen)
    assert (suite.encr, suite.key_bits, suite.prf, suite.integ, suite.dh) == (12, 128, 2, 2, 2)
    assert reply.number == 2  # the peer's numbering
    assert len(reply.transforms) == 4
    # and the initiator accepts that answer
    _, again = verify(ike_offers([SUITE_B_128, PANOS_DEFAULT]), SaPayload((reply,)), ProtocolId.IKE)
    assert ike_suite(again) == suite


def test_no_proposal_chosen_reason_lists_both_sides() -> None:
    offered = build(ike_offers([GCM]), ProtocolId.IKE)
    with pytest.raises(NoProposalChosen) as err:
        select(ike_offers([PANOS_DEFAULT]), offered, ProtocolId.IKE)
    text = str(err.value)
    assert "peer offered [aes-256-gcm/sha384/group20]" in text
    assert "we accept [aes-128-cbc,3des/sha1/group2]" in text


def test_verify_rejects_a_transform_we_did_not_offer() -> None:
    bogus = Proposal(
        1,
        ProtocolId.IKE,
        b"",
        (Transform(1, 12, 256), Transform(2, 2), Transform(3, 2), Transform(4, 2)),
    )
    with pytest.raises(NoProposalChosen):
        verify(ike_offers([PANOS_DEFAULT]), SaPayload((bogus,)), ProtocolId.IKE)
    two = Proposal(
        1,
        ProtocolId.IKE,
        b"",
        (Transform(1, 12, 128), Transform(1, 3), Transform(2, 2), Transform(3, 2), Transform(4, 2)),
    )
    with pytest.raises(NoProposalChosen):
        verify(ike_offers([PANOS_DEFAULT]), SaPayload((two,)), ProtocolId.IKE)


def test_dh_preference_follows_the_ke_group() -> None:
    both = ike_profile(["aes-128-cbc"], ["sha256"], ["group14", "group19"])
    offered = build(ike_offers([both], dh_first=19), ProtocolId.IKE)
    _, chosen = select(ike_offers([both], dh_first=19), offered, ProtocolId.IKE)
    assert ike_suite(chosen).dh == 19


def test_esp_proposals_with_and_without_pfs() -> None:
    prof = EspProposal((esp_encryption("aes-128-gcm"),), (esp_authentication("none"),))
    no_pfs = build(esp_offers([prof], None), ProtocolId.ESP, b"\x00\x00\x10\x00")
    p = no_pfs.proposals[0]
    assert p.spi == b"\x00\x00\x10\x00"
    assert p.of_type(TransformType.ESN) == [Transform(5, 0)]
    assert not p.of_type(TransformType.DH) and not p.of_type(TransformType.INTEG)
    with_pfs = build(esp_offers([prof], 14), ProtocolId.ESP, b"\x00\x00\x10\x00")
    # a responder with PFS refuses a proposal without it, and the reason says so
    with pytest.raises(NoProposalChosen, match="no-pfs"):
        select(esp_offers([prof], 14), no_pfs, ProtocolId.ESP)
    _, chosen = select(esp_offers([prof], 14), with_pfs, ProtocolId.ESP)
    assert esp_suite(chosen).dh == 14
    # in IKE_AUTH the DH transforms are ignored
    _, chosen = select(esp_offers([prof], None), with_pfs, ProtocolId.ESP, ignore_dh=True)
    assert esp_suite(chosen).dh == 0


def test_suite_display_strings() -> None:
    offered = build(ike_offers([PANOS_DEFAULT]), ProtocolId.IKE)
    _, chosen = select(ike_offers([PANOS_DEFAULT]), offered, ProtocolId.IKE)
    suite = ike_suite(chosen)
    assert suite.short() == "PSK/DH2/A128/SHA1" and suite.long() == "AES128-CBC/SHA1/DH2"


def ts(prefix: str, proto: int = 0, port: int = 0) -> TrafficSelector:
    return TrafficSelector.from_prefix(prefix, proto, port)


def test_narrowing() -> None:
    assert intersect(ts("10.0.0.0/8"), ts("10.1.0.0/24")) == ts("10.1.0.0/24")
    assert intersect(ts("10.1.0.0/24"), ts("10.2.0.0/24")) is None
    assert intersect(ts("0.0.0.0/0", 6, 443), ts("10.1.0.0/24")) == ts("10.1.0.0/24", 6, 443)
    assert intersect(ts("10.0.0.0/8", 6), ts("10.0.0.0/8", 17)) is None
    assert intersect(ts("10.0.0.0/8"), ts("::/0")) is None
    got = narrow([ts("10.1.0.5/32"), ts("10.0.0.0/8")], [ts("10.1.0.0/24")])
    assert got == (ts("10.1.0.5/32"), ts("10.1.0.0/24"))
    assert within(got, [ts("10.0.0.0/8")]) and not within(got, [ts("10.1.0.0/25")])


def test_selector_display() -> None:
    any4 = ts("0.0.0.0/0")
    assert any4.describe() == "Proto:any, 0.0.0.0-255.255.255.255, Ports:any"
    assert ts("10.1.0.0/24", 6, 22).short() == "10.1.0.0/24 proto 6 port 22-22"
    odd = TrafficSelector(ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.0.0.5"))
    assert odd.short() == "10.0.0.1-10.0.0.5"
