"""IKE_SA_INIT (RFC 7296 1.2): proposals, KE, nonces, NAT detection, cookies, INVALID_KE.

One task, both roles. Initiator: :meth:`IkeInitTask.build_i` offers, :meth:`process_i`
derives the keys and queues IKE_AUTH (or restarts for a cookie or another DH group).
Responder: the IKE SA does not exist before this request, so :meth:`process_r` takes the
addresses, finds the gateway, answers refusals (cookie, INVALID_KE, NO_PROPOSAL_CHOSEN)
statelessly and otherwise makes the half-open SA; :meth:`build_r` answers. The task
manager (``ikev2/task_manager.py`` ``respond_init``) sends the answer.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from ...crypto import dh
from ...policy import IkePolicy
from .. import auth, fragments
from ..constants import NATT_PORT, ExchangeType, NotifyType, ProtocolId
from ..message import Message, Parsed
from ..names import notify_name
from ..natd import natd_hash
from ..payloads import KePayload, NoncePayload, NotifyPayload, Payload, Proposal, SaPayload
from ..proposals import NoProposalChosen, Offer, build, ike_offers, ike_suite, select, verify
from ..sa import IkeSa

if TYPE_CHECKING:
    from ..sa import TaskContext

ZERO_SPI = bytes(8)
MAX_RESTARTS = 3
NONCE_SIZE = 32


def natd_payloads(
    spi_i: bytes,
    spi_r: bytes,
    local: tuple[str, int],
    remote: tuple[str, int],
    *,
    fake: bool = False,
) -> list[Payload]:
    """The two NAT_DETECTION notifies. With ``fake`` the source hash is random, so the
    peer sees a NAT in front of us and encapsulates ESP in UDP (strongSwan's
    ``encap = yes``; its kernel-libipsec data plane does the same)."""
    source = os.urandom(20) if fake else natd_hash(spi_i, spi_r, local)
    return [
        NotifyPayload(NotifyType.NAT_DETECTION_SOURCE_IP, source),
        NotifyPayload(NotifyType.NAT_DETECTION_DESTINATION_IP, natd_hash(spi_i, spi_r, remote)),
    ]


def detect_nat(sa: IkeSa, msg: Message, force_encap: bool = False) -> None:
    """Compares the peer's NAT_DETECTION hashes with the addresses we see (RFC 7296 2.23).
    ``force_encap``: we fake a NAT (see :func:`natd_payloads`), which only works with a
    peer that does NAT detection too."""
    sources = [
        n.data
        for n in msg.payloads
        if isinstance(n, NotifyPayload) and n.notify_type == NotifyType.NAT_DETECTION_SOURCE_IP
    ]
    dest = msg.notify(NotifyType.NAT_DETECTION_DESTINATION_IP)
    if not sources or dest is None:
        return
    spi_r = msg.spi_r
    sa.nat_fake = force_encap
    sa.nat_remote = natd_hash(msg.spi_i, spi_r, sa.remote) not in sources
    sa.nat_local = dest.data != natd_hash(msg.spi_i, spi_r, sa.local)


def announced(policy: IkePolicy, response: bool) -> list[Payload]:
    """What our IKE_SA_INIT says for the gateway's authentication and fragmentation: the
    responder's CERTREQ, IKEV2_FRAGMENTATION_SUPPORTED, SIGNATURE_HASH_ALGORITHMS."""
    authenticator = auth.authenticator_for(policy)
    return [*(authenticator.certreq() if response else []), *fragments.init_notifies(policy),
            *authenticator.init_notifies()]


def note_peer(sa: IkeSa, msg: Message) -> None:
    """What the peer's IKE_SA_INIT announced: its signature hashes, fragmentation."""
    auth.note_peer_init(sa, msg)
    fragments.note_peer_init(sa, msg)


class IkeInitTask:
    exchange = ExchangeType.IKE_SA_INIT

    def __init__(self, group: int = 0) -> None:
        self.group = group
        self.cookie: bytes | None = None
        self.restarts = 0
        self.offers: list[Offer] = []
        self.reply_prop: Proposal | None = None  # responder: the proposal we chose

    # ----------------------------------------------------------------- initiator
    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None:
        if sa.dh is None:
            sa.dh = dh.group(self.group).generate()
        if not sa.ni:
            sa.ni = os.urandom(NONCE_SIZE)
        self.offers = ike_offers(sa.policy.proposals, dh_first=self.group)
        payloads: list[Payload] = []
        if self.cookie is not None:
            payloads.append(NotifyPayload(NotifyType.COOKIE, self.cookie))
        payloads += [
            build(self.offers, ProtocolId.IKE),
            KePayload(self.group, sa.dh.public),
            NoncePayload(sa.ni),
            *natd_payloads(sa.spi_i, ZERO_SPI, sa.local, sa.remote, fake=engine.force_udp_encap),
            *announced(sa.policy, False),
        ]
        engine.log(
            sa, f"IKE_SA_INIT request sent to {sa.remote[0]}[{sa.remote[1]}], DH group {self.group}"
        )
        return payloads

    def _restart(self, engine: TaskContext, sa: IkeSa, why: str) -> bool:
        if self.restarts >= MAX_RESTARTS:
            engine.fail_ike(sa, f"IKE_SA_INIT restarted {self.restarts} times ({why}); giving up")
            return False
        self.restarts += 1
        sa.next_request_id = 0
        sa.spi_r = ZERO_SPI
        sa.tasks.appendleft(self)
        engine.log(sa, f"IKE_SA_INIT restart: {why}")
        return True

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None:
        cookie = msg.notify(NotifyType.COOKIE)
        if cookie is not None:
            self.cookie = cookie.data
            self._restart(engine, sa, "peer asked for a cookie")
            return
        invalid = msg.notify(NotifyType.INVALID_KE_PAYLOAD)
        if invalid is not None:
            asked = struct.unpack("!H", invalid.data[:2])[0] if len(invalid.data) >= 2 else 0
            ours = {g for p in sa.policy.proposals for g in p.dh_groups}
            if asked in ours and asked != self.group:
                self.group = asked
                sa.dh = None
                self._restart(engine, sa, f"peer asked for DH group {asked} (INVALID_KE_PAYLOAD)")
            else:
                engine.fail_ike(
                    sa,
                    f"peer asked for DH group {asked}, which we do not offer "
                    f"(we offer {', '.join(f'group{g}' for g in sorted(ours))})",
                )
            return
        errors = msg.error_notifies()
        if errors:
            names = ", ".join(notify_name(n.notify_type) for n in errors)
            reason = f"peer rejected IKE_SA_INIT: {names}"
            if any(n.notify_type == NotifyType.NO_PROPOSAL_CHOSEN for n in errors):
                from ..proposals import describe_offers

                reason = (
                    "no IKE proposal chosen by peer: we offered "
                    f"[{describe_offers(self.offers, ProtocolId.IKE)}]"
                )
            engine.fail_ike(sa, reason)
            return
        sa_p, ke, nonce = msg.get(SaPayload), msg.get(KePayload), msg.get(NoncePayload)
        if sa_p is None or ke is None or nonce is None or msg.spi_r == ZERO_SPI:
            engine.fail_ike(sa, "malformed IKE_SA_INIT response (SA, KE or nonce missing)")
            return
        try:
            _, chosen = verify(self.offers, sa_p, ProtocolId.IKE)
        except NoProposalChosen as exc:
            engine.fail_ike(sa, str(exc))
            return
        suite = ike_suite(chosen)
        if ke.group != suite.dh or sa.dh is None or suite.dh != self.group:
            engine.fail_ike(
                sa, f"peer's KE is group {ke.group}, the chosen proposal says {suite.dh}"
            )
            return
        try:
            shared = sa.dh.shared(ke.data)
        except ValueError as exc:
            engine.fail_ike(sa, f"bad DH public value from peer: {exc}")
            return
        sa.spi_r = msg.spi_r
        sa.nr = nonce.data
        sa.suite = suite
        engine.derive_ike_keys(sa, shared)
        detect_nat(sa, msg, engine.force_udp_encap)
        note_peer(sa, msg)
        engine.log(sa, f"IKE_SA_INIT response received: {suite.long()}, NAT {sa.nat_text()}")
        if sa.nat:
            sa.local = (sa.local[0], NATT_PORT)
            sa.remote = (sa.remote[0], NATT_PORT)
        from .ike_auth import IkeAuthTask

        sa.tasks.appendleft(IkeAuthTask(sa.first_child))

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None:
        engine.fail_ike(
            sa, f"peer {sa.remote[0]} never answered IKE_SA_INIT ({engine.retransmit.tries} tries)"
        )

    # ----------------------------------------------------------------- responder
    def process_r(
        self, engine: TaskContext, parsed: Parsed, local: tuple[str, int],
        remote: tuple[str, int], now: float,
    ) -> IkeSa | None:
        """The request, before any SA: the half-open IKE SA it makes, or None (dropped,
        or refused with a stateless answer)."""
        msg = parsed.message
        if msg.message_id != 0 or msg.spi_r != ZERO_SPI:
            engine.drop("IKE_SA_INIT request with non-zero message ID or SPIr")
            return None
        policy = engine.policy_for_address(local[0], remote[0])
        if policy is None:
            # anyone can send these, as fast as they like: a few lines a minute, then a count
            engine.log_limited(
                "IKE_SA_INIT from peers with no configuration",
                f"IKE_SA_INIT from {remote[0]}[{remote[1]}]: couldn't find configuration "
                f"for IKEv2 request for peer IP {remote[0]}",
                now,
            )
            engine.drop("no gateway for peer address")
            return None
        sa_p, ke, nonce = msg.get(SaPayload), msg.get(KePayload), msg.get(NoncePayload)
        if sa_p is None or ke is None or nonce is None:
            engine.drop("IKE_SA_INIT request without SA, KE or nonce")
            return None

        def reply(payloads: list[Payload]) -> None:
            out = Message(ExchangeType.IKE_SA_INIT, 0, msg.spi_i, ZERO_SPI, True, False, payloads)
            from .. import message

            engine.send(message.encode(out), local, remote)

        if policy.require_cookie or engine.half_open_count() >= engine.half_open_limit:
            cookie = msg.notify(NotifyType.COOKIE)
            first = msg.payloads[0] if msg.payloads else None
            if (
                cookie is None
                or first is not cookie
                or not engine.cookies.check(cookie.data, nonce.data, remote[0], msg.spi_i)
            ):
                engine.log(
                    None, f"IKE_SA_INIT from {remote[0]}: asking for a cookie", gateway=policy.name
                )
                reply(
                    [
                        NotifyPayload(
                            NotifyType.COOKIE, engine.cookies.make(nonce.data, remote[0], msg.spi_i)
                        )
                    ]
                )
                return None
        try:
            reply_prop, chosen = select(
                ike_offers(policy.proposals, dh_first=ke.group), sa_p, ProtocolId.IKE
            )
        except NoProposalChosen as exc:
            engine.log(None, f"IKE_SA_INIT from {remote[0]}: {exc}", gateway=policy.name, level="ERROR")
            engine.emit_failed(policy.name, str(exc))
            reply([NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)])
            return None
        suite = ike_suite(chosen)
        if ke.group != suite.dh:
            engine.log(
                None,
                f"IKE_SA_INIT from {remote[0]}: KE group {ke.group}, asking for group "
                f"{suite.dh} (INVALID_KE_PAYLOAD)",
                gateway=policy.name,
            )
            reply([NotifyPayload(NotifyType.INVALID_KE_PAYLOAD, struct.pack("!H", suite.dh))])
            return None
        pair = dh.group(suite.dh).generate()
        try:
            shared = pair.shared(ke.data)
        except ValueError as exc:
            engine.drop(f"bad KE value: {exc}")
            return None
        sa = engine.new_sa(
            policy, initiator=False, local=local, remote=remote, now=now, spi_i=msg.spi_i
        )
        sa.suite = suite
        sa.dh = pair
        sa.ni = nonce.data
        sa.nr = os.urandom(NONCE_SIZE)
        detect_nat(sa, msg, engine.force_udp_encap)
        note_peer(sa, msg)
        engine.derive_ike_keys(sa, shared)  # needs spi_r, set by new_sa
        self.reply_prop = reply_prop
        return sa

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]:
        assert self.reply_prop is not None and sa.suite is not None and sa.dh is not None
        engine.log(
            sa,
            f"IKE_SA_INIT request from {sa.remote[0]}[{sa.remote[1]}] answered: "
            f"{sa.suite.long()}, NAT {sa.nat_text()}",
        )
        return [
            SaPayload((self.reply_prop,)),
            KePayload(sa.suite.dh, sa.dh.public),
            NoncePayload(sa.nr),
            *natd_payloads(sa.spi_i, sa.spi_r, sa.local, sa.remote, fake=sa.nat_fake),
            *announced(sa.policy, True),
        ]
