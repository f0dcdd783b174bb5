"""IKEv2 payloads and messages: round trips, SK protection, and malformed input."""

from __future__ import annotations

import ipaddress
import os
import struct

import pytest

from vpnsh.engine.crypto.algorithms import encr_alg
from vpnsh.engine.ikev2 import message
from vpnsh.engine.ikev2.constants import (
    ExchangeType,
    IdType,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformType,
)
from vpnsh.engine.ikev2.message import Message, encode, parse
from vpnsh.engine.ikev2.payloads import (
    AuthPayload,
    CriticalPayloadError,
    DeletePayload,
    IdPayload,
    KePayload,
    NoncePayload,
    NotifyPayload,
    ParseError,
    Proposal,
    SaPayload,
    Transform,
    TsPayload,
    UnknownPayload,
    VendorIdPayload,
    parse_payload_body,
)
from vpnsh.engine.ikev2.protection import SkProtection
from vpnsh.engine.policy import TrafficSelector

SPI_I = bytes.fromhex("0102030405060708")
SPI_R = bytes.fromhex("1112131415161718")

SA = SaPayload(
    (
        Proposal(
            1,
            ProtocolId.IKE,
            b"",
            (
                Transform(TransformType.ENCR, 12, 256),
                Transform(TransformType.ENCR, 3),
                Transform(TransformType.PRF, 5),
                Transform(TransformType.INTEG, 12),
                Transform(TransformType.DH, 14),
            ),
        ),
        Proposal(
            2,
            ProtocolId.ESP,
            b"\xaa\xbb\xcc\xdd",
            (
                Transform(TransformType.ENCR, 20, 128),
                Transform(TransformType.ESN, 0),
            ),
        ),
    )
)
TS = TsPayload(
    True,
    (
        TrafficSelector.from_prefix("10.1.0.0/24"),
        TrafficSelector(
            ipaddress.ip_address("2001:db8::1"), ipaddress.ip_address("2001:db8::ff"), 6, 443, 443
        ),
    ),
)

PAYLOADS = [
    SA,
    KePayload(14, os.urandom(256)),
    NoncePayload(os.urandom(32)),
    IdPayload(True, IdType.FQDN, b"vpn.example"),
    IdPayload(False, IdType.IPV4_ADDR, bytes([192, 0, 2, 1])),
    AuthPayload(2, os.urandom(32)),
    NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, os.urandom(20)),
    NotifyPayload(NotifyType.REKEY_SA, b"", ProtocolId.ESP, b"\x01\x02\x03\x04"),
    DeletePayload(ProtocolId.ESP, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")),
    DeletePayload(ProtocolId.IKE),
    VendorIdPayload(b"vpnsh"),
    TS,
    TsPayload(False, (TrafficSelector.from_prefix("0.0.0.0/0"),)),
    UnknownPayload(PayloadType.CP, b"\x01\x00\x00\x00"),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_payload_round_trip(payload) -> None:
    again = parse_payload_body(payload.payload_type, False, payload.body())
    assert again == payload
    assert again.body() == payload.body()


def test_transform_wire_format_matches_rfc7296() -> None:
    # AES-CBC 128 as the last transform: 0 | 0 | len 12 | ENCR | 0 | 12 | AF=1,type 14 | 128
    wire = Transform(TransformType.ENCR, 12, 128).serialize(last=True)
    assert wire == bytes.fromhex("0000000c0100000c800e0080")
    # 3DES has no key length attribute
    assert Transform(TransformType.ENCR, 3).serialize(last=False) == bytes.fromhex(
        "0300000801000003"
    )


def test_message_round_trip_cleartext() -> None:
    msg = Message(ExchangeType.IKE_SA_INIT, 0, SPI_I, bytes(8), False, True, list(PAYLOADS[:3]))
    data = encode(msg)
    assert struct.unpack("!I", data[24:28])[0] == len(data)
    assert data[17] == 0x20 and data[18] == 34 and data[19] == 0x08
    back = parse(data)
    assert back.sk_offset is None
    assert back.message.payloads == msg.payloads
    assert back.message.is_initiator and not back.message.is_response


@pytest.mark.parametrize(
    ("encr", "bits", "integ"),
    [(12, 128, 12), (12, 256, 14), (3, 0, 2), (20, 128, 0), (20, 256, 0)],
    ids=["aes128-sha256", "aes256-sha512", "3des-sha1", "gcm128", "gcm256"],
)
def test_sk_payload_round_trip_and_tamper(encr: int, bits: int, integ: int) -> None:
    from vpnsh.engine.crypto.algorithms import integ_alg

    alg = encr_alg(encr, bits or None)
    ikey = integ_alg(integ).key_size if integ else 0
    ke, ka = os.urandom(alg.key_size), os.urandom(ikey)
    sender = SkProtection(encr, bits, integ, ke, ka, b"\x00" * alg.key_size, b"\x00" * ikey)
    receiver = SkProtection(encr, bits, integ, b"\x00" * alg.key_size, b"\x00" * ikey, ke, ka)
    msg = Message(ExchangeType.IKE_AUTH, 1, SPI_I, SPI_R, False, True, list(PAYLOADS[3:8]))
    data = encode(msg, sender)
    assert struct.unpack("!I", data[24:28])[0] == len(data)
    assert data[16] == PayloadType.SK and data[28] == PayloadType.IDI
    parsed = parse(data)
    assert parsed.sk_offset == 28
    assert message.decrypt(parsed, receiver).payloads == msg.payloads
    icv = alg.icv_size if alg.aead else {12: 16, 14: 32, 2: 12}[integ]
    # total = header + SK header + IV + ciphertext (a whole number of blocks) + ICV
    body = len(data) - 28 - 4 - alg.iv_size - icv
    assert body > 0 and body % alg.block_size == 0
    for pos in (20, 40, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 1
        with pytest.raises(ParseError):
            p = parse(bytes(bad))
            message.decrypt(p, receiver)


def test_unknown_noncritical_payload_is_kept_and_critical_is_rejected() -> None:
    body = b"hello"
    assert parse_payload_body(200, False, body) == UnknownPayload(200, body)
    with pytest.raises(CriticalPayloadError):
        parse_payload_body(200, True, body)


def test_unknown_payload_skipped_in_chain() -> None:
    msg = Message(
        ExchangeType.INFORMATIONAL,
        3,
        SPI_I,
        SPI_R,
        False,
        True,
        [UnknownPayload(200, b"xyz"), NoncePayload(bytes(16))],
    )
    back = parse(encode(msg)).message
    assert back.get(NoncePayload) == NoncePayload(bytes(16))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d[:27],  # short header
        lambda d: d[:-1],  # length field disagrees
        lambda d: d[:17] + b"\x30" + d[18:],  # IKE version 3
        lambda d: d[:28] + b"\x00\x00\xff\xff" + d[32:],  # payload length past the end
        lambda d: d[:30] + b"\x00\x02" + d[32:],  # payload length below the header
        lambda d: bytes(8) + d[8:],  # zero SPIi
    ],
)
def test_malformed_messages_raise_parse_error(mutate) -> None:
    msg = Message(
        ExchangeType.IKE_SA_INIT, 0, SPI_I, bytes(8), False, True, [SA, NoncePayload(bytes(32))]
    )
    with pytest.raises(ParseError):
        parse(mutate(encode(msg)))


@pytest.mark.parametrize(
    ("ptype", "body"),
    [
        (PayloadType.SA, b"\x00\x00\x00\x08\x01\x01\x00\x05"),  # says 5 transforms, has none
        (PayloadType.SA, b""),
        (PayloadType.KE, b"\x00"),
        (PayloadType.NONCE, b"short"),
        (PayloadType.NOTIFY, b"\x03\x04\x40"),
        (PayloadType.NOTIFY, b"\x03\x08\x40\x09\x01"),  # SPI longer than the payload
        (PayloadType.DELETE, b"\x03\x04\x00\x02\x01\x02\x03\x04"),  # 2 SPIs, 1 present
        (PayloadType.TSI, b"\x01\x00\x00\x00\x07\x00\x00\x10\x00\x00\xff\xff"),
        (PayloadType.TSI, b"\x01\x00\x00\x00\x09\x00\x00\x10\x00\x00\xff\xff" + bytes(8)),
        (PayloadType.IDI, b"\x01"),
        (PayloadType.AUTH, b""),
    ],
)
def test_malformed_payload_bodies(ptype: int, body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_payload_body(ptype, False, body)


def test_notify_error_classification() -> None:
    assert NotifyPayload(NotifyType.AUTHENTICATION_FAILED).is_error
    assert not NotifyPayload(NotifyType.INITIAL_CONTACT).is_error


# --- property-based round trips ---------------------------------------------------

from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ports = st.integers(0, 65535)


@st.composite
def selectors(draw: st.DrawFn) -> TrafficSelector:
    a, b = sorted((draw(v4), draw(v4)))
    p, q = sorted((draw(ports), draw(ports)))
    return TrafficSelector(a, b, draw(st.integers(0, 255)), p, q)


transforms = st.builds(
    Transform, st.integers(1, 5), st.integers(0, 65535), st.none() | st.integers(0, 65535)
)
proposals = st.builds(
    lambda n, proto, spi, ts: Proposal(n, proto, spi, tuple(ts)),
    st.integers(1, 255),
    st.sampled_from([1, 2, 3]),
    st.sampled_from([b"", b"\x01\x02\x03\x04", bytes(range(8))]),
    st.lists(transforms, min_size=1, max_size=12),
)
payloads = st.one_of(
    st.builds(lambda ps: SaPayload(tuple(ps)), st.lists(proposals, min_size=1, max_size=4)),
    st.builds(KePayload, st.integers(0, 65535), st.binary(max_size=600)),
    st.builds(NoncePayload, st.binary(min_size=16, max_size=256)),
    st.builds(IdPayload, st.booleans(), st.integers(0, 255), st.binary(max_size=64)),
    st.builds(AuthPayload, st.integers(0, 255), st.binary(max_size=64)),
    st.builds(
        NotifyPayload,
        st.integers(0, 65535),
        st.binary(max_size=64),
        st.integers(0, 255),
        st.sampled_from([b"", b"\x01\x02\x03\x04", bytes(8)]),
    ),
    st.builds(
        lambda spis: DeletePayload(ProtocolId.ESP, tuple(spis)),
        st.lists(st.binary(min_size=4, max_size=4), max_size=8),
    ),
    st.builds(
        lambda i, s: TsPayload(i, tuple(s)),
        st.booleans(),
        st.lists(selectors(), min_size=1, max_size=6),
    ),
    st.builds(VendorIdPayload, st.binary(max_size=40)),
)


_BIG_SA = SaPayload(tuple(Proposal(1, 1, b"", (Transform(1, 12, None),) * 12) for _ in range(4)))


@given(st.lists(payloads, max_size=6), st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
@example([_BIG_SA] * 3, 0, False, False)  # 540 of work: beyond the budget
def test_any_message_round_trips(items, msgid: int, response: bool, initiator: bool) -> None:
    """A message within the parse budget comes back equal; one beyond it is refused, not parsed."""
    from vpnsh.engine.ikev2 import payloads as pl

    def cost(p: object) -> int:
        c = pl.COST_PAYLOAD
        if isinstance(p, SaPayload):
            for prop in p.proposals:
                c += pl.COST_PROPOSAL
                for t in prop.transforms:
                    c += pl.COST_TRANSFORM + (pl.COST_ATTRIBUTE if t.key_length is not None else 0)
        elif isinstance(p, TsPayload):
            c += pl.COST_SELECTOR * len(p.selectors)
        elif isinstance(p, DeletePayload):
            c += len(p.spis) // pl.SPIS_PER_COST
        return c

    msg = Message(ExchangeType.INFORMATIONAL, msgid, SPI_I, SPI_R, response, initiator, items)
    if sum(cost(p) for p in items) > pl.MAX_COST:
        with pytest.raises(pl.ParseError, match="too many"):
            parse(encode(msg))
        return
    back = parse(encode(msg)).message
    assert back == msg


def test_identity_payloads_round_trip() -> None:
    from vpnsh.engine.ikev2 import identity
    from vpnsh.engine.policy import Identity

    for ident in (
        Identity("ipaddr", "192.0.2.1"),
        Identity("ipaddr", "2001:db8::1"),
        Identity("fqdn", "vpn.example"),
        Identity("ufqdn", "ops@example.org"),
        Identity("keyid", "site-a"),
    ):
        p = identity.to_payload(ident, True)
        assert identity.from_payload(p) == ident
        assert identity.matches(ident, p)
    assert (
        identity.wire_display(identity.to_payload(Identity("fqdn", "a.example"), False))
        == "FQDN:a.example"
    )
    assert identity.matches(
        Identity("fqdn", "VPN.example"), identity.to_payload(Identity("fqdn", "vpn.EXAMPLE"), True)
    )
    assert not identity.matches(
        Identity("fqdn", "a.example"), identity.to_payload(Identity("ipaddr", "192.0.2.1"), True)
    )
