"""The user-space data plane's record of one CHILD SA pair (:class:`SaPair`): its two
:class:`~.sa.EspSA` (keys, sequence number or replay window, counters), its inbound
selector check, where its ESP-in-UDP goes, and where its lifesize limits stand.
Built by :mod:`.sa_table`; read per packet by :mod:`.outbound`, :mod:`.esp_send` and
:mod:`.inbound`; its limits acted on by :mod:`.lifetimes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import ChildSaSpec
from .sa import Direction, EspSA
from .spd import InboundCheck

Address = tuple[str, int]


@dataclass(eq=False)
class SaPair:
    """One CHILD SA pair as carried here."""

    spec: ChildSaSpec
    inbound: EspSA
    outbound: EspSA
    check: InboundCheck
    installed: float
    udp_local: Address | None
    udp_remote: Address | None
    selector_drops: int = 0
    soft_sent: bool = False
    hard_sent: bool = False
    dead: bool = False  # hard limit passed: carries nothing more
    next_limit: int = 0  # bytes at which a lifesize limit is next crossed (either direction)
    # the wildcard socket's key and the sendmsg item naming the source address, for
    # ESP-in-UDP on a shared (wildcard) port-4500 socket
    udp_wild: Address | None = None
    udp_src: tuple[int, int, bytes] | None = None
    slots: tuple[int, int] = (0, 0)  # shared-memory slots (in, out) with worker processes

    def compute_next_limit(self) -> None:
        limits = []
        if self.spec.lifesize_soft_kb and not self.soft_sent:
            limits.append(self.spec.lifesize_soft_kb * 1024)
        if self.spec.lifesize_hard_kb and not self.hard_sent:
            limits.append(self.spec.lifesize_hard_kb * 1024)
        self.next_limit = min(limits) if limits else 1 << 62


def esp_sa(spec: ChildSaSpec, direction: Direction, now: float) -> EspSA:
    """The transform's record of one direction; selectors are matched here, not there."""
    keys = spec.inbound if direction == Direction.IN else spec.outbound
    return EspSA(
        spi=keys.spi, direction=direction, encr=keys.encr,  # type: ignore[arg-type]
        encr_key_bits=keys.encr_key_bits, encr_key=keys.encr_key,
        integ=keys.integ, integ_key=keys.integ_key,  # type: ignore[arg-type]
        esn=spec.esn, anti_replay=spec.anti_replay, replay_window=spec.replay_window,
        created=now, lifesize_hard_kb=spec.lifesize_hard_kb if direction == Direction.OUT else 0,
        encap=spec.encap, local_addr=spec.local_addr, peer_addr=spec.peer_addr,
        copy_tos=spec.copy_tos)
