"""Assembles what the data plane needs of a new CHILD SA, for IKEv1 and IKEv2 alike.

Each protocol derives its key material its own way (RFC 7296 2.17; RFC 2409 5.5) and hands
the two directions here, with the negotiated SPIs, selectors and lifetimes; the result is
the :class:`ChildSaKeys` that ``ChildInstalled`` carries to the data plane.
"""

from __future__ import annotations

from ..crypto.algorithms import EncrAlg
from ..policy import ChildPolicy, ChildSaKeys, TrafficSelector

Address = tuple[str, int]


def assemble(
    policy: ChildPolicy,
    *,
    gateway: str,
    child_id: int,
    initiator: bool,
    spi_in: int,
    spi_out: int,
    encr_id: int,
    encr: EncrAlg,
    integ_id: int,
    keys_in: tuple[bytes, bytes],  # (encryption key, integrity key) for inbound ESP
    keys_out: tuple[bytes, bytes],
    local_ts: tuple[TrafficSelector, ...],
    remote_ts: tuple[TrafficSelector, ...],
    local: Address,
    remote: Address,
    encap: bool,
    lifetime_soft: int,
    lifetime_hard: int,
    lifesize_kb: int | None,
    jitter: float,  # the ratio that made lifetime_soft; the soft lifesize uses it too
    esn: bool = False,
) -> ChildSaKeys:
    return ChildSaKeys(
        name=policy.name,
        gateway=gateway,
        child_id=child_id,
        spi_in=spi_in,
        spi_out=spi_out,
        encr_id=encr_id,
        encr_key_bits=encr.key_bits,
        integ_id=integ_id,
        encr_key_in=keys_in[0],
        integ_key_in=keys_in[1],
        encr_key_out=keys_out[0],
        integ_key_out=keys_out[1],
        local_ts=local_ts,
        remote_ts=remote_ts,
        local_addr=local[0],
        remote_addr=remote[0],
        encap=encap,
        local_port=local[1],
        remote_port=remote[1],
        lifetime_soft=lifetime_soft,
        lifetime_hard=lifetime_hard,
        lifesize_kb=lifesize_kb,
        anti_replay=policy.anti_replay,
        replay_window=policy.replay_window,
        esn=esn,
        initiator=initiator,
        lifesize_soft_kb=int(lifesize_kb * jitter) if lifesize_kb else None,
        tunnel_id=policy.tunnel_id,
    )
