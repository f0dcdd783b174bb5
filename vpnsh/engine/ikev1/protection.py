"""Protection of IKEv1 messages after phase 1 (RFC 2409 5.5, 5.7, appendix B): the phase 2
IV of an exchange, HASH(1), and an encrypted ``HDR*, HASH, payloads`` message. Pure
functions of a :class:`Phase1` SA: the task manager and the tasks call them."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from ..crypto import algorithms as alg
from ..crypto import keymat as km
from . import message as m
from .message import HashPayload, Header, Message, ParseError, Payload
from .sa import P1State, Phase1, msgid_bytes


def header(sa: Phase1, exchange: int, msgid: int = 0) -> Header:
    return Header(sa.cky_i, sa.cky_r, 0, exchange, 0, msgid)


def p2_iv(sa: Phase1, msgid: int) -> bytes:
    assert sa.suite is not None and sa.cipher is not None
    return km.ikev1_phase2_iv(sa.suite.prf, sa.iv, msgid_bytes(msgid), sa.cipher.encr.block_size)


def hash1(sa: Phase1, msgid: int, rest: bytes) -> bytes:
    assert sa.suite is not None and sa.keys is not None
    return km.ikev1_qm_hash1(sa.suite.prf, sa.keys.skeyid_a, msgid_bytes(msgid), rest)


def encrypt_with_hash(sa: Phase1, exchange: int, msgid: int, iv: bytes,
                      hash_fn: Callable[[bytes], bytes], rest: list[Payload]
                      ) -> tuple[bytes, bytes]:
    """HDR*, HASH(rest), rest...: (datagram, next IV)."""
    assert sa.cipher is not None and sa.suite is not None
    hlen = alg.prf_alg(sa.suite.prf).out_size
    first, parts = m.encode_payloads([HashPayload(bytes(hlen)), *rest])
    digest = hash_fn(b"".join(parts[1:]))
    parts[0] = parts[0][:4] + digest
    return m.encrypt_body(header(sa, exchange, msgid), first, parts, sa.cipher, iv)


def decrypt_exchange(sa: Phase1, data: bytes, iv: bytes,
                     h: Header | None = None) -> tuple[Message, bytes]:
    """``h``: the header of ``data`` if the caller parsed it already (once per message)."""
    if sa.cipher is None or sa.state != P1State.ESTABLISHED:
        raise ParseError("no established phase 1 for this exchange")
    if h is None:
        h = m.parse_header(data)
    if not h.encrypted:
        raise ParseError("plain message where an encrypted one was expected")
    return m.decrypt_body(data, sa.cipher, iv, h)


def verify_hash_first(msg: Message, expected: bytes) -> bool:
    """The message's first payload is a HASH equal to ``expected`` (constant time)."""
    if not msg.payloads or not isinstance(msg.payloads[0].payload, HashPayload):
        return False
    return hmac.compare_digest(msg.payloads[0].payload.data, expected)
