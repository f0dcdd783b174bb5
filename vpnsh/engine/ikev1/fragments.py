"""IKEv1 fragmentation on one ISAKMP SA, as strongSwan and Cisco do it (the formats and limits
are :mod:`vpnsh.engine.ikefrag`): announced with the FRAGMENTATION vendor ID when the
gateway has ``protocol-common fragmentation enable yes`` (the :mod:`.tasks.vendor` task), used
once the peer announced it too.

Sending: :func:`prepare` cuts a phase 1 message whose datagram would exceed
:data:`FRAGMENT_SIZE` (1280, as for IKEv2 and strongSwan's default) into fragment messages,
kept in ``sa.fragment_cache`` (the task manager calls it for each phase 1 message it
sends); the engine's ``send`` sends them in its place, the first time,
at each retransmission and when it answers a retransmitted message again.

Receiving: :func:`reassemble` collects fragment messages (type 132) per message ID and
fragment ID with the limits of :class:`Reassembler` and gives back the whole original
message, which then goes the usual way (decryption, the duplicate check...).
"""

from __future__ import annotations

from typing import Any

from ..ikefrag import ikev1 as frag
from ..ikefrag.reassembly import STALE, Reassembler
from ..policy import IkePolicy
from .message import Payload, VendorIdPayload
from .sa import Phase1

FRAGMENT_SIZE = 1280  # octets of IP packet per fragment (strongSwan's default fragment_size)
CACHE = 4


def vendor_ids(policy: IkePolicy) -> list[Payload]:
    return [VendorIdPayload(frag.VID_FRAGMENTATION_STRONGSWAN)] if policy.fragmentation else []


def note_vendor_id(sa: Phase1, vid: bytes) -> None:
    if frag.is_fragmentation_vid(vid):
        sa.peer_fragmentation = True


def _natt(sa: Phase1) -> bool:
    return sa.remote[1] == 4500 or sa.local[1] == 4500


def prepare(sa: Phase1, data: bytes) -> None:
    """Fragments for ``data`` when fragmentation is on both sides and it does not fit."""
    if not (sa.policy.fragmentation and sa.peer_fragmentation):
        return
    ip_version = 6 if ":" in sa.remote[0] else 4
    overhead = (20 if ip_version == 4 else 40) + 8 + (4 if _natt(sa) else 0)
    if len(data) + overhead <= FRAGMENT_SIZE:
        return
    sa.fragment_id = (sa.fragment_id % 0xFFFF) + 1
    per = frag.max_data_per_fragment(FRAGMENT_SIZE, ip_version, _natt(sa))
    cache = sa.fragment_cache
    if cache is None:
        cache = sa.fragment_cache = {}
    cache[data] = frag.fragment_message(data, per, sa.fragment_id)
    while len(cache) > CACHE:
        del cache[next(iter(cache))]


def fragments_for(sa: Phase1 | None, data: bytes) -> list[bytes] | None:
    if sa is None or not sa.fragment_cache:
        return None
    return sa.fragment_cache.get(data)


def reassemble(ctx: Any, sa: Phase1 | None, data: bytes, now: float) -> bytes | None:
    """One received fragment message: the whole original message once all its fragments are
    in, else None (a dropped fragment is counted with ``ctx.drop``)."""
    if sa is None or not sa.policy.fragmentation:
        ctx.drop("IKEv1 fragment for an SA without fragmentation")
        return None
    try:
        message_id, piece = frag.parse_fragment_message(data)
    except ValueError as exc:
        ctx.drop(f"bad IKEv1 fragment: {exc}")
        return None
    if sa.reassembler is None:
        sa.reassembler = Reassembler()
    sa.reassembler.expire(now)
    out = sa.reassembler.add_v1((message_id, piece.fragment_id), piece.number, piece.last,
                                piece.data, now)
    if out.status == "dropped":
        flight = sa.manager.flight if sa.manager is not None else None  # our last phase 1 message
        if out.reason == STALE and piece.number == 1 and flight is not None \
                and flight.next_at == float("inf"):
            ctx.send(flight.data, sa.local, sa.remote)  # the peer sent it again: answer again
        ctx.drop(out.reason)
        return None
    if not out.complete:
        return None
    ctx.log(sa, f"received fragment {piece.number} (the last): reassembled a message of "
                f"{len(out.data)} octets")
    return out.data
