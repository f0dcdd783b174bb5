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

from ..ike.budget import WorkBudget
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


Buffer = bytes | memoryview

# A datagram of up to 64 KB could hold thousands of tiny items (proposals, transforms,
# attributes, payloads, selectors, SPIs) and every item costs Python objects: bound the
# work one message may ask for, so that a hostile datagram costs well under a millisecond
# to reject (bench/ike_parse.py). strongSwan bounds payloads per message type likewise.
# The costs are roughly microseconds on a slow machine; a large real proposal (2
# proposals of 30 transforms in an IKE_SA_INIT of 10 payloads) costs about 300.
COST_PAYLOAD = 4
COST_PROPOSAL = 8
COST_TRANSFORM = 3
COST_ATTRIBUTE = 1
COST_SELECTOR = 8
SPIS_PER_COST = 4
MAX_COST = 480
MAX_PAYLOADS = 64

_GENERIC = struct.Struct("!BBH")
_SUBSTRUC = struct.Struct("!BBHBBBB")  # proposal header
_TRANSFORM = struct.Struct("!BBHBBH")
_ATTR = struct.Struct("!HH")
_SELECTOR = struct.Struct("!BBHHH")


class Budget(WorkBudget):
    """How much more parsing work the message may ask for (see ``MAX_COST``)."""

    __slots__ = ()
    error = ParseError
    max_cost = MAX_COST
    items = "proposals, transforms, payloads or selectors"


def _need(data: Buffer, n: int, what: str) -> None:
    if len(data) < n:
        raise ParseError(f"{what}: {len(data)} bytes, need {n}")


def _left(have: int, n: int, what: str) -> None:
    if have < n:
        raise ParseError(f"{what}: {have} bytes, need {n}")


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
    def parse(
        cls, data: Buffer, pos: int = 0, end: int | None = None, budget: Budget | None = None
    ) -> tuple[Transform, int, bool]:
        """The transform at ``pos`` (within ``data[:end]``): the transform, the offset
        after it and whether it was the last one."""
        end = len(data) if end is None else end
        budget = budget or Budget()
        budget.take(COST_TRANSFORM)
        _left(end - pos, 8, "transform")
        last_flag, _, length, ttype, _, tid = _TRANSFORM.unpack_from(data, pos)
        if length < 8 or pos + length > end:
            raise ParseError("transform length")
        if last_flag not in (0, 3):
            raise ParseError("transform last-substruc")
        key_length: int | None = None
        stop = pos + length
        a = pos + 8
        budget.take(COST_ATTRIBUTE * ((stop - a) // 4))  # an attribute is 4 bytes or more
        raw = bytes(data[pos:stop])
        known = _PARSED_TRANSFORMS.get(raw)
        if known is not None:  # these very bytes were read before (and were well formed)
            return known, stop, last_flag == 0
        while a < stop:
            _left(stop - a, 4, "transform attribute")
            atype, aval = _ATTR.unpack_from(data, a)
            if atype & ATTR_FORMAT_TV:
                if atype & 0x7FFF == TransformAttr.KEY_LENGTH:
                    key_length = aval
                a += 4
            else:
                if a + 4 + aval > stop:
                    raise ParseError("transform attribute length")
                a += 4 + aval
        transform = cls(ttype, tid, key_length)
        if len(_PARSED_TRANSFORMS) < _PARSED_TRANSFORMS_MAX:
            _PARSED_TRANSFORMS[raw] = transform
        return transform, stop, last_flag == 0


# Transforms by their bytes: peers send the same few transforms in every proposal, and a
# Transform is immutable, so one read is kept for the next (bounded: a peer sending ever
# new transforms fills it once, then they are parsed as before).
_PARSED_TRANSFORMS: dict[bytes, Transform] = {}
_PARSED_TRANSFORMS_MAX = 4096


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
    def parse(
        cls, data: Buffer, pos: int = 0, end: int | None = None, budget: Budget | None = None
    ) -> tuple[Proposal, int, bool]:
        """The proposal at ``pos``: the proposal, the offset after it, whether it was last."""
        end = len(data) if end is None else end
        budget = budget or Budget()
        budget.take(COST_PROPOSAL)
        _left(end - pos, 8, "proposal")
        last_flag, _, length, number, proto, spi_size, count = _SUBSTRUC.unpack_from(data, pos)
        if length < 8 + spi_size or pos + length > end:
            raise ParseError("proposal length")
        if last_flag not in (0, 2):
            raise ParseError("proposal last-substruc")
        stop = pos + length
        spi = bytes(data[pos + 8 : pos + 8 + spi_size])
        t = pos + 8 + spi_size
        transforms: list[Transform] = []
        while t < stop:
            if len(transforms) == count:
                raise ParseError("proposal transform count")
            transform, t, last = Transform.parse(data, t, stop, budget)
            transforms.append(transform)
            if last:
                break
        if t != stop or len(transforms) != count:
            raise ParseError("proposal transform count")
        return cls(number, proto, spi, tuple(transforms)), stop, last_flag == 0

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
    def parse_body(cls, data: Buffer, budget: Budget | None = None) -> SaPayload:
        budget = budget or Budget()
        pos = 0
        end = len(data)
        proposals: list[Proposal] = []
        while pos < end:
            p, pos, last = Proposal.parse(data, pos, end, budget)
            proposals.append(p)
            if last:
                break
        if pos != end or not proposals:
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
    def parse_body(cls, data: Buffer) -> KePayload:
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
    def parse_body(cls, data: Buffer) -> NoncePayload:
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
    def parse_as(cls, initiator: bool, data: Buffer) -> IdPayload:
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
    def parse_body(cls, data: Buffer) -> AuthPayload:
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
    def parse_body(cls, data: Buffer) -> NotifyPayload:
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
    def parse_body(cls, data: Buffer, budget: Budget | None = None) -> DeletePayload:
        _need(data, 4, "delete")
        proto, spi_size, count = struct.unpack_from("!BBH", data)
        if len(data) != 4 + spi_size * count:
            raise ParseError("delete SPI count")
        if proto == ProtocolId.IKE and (spi_size or count):
            raise ParseError("delete IKE with SPIs")
        (budget or Budget()).take(count // SPIS_PER_COST)
        spis = tuple(bytes(data[4 + i * spi_size : 4 + (i + 1) * spi_size]) for i in range(count))
        return cls(proto, spis)


@dataclass(frozen=True)
class VendorIdPayload:
    payload_type: ClassVar[int] = PayloadType.VENDOR_ID
    data: bytes

    def body(self) -> bytes:
        return self.data

    @classmethod
    def parse_body(cls, data: Buffer) -> VendorIdPayload:
        return cls(bytes(data))


# --- Traffic selectors (3.13) -----------------------------------------------


def serialize_selector(ts: TrafficSelector) -> bytes:
    ts_type = TsType.IPV4_ADDR_RANGE if ts.version == 4 else TsType.IPV6_ADDR_RANGE
    addrs = ts.start_addr.packed + ts.end_addr.packed
    head = struct.pack("!BBHHH", ts_type, ts.ip_proto, 8 + len(addrs), ts.start_port, ts.end_port)
    return head + addrs


def parse_selector(data: Buffer, pos: int = 0) -> tuple[TrafficSelector, int]:
    """The selector at ``pos``: the selector and the offset after it."""
    _left(len(data) - pos, 8, "traffic selector")
    ts_type, proto, length, sport, eport = _SELECTOR.unpack_from(data, pos)
    if ts_type == TsType.IPV4_ADDR_RANGE:
        size = 4
    elif ts_type == TsType.IPV6_ADDR_RANGE:
        size = 16
    else:
        raise ParseError(f"traffic selector type {ts_type}")
    if length != 8 + 2 * size or pos + length > len(data):
        raise ParseError("traffic selector length")
    a = pos + 8
    start = ipaddress.ip_address(bytes(data[a : a + size]))
    end = ipaddress.ip_address(bytes(data[a + size : a + 2 * size]))
    return TrafficSelector(start, end, proto, sport, eport), pos + length


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
    def parse_as(cls, initiator: bool, data: Buffer, budget: Budget | None = None) -> TsPayload:
        _need(data, 4, "TS")
        count = data[0]
        (budget or Budget()).take(COST_SELECTOR * count)
        pos = 4
        selectors: list[TrafficSelector] = []
        for _ in range(count):
            ts, pos = parse_selector(data, pos)
            selectors.append(ts)
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


def parse_payload_body(
    ptype: int, critical: bool, data: Buffer, budget: Budget | None = None
) -> Payload:
    """Builds the typed payload for one generic-header payload body."""
    if ptype == PayloadType.SA:
        return SaPayload.parse_body(data, budget)
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
        return DeletePayload.parse_body(data, budget)
    if ptype == PayloadType.VENDOR_ID:
        return VendorIdPayload.parse_body(data)
    if ptype in (PayloadType.TSI, PayloadType.TSR):
        return TsPayload.parse_as(ptype == PayloadType.TSI, data, budget)
    if ptype in _KNOWN_RAW:
        return UnknownPayload(ptype, bytes(data), critical)
    if critical:
        raise CriticalPayloadError(ptype)
    return UnknownPayload(ptype, bytes(data), critical)
