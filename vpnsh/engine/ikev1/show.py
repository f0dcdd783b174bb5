"""IKEv1 rows of ``vpn.ike-sa.show`` (docs/operational-data.md) from engine snapshots.

The daemon calls :func:`ike_sa_sections` with ``Ikev1Engine.ike_sas(gw)`` and
``Ikev1Engine.child_sas()`` and merges the result into its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .sa import Ikev1ChildInfo, Ikev1SaInfo


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
