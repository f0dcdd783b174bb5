"""IKEv1 informational exchanges (RFC 2408 4.8, RFC 3706): notifications, deletes and DPD.

:func:`informational` handles one informational datagram of an ISAKMP SA: error
notifications (before phase 1 is up they fail it with the peer's words), R-U-THERE and its
ACK (:func:`dpd` sends ours and declares the peer dead after ``dpd_retry`` unanswered), and
Delete payloads for the ISAKMP SA or phase 2 SAs. What it may touch of the engine is
:class:`Context`, no more.
"""

from __future__ import annotations

import struct
from typing import Protocol

from . import message as m
from . import quick_mode
from .message import DeletePayload, Header, NotifyPayload, NotifyType, ParseError, ProtocolId
from .sa import Address, Child, P1State, Phase1, msgid_bytes


class Context(quick_mode.Context, Protocol):
    """What informational exchanges may use of the IKEv1 engine (quick mode's, and these)."""

    def fail_p1(self, sa: Phase1, reason: str, notify: int | None = None) -> None: ...
    def auth_failed(self, sa: Phase1, detail: str, now: float) -> None: ...
    def remove_p1(self, sa: Phase1, reason: str, announce: bool = True) -> None: ...
    def remove_child(self, c: Child, reason: str) -> None: ...
    def phase1_sas(self, gateway: str) -> list[Phase1]: ...


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


def informational(ctx: Context, sa: Phase1, data: bytes, h: Header, local: Address,
                   remote: Address, now: float) -> None:
    if not h.encrypted:
        msg = m.parse_plain(data)
        if sa.state == P1State.CONNECTING:
            for n in msg.all(NotifyPayload):
                if isinstance(n, NotifyPayload) and n.notify_type < 16384:
                    ctx.fail_p1(sa, error_words(n))
                    return
        ctx.drop("unprotected informational")
        return
    if sa.state != P1State.ESTABLISHED:
        if sa.state == P1State.CONNECTING and sa.cipher is not None:
            informational_connecting(ctx, sa, data, h, now)
            return
        ctx.drop("informational before phase 1 is up")
        return
    msg, _ = ctx.decrypt_exchange(sa, data, ctx.p2_iv(sa, h.message_id))
    if not quick_mode.verify_hash_first(msg, ctx.hash1(sa, h.message_id, msg.raw_after_first())):
        ctx.drop("informational HASH does not verify")
        return
    sa.last_rx = now
    ctx.follow_peer(sa, local, remote)
    for r in msg.payloads[1:]:
        p = r.payload
        if isinstance(p, NotifyPayload):
            notify_in(ctx, sa, p, now)
        elif isinstance(p, DeletePayload):
            delete_in(ctx, sa, p, now)
            if sa.state == P1State.DEAD:
                return


def informational_connecting(ctx: Context, sa: Phase1, data: bytes, h: Header, now: float) -> None:
    """A protected informational while phase 1 is not complete: an error notification
    we can read fails the negotiation with its words; one we cannot decrypt or verify
    was protected with other keys, i.e. the peer has another pre-shared key."""
    assert sa.cipher is not None
    try:
        msg, _ = m.decrypt_body(data, sa.cipher, ctx.p2_iv(sa, h.message_id))
        ok = quick_mode.verify_hash_first(msg, ctx.hash1(sa, h.message_id,
                                                      msg.raw_after_first()))
    except ParseError:
        ok = False
    if not ok:
        ctx.auth_failed(sa, f"the peer answered our {sa.mode_words} message {sa.step} "
                              "with a notification protected by other keys", now)
        return
    for n in msg.all(NotifyPayload):
        if isinstance(n, NotifyPayload) and n.notify_type < 16384:
            ctx.fail_p1(sa, error_words(n))
            return
    ctx.drop("informational before phase 1 is up")


def notify_in(ctx: Context, sa: Phase1, n: NotifyPayload, now: float) -> None:
    if n.notify_type == NotifyType.R_U_THERE:
        ctx.send_info(sa, [NotifyPayload(NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP,
                                           sa.cky_i + sa.cky_r, n.data[:4])], now)
    elif n.notify_type == NotifyType.R_U_THERE_ACK:
        if len(n.data) >= 4 and struct.unpack("!I", n.data[:4])[0] == sa.dpd_waiting:
            sa.dpd_waiting = None
            sa.dpd_tries = 0
            sa.dpd_next = now + max(sa.policy.dpd_interval, 1)
    elif n.notify_type == NotifyType.INITIAL_CONTACT:
        pass  # handled during phase 1
    elif n.notify_type < 16384:
        # an error about a quick mode of ours (e.g. INVALID-ID-INFORMATION)
        words = error_words(n)
        pending = [q for q in sa.quick.values() if q.initiator]
        if n.notify_type == NotifyType.INVALID_ID_INFORMATION:
            words = ("the peer rejected our proxy IDs (INVALID-ID-INFORMATION): check that "
                     "the proxy-ids match the peer's configuration")
        if not pending:
            ctx.log(sa, f"peer sent {n.name()}: {words}", level="ERROR")
        for q in pending:
            quick_mode.quick_fail(ctx, sa, q, words)
    else:
        ctx.log(sa, f"peer sent notification {n.name()}", level="DEBUG")


def delete_in(ctx: Context, sa: Phase1, d: DeletePayload, now: float) -> None:
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
        for c in list(ctx.children.values()):
            if c.spi_out == value and c.gateway == sa.gateway:
                ctx.remove_child(c, "the peer deleted it")


def dpd(ctx: Context, sa: Phase1, now: float) -> None:
    interval = max(sa.policy.dpd_interval, 1)
    if sa.dpd_waiting is None and now < sa.last_rx + interval:
        sa.dpd_next = sa.last_rx + interval  # heard from the peer lately
        return
    if sa.dpd_waiting is not None:
        sa.dpd_tries += 1
        if sa.dpd_tries >= max(sa.policy.dpd_retry, 1):
            peer_dead(ctx, sa, now)
            return
    if sa.dpd_seq == 0:
        sa.dpd_seq = ctx.rng.randrange(1, 0x7FFFFFFF)
    sa.dpd_seq = (sa.dpd_seq + 1) & 0xFFFFFFFF or 1
    sa.dpd_waiting = sa.dpd_seq
    ctx.send_info(sa, [NotifyPayload(NotifyType.R_U_THERE, ProtocolId.ISAKMP,
                                       sa.cky_i + sa.cky_r, msgid_bytes(sa.dpd_seq))], now)
    sa.dpd_next = now + interval


def peer_dead(ctx: Context, sa: Phase1, now: float) -> None:
    reason = (f"peer {sa.remote[0]} is dead: no answer to {sa.policy.dpd_retry} DPD "
              f"R-U-THERE messages")
    ctx.log(sa, reason, level="ERROR")
    for c in list(ctx.children.values()):
        if c.gateway == sa.gateway:
            ctx.remove_child(c, reason)
    for other in ctx.phase1_sas(sa.gateway):
        ctx.remove_p1(other, reason)
