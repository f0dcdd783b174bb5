"""RFC 7383 IKE fragmentation on one IKE SA: sending a large message as SKF fragments and
reassembling the peer's fragments (the formats and limits are :mod:`vpnsh.engine.ikefrag`).

Sending: :meth:`IkeSa.encode` calls :func:`prepare` for every encrypted message of an SA that
negotiated fragmentation; a message whose datagram would exceed :data:`FRAGMENT_SIZE` is cut
into fragments, kept in ``sa.fragment_cache`` under the message's bytes. The engine's ``send``
asks :func:`fragments_for` and sends all the fragments in its place, the first time and at
every retransmission (RFC 7383 2.5.2), and for a cached response sent again.

Size: like strongSwan's ``charon.fragment_size`` default, an IP packet of at most 1280 octets
(the IPv6 minimum MTU; RFC 7383 2.5.1 suggests 1280 for IPv6 and 576 for IPv4 when nothing is
known, but strongSwan and most paths use 1280 for both, and 1280 keeps 3 KB of certificates to
three fragments). Messages that fit go unfragmented.

Negotiation (RFC 7383 2.3): both IKE_SA_INIT messages carry IKEV2_FRAGMENTATION_SUPPORTED
(:func:`init_notifies`) when the gateway has ``protocol-common fragmentation enable yes``;
:func:`note_peer_init` turns it on for the SA when the peer's has it too.

Receiving: :func:`reassemble` authenticates and decrypts each SKF fragment with the SA's keys
(RFC 7383 2.6: before it is kept), adds it to the SA's reassembler (limits on count, size,
pending messages and time) and, once complete, returns the message as if it had come in one
SK payload.
"""

from __future__ import annotations

import struct
from typing import Any

from ..ike.task_manager import answer_again
from ..ikefrag import ikev2 as frag
from ..ikefrag.reassembly import STALE, Reassembler
from ..policy import IkePolicy
from . import message
from .message import Message, Parsed
from .payloads import NotifyPayload, ParseError, Payload
from .protection import SkProtection

# an ikev2.sa.IkeSa (not imported: sa.py calls prepare, no import cycle)
IkeSa = Any

FRAGMENT_SIZE = 1280  # octets of IP packet per fragment (strongSwan's default fragment_size)
# the longest message never split: one that fits even behind the largest headers (IPv6)
NEVER_FRAGMENTED = FRAGMENT_SIZE - 40 - frag.UDP_HEADER_LEN - frag.NON_ESP_MARKER_LEN
CACHE = 4  # messages whose fragments an SA keeps (our request in flight, our last response)
N_FRAGMENTATION_SUPPORTED = 16430  # RFC 7383 2.3


def init_notifies(policy: IkePolicy) -> list[Payload]:
    """Our IKE_SA_INIT's IKEV2_FRAGMENTATION_SUPPORTED, when the gateway has it on."""
    return [NotifyPayload(N_FRAGMENTATION_SUPPORTED)] if policy.fragmentation else []


def note_peer_init(sa: IkeSa, msg: Message) -> None:
    """Fragmentation is used when both sides announced it."""
    sa.fragmentation = sa.policy.fragmentation and \
        msg.notify(N_FRAGMENTATION_SUPPORTED) is not None


def _ip_version(sa: IkeSa) -> int:
    return 6 if ":" in sa.remote[0] else 4


def _overhead(sa: IkeSa) -> int:
    return (20 if _ip_version(sa) == 4 else 40) + frag.UDP_HEADER_LEN + \
        (frag.NON_ESP_MARKER_LEN if sa.remote[1] == 4500 or sa.local[1] == 4500 else 0)


def prepare(sa: IkeSa, msg: Message, data: bytes) -> None:
    """Fragments for ``data`` (the encoded ``msg``) when it does not fit in one packet."""
    if len(data) + _overhead(sa) <= FRAGMENT_SIZE or not isinstance(sa.protection, SkProtection):
        return
    prot = sa.protection
    shape = frag.CipherShape(prot.alg.iv_size, max(prot.alg.block_size, 1), prot.icv_size)
    natt = sa.remote[1] == 4500 or sa.local[1] == 4500
    per = frag.max_inner_per_fragment(FRAGMENT_SIZE, _ip_version(sa), natt, shape)
    first, inner = message.chain(msg.payloads)
    header = data[:frag.IKE_HEADER_LEN]
    pieces = frag.fragment_messages(header, first, inner, per, shape, prot.seal_raw)
    cache = sa.fragment_cache
    cache[data] = pieces
    while len(cache) > CACHE:
        del cache[next(iter(cache))]


def fragments_for(sa: IkeSa | None, data: bytes) -> list[bytes] | None:
    if sa is None or not sa.fragment_cache:
        return None
    return sa.fragment_cache.get(data)


def reassemble(ctx: Any, sa: IkeSa | None, data: bytes, now: float) -> Parsed | None:
    """One received SKF message: None while the message is incomplete (or the fragment was
    dropped: counted with ``ctx.drop``), else the whole message, decrypted."""
    drop = ctx.drop
    if sa is None or sa.protection is None or not sa.fragmentation:
        drop("IKE fragment for an SA without fragmentation")
        return None
    try:
        # the header only: the SKF payload's Next Payload names the first inner payload
        parsed = message.parse(data[:16] + bytes((0,)) + data[17:24]
                               + struct.pack("!I", frag.IKE_HEADER_LEN))
        skf = frag.parse_skf_header(data[frag.IKE_HEADER_LEN:])
        if frag.IKE_HEADER_LEN + skf.length != len(data):
            raise ParseError("SKF payload is not the whole message")
        plain = sa.protection.open(data, frag.IKE_HEADER_LEN + 4)
    except (ParseError, ValueError) as exc:
        drop(f"bad IKE fragment: {exc}")
        return None
    msg = parsed.message
    if msg.is_initiator == sa.initiator or (msg.spi_i, msg.spi_r) != (sa.spi_i, sa.spi_r):
        drop("IKE SPI or initiator flag mismatch")
        return None
    if sa.reassembler is None:
        sa.reassembler = Reassembler()
    sa.reassembler.expire(now)
    key = (msg.message_id, msg.is_response)
    out = sa.reassembler.add_v2(key, skf.number, skf.total, skf.next_payload, plain, now)
    if out.status == "dropped":
        if out.reason == STALE and not msg.is_response and skf.number == 1 \
                and sa.last_response is not None and sa.last_response[0] == msg.message_id:
            answer_again(ctx, sa, sa.last_response[1])  # the peer sent its request again
            return None
        drop(out.reason)
        return None
    if not out.complete:
        return None
    ctx.log(sa, f"received fragment {skf.number} of {skf.total}: reassembled "
            f"{msg.describe()} ({len(out.data)} octets)")
    msg.payloads = []
    return Parsed(msg, data, frag.IKE_HEADER_LEN, out.first_payload, inner=out.data)


def is_fragment(data: bytes) -> bool:
    """An IKEv2 message whose first payload is SKF (53)."""
    return len(data) > frag.IKE_HEADER_LEN and data[16] == frag.PAYLOAD_SKF \
        and struct.unpack_from("!B", data, 17)[0] >> 4 == 2
