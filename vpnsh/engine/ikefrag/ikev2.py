"""IKEv2 fragmentation (RFC 7383): sizes, splitting and sealing SKF messages, SKF headers.

Sender: when an IKE_AUTH (or later) message would exceed the path, the task takes the inner
payloads it would have put in SK (``inner``, whose first payload type is ``first_payload``),
computes :func:`max_inner_per_fragment` for the path MTU and the SA's cipher, and calls
:func:`fragment_messages` with a ``seal`` function of the SA. It keeps every fragment and
retransmits all of them (RFC 7383 2.5.2).

Receiver: for an IKE message whose first payload is SKF (53), :func:`parse_skf_header` gives
number, total and the first inner payload type; the task authenticates and decrypts the
fragment with the SA's keys (the AAD/ICV covers the IKE header and the whole 8-octet SKF
header, so ``SkProtection.open(data, skf_offset + 4)`` fits) and passes the plaintext to
:meth:`vpnsh.engine.ikefrag.reassembly.Reassembler.add_v2`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

N_IKEV2_FRAGMENTATION_SUPPORTED = 16430
PAYLOAD_SK = 46
PAYLOAD_SKF = 53
IKE_HEADER_LEN = 28
SKF_HEADER_LEN = 8
UDP_HEADER_LEN = 8
NON_ESP_MARKER_LEN = 4
MIN_MTU = {4: 576, 6: 1280}  # RFC 7383 2.5.1: what every path must carry


@dataclass(frozen=True)
class CipherShape:
    """What the SA's SK cipher adds to a fragment: IV, padding block, ICV (octets)."""

    iv_size: int
    block_size: int   # 1 for stream/AEAD modes such as GCM
    icv_size: int


def max_inner_per_fragment(mtu: int, ip_version: int, natt: bool, cipher: CipherShape) -> int:
    """The most inner (plaintext) octets one fragment can carry so that the UDP datagram fits
    ``mtu``: IP, UDP, non-ESP marker (port 4500), IKE header, SKF header, IV, padding and
    its length octet, ICV."""
    if ip_version not in MIN_MTU:
        raise ValueError(f"IP version {ip_version}")
    mtu = max(mtu, MIN_MTU[ip_version])
    room = (mtu - (20 if ip_version == 4 else 40) - UDP_HEADER_LEN
            - (NON_ESP_MARKER_LEN if natt else 0) - IKE_HEADER_LEN - SKF_HEADER_LEN
            - cipher.iv_size - cipher.icv_size)
    block = max(cipher.block_size, 1)
    room -= room % block          # ciphertext is whole blocks
    inner = room - 1              # the pad length octet
    if inner < 1:
        raise ValueError(f"MTU {mtu} leaves no room for fragment data")
    return inner


def split(inner: bytes, per_fragment: int) -> list[bytes]:
    """The inner payloads cut into chunks of at most ``per_fragment`` octets."""
    if per_fragment < 1:
        raise ValueError("fragment size must be positive")
    if not inner:
        return [b""]
    return [inner[i:i + per_fragment] for i in range(0, len(inner), per_fragment)]


def skf_header(next_payload: int, length: int, number: int, total: int) -> bytes:
    """The 8-octet SKF header: generic payload header (``length`` = the whole SKF payload),
    Fragment Number, Total Fragments."""
    return struct.pack("!BBHHH", next_payload, 0, length, number, total)


@dataclass(frozen=True)
class SkfHeader:
    next_payload: int
    length: int
    number: int
    total: int


def parse_skf_header(payload: bytes) -> SkfHeader:
    """The SKF header at the start of ``payload``; ValueError if malformed."""
    if len(payload) < SKF_HEADER_LEN:
        raise ValueError("SKF payload shorter than its header")
    nxt, _flags, length, number, total = struct.unpack("!BBHHH", payload[:SKF_HEADER_LEN])
    if length < SKF_HEADER_LEN or length > len(payload):
        raise ValueError(f"SKF payload length {length} does not fit the message")
    if number == 0 or total == 0 or number > total:
        raise ValueError(f"SKF fragment {number} of {total}")
    return SkfHeader(nxt, length, number, total)


# seal(authenticated prefix, iv, padded plaintext) -> ciphertext || ICV. For AEAD the prefix
# is the associated data; for encrypt-then-MAC the ICV covers prefix || iv || ciphertext.
Seal = Callable[[bytes, bytes, bytes], bytes]


def fragment_messages(header: bytes, first_payload: int, inner: bytes, per_fragment: int,
                      cipher: CipherShape, seal: Seal,
                      random: Callable[[int], bytes] = os.urandom) -> list[bytes]:
    """Whole IKE messages carrying ``inner`` in SKF fragments. ``header`` is the 28-octet IKE
    header of the message (its Next Payload and Length are rewritten per fragment)."""
    if len(header) != IKE_HEADER_LEN:
        raise ValueError("IKE header must be 28 octets")
    chunks = split(inner, per_fragment)
    total = len(chunks)
    if total > 0xFFFF:
        raise ValueError("too many fragments")
    out = []
    block = max(cipher.block_size, 1)
    for number, chunk in enumerate(chunks, start=1):
        pad = (block - (len(chunk) + 1) % block) % block
        padded = chunk + bytes(pad) + bytes((pad,))
        skf_len = SKF_HEADER_LEN + cipher.iv_size + len(padded) + cipher.icv_size
        msg_len = IKE_HEADER_LEN + skf_len
        head = header[:16] + bytes((PAYLOAD_SKF,)) + header[17:24] + struct.pack("!I", msg_len)
        prefix = head + skf_header(first_payload if number == 1 else 0, skf_len, number, total)
        iv = random(cipher.iv_size)
        sealed = seal(prefix, iv, padded)
        if len(sealed) != len(padded) + cipher.icv_size:
            raise ValueError("seal returned the wrong length")
        out.append(prefix + iv + sealed)
    return out


def unpad(plaintext: bytes) -> bytes:
    """The fragment's data from a decrypted SKF body (padding and pad length removed)."""
    if not plaintext or plaintext[-1] + 1 > len(plaintext):
        raise ValueError("SKF padding")
    return plaintext[: len(plaintext) - plaintext[-1] - 1]
