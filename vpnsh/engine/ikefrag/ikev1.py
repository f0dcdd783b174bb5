"""IKEv1 fragmentation as strongSwan (and Cisco) do it.

Support is announced with the FRAGMENTATION vendor ID (MD5 of "FRAGMENTATION" followed by
capability flags: strongSwan sends ``0x80000000``, Cisco ``0xc0000000``; either is a match).
A message too large for the path is encoded completely (header and encryption included),
then cut into pieces; each piece travels in its own ISAKMP message with the original header
(cookies, exchange type, message ID; the encryption flag cleared, as the piece is already
ciphertext) and one fragment payload (type 132):

    next payload (0) | reserved | payload length (2) | fragment ID (2) | number (1) | flags (1)
    fragment data                                 flags: 0x01 = last fragment

The receiver collects the pieces (:meth:`Reassembler.add_v1`, keyed by message ID and
fragment ID) and processes the joined bytes as the original message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PAYLOAD_FRAGMENT = 132
ISAKMP_HEADER_LEN = 28
FRAGMENT_HEADER_LEN = 8
LAST_FRAGMENT = 0x01
FLAG_ENCRYPTION = 0x01
VID_FRAGMENTATION = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3")
VID_FRAGMENTATION_STRONGSWAN = VID_FRAGMENTATION + bytes.fromhex("80000000")
MAX_FRAGMENTS = 255  # the number is one octet


def is_fragmentation_vid(vid: bytes) -> bool:
    """The FRAGMENTATION vendor ID, with or without capability flags."""
    return vid[:16] == VID_FRAGMENTATION and len(vid) in (16, 20)


@dataclass(frozen=True)
class Fragment:
    fragment_id: int
    number: int
    last: bool
    data: bytes


def max_data_per_fragment(mtu: int, ip_version: int, natt: bool) -> int:
    """Octets of the original message one fragment can carry within ``mtu``."""
    room = (mtu - (20 if ip_version == 4 else 40) - 8 - (4 if natt else 0)
            - ISAKMP_HEADER_LEN - FRAGMENT_HEADER_LEN)
    if room < 1:
        raise ValueError(f"MTU {mtu} leaves no room for fragment data")
    return room


def fragment_message(message: bytes, per_fragment: int, fragment_id: int = 1) -> list[bytes]:
    """The ISAKMP messages carrying the encoded ``message`` in fragment payloads."""
    if len(message) < ISAKMP_HEADER_LEN:
        raise ValueError("not an ISAKMP message")
    pieces = [message[i:i + per_fragment] for i in range(0, len(message), per_fragment)]
    if len(pieces) > MAX_FRAGMENTS:
        raise ValueError(f"{len(pieces)} fragments: more than IKEv1 can number")
    head = message[:ISAKMP_HEADER_LEN]
    flags = head[19] & ~FLAG_ENCRYPTION
    out = []
    for number, piece in enumerate(pieces, start=1):
        plen = FRAGMENT_HEADER_LEN + len(piece)
        total = ISAKMP_HEADER_LEN + plen
        hdr = (head[:16] + bytes((PAYLOAD_FRAGMENT,)) + head[17:19] + bytes((flags,))
               + head[20:24] + struct.pack("!I", total))
        payload = struct.pack("!BBHHBB", 0, 0, plen, fragment_id, number,
                              LAST_FRAGMENT if number == len(pieces) else 0)
        out.append(hdr + payload + piece)
    return out


def parse_fragment_message(data: bytes) -> tuple[int, Fragment]:
    """(message ID, fragment) of an ISAKMP message whose first payload is a fragment;
    ValueError for anything malformed."""
    if len(data) < ISAKMP_HEADER_LEN + FRAGMENT_HEADER_LEN:
        raise ValueError("fragment message too short")
    if data[16] != PAYLOAD_FRAGMENT:
        raise ValueError("first payload is not a fragment")
    (length,) = struct.unpack("!I", data[24:28])
    if length != len(data):
        raise ValueError(f"ISAKMP length {length} but {len(data)} octets received")
    message_id = struct.unpack("!I", data[20:24])[0]
    nxt, _res, plen, fid, number, flags = struct.unpack(
        "!BBHHBB", data[ISAKMP_HEADER_LEN:ISAKMP_HEADER_LEN + FRAGMENT_HEADER_LEN])
    if plen < FRAGMENT_HEADER_LEN or ISAKMP_HEADER_LEN + plen != len(data):
        raise ValueError(f"fragment payload length {plen} does not fit the message")
    if nxt != 0:
        raise ValueError("a fragment payload must be the only payload")
    if number == 0:
        raise ValueError("fragment number 0")
    body = data[ISAKMP_HEADER_LEN + FRAGMENT_HEADER_LEN:]
    return message_id, Fragment(fid, number, bool(flags & LAST_FRAGMENT), body)
