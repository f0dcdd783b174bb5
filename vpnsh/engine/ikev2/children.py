"""A new CHILD SA of an IKEv2 SA: keys, jittered lifetimes, and the ChildInstalled event.

Called by the tasks that negotiate CHILD SAs (``tasks/child_common.py``: IKE_AUTH and
CREATE_CHILD_SA, both roles). What it may touch of the engine is :class:`Context`.
"""

from __future__ import annotations

from typing import Protocol

from ..crypto.algorithms import encr_alg, integ_alg
from ..crypto.keymat import child_sa_keys
from ..ike import child_keys
from ..ike.events import ChildInstalled
from ..policy import ChildPolicy, TrafficSelector
from .proposals import EspSuite
from .sa import ChildIds, ChildSa, Events, IkeSa, Log, SaWatch

REKEY_JITTER = (0.80, 0.85)


class Context(Log, Events, ChildIds, SaWatch, Protocol):
    """What installing a CHILD SA uses: its number, SPI and lifetime jitter, the IKE SA's
    timers, the log line and the ChildInstalled event."""


def install_child(
    ctx: Context,
    sa: IkeSa,
    policy: ChildPolicy,
    *,
    initiator: bool,
    spi_in: int,
    spi_out: int,
    suite: EspSuite,
    ni: bytes,
    nr: bytes,
    shared: bytes | None,
    local_ts: tuple[TrafficSelector, ...],
    remote_ts: tuple[TrafficSelector, ...],
    message_id: int,
    now: float,
    rekey_of: ChildSa | None = None,
) -> ChildSa:
    assert sa.suite is not None and sa.keys is not None
    encr = encr_alg(suite.encr, suite.key_bits or None)
    integ = integ_alg(suite.integ)
    km = child_sa_keys(sa.suite.prf, sa.keys.sk_d, ni, nr, encr, integ, shared)
    if initiator:
        e_out, a_out, e_in, a_in = km.encr_i, km.integ_i, km.encr_r, km.integ_r
    else:
        e_out, a_out, e_in, a_in = km.encr_r, km.integ_r, km.encr_i, km.integ_i
    ratio = ctx.rng.uniform(*REKEY_JITTER)
    soft = int(policy.lifetime * ratio)
    ctx.spis.hold(spi_in)
    keys = child_keys.assemble(
        policy, gateway=sa.gateway, child_id=ctx.next_child_id, initiator=initiator,
        spi_in=spi_in, spi_out=spi_out, encr_id=suite.encr, encr=encr,
        integ_id=suite.integ, keys_in=(e_in, a_in), keys_out=(e_out, a_out),
        local_ts=local_ts, remote_ts=remote_ts, local=sa.local, remote=sa.remote,
        encap=sa.nat, lifetime_soft=soft, lifetime_hard=policy.lifetime,
        lifesize_kb=policy.lifesize_kb, jitter=ratio, esn=suite.esn,
    )
    child = ChildSa(
        child_id=ctx.next_child_id,
        policy=policy,
        initiator=initiator,
        spi_in=spi_in,
        spi_out=spi_out,
        suite=suite,
        local_ts=local_ts,
        remote_ts=remote_ts,
        keys=keys,
        message_id=message_id,
        created=now,
        rekey_at=now + soft,
        expires=now + policy.lifetime,
    )
    ctx.next_child_id += 1
    ctx.touch(sa)
    sa.children[child.child_id] = child
    child.owner = sa
    sa.pending_children.discard(policy.name)
    role = "INITIATOR" if initiator else "RESPONDER"
    kind = "rekey" if rekey_of else "non-rekey"
    ctx.log(
        sa,
        f"====> IKEv2 CHILD SA NEGOTIATION SUCCEEDED AS {role}, {kind}; tunnel "
        f"{policy.name} <==== {suite.short()}, SPI in {spi_in:08X} out "
        f"{spi_out:08X}, lifetime {policy.lifetime} sec",
    )
    ctx.emit(ChildInstalled(keys, rekey_of.spi_in if rekey_of else None))
    return child
