"""ISAKMP (RFC 2408) messages and payloads as IKEv1 (RFC 2409) and the IPsec DOI (RFC 2407)
use them, with NAT-T (RFC 3947) and DPD (RFC 3706) additions.

Payloads are small typed classes with ``body()`` (the bytes after the generic payload
header) and ``parse_body(data)``; :func:`encode_payloads` / :func:`parse_payloads` do the
chaining. Every parse bounds-checks and raises :class:`ParseError`, which the engine
counts and drops. Encryption (CBC with the IV chaining of RFC 2409 appendix B) is in
:func:`encrypt_body` / :func:`decrypt_body`; the caller keeps the IV state.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, NamedTuple

from vpnsh.engine.ike.budget import WorkBudget

from ..crypto.cipher import BlockCipher
from ..policy import Identity, TrafficSelector

ISAKMP_VERSION = 0x10
HEADER_SIZE = 28
DOI_IPSEC = 1
SIT_IDENTITY_ONLY = 1
NATT_PORT = 4500


class ParseError(ValueError):
    """A datagram or payload that does not parse; the engine counts and drops it."""


class Exchange(IntEnum):
    MAIN = 2  # Identity Protection
    AGGRESSIVE = 4
    INFORMATIONAL = 5
    QUICK = 32


class Flag(IntEnum):
    ENCRYPTION = 0x01
    COMMIT = 0x02
    AUTH_ONLY = 0x04


class PayloadType(IntEnum):
    NONE = 0
    SA = 1
    PROPOSAL = 2
    TRANSFORM = 3
    KE = 4
    ID = 5
    CERT = 6
    CERT_REQ = 7
    HASH = 8
    SIG = 9
    NONCE = 10
    NOTIFY = 11
    DELETE = 12
    VENDOR_ID = 13
    NAT_D = 20
    NAT_OA = 21
    NAT_D_DRAFT = 130
    NAT_OA_DRAFT = 131


class ProtocolId(IntEnum):
    ISAKMP = 1
    AH = 2
    ESP = 3


class P1Attr(IntEnum):
    """Phase 1 SA attributes (RFC 2409 appendix A)."""

    ENCRYPTION = 1
    HASH = 2
    AUTH_METHOD = 3
    GROUP = 4
    LIFE_TYPE = 11
    LIFE_DURATION = 12
    KEY_LENGTH = 14


class P2Attr(IntEnum):
    """IPsec DOI SA attributes (RFC 2407 4.5)."""

    LIFE_TYPE = 1
    LIFE_DURATION = 2
    GROUP = 3
    ENCAPSULATION = 4
    AUTH_ALG = 5
    KEY_LENGTH = 6


class LifeType(IntEnum):
    SECONDS = 1
    KILOBYTES = 2


class Encapsulation(IntEnum):
    TUNNEL = 1
    TRANSPORT = 2
    UDP_TUNNEL = 3  # RFC 3947
    UDP_TRANSPORT = 4
    UDP_TUNNEL_DRAFT = 61443  # draft-ietf-ipsec-nat-t-ike-00..03, still seen
    UDP_TRANSPORT_DRAFT = 61444


AUTH_PSK = 1
KEY_IKE = 1


class IdType(IntEnum):
    IPV4_ADDR = 1
    FQDN = 2
    USER_FQDN = 3
    IPV4_ADDR_SUBNET = 4
    IPV6_ADDR = 5
    IPV6_ADDR_SUBNET = 6
    IPV4_ADDR_RANGE = 7
    IPV6_ADDR_RANGE = 8
    KEY_ID = 11


class NotifyType(IntEnum):
    INVALID_PAYLOAD_TYPE = 1
    DOI_NOT_SUPPORTED = 2
    INVALID_COOKIE = 4
    INVALID_EXCHANGE_TYPE = 7
    INVALID_FLAGS = 8
    INVALID_MESSAGE_ID = 9
    INVALID_SPI = 11
    NO_PROPOSAL_CHOSEN = 14
    PAYLOAD_MALFORMED = 16
    INVALID_KEY_INFORMATION = 17
    INVALID_ID_INFORMATION = 18
    INVALID_HASH_INFORMATION = 23
    AUTHENTICATION_FAILED = 24
    CONNECTED = 16384
    RESPONDER_LIFETIME = 24576
    REPLAY_STATUS = 24577
    INITIAL_CONTACT = 24578
    R_U_THERE = 36136
    R_U_THERE_ACK = 36137


VID_RFC3947 = hashlib.md5(b"RFC 3947").digest()
VID_DPD = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")
# draft NAT-T vendor IDs peers may send instead of (or besides) RFC 3947
VID_NATT_DRAFTS = frozenset(
    hashlib.md5(s).digest()
    for s in (b"draft-ietf-ipsec-nat-t-ike-02\n", b"draft-ietf-ipsec-nat-t-ike-03")
)


Buffer = bytes | memoryview

# A 64 KB datagram could hold thousands of proposals, transforms or attributes, and each
# costs Python objects: bound the parsing work one message may ask for, so that a hostile
# datagram costs well under a millisecond to reject (bench/ike_parse.py). The costs are
# roughly microseconds on a slow machine. A transform of 7 attributes costs 9: 80 of them,
# far more than real peers send, cost about 730 (strongSwan 5.9.8's main mode with its
# `default` IKE proposal sends one transform: a 204-byte first datagram, measured here).
COST_PAYLOAD = 4
COST_PROPOSAL = 8
COST_TRANSFORM = 2
COST_ATTRIBUTE = 1
SPIS_PER_COST = 4
MAX_COST = 800
MAX_PAYLOADS = 64

_GENERIC = struct.Struct("!BBH")
_PROPOSAL = struct.Struct("!BBHBBBB")
_TRANSFORM = struct.Struct("!BBHBBH")
_ATTR = struct.Struct("!HH")


class Budget(WorkBudget):
    """How much more parsing work the message may ask for (see ``MAX_COST``)."""

    __slots__ = ()
    error = ParseError
    max_cost = MAX_COST
    items = "proposals, transforms, attributes or SPIs"


def _need(data: Buffer, n: int, what: str) -> None:
    if len(data) < n:
        raise ParseError(f"{what}: {len(data)} bytes, need {n}")


# --- attributes (RFC 2408 3.3) ------------------------------------------------------


class Attr(NamedTuple):
    """A data attribute: an int (TV form when it fits 16 bits) or raw bytes (TLV).
    A named tuple: a transform holds several and a datagram may hold thousands."""

    type: int
    value: int | bytes

    def serialize(self) -> bytes:
        v = self.value
        if isinstance(v, int):
            if 0 <= v <= 0xFFFF:
                return struct.pack("!HH", 0x8000 | self.type, v)
            v = v.to_bytes(max(4, (v.bit_length() + 7) // 8), "big")
        return struct.pack("!HH", self.type & 0x7FFF, len(v)) + v

    def as_int(self) -> int:
        v = self.value
        if isinstance(v, int):
            return v
        if len(v) > 8:
            raise ParseError(f"attribute {self.type}: {len(v)}-byte value is too long")
        return int.from_bytes(v, "big") if v else 0


def parse_attrs(
    data: Buffer, pos: int = 0, end: int | None = None, budget: Budget | None = None
) -> list[Attr]:
    """The attributes in ``data[pos:end]``; each costs ``COST_ATTRIBUTE`` per 4 bytes."""
    end = len(data) if end is None else end
    (budget or Budget()).take(COST_ATTRIBUTE * ((end - pos) // 4))
    out: list[Attr] = []
    while pos < end:
        if end - pos < 4:
            raise ParseError(f"attribute: {end - pos} bytes, need 4")
        t, v = _ATTR.unpack_from(data, pos)
        pos += 4
        if t & 0x8000:
            out.append(Attr(t & 0x7FFF, v))
        else:
            if end - pos < v:
                raise ParseError(f"attribute value: {end - pos} bytes, need {v}")
            out.append(Attr(t, bytes(data[pos : pos + v])))
            pos += v
    return out


def attr_map(attrs: list[Attr]) -> dict[int, int]:
    """Attribute type -> int value; life type/duration pairs are read by :func:`lifetimes`."""
    return {a.type: a.as_int() for a in attrs}


def lifetimes(attrs: list[Attr], type_attr: int, duration_attr: int) -> dict[int, int]:
    """LifeType -> duration, read in order (a duration follows its type)."""
    out: dict[int, int] = {}
    current: int | None = None
    for a in attrs:
        if a.type == type_attr:
            current = a.as_int()
        elif a.type == duration_attr and current is not None:
            out[current] = a.as_int()
    return out


# --- SA / proposal / transform ------------------------------------------------------


class Transform(NamedTuple):
    """A named tuple, like :class:`Attr`: cheap to build by the hundred."""

    number: int
    transform_id: int
    attrs: tuple[Attr, ...] = ()

    def serialize(self, last: bool) -> bytes:
        attrs = b"".join(a.serialize() for a in self.attrs)
        return (
            struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), self.number,
                        self.transform_id, 0)
            + attrs
        )


@dataclass(frozen=True)
class Proposal:
    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]

    def serialize(self, last: bool) -> bytes:
        n = len(self.transforms)
        body = b"".join(t.serialize(i == n - 1) for i, t in enumerate(self.transforms))
        head = struct.pack(
            "!BBHBBBB", 0 if last else 2, 0, 8 + len(self.spi) + len(body), self.number,
            self.protocol, len(self.spi), n,
        )
        return head + self.spi + body


def _parse_transforms(
    data: Buffer, pos: int, end: int, count: int, budget: Budget
) -> tuple[Transform, ...]:
    """The (at most ``count``) transforms in ``data[pos:end]``."""
    out: list[Transform] = []
    for _ in range(count):
        budget.take(COST_TRANSFORM)
        if end - pos < 8:
            raise ParseError(f"transform: {end - pos} bytes, need 8")
        nxt, _r, length, num, tid, _r2 = _TRANSFORM.unpack_from(data, pos)
        if length < 8 or pos + length > end:
            raise ParseError(f"transform length {length} out of bounds")
        out.append(Transform(num, tid, tuple(parse_attrs(data, pos + 8, pos + length, budget))))
        pos += length
        if nxt == 0:
            break
        if nxt != PayloadType.TRANSFORM:
            raise ParseError(f"transform followed by payload type {nxt}")
    return tuple(out)


class Payload:
    type: ClassVar[int]

    def body(self) -> bytes:
        raise NotImplementedError


@dataclass
class SaPayload(Payload):
    type: ClassVar[int] = PayloadType.SA
    proposals: list[Proposal]
    doi: int = DOI_IPSEC
    situation: int = SIT_IDENTITY_ONLY

    def body(self) -> bytes:
        n = len(self.proposals)
        props = b"".join(p.serialize(i == n - 1) for i, p in enumerate(self.proposals))
        return struct.pack("!II", self.doi, self.situation) + props

    @classmethod
    def parse_body(cls, data: Buffer, budget: Budget | None = None) -> SaPayload:
        budget = budget or Budget()
        _need(data, 8, "SA payload")
        doi, sit = struct.unpack_from("!II", data)
        if doi != DOI_IPSEC:
            raise ParseError(f"SA payload with DOI {doi}")
        pos = 8
        end = len(data)
        props: list[Proposal] = []
        while pos < end:
            budget.take(COST_PROPOSAL)
            if end - pos < 8:
                raise ParseError(f"proposal: {end - pos} bytes, need 8")
            nxt, _r, length, num, proto, spi_size, ntrans = _PROPOSAL.unpack_from(data, pos)
            if length < 8 + spi_size or pos + length > end:
                raise ParseError(f"proposal length {length} out of bounds")
            spi = bytes(data[pos + 8 : pos + 8 + spi_size])
            transforms = _parse_transforms(data, pos + 8 + spi_size, pos + length, ntrans, budget)
            props.append(Proposal(num, proto, spi, transforms))
            pos += length
            if nxt == 0:
                break
            if nxt != PayloadType.PROPOSAL:
                raise ParseError(f"proposal followed by payload type {nxt}")
        if not props:
            raise ParseError("SA payload without proposals")
        return cls(props, doi, sit)


# --- simple payloads -------------------------------------------------------------------


@dataclass
class _Data(Payload):
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, data: Buffer) -> _Data:
        return cls(bytes(data))


@dataclass
class KePayload(_Data):
    type: ClassVar[int] = PayloadType.KE


@dataclass
class NoncePayload(_Data):
    type: ClassVar[int] = PayloadType.NONCE

    @classmethod
    def parse_body(cls, data: Buffer) -> NoncePayload:
        if not 8 <= len(data) <= 256:
            raise ParseError(f"nonce of {len(data)} bytes")
        return cls(bytes(data))


@dataclass
class HashPayload(_Data):
    type: ClassVar[int] = PayloadType.HASH


@dataclass
class VendorIdPayload(_Data):
    type: ClassVar[int] = PayloadType.VENDOR_ID


@dataclass
class NatDPayload(_Data):
    type: ClassVar[int] = PayloadType.NAT_D


@dataclass
class UnknownPayload(Payload):
    payload_type: int
    data: bytes

    @property
    def type(self) -> int:  # type: ignore[override]
        return self.payload_type

    def body(self) -> bytes:
        return self.data


# --- ID (RFC 2407 4.6.2) ---------------------------------------------------------------


_ADDR_LEN = {
    IdType.IPV4_ADDR: 4,
    IdType.IPV6_ADDR: 16,
    IdType.IPV4_ADDR_SUBNET: 8,
    IdType.IPV6_ADDR_SUBNET: 32,
    IdType.IPV4_ADDR_RANGE: 8,
    IdType.IPV6_ADDR_RANGE: 32,
}


@dataclass
class IdPayload(Payload):
    type: ClassVar[int] = PayloadType.ID
    id_type: int
    data: bytes
    protocol: int = 0
    port: int = 0

    def body(self) -> bytes:
        return struct.pack("!BBH", self.id_type, self.protocol, self.port) + self.data

    @classmethod
    def parse_body(cls, data: Buffer) -> IdPayload:
        _need(data, 4, "ID payload")
        id_type, proto, port = struct.unpack_from("!BBH", data)
        rest = bytes(data[4:])
        want = _ADDR_LEN.get(id_type)
        if want is not None and len(rest) != want:
            raise ParseError(f"ID type {id_type} with {len(rest)} bytes of data")
        return cls(id_type, rest, proto, port)

    # -- proxy IDs

    @classmethod
    def from_selector(cls, ts: TrafficSelector) -> IdPayload:
        """A proxy ID: an address, a subnet when the range is a CIDR block, else a range."""
        v4 = ts.version == 4
        port = ts.start_port if ts.start_port == ts.end_port else 0
        if ts.start_addr == ts.end_addr:
            return cls(IdType.IPV4_ADDR if v4 else IdType.IPV6_ADDR, ts.start_addr.packed,
                       ts.ip_proto, port)
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(
            ipaddress.summarize_address_range(ts.start_addr, ts.end_addr)
        )
        if len(nets) == 1:
            net = nets[0]
            return cls(IdType.IPV4_ADDR_SUBNET if v4 else IdType.IPV6_ADDR_SUBNET,
                       net.network_address.packed + net.netmask.packed, ts.ip_proto, port)
        return cls(IdType.IPV4_ADDR_RANGE if v4 else IdType.IPV6_ADDR_RANGE,
                   ts.start_addr.packed + ts.end_addr.packed, ts.ip_proto, port)

    def to_selector(self) -> TrafficSelector:
        """The traffic selector of a proxy ID; ParseError for identity types."""
        t, d = self.id_type, self.data
        if self.port:
            sport, eport = self.port, self.port
        else:
            sport, eport = 0, 65535
        start: ipaddress.IPv4Address | ipaddress.IPv6Address
        end: ipaddress.IPv4Address | ipaddress.IPv6Address
        if t in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
            start = end = ipaddress.ip_address(d)
        elif t in (IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET):
            half = len(d) // 2
            mask = int.from_bytes(d[half:], "big")
            bits = half * 8
            plen = bin(mask).count("1")
            if mask != ((1 << bits) - 1) ^ ((1 << (bits - plen)) - 1):
                raise ParseError("subnet proxy ID with a non-contiguous mask")
            base = int.from_bytes(d[:half], "big") & mask
            start = ipaddress.ip_address(base.to_bytes(half, "big"))
            end = ipaddress.ip_address((base | (((1 << bits) - 1) ^ mask)).to_bytes(half, "big"))
        elif t in (IdType.IPV4_ADDR_RANGE, IdType.IPV6_ADDR_RANGE):
            half = len(d) // 2
            start, end = ipaddress.ip_address(d[:half]), ipaddress.ip_address(d[half:])
            if int(start) > int(end):
                raise ParseError("proxy ID range ends before it starts")
        else:
            raise ParseError(f"ID type {t} is not a proxy ID")
        return TrafficSelector(start, end, self.protocol, sport, eport)

    # -- identities

    @classmethod
    def from_identity(cls, identity: Identity) -> IdPayload:
        kind = identity.type
        if kind == "ipaddr":
            addr = ipaddress.ip_address(identity.value)
            return cls(IdType.IPV4_ADDR if addr.version == 4 else IdType.IPV6_ADDR, addr.packed)
        if kind == "fqdn":
            return cls(IdType.FQDN, identity.value.encode())
        if kind == "ufqdn":
            return cls(IdType.USER_FQDN, identity.value.encode())
        if kind == "keyid":
            value = identity.value
            data = bytes.fromhex(value[2:]) if value.startswith("0x") else value.encode()
            return cls(IdType.KEY_ID, data)
        raise ValueError(f"identity type {kind} not supported")

    def to_identity(self) -> Identity:
        try:
            if self.id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
                return Identity("ipaddr", str(ipaddress.ip_address(self.data)))
            if self.id_type == IdType.FQDN:
                return Identity("fqdn", self.data.decode())
            if self.id_type == IdType.USER_FQDN:
                return Identity("ufqdn", self.data.decode())
            if self.id_type == IdType.KEY_ID:
                return Identity("keyid", self.data.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
        return Identity(f"type{self.id_type}", self.data.hex())

    def matches(self, expected: Identity | None) -> bool:
        if expected is None:
            return True
        try:
            want = IdPayload.from_identity(expected)
        except ValueError:
            return False
        if want.id_type != self.id_type:
            return False
        if want.id_type in (IdType.FQDN, IdType.USER_FQDN):
            return want.data.lower() == self.data.lower()
        return want.data == self.data

    def describe(self) -> str:
        """Plain words for logs: ``10.1.0.0/24 proto 6 port 80`` or ``fqdn:a.example``."""
        try:
            ts = self.to_selector()
        except (ParseError, ValueError):
            return str(self.to_identity())
        return ts.short()

    def wire_name(self) -> str:
        names = {IdType.IPV4_ADDR: "IPv4_address", IdType.IPV6_ADDR: "IPv6_address",
                 IdType.FQDN: "FQDN", IdType.USER_FQDN: "USER_FQDN", IdType.KEY_ID: "KEY_ID"}
        name = names.get(self.id_type, f"type{self.id_type}")  # type: ignore[call-overload]
        return f"{name}:{self.to_identity().value}"


# --- Notification (RFC 2408 3.14) and Delete (3.15) -------------------------------------


@dataclass
class NotifyPayload(Payload):
    type: ClassVar[int] = PayloadType.NOTIFY
    notify_type: int
    protocol: int = ProtocolId.ISAKMP
    spi: bytes = b""
    data: bytes = b""
    doi: int = DOI_IPSEC

    def body(self) -> bytes:
        return (
            struct.pack("!IBBH", self.doi, self.protocol, len(self.spi), self.notify_type)
            + self.spi
            + self.data
        )

    @classmethod
    def parse_body(cls, data: Buffer) -> NotifyPayload:
        _need(data, 8, "notification payload")
        doi, proto, spi_size, ntype = struct.unpack_from("!IBBH", data)
        _need(data, 8 + spi_size, "notification SPI")
        return cls(ntype, proto, bytes(data[8 : 8 + spi_size]), bytes(data[8 + spi_size :]), doi)

    def name(self) -> str:
        try:
            return NotifyType(self.notify_type).name
        except ValueError:
            return f"notify {self.notify_type}"


@dataclass
class DeletePayload(Payload):
    type: ClassVar[int] = PayloadType.DELETE
    protocol: int
    spis: list[bytes] = field(default_factory=list)
    spi_size: int = 4
    doi: int = DOI_IPSEC

    def body(self) -> bytes:
        return struct.pack("!IBBH", self.doi, self.protocol, self.spi_size, len(self.spis)) + b"".join(
            self.spis
        )

    @classmethod
    def parse_body(cls, data: Buffer, budget: Budget | None = None) -> DeletePayload:
        _need(data, 8, "delete payload")
        doi, proto, spi_size, n = struct.unpack_from("!IBBH", data)
        _need(data, 8 + spi_size * n, "delete SPIs")
        (budget or Budget()).take(n // SPIS_PER_COST)
        spis = [bytes(data[8 + i * spi_size : 8 + (i + 1) * spi_size]) for i in range(n)]
        return cls(proto, spis, spi_size, doi)


_PARSERS: dict[int, Any] = {
    PayloadType.SA: SaPayload,
    PayloadType.KE: KePayload,
    PayloadType.ID: IdPayload,
    PayloadType.HASH: HashPayload,
    PayloadType.NONCE: NoncePayload,
    PayloadType.NOTIFY: NotifyPayload,
    PayloadType.DELETE: DeletePayload,
    PayloadType.VENDOR_ID: VendorIdPayload,
    PayloadType.NAT_D: NatDPayload,
    PayloadType.NAT_D_DRAFT: NatDPayload,
}


# --- chaining ------------------------------------------------------------------------------


@dataclass
class Raw:
    """A parsed payload with the exact bytes it arrived as (generic header included)."""

    payload: Payload
    raw: bytes


def encode_payloads(payloads: list[Payload]) -> tuple[int, list[bytes]]:
    """(type of the first payload, each payload's bytes with its generic header)."""
    out: list[bytes] = []
    for i, p in enumerate(payloads):
        nxt = payloads[i + 1].type if i + 1 < len(payloads) else 0
        body = p.body()
        out.append(struct.pack("!BBH", nxt, 0, 4 + len(body)) + body)
    return (payloads[0].type if payloads else 0), out


_BUDGETED = (SaPayload, DeletePayload)


def parse_payloads(first: int, data: Buffer, start: int = 0, end: int | None = None) -> list[Raw]:
    """The payload chain in ``data[start:end]``; bytes after the last payload (CBC
    padding) are ignored. Bodies are parsed from a memoryview, with offsets."""
    view = memoryview(data)
    end = len(view) if end is None else end
    budget = Budget()
    out: list[Raw] = []
    nxt = first
    pos = start
    while nxt != 0:
        if len(out) >= MAX_PAYLOADS:
            raise ParseError("too many payloads")
        budget.take(COST_PAYLOAD)
        if end - pos < 4:
            raise ParseError(f"payload header: {end - pos} bytes, need 4")
        following, _r, length = _GENERIC.unpack_from(view, pos)
        if length < 4 or pos + length > end:
            raise ParseError(f"payload length {length} out of bounds")
        body = view[pos + 4 : pos + length]
        parser = _PARSERS.get(nxt)
        if parser is None:
            payload: Payload = UnknownPayload(nxt, bytes(body))
        elif parser in _BUDGETED:
            payload = parser.parse_body(body, budget)
        else:
            payload = parser.parse_body(body)
        out.append(Raw(payload, bytes(view[pos : pos + length])))
        pos += length
        nxt = following
    return out


# --- header and messages -----------------------------------------------------------------------


@dataclass
class Header:
    cky_i: bytes
    cky_r: bytes
    next_payload: int
    exchange: int
    flags: int
    message_id: int
    length: int = 0
    version: int = ISAKMP_VERSION

    def pack(self, length: int) -> bytes:
        return (
            self.cky_i
            + self.cky_r
            + struct.pack("!BBBBII", self.next_payload, self.version, self.exchange, self.flags,
                          self.message_id, length)
        )

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & Flag.ENCRYPTION)


def is_ikev1(datagram: bytes) -> bool:
    """An ISAKMP v1.0 message (by the version byte), as opposed to IKEv2 (0x20)."""
    return len(datagram) >= HEADER_SIZE and datagram[17] >> 4 == 1


def parse_header(data: bytes) -> Header:
    _need(data, HEADER_SIZE, "ISAKMP header")
    nxt, version, exchange, flags, msgid, length = struct.unpack_from("!BBBBII", data, 16)
    if version >> 4 != 1:
        raise ParseError(f"ISAKMP version {version >> 4}.{version & 15}")
    if length < HEADER_SIZE or length > len(data):
        raise ParseError(f"header length {length}, datagram {len(data)}")
    return Header(bytes(data[:8]), bytes(data[8:16]), nxt, exchange, flags, msgid, length, version)


@dataclass
class Message:
    header: Header
    payloads: list[Raw]

    def get(self, cls: type[Payload]) -> Payload | None:
        for r in self.payloads:
            if isinstance(r.payload, cls):
                return r.payload
        return None

    def all(self, cls: type[Payload]) -> list[Payload]:
        return [r.payload for r in self.payloads if isinstance(r.payload, cls)]

    def raw_after_first(self) -> bytes:
        """The bytes of every payload after the first (a HASH payload) for HASH(1)/(2)."""
        return b"".join(r.raw for r in self.payloads[1:])

    def describe(self) -> str:
        try:
            ex = Exchange(self.header.exchange).name
        except ValueError:
            ex = f"exchange {self.header.exchange}"
        kinds = ",".join(_short(r.payload) for r in self.payloads)
        return f"{ex} [{kinds}]"


def _short(p: Payload) -> str:
    if isinstance(p, NotifyPayload):
        return f"N({p.name()})"
    try:
        return PayloadType(p.type).name
    except ValueError:
        return str(p.type)


def parse_plain(data: bytes) -> Message:
    """A message that is not encrypted."""
    h = parse_header(data)
    if h.encrypted:
        raise ParseError("encrypted message where a plain one was expected")
    return Message(h, parse_payloads(h.next_payload, data, HEADER_SIZE, h.length))


def decrypt_body(data: bytes, cipher: BlockCipher, iv: bytes,
                 h: Header | None = None) -> tuple[Message, bytes]:
    """(the decrypted message, the IV for the next message: the last ciphertext block).
    ``h``: the header of ``data`` if the caller parsed it already."""
    if h is None:
        h = parse_header(data)
    body = data[HEADER_SIZE : h.length]
    bs = cipher.encr.block_size
    if not body or len(body) % bs:
        raise ParseError(f"encrypted body of {len(body)} bytes is not whole blocks")
    plain = cipher.decrypt(iv, body)
    return Message(h, parse_payloads(h.next_payload, plain)), body[-bs:]


def encode(header: Header, payloads: list[Payload]) -> bytes:
    first, parts = encode_payloads(payloads)
    header.next_payload = first
    body = b"".join(parts)
    return header.pack(HEADER_SIZE + len(body)) + body


def encrypt_body(
    header: Header, parts_first: int, parts: list[bytes], cipher: BlockCipher, iv: bytes
) -> tuple[bytes, bytes]:
    """(the encrypted datagram, the IV for the next message). Pads with zeros to the
    block size (RFC 2409 appendix B); the header length covers the padding."""
    header.next_payload = parts_first
    header.flags |= Flag.ENCRYPTION
    body = b"".join(parts)
    bs = cipher.encr.block_size
    pad = (-len(body)) % bs
    body += bytes(pad)
    ct = cipher.encrypt(iv, body)
    return header.pack(HEADER_SIZE + len(ct)) + ct, ct[-bs:]
