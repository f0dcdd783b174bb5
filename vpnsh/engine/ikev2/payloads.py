"""IKEv2 payloads (RFC 7296 section 3) as small typed classes.

Each class has ``body()`` (the bytes after the generic payload header) and
``parse_body(data)``; the generic header and chaining live in ``message.py``.
Every parse bounds-checks and raises :class:`ParseError`.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import ClassVar

from ..policy import TrafficSelector
from .constants import (
    ATTR_FORMAT_TV,
    ERROR_NOTIFY_MAX,
    PayloadType,
    ProtocolId,
    TransformAttr,
    TsType,
)


class ParseError(ValueError):
    """A datagram or payload that does not parse; the engine counts and drops it."""


class CriticalPayloadError(ParseError):
    """An unknown payload with the critical bit set (RFC 7296 2.5)."""

    def __init__(self, payload_type: int) -> None:
        super().__init__(f"unsupported critical payload {payload_type}")
        self.payload_type = payload_type


def _need(data: bytes, n: int, what: str) -> None:
    if len(data) < n:
        raise ParseError(f"{what}: {len(data)} bytes, need {n}")


# --- SA / Proposal / Transform (3.3) ----------------------------------------


@dataclass(frozen=True)
class Transform:
    type: int
    id: int
    key_length: int | None = None

    def serialize(self, last: bool) -> bytes:
        attrs = b""
        if self.key_length is not None:
            attrs = struct.pack("!HH", ATTR_FORMAT_TV | TransformAttr.KEY_LENGTH, self.key_length)
        length = 8 + len(attrs)
        return struct.pack("!BBHBBH", 0 if last else 3, 0, length, self.type, 0, self.id) + attrs

    @classmethod
    def parse(cls, data: bytes) -> tuple[Transform, int, bool]:
        """Returns the transform, its length and whether it was the last one."""
        _need(data, 8, "transform")
        last_flag, _, length, ttype, _, tid = struct.unpack_from("!BBHBBH", data)
        if length < 8 or length > len(data):
            raise ParseError("transform length")
        if last_flag not in (0, 3):
            raise ParseError("transform last-substruc")
        key_length: int | None = None
        pos = 8
        while pos < length:
            _need(data[pos:length], 4, "transform attribute")
            atype, aval = struct.unpack_from("!HH", data, pos)
            if atype & ATTR_FORMAT_TV:
                if atype & 0x7FFF == TransformAttr.KEY_LENGTH:
                    key_length = aval
                pos += 4
            else:
                if pos + 4 + aval > length:
                    raise ParseError("transform attribute length")
                pos += 4 + aval
        return cls(ttype, tid, key_length), length, last_flag == 0


@dataclass(frozen=True)
class Proposal:
    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]

    def serialize(self, last: bool) -> bytes:
        body = b"".join(
            t.serialize(i == len(self.transforms) - 1) for i, t in enumerate(self.transforms)
        )
        length = 8 + len(self.spi) + len(body)
        head = struct.pack(
            "!BBHBBBB",
            0 if last else 2,
            0,
            length,
            self.number,
            self.protocol,
            len(self.spi),
            len(self.transforms),
        )
        return head + self.spi + body

    @classmethod
    def parse(cls, data: bytes) -> tuple[Proposal, int, bool]:
        _need(data, 8, "proposal")
        last_flag, _, length, number, proto, spi_size, count = struct.unpack_from("!BBHBBBB", data)
        if length < 8 + spi_size or length > len(data):
            raise ParseError("proposal length")
        if last_flag not in (0, 2):
            raise ParseError("proposal last-substruc")
        spi = bytes(data[8 : 8 + spi_size])
        pos = 8 + spi_size
        transforms: list[Transform] = []
        while pos < length:
            t, tlen, last = Transform.parse(data[pos:length])
            transforms.append(t)
            pos += tlen
            if last:
                break
        if pos != length or len(transforms) != count:
            raise ParseError("proposal transform count")
        return cls(number, proto, spi, tuple(transforms)), length, last_flag == 0

    def of_type(self, ttype: int) -> list[Transform]:
        return [t for t in self.transforms if t.type == ttype]


@dataclass(frozen=True)
class SaPayload:
    payload_type: ClassVar[int] = PayloadType.SA
    proposals: tuple[Proposal, ...]

    def body(self) -> bytes:
        return b"".join(
            p.serialize(i == len(self.proposals) - 1) for i, p in enumerate(self.proposals)
        )

    @classmethod
    def parse_body(cls, data: bytes) -> SaPayload:
        pos = 0
        proposals: list[Proposal] = []
        while pos < len(data):
            p, plen, last = Proposal.parse(data[pos:])
            proposals.append(p)
            pos += plen
            if last:
                break
        if pos != len(data) or not proposals:
            raise ParseError("SA payload proposals")
        return cls(tuple(proposals))


# --- KE, Nonce, ID, AUTH (3.4-3.9) ------------------------------------------


@dataclass(frozen=True)
class KePayload:
    payload_type: ClassVar[int] = PayloadType.KE
    group: int
    data: bytes

    def body(self) -> bytes:
        return struct.pack("!HH", self.group, 0) + self.data

    @classmethod
    def parse_body(cls, data: bytes) -> KePayload:
        _need(data, 4, "KE")
        (group,) = struct.unpack_from("!H", data)
        return cls(group, bytes(data[4:]))


@dataclass(frozen=True)
class NoncePayload:
    payload_type: ClassVar[int] = PayloadType.NONCE
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, data: bytes) -> NoncePayload:
        if not 16 <= len(data) <= 256:
            raise ParseError("nonce length")
        return cls(bytes(data))


@dataclass(frozen=True)
class IdPayload:
    """IDi (initiator=True) or IDr."""

    initiator: bool
    id_type: int
    data: bytes

    @property
    def payload_type(self) -> int:
        return PayloadType.IDI if self.initiator else PayloadType.IDR

    def body(self) -> bytes:
        return struct.pack("!B3x", self.id_type) + self.data

    @classmethod
    def parse_as(cls, initiator: bool, data: bytes) -> IdPayload:
        _need(data, 4, "ID")
        return cls(initiator, data[0], bytes(data[4:]))


@dataclass(frozen=True)
class AuthPayload:
    payload_type: ClassVar[int] = PayloadType.AUTH
    method: int
    data: bytes

    def body(self) -> bytes:
        return struct.pack("!B3x", self.method) + self.data

    @classmethod
    def parse_body(cls, data: bytes) -> AuthPayload:
        _need(data, 4, "AUTH")
        return cls(data[0], bytes(data[4:]))


# --- Notify, Delete, Vendor ID (3.10-3.12) ----------------------------------


@dataclass(frozen=True)
class NotifyPayload:
    payload_type: ClassVar[int] = PayloadType.NOTIFY
    notify_type: int
    data: bytes = b""
    protocol: int = ProtocolId.NONE
    spi: bytes = b""

    @property
    def is_error(self) -> bool:
        return self.notify_type <= ERROR_NOTIFY_MAX

    def body(self) -> bytes:
        return (
            struct.pack("!BBH", self.protocol, len(self.spi), self.notify_type)
            + self.spi
            + self.data
        )

    @classmethod
    def parse_body(cls, data: bytes) -> NotifyPayload:
        _need(data, 4, "notify")
        proto, spi_size, ntype = struct.unpack_from("!BBH", data)
        _need(data, 4 + spi_size, "notify SPI")
        return cls(ntype, bytes(data[4 + spi_size :]), proto, bytes(data[4 : 4 + spi_size]))


@dataclass(frozen=True)
class DeletePayload:
    payload_type: ClassVar[int] = PayloadType.DELETE
    protocol: int
    spis: tuple[bytes, ...] = ()

    def body(self) -> bytes:
        spi_size = 0 if self.protocol == ProtocolId.IKE else 4
        return struct.pack("!BBH", self.protocol, spi_size, len(self.spis)) + b"".join(self.spis)

    @classmethod
    def parse_body(cls, data: bytes) -> DeletePayload:
        _need(data, 4, "delete")
        proto, spi_size, count = struct.unpack_from("!BBH", data)
        if len(data) != 4 + spi_size * count:
            raise ParseError("delete SPI count")
        if proto == ProtocolId.IKE and (spi_size or count):
            raise ParseError("delete IKE with SPIs")
        spis = tuple(bytes(data[4 + i * spi_size : 4 + (i + 1) * spi_size]) for i in range(count))
        return cls(proto, spis)


@dataclass(frozen=True)
class VendorIdPayload:
    payload_type: ClassVar[int] = PayloadType.VENDOR_ID
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, data: bytes) -> VendorIdPayload:
        return cls(bytes(data))


# --- Traffic selectors (3.13) -----------------------------------------------


def serialize_selector(ts: TrafficSelector) -> bytes:
    ts_type = TsType.IPV4_ADDR_RANGE if ts.version == 4 else TsType.IPV6_ADDR_RANGE
    addrs = ts.start_addr.packed + ts.end_addr.packed
    head = struct.pack("!BBHHH", ts_type, ts.ip_proto, 8 + len(addrs), ts.start_port, ts.end_port)
    return head + addrs


def parse_selector(data: bytes) -> tuple[TrafficSelector, int]:
    _need(data, 8, "traffic selector")
    ts_type, proto, length, sport, eport = struct.unpack_from("!BBHHH", data)
    if ts_type == TsType.IPV4_ADDR_RANGE:
        size = 4
    elif ts_type == TsType.IPV6_ADDR_RANGE:
        size = 16
    else:
        raise ParseError(f"traffic selector type {ts_type}")
    if length != 8 + 2 * size or length > len(data):
        raise ParseError("traffic selector length")
    start = ipaddress.ip_address(bytes(data[8 : 8 + size]))
    end = ipaddress.ip_address(bytes(data[8 + size : 8 + 2 * size]))
    return TrafficSelector(start, end, proto, sport, eport), length


@dataclass(frozen=True)
class TsPayload:
    """TSi (initiator=True) or TSr."""

    initiator: bool
    selectors: tuple[TrafficSelector, ...]

    @property
    def payload_type(self) -> int:
        return PayloadType.TSI if self.initiator else PayloadType.TSR

    def body(self) -> bytes:
        return struct.pack("!B3x", len(self.selectors)) + b"".join(
            serialize_selector(s) for s in self.selectors
        )

    @classmethod
    def parse_as(cls, initiator: bool, data: bytes) -> TsPayload:
        _need(data, 4, "TS")
        count = data[0]
        pos = 4
        selectors: list[TrafficSelector] = []
        for _ in range(count):
            ts, n = parse_selector(data[pos:])
            selectors.append(ts)
            pos += n
        if pos != len(data) or not selectors:
            raise ParseError("TS payload count")
        return cls(initiator, tuple(selectors))


# --- anything else -------------------------------------------------------------


@dataclass(frozen=True)
class UnknownPayload:
    """A payload kept as raw bytes: CP (ignored), CERTREQ, or an unknown non-critical one."""

    payload_type: int
    data: bytes = field(default=b"")
    critical: bool = False

    def body(self) -> bytes:
        return self.data


Payload = (
    SaPayload
    | KePayload
    | NoncePayload
    | IdPayload
    | AuthPayload
    | NotifyPayload
    | DeletePayload
    | VendorIdPayload
    | TsPayload
    | UnknownPayload
)

# payload types we know of and keep raw without complaint
_KNOWN_RAW = {PayloadType.CERT, PayloadType.CERTREQ, PayloadType.CP, PayloadType.EAP}


def parse_payload_body(ptype: int, critical: bool, data: bytes) -> Payload:
    """Builds the typed payload for one generic-header payload body."""
    if ptype == PayloadType.SA:
        return SaPayload.parse_body(data)
    if ptype == PayloadType.KE:
        return KePayload.parse_body(data)
    if ptype == PayloadType.NONCE:
        return NoncePayload.parse_body(data)
    if ptype in (PayloadType.IDI, PayloadType.IDR):
        return IdPayload.parse_as(ptype == PayloadType.IDI, data)
    if ptype == PayloadType.AUTH:
        return AuthPayload.parse_body(data)
    if ptype == PayloadType.NOTIFY:
        return NotifyPayload.parse_body(data)
    if ptype == PayloadType.DELETE:
        return DeletePayload.parse_body(data)
    if ptype == PayloadType.VENDOR_ID:
        return VendorIdPayload.parse_body(data)
    if ptype in (PayloadType.TSI, PayloadType.TSR):
        return TsPayload.parse_as(ptype == PayloadType.TSI, data)
    if ptype in _KNOWN_RAW:
        return UnknownPayload(ptype, bytes(data), critical)
    if critical:
        raise CriticalPayloadError(ptype)
    return UnknownPayload(ptype, bytes(data), critical)
