"""IKEv1 snapshots of the SAs (:func:`p1_info`, :func:`child_info`, what ``ike_sas`` and
``child_sas`` return) and their rows of ``vpn.ike-sa.show`` (docs/operational-data.md).

The daemon calls ``Ikev1Engine.show_sections`` (:func:`ike_sa_sections` on the engine's SA
tables) and merges the result into its answer.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ..ike.sansio import nat_column
from .sa import Child, ChildState, Ikev1ChildInfo, Ikev1SaInfo, P1State, P1Suite, P2Suite, Phase1


@functools.lru_cache(maxsize=1024)
def _algorithm(suite: P1Suite | P2Suite) -> str:
    return suite.short()


def ike_sa_sections(
    p1: Iterable[Phase1], p2: Iterable[Child], gwid: Callable[[str], int],
    gateway: str | None = None,
    wall: Callable[[float | None], float | None] = lambda t: t,
) -> dict[str, list[dict[str, Any]]]:
    """``{"ikev1_p1": [...], "ikev1_p2": [...]}``: established phase 1 SAs, mature phase 2,
    as :func:`p1_info` and :func:`child_info` would show them, made straight from the SAs
    (the full snapshots of 10,000 of each took a second). ``wall`` turns the engine's
    (monotonic) times into epoch seconds."""
    p2 = [c for c in p2 if gateway in (None, c.gateway)]
    phase2 = Counter((c.gateway, c.parent_sn) for c in p2)
    p1_rows = [{
        "gwid": gwid(s.gateway), "peer": s.remote[0], "gateway": s.gateway,
        "role": "Init" if s.initiator else "Resp", "mode": s.mode,
        "algorithm": _algorithm(s.suite) if s.suite else "",
        "established": wall(s.established), "expiration": wall(s.expires), "version": "v1",
        "state": 13, "xt": max(1, s.retransmits), "phase2": phase2[(s.gateway, s.sn)],
        "sn": s.sn,
    } for s in sorted(p1, key=lambda s: s.sn)
        if s.state == P1State.ESTABLISHED and gateway in (None, s.gateway)]
    p2_rows = [{
        "gateway": c.gateway, "tnid": c.policy.tunnel_id, "tunnel": c.policy.name,
        "gwid": gwid(c.gateway), "role": "Init" if c.initiator else "Resp",
        "algorithm": _algorithm(c.suite), "spi_in": c.spi_in, "spi_out": c.spi_out,
        "msgid": c.message_id, "state": 9 if c.state == ChildState.INSTALLED else 10,
        "xt": 1,
    } for c in sorted(p2, key=lambda c: c.child_id)]
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
