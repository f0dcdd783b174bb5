"""Snapshots of IKEv2 SAs for the show commands (``show vpn ike-sa``, ``show vpn ipsec-sa``)."""

from __future__ import annotations

import math
from functools import lru_cache

from ..ike.events import ChildSaInfo, IkeSaInfo
from ..ike.sansio import nat_column
from . import identity
from .proposals import EspSuite, IkeSuite
from .sa import ChildSa, IkeSa

# The texts below are the same for every SA of a peer or suite: made once, not per SA and
# per show (10,000 SAs' identities, suites and selectors were half of `show vpn ike-sa`).
_TEXTS: dict[tuple[int, bytes], tuple[str, str]] = {}


def _id_texts(p: identity.IdPayload) -> tuple[str, str]:
    """(PAN-OS text, wire display) of an ID payload."""
    key = (int(p.id_type), bytes(p.data))
    hit = _TEXTS.get(key)
    if hit is None:
        if len(_TEXTS) >= 1 << 16:
            _TEXTS.clear()
        hit = _TEXTS[key] = (str(identity.from_payload(p)), identity.wire_display(p))
    return hit


@lru_cache(maxsize=256)
def _ike_suite(suite: IkeSuite) -> tuple[str, str]:
    return suite.short(), suite.long()


@lru_cache(maxsize=1024)
def _esp_suite(suite: EspSuite, ike_dh: int | None) -> tuple[str, str]:
    return suite.short(), suite.long(ike_dh)


@lru_cache(maxsize=1 << 16)
def _selectors(ts: tuple) -> tuple[str, ...]:
    return tuple(t.describe() for t in ts)


def ike_info(sa: IkeSa) -> IkeSaInfo:
    pol = sa.policy
    local_id = sa.id_i if sa.initiator else sa.id_r
    remote_id = sa.id_r if sa.initiator else sa.id_i
    nat = nat_column(sa.nat_local, sa.nat_remote, sa.nat_fake)
    return IkeSaInfo(
        gateway=sa.gateway,
        sn=sa.sn,
        role="Init" if sa.initiator else "Resp",
        state=sa.state.value,
        local_address=sa.local[0],
        local_port=sa.local[1],
        peer_address=sa.remote[0],
        peer_port=sa.remote[1],
        spi_i=sa.spi_i.hex().upper(),
        spi_r=sa.spi_r.hex().upper(),
        # PSK/DH20/A256/SHA256; with a certificate the key type in place of PSK [U]
        algorithm=(_ike_suite(sa.suite)[0] if pol.certificate is None or not sa.auth_text
                   else sa.auth_text.split()[0] + _ike_suite(sa.suite)[0][3:]) if sa.suite else "",
        proposal=_ike_suite(sa.suite)[1] if sa.suite else "",
        id_local=_id_texts(local_id)[0]
        if local_id
        else str(pol.effective_local_id()),
        id_remote=_id_texts(remote_id)[0]
        if remote_id
        else str(pol.peer_id or ""),
        id_i=_id_texts(sa.id_i)[1] if sa.id_i else "",
        id_r=_id_texts(sa.id_r)[1] if sa.id_r else "",
        nat=nat,
        message_id_rx=max(sa.expected_request_id - 1, 0),
        message_id_tx=max(sa.next_request_id - 1, 0),
        retransmits=sa.retransmits,
        liveness_interval=pol.dpd_interval if pol.dpd_enabled else None,
        created=sa.established,
        rekey_at=sa.rekey_at if sa.rekey_at != math.inf else sa.expires,
        expires=sa.expires,
        children=tuple(sorted(sa.children)),
        auth=f"{sa.auth_text}, peer {sa.peer_auth_text}" if pol.certificate is not None
        else "PSK, peer PSK",
    )


def child_info(sa: IkeSa, c: ChildSa) -> ChildSaInfo:
    return ChildSaInfo(
        gateway=sa.gateway,
        name=c.policy.name,
        tunnel_id=c.policy.tunnel_id,
        child_id=c.child_id,
        parent_sn=sa.sn,
        role="Init" if c.initiator else "Resp",
        state=c.state.value,
        spi_in=c.spi_in,
        spi_out=c.spi_out,
        message_id=c.message_id,
        algorithm=_esp_suite(c.suite, sa.suite.dh if sa.suite else None)[0],
        proposal=_esp_suite(c.suite, sa.suite.dh if sa.suite else None)[1],
        local_ts=_selectors(tuple(c.local_ts)),
        remote_ts=_selectors(tuple(c.remote_ts)),
        peer_address=sa.remote[0],
        created=c.created,
        rekey_at=c.rekey_at if c.rekey_at != math.inf else c.expires,
        expires=c.expires,
        lifetime=c.policy.lifetime,
        lifesize_kb=c.policy.lifesize_kb,
        encap=sa.nat,
    )
