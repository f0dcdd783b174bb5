"""IKEv1 snapshots of the SAs (:func:`p1_info`, :func:`child_info`, what ``ike_sas`` and
``child_sas`` return) and their rows of ``vpn.ike-sa.show`` (docs/operational-data.md).

The daemon calls :func:`ike_sa_sections` with ``Ikev1Engine.ike_sas(gw)`` and
``Ikev1Engine.child_sas()`` and merges the result into its answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ..ike.sansio import nat_column
from .sa import Child, ChildState, Ikev1ChildInfo, Ikev1SaInfo, P1State, Phase1


def ike_sa_sections(
    p1: Iterable[Ikev1SaInfo], p2: Iterable[Ikev1ChildInfo], gwid: Callable[[str], int],
    gateway: str | None = None,
    wall: Callable[[float | None], float | None] = lambda t: t,
) -> dict[str, list[dict[str, Any]]]:
    """``{"ikev1_p1": [...], "ikev1_p2": [...]}``: established phase 1 SAs, mature phase 2.
    ``wall`` turns the engine's (monotonic) times into epoch seconds."""
    p1_rows = [{
        "gwid": gwid(s.gateway), "peer": s.peer_address, "gateway": s.gateway,
        "role": s.role, "mode": s.mode, "algorithm": s.algorithm,
        "established": wall(s.created), "expiration": wall(s.expires), "version": s.version,
        "state": s.st, "xt": max(1, s.retransmits), "phase2": s.phase2, "sn": s.sn,
    } for s in p1 if s.state == "Established" and gateway in (None, s.gateway)]
    p2_rows = [{
        "gateway": c.gateway, "tnid": c.tunnel_id, "tunnel": c.name, "gwid": gwid(c.gateway),
        "role": c.role, "algorithm": c.algorithm, "spi_in": c.spi_in, "spi_out": c.spi_out,
        "msgid": c.message_id, "state": c.st, "xt": c.xt,
    } for c in p2 if gateway in (None, c.gateway)]
    return {"ikev1_p1": p1_rows, "ikev1_p2": p2_rows}


def p1_info(sa: Phase1, children: Iterable[Child]) -> Ikev1SaInfo:
    """The snapshot of phase 1 SA ``sa`` (``children``: phase 2 SAs to count its own among;
    its gateway's are enough)."""
    children = list(children)
    pol = sa.policy
    nat = nat_column(sa.nat_local, sa.nat_remote, sa.nat_fake)
    phase2 = sum(1 for c in children if c.parent_sn == sa.sn)
    return Ikev1SaInfo(
        gateway=sa.gateway, sn=sa.sn, role="Init" if sa.initiator else "Resp",
        state=sa.state.value, local_address=sa.local[0], local_port=sa.local[1],
        peer_address=sa.remote[0], peer_port=sa.remote[1], spi_i=sa.cky_i.hex().upper(),
        spi_r=sa.cky_r.hex().upper(),
        algorithm=sa.suite.short() if sa.suite else "",
        proposal=sa.suite.long() if sa.suite else "",
        id_local=str(sa.id_local.to_identity()) if sa.id_local
        else str(pol.effective_local_id()),
        id_remote=str(sa.id_remote.to_identity()) if sa.id_remote else str(pol.peer_id or ""),
        id_i=(sa.id_local if sa.initiator else sa.id_remote).wire_name()  # type: ignore[union-attr]
        if (sa.id_local if sa.initiator else sa.id_remote) else "",
        id_r=(sa.id_remote if sa.initiator else sa.id_local).wire_name()  # type: ignore[union-attr]
        if (sa.id_remote if sa.initiator else sa.id_local) else "",
        nat=nat, message_id_rx=0, message_id_tx=0, retransmits=sa.retransmits,
        liveness_interval=pol.dpd_interval if pol.dpd_enabled and sa.peer_dpd else None,
        created=sa.established, rekey_at=sa.expires, expires=sa.expires,
        children=tuple(sorted(c.child_id for c in children if c.parent_sn == sa.sn)),
        mode=sa.mode, st=13 if sa.state == P1State.ESTABLISHED else 1, phase2=phase2,
    )


def child_info(c: Child) -> Ikev1ChildInfo:
    return Ikev1ChildInfo(
        gateway=c.gateway, name=c.policy.name, tunnel_id=c.policy.tunnel_id,
        child_id=c.child_id, parent_sn=c.parent_sn, role="Init" if c.initiator else "Resp",
        state=c.state.value, spi_in=c.spi_in, spi_out=c.spi_out, message_id=c.message_id,
        algorithm=c.suite.short(), proposal=c.suite.long(),
        local_ts=(c.local_ts.describe(),), remote_ts=(c.remote_ts.describe(),),
        peer_address=c.remote[0], created=c.created,
        rekey_at=c.rekey_at if math.isfinite(c.rekey_at) else c.expires,
        expires=c.expires, lifetime=c.lifetime, lifesize_kb=c.lifesize_kb,
        encap=c.keys.encap, st=9 if c.state == ChildState.INSTALLED else 10,
        proxy_local=c.local_ts.short(), proxy_remote=c.remote_ts.short(),
    )
