"""From a negotiated CHILD SA (``ChildSaKeys``) to what a data plane installs (``ChildSaSpec``)."""

from __future__ import annotations

from ..dataplane.base import ChildSaSpec, EspKeys
from ..policy import ChildSaKeys


def child_sa_spec(keys: ChildSaKeys, tunnel_if: str, copy_tos: bool = False) -> ChildSaSpec:
    """The data-plane record of a CHILD SA; ``tunnel_if`` is the tunnel's interface (``tunnel.1``)."""
    return ChildSaSpec(
        name=keys.name,
        tnid=keys.tunnel_id,
        tunnel_if=tunnel_if,
        local_addr=keys.local_addr,
        peer_addr=keys.remote_addr,
        inbound=EspKeys(
            keys.spi_in,
            keys.encr_id,
            keys.encr_key_bits,
            keys.encr_key_in,
            keys.integ_id,
            keys.integ_key_in,
        ),
        outbound=EspKeys(
            keys.spi_out,
            keys.encr_id,
            keys.encr_key_bits,
            keys.encr_key_out,
            keys.integ_id,
            keys.integ_key_out,
        ),
        local_ts=keys.local_ts,
        remote_ts=keys.remote_ts,
        encap=(keys.local_port, keys.remote_port) if keys.encap else None,
        esn=keys.esn,
        anti_replay=keys.anti_replay,
        replay_window=keys.replay_window,
        copy_tos=copy_tos,
        lifetime_soft=keys.lifetime_soft,
        lifetime_hard=keys.lifetime_hard,
        lifesize_soft_kb=keys.lifesize_soft_kb or 0,
        lifesize_hard_kb=keys.lifesize_kb or 0,
        initiator=keys.initiator,
    )
