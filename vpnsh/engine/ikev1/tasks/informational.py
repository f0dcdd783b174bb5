"""Informational exchanges (RFC 2408 4.8; strongSwan's ``informational``, ``isakmp_delete``
and ``quick_delete``): one protected message, no answer. Both roles:

- :class:`Informational`, responder: created for every informational message of an
  established ISAKMP SA; it reads each notification (DPD, errors about our quick modes)
  and Delete payload (the ISAKMP SA, phase 2 SAs). What needs a message of its own in
  answer (a DPD R-U-THERE-ACK) it leaves in ``replies`` for the task manager to send.
- :class:`Delete`, initiator: our Delete for the ISAKMP SA or phase 2 SAs.
- :func:`before_established`: an informational while phase 1 is not complete.
"""

from __future__ import annotations

import struct

from .. import message as m
from ..message import (
    DeletePayload,
    Header,
    Message,
    NotifyPayload,
    NotifyType,
    ParseError,
    Payload,
    ProtocolId,
)
from ..protection import hash1, p2_iv, verify_hash_first
from ..sa import P1State, Phase1, msgid_bytes
from . import dpd
from .base import Context, Incoming, Outgoing, Status


def error_words(n: NotifyPayload) -> str:
    words = {
        NotifyType.NO_PROPOSAL_CHOSEN: "the peer accepted none of our proposals "
                                       "(NO-PROPOSAL-CHOSEN): check the crypto profiles",
        NotifyType.AUTHENTICATION_FAILED: "the peer says authentication failed "
                                          "(pre-shared key mismatch?)",
        NotifyType.INVALID_HASH_INFORMATION: "the peer could not verify our hash "
                                             "(pre-shared key mismatch?)",
        NotifyType.PAYLOAD_MALFORMED: "the peer could not parse our message "
                                      "(PAYLOAD-MALFORMED; pre-shared key mismatch?)",
        NotifyType.INVALID_ID_INFORMATION: "the peer rejected our ID (INVALID-ID-INFORMATION)",
        NotifyType.INVALID_EXCHANGE_TYPE: "the peer does not accept this exchange mode "
                                          "(INVALID-EXCHANGE-TYPE)",
    }
    return words.get(n.notify_type, f"the peer sent error {n.name()}")  # type: ignore[call-overload]


class Informational:
    """The responder of one informational message of an established ISAKMP SA."""

    def __init__(self, ctx: Context, sa: Phase1) -> None:
        self.ctx = ctx
        self.sa = sa
        self.replies: list[list[Payload]] = []  # informational messages to send in answer
        # errors about our quick modes, (notify name, words): they fail
        self.quick_errors: list[tuple[str, str]] = []

    def process(self, inc: Incoming) -> Status:
        for r in inc.msg.payloads[1:]:
            p = r.payload
            if isinstance(p, NotifyPayload):
                self._notify(p, inc.now)
            elif isinstance(p, DeletePayload):
                self._delete(p)
                if self.sa.state == P1State.DEAD:
                    break
        return Status.DONE

    def _notify(self, n: NotifyPayload, now: float) -> None:
        sa = self.sa
        if n.notify_type == NotifyType.R_U_THERE:
            self.replies.append(dpd.ack(sa, n))
        elif n.notify_type == NotifyType.R_U_THERE_ACK:
            dpd.ack_in(sa, n, now)
        elif n.notify_type == NotifyType.INITIAL_CONTACT:
            pass  # handled during phase 1
        elif n.notify_type < 16384:
            # an error about a quick mode of ours (e.g. INVALID-ID-INFORMATION)
            words = error_words(n)
            if n.notify_type == NotifyType.INVALID_ID_INFORMATION:
                words = ("the peer rejected our proxy IDs (INVALID-ID-INFORMATION): check "
                         "that the proxy-ids match the peer's configuration")
            self.quick_errors.append((n.name(), words))
        else:
            self.ctx.log(sa, f"peer sent notification {n.name()}", level="DEBUG")

    def _delete(self, d: DeletePayload) -> None:
        sa, ctx = self.sa, self.ctx
        if d.protocol == ProtocolId.ISAKMP:
            if any(spi[:8] == sa.cky_i for spi in d.spis):
                ctx.remove_p1(sa, "the peer deleted the ISAKMP SA")
            return
        if d.protocol != ProtocolId.ESP:
            return
        for spi in d.spis:
            if len(spi) != 4:
                continue
            value = struct.unpack("!I", spi)[0]
            for c in ctx.children_of(sa.gateway):
                if c.spi_out == value:
                    ctx.remove_child(c, "the peer deleted it")


class Delete:
    """Our Delete of the ISAKMP SA (``spis`` None) or of phase 2 SAs by inbound SPI."""

    def __init__(self, sa: Phase1, spis: list[int] | None = None) -> None:
        self.sa = sa
        self.spis = spis

    def build(self, out: Outgoing) -> Status:
        sa = self.sa
        if self.spis is None:
            out.payloads.append(DeletePayload(ProtocolId.ISAKMP, [sa.cky_i + sa.cky_r], 16))
        else:
            out.payloads.append(DeletePayload(ProtocolId.ESP, [msgid_bytes(s) for s in self.spis]))
        return Status.DONE


def before_established(ctx: Context, sa: Phase1, data: bytes, h: Header, step: int,
                       now: float) -> None:
    """An informational while phase 1 is not complete: an error notification we can read
    fails the negotiation with its words; a protected one we cannot decrypt or verify was
    protected with other keys, i.e. the peer has another pre-shared key."""
    if not h.encrypted:
        msg = m.parse_plain(data)
        if sa.state == P1State.CONNECTING and _error_fails(ctx, sa, msg):
            return
        ctx.drop("unprotected informational")
        return
    if sa.state != P1State.CONNECTING or sa.cipher is None:
        ctx.drop("informational before phase 1 is up")
        return
    try:
        msg, _ = m.decrypt_body(data, sa.cipher, p2_iv(sa, h.message_id))
        ok = verify_hash_first(msg, hash1(sa, h.message_id, msg.raw_after_first()))
    except ParseError:
        ok = False
    if not ok:
        ctx.auth_failed(sa, f"the peer answered our {sa.mode_words} message {step} "
                            "with a notification protected by other keys", now)
        return
    if _error_fails(ctx, sa, msg):
        return
    ctx.drop("informational before phase 1 is up")


def _error_fails(ctx: Context, sa: Phase1, msg: Message) -> bool:
    for n in msg.all(NotifyPayload):
        if isinstance(n, NotifyPayload) and n.notify_type < 16384:
            ctx.fail_p1(sa, error_words(n))
            return True
    return False
