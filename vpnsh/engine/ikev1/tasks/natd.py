"""NAT traversal in phase 1 (RFC 3947; strongSwan's ``isakmp_natd``): NAT-D payloads tell
whether a NAT is on the path; the initiator then floats to port 4500 and, behind a NAT,
sends keepalives. Main mode carries NAT-D in messages 3 and 4, aggressive mode in 2 and 3.

A peer that did not announce NAT-T (:mod:`.vendor`) gets no NAT-D. With
``force_udp_encap`` (the user-space data plane wants ESP in UDP) our own NAT-D is random,
so both sides see a NAT and encapsulate.
"""

from __future__ import annotations

import ipaddress
import os
import struct

from ...crypto import keymat as km
from .. import message as m
from ..message import NatDPayload
from ..sa import Address, Phase1
from .base import Context, Incoming, Outgoing, Status


def natd_hash(sa: Phase1, addr: Address) -> bytes:
    assert sa.suite is not None
    data = sa.cky_i + sa.cky_r + ipaddress.ip_address(addr[0]).packed + struct.pack("!H", addr[1])
    return km.ikev1_hash(sa.suite.prf, data)


class NatD:
    def __init__(self, ctx: Context, sa: Phase1, initiator: bool) -> None:
        self.ctx = ctx
        self.sa = sa
        self.initiator = initiator
        # the messages that carry NAT-D: (the initiator's, the responder's)
        ours_i, ours_r = (3, 2) if sa.aggressive else (3, 4)
        self.send_in = ours_i if initiator else ours_r
        self.read_in = ours_r if initiator else ours_i

    def build(self, out: Outgoing) -> Status:
        """NAT-D for the peer's address, then ours (RFC 3947 3.2)."""
        sa = self.sa
        if out.number != self.send_in or not (sa.peer_natt or sa.peer_natt_draft):
            return Status.DONE
        sa.nat_fake = self.ctx.force_udp_encap
        ours = os.urandom(len(natd_hash(sa, sa.local))) if sa.nat_fake else (
            natd_hash(sa, sa.local))
        out.payloads += [NatDPayload(natd_hash(sa, sa.remote)), NatDPayload(ours)]
        return Status.DONE

    def process(self, inc: Incoming) -> Status:
        if inc.number != self.read_in:
            return Status.DONE
        sa = self.sa
        if self.ctx.nat_traversal:
            hashes = [p.data for p in inc.msg.all(NatDPayload) if isinstance(p, NatDPayload)]
            if len(hashes) >= 2:
                sa.nat_fake = self.ctx.force_udp_encap and (sa.peer_natt or sa.peer_natt_draft)
                sa.nat_local = hashes[0] != natd_hash(sa, sa.local)
                sa.nat_remote = natd_hash(sa, sa.remote) not in hashes[1:]
        if self.initiator:
            self._float()
        return Status.DONE

    def _float(self) -> None:
        """The initiator moves to port 4500 once a NAT is seen (RFC 3947 4)."""
        sa = self.sa
        if sa.nat and sa.remote[1] == 500:
            sa.local = (sa.local[0], m.NATT_PORT)
            sa.remote = (sa.remote[0], m.NATT_PORT)
        if sa.nat_local and sa.policy.keepalive_interval > 0:
            sa.next_keepalive = sa.last_rx + sa.policy.keepalive_interval
