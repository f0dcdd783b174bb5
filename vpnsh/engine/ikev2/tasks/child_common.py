"""CHILD SA negotiation shared by IKE_AUTH and CREATE_CHILD_SA, both roles."""

from __future__ import annotations

import struct
from typing import Protocol

from ...crypto import dh
from ...policy import ChildPolicy, TrafficSelector
from .. import children, selectors
from ..constants import NotifyType, ProtocolId
from ..message import Message
from ..names import notify_name
from ..payloads import KePayload, NoncePayload, NotifyPayload, Payload, SaPayload, TsPayload
from ..proposals import (
    NoProposalChosen,
    Offer,
    child_offers,
    describe_offers,
    esp_suite,
    select,
    verify,
)
from ..sa import ChildPolicies, ChildSa, IkeSa


class ChildNegotiation(children.Context, ChildPolicies, Protocol):
    """What negotiating a CHILD SA uses (both roles, IKE_AUTH and CREATE_CHILD_SA): the
    proxy-ids and the report of a failure, and what ``children.install_child`` uses."""


def proxy_ids_text(children: list[ChildPolicy]) -> str:
    return (
        "; ".join(
            f"{c.name} local {selectors.describe(c.local_selectors())} "
            f"remote {selectors.describe(c.remote_selectors())}"
            for c in children
        )
        or "none configured"
    )


def respond_child(
    engine: ChildNegotiation,
    sa: IkeSa,
    msg: Message,
    ni: bytes,
    nr: bytes,
    in_auth: bool,
    now: float,
    rekey_of: ChildSa | None = None,
) -> tuple[list[Payload], ChildSa | None]:
    """Responder: match a proxy-id by selectors, pick an ESP proposal, install the SA."""
    sa_p, tsi, tsr = msg.get(SaPayload), None, None
    for ts in msg.all(TsPayload):
        if ts.initiator:
            tsi = ts
        else:
            tsr = ts
    if sa_p is None or tsi is None or tsr is None:
        engine.log(sa, "CHILD SA request without SA, TSi or TSr", level="ERROR")
        return [NotifyPayload(NotifyType.INVALID_SYNTAX)], None
    candidates = [rekey_of.policy] if rekey_of else engine.child_candidates(sa.gateway)
    match: tuple[ChildPolicy, tuple[TrafficSelector, ...], tuple[TrafficSelector, ...]] | None = (
        None
    )
    for child in candidates:
        n_i = selectors.narrow(tsi.selectors, child.remote_selectors())
        n_r = selectors.narrow(tsr.selectors, child.local_selectors())
        if n_i and n_r:
            match = (child, n_i, n_r)
            break
    if match is None:
        reason = (
            f"traffic selectors unacceptable: peer asked for its side "
            f"{selectors.describe(tsi.selectors)} to our side {selectors.describe(tsr.selectors)}; "
            f"our proxy-ids: {proxy_ids_text(candidates)}"
        )
        engine.child_failed(sa, candidates[0].name if len(candidates) == 1 else "", reason)
        return [NotifyPayload(NotifyType.TS_UNACCEPTABLE)], None
    child, n_i, n_r = match
    spi_in = engine.new_child_spi()
    offers = child_offers(child, with_pfs=not in_auth)
    try:
        reply, chosen = select(
            offers, sa_p, ProtocolId.ESP, struct.pack("!I", spi_in), ignore_dh=in_auth
        )
    except NoProposalChosen as exc:
        engine.child_failed(sa, child.name, str(exc))
        return [NotifyPayload(NotifyType.NO_PROPOSAL_CHOSEN)], None
    peer_prop = next(
        p for p in sa_p.proposals if p.number == reply.number and p.protocol == ProtocolId.ESP
    )
    if len(peer_prop.spi) != 4:
        engine.child_failed(sa, child.name, "peer's ESP proposal has a bad SPI size")
        return [NotifyPayload(NotifyType.INVALID_SYNTAX)], None
    suite = esp_suite(chosen)
    shared: bytes | None = None
    extra: list[Payload] = []
    if not in_auth and suite.dh:
        ke = msg.get(KePayload)
        if ke is None or ke.group != suite.dh:
            engine.log(
                sa,
                f"CHILD SA request: KE group {ke.group if ke else 'none'}, asking for "
                f"group {suite.dh} (INVALID_KE_PAYLOAD)",
            )
            return [NotifyPayload(NotifyType.INVALID_KE_PAYLOAD, struct.pack("!H", suite.dh))], None
        pair = dh.group(suite.dh).generate()
        try:
            shared = pair.shared(ke.data)
        except ValueError as exc:
            engine.child_failed(sa, child.name, f"bad PFS public value: {exc}")
            return [NotifyPayload(NotifyType.INVALID_SYNTAX)], None
        extra.append(KePayload(suite.dh, pair.public))
    installed = children.install_child(
        engine,
        sa,
        child,
        initiator=False,
        spi_in=spi_in,
        spi_out=struct.unpack("!I", peer_prop.spi)[0],
        suite=suite,
        ni=ni,
        nr=nr,
        shared=shared,
        local_ts=n_r,
        remote_ts=n_i,
        message_id=msg.message_id,
        now=now,
        rekey_of=rekey_of,
    )
    out: list[Payload] = [SaPayload((reply,))]
    if not in_auth:
        out.append(NoncePayload(nr))
        out += extra
    out += [TsPayload(True, n_i), TsPayload(False, n_r)]
    return out, installed


def complete_child(
    engine: ChildNegotiation,
    sa: IkeSa,
    msg: Message,
    policy: ChildPolicy,
    offers: list[Offer],
    spi_in: int,
    ni: bytes,
    nr: bytes,
    pair: dh.DhKeyPair | None,
    in_auth: bool,
    local_ts: tuple[TrafficSelector, ...],
    remote_ts: tuple[TrafficSelector, ...],
    now: float,
    rekey_of: ChildSa | None = None,
) -> ChildSa | None:
    """Initiator: check the responder's choice and install the CHILD SA."""
    errors = msg.error_notifies()
    if errors:
        kinds = {n.notify_type for n in errors}
        if NotifyType.NO_PROPOSAL_CHOSEN in kinds:
            reason = (
                "no IPSec proposal chosen by peer: we offered "
                f"[{describe_offers(offers, ProtocolId.ESP)}]"
            )
        elif NotifyType.TS_UNACCEPTABLE in kinds:
            reason = (
                f"peer refused our proxy-id (TS_UNACCEPTABLE): we asked for local "
                f"{selectors.describe(local_ts)} remote {selectors.describe(remote_ts)}"
            )
        else:
            reason = "peer refused the CHILD SA: " + ", ".join(
                notify_name(n.notify_type) for n in errors
            )
        engine.child_failed(sa, policy.name, reason)
        return None
    sa_p = msg.get(SaPayload)
    tsi = next((t for t in msg.all(TsPayload) if t.initiator), None)
    tsr = next((t for t in msg.all(TsPayload) if not t.initiator), None)
    if sa_p is None or tsi is None or tsr is None:
        engine.child_failed(sa, policy.name, "peer answered without SA, TSi or TSr")
        return None
    try:
        prop, chosen = verify(offers, sa_p, ProtocolId.ESP, ignore_dh=in_auth)
    except NoProposalChosen as exc:
        engine.child_failed(sa, policy.name, str(exc))
        return None
    if len(prop.spi) != 4:
        engine.child_failed(sa, policy.name, "peer's ESP proposal has a bad SPI size")
        return None
    suite = esp_suite(chosen)
    shared: bytes | None = None
    if not in_auth and suite.dh:
        ke = msg.get(KePayload)
        if ke is None or pair is None or ke.group != suite.dh:
            engine.child_failed(sa, policy.name, "peer answered without the PFS KE payload")
            return None
        try:
            shared = pair.shared(ke.data)
        except ValueError as exc:
            engine.child_failed(sa, policy.name, f"bad PFS public value: {exc}")
            return None
    if not selectors.within(tsi.selectors, local_ts) or not selectors.within(
        tsr.selectors, remote_ts
    ):
        engine.child_failed(
            sa,
            policy.name,
            f"peer chose selectors outside our proxy-id: {selectors.describe(tsi.selectors)} to "
            f"{selectors.describe(tsr.selectors)}",
        )
        return None
    return children.install_child(
        engine,
        sa,
        policy,
        initiator=True,
        spi_in=spi_in,
        spi_out=struct.unpack("!I", prop.spi)[0],
        suite=suite,
        ni=ni,
        nr=nr,
        shared=shared,
        local_ts=selectors.shared(tsi.selectors, local_ts),
        remote_ts=selectors.shared(tsr.selectors, remote_ts),
        message_id=msg.message_id,
        now=now,
        rekey_of=rekey_of,
    )
