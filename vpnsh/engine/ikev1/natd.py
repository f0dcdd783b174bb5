"""IKEv1 NAT traversal and vendor IDs (RFC 3947, RFC 3706): what we announce in phase 1,
what we read of the peer's, and NAT-D hashes that tell whether a NAT is on the path."""

from __future__ import annotations

import ipaddress
import os
import struct

from ..crypto import keymat as km
from ..policy import IkePolicy
from . import message as m
from .message import Message, NatDPayload, Payload, VendorIdPayload
from .sa import Address, Phase1


def vendor_ids(policy: IkePolicy) -> list[Payload]:
    out: list[Payload] = [VendorIdPayload(m.VID_RFC3947)]
    if policy.dpd_enabled:
        out.append(VendorIdPayload(m.VID_DPD))
    return out


def read_vendor_ids(sa: Phase1, msg: Message) -> None:
    for v in msg.all(VendorIdPayload):
        assert isinstance(v, VendorIdPayload)
        if v.data == m.VID_RFC3947:
            sa.peer_natt = True
        elif v.data in m.VID_NATT_DRAFTS:
            sa.peer_natt_draft = True
        elif v.data[:16] == m.VID_DPD[:16]:
            sa.peer_dpd = True
        else:
            from .fragments import note_vendor_id  # issue 16

            note_vendor_id(sa, v.data)


def natd_hash(sa: Phase1, addr: Address) -> bytes:
    assert sa.suite is not None
    data = sa.cky_i + sa.cky_r + ipaddress.ip_address(addr[0]).packed + struct.pack("!H", addr[1])
    return km.ikev1_hash(sa.suite.prf, data)


def natd_payloads(sa: Phase1, force_udp_encap: bool) -> list[Payload]:
    """NAT-D for the peer's address, then ours (RFC 3947 3.2); ours is random when we
    force ESP-in-UDP (``force_udp_encap``, see ``SansIoEngine.force_udp_encap``)."""
    if not (sa.peer_natt or sa.peer_natt_draft):
        return []
    sa.nat_fake = force_udp_encap
    ours = os.urandom(len(natd_hash(sa, sa.local))) if sa.nat_fake else (
        natd_hash(sa, sa.local))
    return [NatDPayload(natd_hash(sa, sa.remote)), NatDPayload(ours)]


def read_natd(sa: Phase1, msg: Message, force_udp_encap: bool) -> None:
    hashes = [p.data for p in msg.all(NatDPayload) if isinstance(p, NatDPayload)]
    if len(hashes) < 2:
        return
    sa.nat_fake = force_udp_encap and (sa.peer_natt or sa.peer_natt_draft)
    sa.nat_local = hashes[0] != natd_hash(sa, sa.local)
    sa.nat_remote = natd_hash(sa, sa.remote) not in hashes[1:]
