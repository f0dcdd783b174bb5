"""The IKEv2 message: header (RFC 7296 3.1), payload chain (3.2) and the SK payload (3.14)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .constants import IKE_VERSION, ExchangeType, HeaderFlag, PayloadType
from .payloads import (
    COST_PAYLOAD,
    MAX_PAYLOADS,
    Budget,
    Buffer,
    NotifyPayload,
    ParseError,
    Payload,
    parse_payload_body,
)

HEADER_LEN = 28
GENERIC_HEADER_LEN = 4
MAX_MESSAGE = 65535

P = TypeVar("P")


class Protection(Protocol):
    """Encrypts and authenticates the SK payload for one direction pair of an IKE SA."""

    def seal(self, header_without_length: bytes, first_inner: int, inner: bytes) -> bytes: ...

    def open(self, data: bytes, sk_offset: int) -> bytes: ...


@dataclass
class Message:
    exchange: int
    message_id: int
    spi_i: bytes
    spi_r: bytes
    is_response: bool
    is_initiator: bool  # the sender is the original initiator of the IKE SA
    payloads: list[Payload] = field(default_factory=list)
    encrypted: bool = False

    # --- lookups ---------------------------------------------------------
    def get(self, cls: type[P]) -> P | None:
        for p in self.payloads:
            if isinstance(p, cls):
                return p
        return None

    def all(self, cls: type[P]) -> list[P]:
        return [p for p in self.payloads if isinstance(p, cls)]

    def notify(self, notify_type: int) -> NotifyPayload | None:
        for p in self.payloads:
            if isinstance(p, NotifyPayload) and p.notify_type == notify_type:
                return p
        return None

    def error_notifies(self) -> list[NotifyPayload]:
        return [p for p in self.payloads if isinstance(p, NotifyPayload) and p.is_error]

    def flags(self) -> int:
        f = 0
        if self.is_initiator:
            f |= HeaderFlag.INITIATOR
        if self.is_response:
            f |= HeaderFlag.RESPONSE
        return f

    def describe(self) -> str:
        try:
            name = ExchangeType(self.exchange).name
        except ValueError:
            name = str(self.exchange)
        kind = "response" if self.is_response else "request"
        return f"{name} {kind} {self.message_id}"


def _chain(payloads: list[Payload]) -> tuple[int, bytes]:
    """Serializes payloads as a chain; returns the first payload type and the bytes."""
    out = bytearray()
    for i, p in enumerate(payloads):
        body = p.body()
        nxt = payloads[i + 1].payload_type if i + 1 < len(payloads) else PayloadType.NONE
        crit = 0x80 if getattr(p, "critical", False) else 0
        out += struct.pack("!BBH", nxt, crit, GENERIC_HEADER_LEN + len(body)) + body
    first = payloads[0].payload_type if payloads else PayloadType.NONE
    return first, bytes(out)


chain = _chain  # the inner payloads of an SK (or SKF-fragmented) message


def _header(msg: Message, next_payload: int, length: int) -> bytes:
    return (
        msg.spi_i
        + msg.spi_r
        + struct.pack(
            "!BBBBII", next_payload, IKE_VERSION, msg.exchange, msg.flags(), msg.message_id, length
        )
    )


def encode(msg: Message, protection: Protection | None = None) -> bytes:
    """Serializes a message; with ``protection`` every payload goes inside SK."""
    first, chain = _chain(msg.payloads)
    if protection is None:
        return _header(msg, first, HEADER_LEN + len(chain)) + chain
    head = _header(msg, PayloadType.SK, 0)[: HEADER_LEN - 4]
    return protection.seal(head, first, chain)


_GENERIC = struct.Struct("!BBH")
_HEAD_WITHOUT_LENGTH = struct.Struct("!8s8sBBBBI")


def encode_empty(spi_i: bytes, spi_r: bytes, exchange: int, flags: int, message_id: int,
                 protection: Protection) -> bytes:
    """``encode`` of a protected message with no payloads (a liveness check and its answer,
    an empty CREATE_CHILD_SA or IKE Delete answer), without the ``Message`` object: the same
    bytes, several thousand a second with many idle tunnels."""
    head = _HEAD_WITHOUT_LENGTH.pack(spi_i, spi_r, PayloadType.SK, IKE_VERSION, exchange, flags,
                                     message_id)
    return protection.seal(head, PayloadType.NONE, b"")


def parse_chain(
    data: Buffer, first: int, start: int = 0
) -> tuple[list[Payload], int | None, int]:
    """Parses the payload chain that starts at offset ``start``.

    Returns (payloads, SK offset or None, SK first inner type); the bodies are parsed
    from a memoryview, with offsets: no payload is copied before it is kept.
    """
    view = memoryview(data)
    end = len(view)
    budget = Budget()
    payloads: list[Payload] = []
    pos = start
    ptype = first
    while ptype != PayloadType.NONE:
        if end - pos < GENERIC_HEADER_LEN:
            raise ParseError("truncated payload header")
        if len(payloads) >= MAX_PAYLOADS:
            raise ParseError(f"more than {MAX_PAYLOADS} payloads")
        nxt, flags, length = _GENERIC.unpack_from(view, pos)
        if length < GENERIC_HEADER_LEN or pos + length > end:
            raise ParseError(f"payload {ptype} length {length}")
        if ptype == PayloadType.SK:
            if pos + length != end:
                raise ParseError("SK payload is not last")
            return payloads, pos, nxt
        budget.take(COST_PAYLOAD)
        body = view[pos + GENERIC_HEADER_LEN : pos + length]
        payloads.append(parse_payload_body(ptype, bool(flags & 0x80), body, budget))
        pos += length
        ptype = nxt
    if pos != end:
        raise ParseError("trailing bytes after last payload")
    return payloads, None, 0


@dataclass
class Parsed:
    """A message whose cleartext part is parsed; ``sk_offset`` is set if an SK payload follows."""

    message: Message
    raw: bytes
    sk_offset: int | None
    sk_first: int
    inner: bytes | None = None  # RFC 7383: the reassembled, already decrypted SK contents


def parse(data: bytes) -> Parsed:
    if len(data) < HEADER_LEN:
        raise ParseError("shorter than an IKE header")
    if len(data) > MAX_MESSAGE:
        raise ParseError("too long")
    spi_i = bytes(data[0:8])
    spi_r = bytes(data[8:16])
    nxt, version, exchange, flags, msgid, length = struct.unpack_from("!BBBBII", data, 16)
    if version >> 4 != 2:
        raise ParseError(f"IKE major version {version >> 4}")
    if length != len(data):
        raise ParseError(f"header length {length} but datagram {len(data)}")
    if spi_i == bytes(8):
        raise ParseError("zero initiator SPI")
    if nxt == PayloadType.SK and len(data) >= HEADER_LEN + GENERIC_HEADER_LEN:
        # SK only (every protected message but IKE_SA_INIT): what parse_chain finds, inline
        sk_first, _flags, sk_len = _GENERIC.unpack_from(data, HEADER_LEN)
        if HEADER_LEN + sk_len != len(data):
            raise ParseError(f"payload {nxt} length {sk_len}" if sk_len < GENERIC_HEADER_LEN
                             or HEADER_LEN + sk_len > len(data) else "SK payload is not last")
        payloads: list[Payload] = []
        sk_offset: int | None = HEADER_LEN
    else:
        payloads, sk_offset, sk_first = parse_chain(data, nxt, HEADER_LEN)
    msg = Message(
        exchange=exchange,
        message_id=msgid,
        spi_i=spi_i,
        spi_r=spi_r,
        is_response=bool(flags & HeaderFlag.RESPONSE),
        is_initiator=bool(flags & HeaderFlag.INITIATOR),
        payloads=payloads,
        encrypted=sk_offset is not None,
    )
    return Parsed(msg, bytes(data), sk_offset, sk_first)


def decrypt(parsed: Parsed, protection: Protection) -> Message:
    """Checks and decrypts the SK payload; the inner payloads replace the outer ones."""
    if parsed.sk_offset is None:
        raise ParseError("no SK payload")
    if parsed.message.payloads:
        raise ParseError("cleartext payloads before SK")
    inner = parsed.inner if parsed.inner is not None else \
        protection.open(parsed.raw, parsed.sk_offset)
    if parsed.sk_first == PayloadType.NONE:  # empty (a liveness check): what parse_chain says
        if inner:
            raise ParseError("trailing bytes after last payload")
        parsed.message.payloads = []
        return parsed.message
    payloads, sk, _ = parse_chain(inner, parsed.sk_first)
    if sk is not None:
        raise ParseError("nested SK payload")
    parsed.message.payloads = payloads
    return parsed.message
