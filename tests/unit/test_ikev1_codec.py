"""IKEv1 / ISAKMP codec: payloads round-trip, proxy IDs, encryption with IV chaining, fuzz."""

from __future__ import annotations

import contextlib
import ipaddress
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vpnsh.engine.crypto.algorithms import EncrId, encr_alg
from vpnsh.engine.crypto.cipher import BlockCipher
from vpnsh.engine.ikev1 import message as m
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.policy import Identity, TrafficSelector


def _roundtrip(payloads: list[m.Payload]) -> list[m.Payload]:
    h = m.Header(os.urandom(8), bytes(8), 0, m.Exchange.MAIN, 0, 0)
    data = m.encode(h, payloads)
    msg = m.parse_plain(data)
    assert msg.header.length == len(data)
    return [r.payload for r in msg.payloads]


def test_sa_with_tv_and_tlv_attributes_round_trips() -> None:
    t = m.Transform(1, m.KEY_IKE, (m.Attr(m.P1Attr.ENCRYPTION, 7), m.Attr(m.P1Attr.KEY_LENGTH, 256),
                                   m.Attr(m.P1Attr.LIFE_TYPE, 1),
                                   m.Attr(m.P1Attr.LIFE_DURATION, 86400 * 3)))
    t2 = m.Transform(2, m.KEY_IKE, (m.Attr(m.P1Attr.ENCRYPTION, 5),))
    sa = m.SaPayload([m.Proposal(1, m.ProtocolId.ISAKMP, b"", (t, t2))])
    (back,) = _roundtrip([sa])
    assert isinstance(back, m.SaPayload)
    tr = back.proposals[0].transforms
    assert [x.number for x in tr] == [1, 2]
    assert m.attr_map(list(tr[0].attrs))[m.P1Attr.LIFE_DURATION] == 86400 * 3
    # a value over 16 bits travels as TLV
    assert isinstance(tr[0].attrs[3].value, bytes)
    assert m.lifetimes(list(tr[0].attrs), m.P1Attr.LIFE_TYPE, m.P1Attr.LIFE_DURATION) == {1: 259200}


def test_every_payload_round_trips() -> None:
    payloads: list[m.Payload] = [
        m.KePayload(os.urandom(256)),
        m.NoncePayload(os.urandom(32)),
        m.IdPayload(m.IdType.FQDN, b"vpn.example", 17, 500),
        m.HashPayload(os.urandom(20)),
        m.NotifyPayload(m.NotifyType.R_U_THERE, m.ProtocolId.ISAKMP, os.urandom(16), b"\0\0\0\1"),
        m.DeletePayload(m.ProtocolId.ESP, [b"\1\2\3\4", b"\5\6\7\x08"]),
        m.VendorIdPayload(m.VID_RFC3947),
        m.NatDPayload(os.urandom(20)),
    ]
    assert _roundtrip(payloads) == payloads


@pytest.mark.parametrize(
    ("prefix", "id_type"),
    [("10.1.0.0/24", m.IdType.IPV4_ADDR_SUBNET), ("10.1.0.7/32", m.IdType.IPV4_ADDR),
     ("0.0.0.0/0", m.IdType.IPV4_ADDR_SUBNET), ("2001:db8::/64", m.IdType.IPV6_ADDR_SUBNET)],
)
def test_proxy_id_from_and_to_selector(prefix: str, id_type: int) -> None:
    ts = TrafficSelector.from_prefix(prefix, 6, 443)
    p = m.IdPayload.from_selector(ts)
    assert p.id_type == id_type and p.protocol == 6 and p.port == 443
    (back,) = _roundtrip([p])
    assert isinstance(back, m.IdPayload) and back.to_selector() == ts


def test_proxy_id_range() -> None:
    ts = TrafficSelector(ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("10.0.0.9"))
    p = m.IdPayload.from_selector(ts)
    assert p.id_type == m.IdType.IPV4_ADDR_RANGE
    assert p.to_selector() == ts
    assert p.describe() == "10.0.0.5-10.0.0.9"


def test_identities() -> None:
    for ident in (Identity("ipaddr", "192.0.2.1"), Identity("fqdn", "a.example"),
                  Identity("ufqdn", "u@a.example"), Identity("keyid", "k1")):
        p = m.IdPayload.from_identity(ident)
        assert p.to_identity() == ident and p.matches(ident)
    assert not m.IdPayload.from_identity(Identity("fqdn", "a.example")).matches(
        Identity("fqdn", "b.example"))
    assert m.IdPayload.from_identity(Identity("fqdn", "A.example")).matches(
        Identity("fqdn", "a.EXAMPLE"))


def test_encrypted_message_and_iv_chaining() -> None:
    cipher = BlockCipher(encr_alg(EncrId.ENCR_AES_CBC, 128), os.urandom(16))
    iv0 = os.urandom(16)
    h = m.Header(os.urandom(8), os.urandom(8), 0, m.Exchange.MAIN, 0, 0)
    first, parts = m.encode_payloads([m.IdPayload(m.IdType.IPV4_ADDR, bytes(4)),
                                      m.HashPayload(b"h" * 20)])
    data, next_iv = m.encrypt_body(h, first, parts, cipher, iv0)
    assert len(data) % 16 == 28 % 16 and data[19] & m.Flag.ENCRYPTION
    assert next_iv == data[-16:]
    msg, iv1 = m.decrypt_body(data, cipher, iv0)
    assert iv1 == next_iv
    assert isinstance(msg.payloads[1].payload, m.HashPayload)
    # the wrong IV garbles the first block: the payload chain does not parse as sent
    with pytest.raises(m.ParseError):
        bad, _ = m.decrypt_body(data, cipher, os.urandom(16))
        assert bad.payloads[0].payload == m.IdPayload(m.IdType.IPV4_ADDR, bytes(4))
        raise m.ParseError("garbled")


def test_is_ikev1_by_version_byte() -> None:
    h = m.Header(os.urandom(8), bytes(8), 0, m.Exchange.MAIN, 0, 0)
    data = m.encode(h, [m.VendorIdPayload(m.VID_DPD)])
    assert m.is_ikev1(data)
    v2 = bytearray(data)
    v2[17] = 0x20
    assert not m.is_ikev1(bytes(v2)) and not m.is_ikev1(b"\xff")


def test_truncated_and_overlong_payloads_raise_parse_error() -> None:
    h = m.Header(os.urandom(8), bytes(8), 0, m.Exchange.MAIN, 0, 0)
    data = m.encode(h, [m.NoncePayload(os.urandom(16))])
    with pytest.raises(m.ParseError):
        m.parse_plain(data[:-1])
    bad = bytearray(data)
    bad[30:32] = (200).to_bytes(2, "big")
    with pytest.raises(m.ParseError):
        m.parse_plain(bytes(bad))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([2, 4, 5, 32]), st.integers(0, 255))
def test_fuzz_engine_only_counts_drops(body: bytes, exchange: int, first: int) -> None:
    assume(body != b"\xff")  # the NAT keepalive is ignored, not dropped
    eng = Ikev1Engine(clock=lambda: 1000.0)
    h = m.Header(os.urandom(8), bytes(8) if exchange in (2, 4) else os.urandom(8), first,
                 exchange, 0, 0)
    data = h.pack(28 + len(body)) + body
    eng.receive(data, ("192.0.2.1", 500), ("192.0.2.2", 500), 0.0)
    eng.receive(body, ("192.0.2.1", 500), ("192.0.2.2", 500), 0.0)
    assert sum(eng.drops.values()) == 2 and eng.drops["internal error"] == 0
    assert eng.datagrams_to_send() == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 255))
def test_fuzz_parser_raises_only_parse_error(body: bytes, first: int) -> None:
    with contextlib.suppress(m.ParseError):
        m.parse_payloads(first, body)
