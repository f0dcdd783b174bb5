"""The data-plane record of one ESP SA (one direction of a CHILD SA).

Holds what the ESP transform needs per packet: the keyed cipher objects (built once
here, never per packet), the sequence counter or the anti-replay window, the selectors
in a form that is quick to match, lifetimes, and counters. Pure: times are passed in.
Keys never appear in ``repr``.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from ..crypto.algorithms import EncrAlg, EncrId, IntegAlg, IntegId, encr_alg, integ_alg
from ..crypto.cipher import Aead, BlockCipher, Integrity
from ..policy import TrafficSelector
from .base import ChildSaSpec, EspKeys
from .replay import ReplayWindow

# the lock of an SA that one thread owns: nothing to take (see .shared for SAs that
# several worker processes carry)
NO_LOCK = contextlib.nullcontext()


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class LifeState(StrEnum):
    OK = "ok"
    SOFT = "soft"
    HARD = "hard"


@dataclass
class EspCounters:
    """Per-SA counters; the transform maintains them (drops included)."""

    packets: int = 0  # packets encapsulated (out) or decapsulated and delivered (in)
    bytes: int = 0  # inner packet bytes of those packets
    auth_fail: int = 0  # ICV / AEAD tag did not verify
    replay: int = 0  # duplicate or too old
    selector_drop: int = 0  # inner packet outside the SA's traffic selectors
    pad_errors: int = 0  # bad padding or malformed plaintext
    other_drops: int = 0  # short packet, wrong SPI, unknown next header, seq overflow, expired


class SelectorRange(NamedTuple):
    """A traffic selector as integers, for per-packet matching."""

    version: int
    proto: int  # 0 = any
    lo: int
    hi: int
    port_lo: int
    port_hi: int


def selector_range(ts: TrafficSelector) -> SelectorRange:
    lo = ipaddress.ip_address(ts.start_addr)
    hi = ipaddress.ip_address(ts.end_addr)
    return SelectorRange(lo.version, ts.ip_proto, int(lo), int(hi), ts.start_port, ts.end_port)


@dataclass(eq=False)
class EspSA:
    """One direction of a CHILD SA as the data plane carries it.

    ``seq`` is the last sequence number sent (outbound; the first packet uses 1).
    Inbound SAs keep ``replay`` (a ReplayWindow, also used for ESN inference when
    anti-replay is off). ``encap`` is (local port, peer port) for UDP encapsulation
    (RFC 3948) or None for raw ESP. ``local_ts``/``remote_ts`` are the CHILD SA's
    selectors from this gateway's point of view (inbound: inner source must be in
    ``remote_ts`` and destination in ``local_ts``; empty means no check).
    """

    spi: int
    direction: Direction
    encr: EncrId
    encr_key_bits: int
    encr_key: bytes = field(repr=False)
    integ: IntegId = IntegId.NONE
    integ_key: bytes = field(default=b"", repr=False)
    esn: bool = False
    anti_replay: bool = True
    replay_window: int = 1024
    seq: int = 0
    created: float = 0.0
    lifetime_soft: int = 0  # seconds, 0 = none
    lifetime_hard: int = 0
    lifesize_soft_kb: int = 0  # kilobytes, 0 = unlimited
    lifesize_hard_kb: int = 0
    encap: tuple[int, int] | None = None
    local_addr: str = ""
    peer_addr: str = ""
    local_ts: tuple[TrafficSelector, ...] = ()
    remote_ts: tuple[TrafficSelector, ...] = ()
    copy_tos: bool = False
    counters: EspCounters = field(default_factory=EspCounters)
    # taken around each multi-step change of seq, counters and window (.shared)
    lock: Any = field(default=NO_LOCK, repr=False, compare=False)

    # built in __post_init__
    encr_alg: EncrAlg = field(init=False, repr=False)
    integ_alg: IntegAlg = field(init=False, repr=False)
    cipher: BlockCipher | None = field(init=False, repr=False)
    aead: Aead | None = field(init=False, repr=False)
    integrity: Integrity = field(init=False, repr=False)
    replay: ReplayWindow = field(init=False, repr=False)
    pad_align: int = field(init=False, repr=False)  # pad payload+trailer to this
    icv_size: int = field(init=False, repr=False)
    src_ranges: tuple[SelectorRange, ...] = field(init=False, repr=False)
    dst_ranges: tuple[SelectorRange, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.direction = Direction(self.direction)
        self.encr = EncrId(self.encr)
        self.integ = IntegId(self.integ)
        self.encr_alg = encr_alg(self.encr, self.encr_key_bits)
        self.integ_alg = integ_alg(self.integ)
        if self.encr_alg.aead:
            if self.integ != IntegId.NONE:
                raise ValueError(f"{self.encr.name} is combined mode: integrity must be NONE")
            self.aead = Aead(self.encr_alg, self.encr_key)
            self.cipher = None
        else:
            if self.encr == EncrId.ENCR_NULL and self.integ == IntegId.NONE:
                raise ValueError("ESP with NULL encryption needs an integrity algorithm")
            self.aead = None
            self.cipher = BlockCipher(self.encr_alg, self.encr_key)
        self.integrity = Integrity(self.integ_alg, self.integ_key)
        self.pad_align = max(self.encr_alg.block_size, 4)
        self.icv_size = self.encr_alg.icv_size if self.aead else self.integ_alg.icv_size
        self.replay = ReplayWindow(self.replay_window, self.esn)
        src, dst = (
            (self.remote_ts, self.local_ts)
            if self.direction == Direction.IN
            else (self.local_ts, self.remote_ts)
        )
        self.src_ranges = tuple(selector_range(t) for t in src)
        self.dst_ranges = tuple(selector_range(t) for t in dst)

    @classmethod
    def from_spec(cls, spec: ChildSaSpec, direction: Direction, now: float) -> EspSA:
        """The inbound or outbound SA of a CHILD SA pair handed over by the engine."""
        keys: EspKeys = spec.inbound if direction == Direction.IN else spec.outbound
        return cls(
            spi=keys.spi,
            direction=direction,
            encr=EncrId(keys.encr),
            encr_key_bits=keys.encr_key_bits,
            encr_key=keys.encr_key,
            integ=IntegId(keys.integ),
            integ_key=keys.integ_key,
            esn=spec.esn,
            anti_replay=spec.anti_replay,
            replay_window=spec.replay_window,
            created=now,
            lifetime_soft=spec.lifetime_soft,
            lifetime_hard=spec.lifetime_hard,
            lifesize_soft_kb=spec.lifesize_soft_kb,
            lifesize_hard_kb=spec.lifesize_hard_kb,
            encap=spec.encap,
            local_addr=spec.local_addr,
            peer_addr=spec.peer_addr,
            local_ts=spec.local_ts,
            remote_ts=spec.remote_ts,
            copy_tos=spec.copy_tos,
        )

    @property
    def recv_seq(self) -> int:
        """Highest sequence number accepted (inbound)."""
        return self.replay.top

    def life_state(self, now: float) -> LifeState:
        """Where the SA stands against its seconds and kilobytes limits at ``now``."""
        age = now - self.created
        kb = self.counters.bytes / 1024
        if (self.lifetime_hard and age >= self.lifetime_hard) or (
            self.lifesize_hard_kb and kb >= self.lifesize_hard_kb
        ):
            return LifeState.HARD
        if (self.lifetime_soft and age >= self.lifetime_soft) or (
            self.lifesize_soft_kb and kb >= self.lifesize_soft_kb
        ):
            return LifeState.SOFT
        return LifeState.OK

    def bytes_hard_reached(self) -> bool:
        return bool(self.lifesize_hard_kb) and self.counters.bytes >= self.lifesize_hard_kb * 1024
