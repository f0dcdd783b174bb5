"""Vendor IDs in phase 1 (strongSwan's ``isakmp_vendor``): we announce RFC 3947 NAT-T,
RFC 3706 DPD and IKEv1 fragmentation (when the gateway has it on, :mod:`..fragments`) in our
first message, and note which of them the peer announces in its."""

from __future__ import annotations

from .. import fragments
from .. import message as m
from ..message import VendorIdPayload
from ..sa import Phase1
from .base import Context, Incoming, Outgoing, Status


class Vendor:
    def __init__(self, ctx: Context, sa: Phase1, initiator: bool) -> None:
        self.ctx = ctx
        self.sa = sa
        self.initiator = initiator
        self.first = 1 if initiator else 2  # the number of our first message

    def build(self, out: Outgoing) -> Status:
        if out.number != self.first:
            return Status.DONE
        if self.ctx.nat_traversal:
            out.payloads.append(VendorIdPayload(m.VID_RFC3947))
        if self.sa.policy.dpd_enabled:
            out.payloads.append(VendorIdPayload(m.VID_DPD))
        out.payloads += fragments.vendor_ids(self.sa.policy)
        return Status.DONE

    def process(self, inc: Incoming) -> Status:
        if inc.number != 3 - self.first:  # the peer's first message
            return Status.DONE
        sa = self.sa
        for v in inc.msg.all(VendorIdPayload):
            assert isinstance(v, VendorIdPayload)
            if not self.ctx.nat_traversal and (v.data == m.VID_RFC3947
                                               or v.data in m.VID_NATT_DRAFTS):
                continue
            if v.data == m.VID_RFC3947:
                sa.peer_natt = True
            elif v.data in m.VID_NATT_DRAFTS:
                sa.peer_natt_draft = True
            elif v.data[:16] == m.VID_DPD[:16]:
                sa.peer_dpd = True
            else:
                fragments.note_vendor_id(sa, v.data)
        return Status.DONE
