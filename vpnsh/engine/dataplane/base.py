"""The one interface between the IKE engine and a data plane.

The engine negotiates; a data plane moves packets. The engine calls the methods
of :class:`DataPlane`; the data plane calls back through :class:`DataPlaneEvents`
(interesting traffic with no SA, lifetimes reached). Three implementations:
``none`` (keeps SAs in memory: :mod:`.none`), ``userspace`` (TUN + ESP in Python:
:mod:`.userspace`) and ``kernel`` (XFRM through netlink: :mod:`.kernel`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from vpnsh.engine.policy import TrafficSelector


def ts_contains(ts: TrafficSelector, addr: str, proto: int = 0, port: int | None = None) -> bool:
    """Whether a packet's address (and protocol/port) falls inside selector ``ts``."""
    ip = ipaddress.ip_address(addr)
    if ip.version != ts.version or not int(ts.start_addr) <= int(ip) <= int(ts.end_addr):
        return False
    if ts.ip_proto and proto != ts.ip_proto:
        return False
    return port is None or ts.start_port <= port <= ts.end_port


@dataclass(frozen=True, slots=True)  # one or two per tunnel: no __dict__
class EspKeys:
    """Keys of one direction of a CHILD SA."""

    spi: int
    encr: int  # vpnsh.engine.crypto.algorithms.EncrId
    encr_key_bits: int  # 0 for NULL
    encr_key: bytes  # including the 4-byte salt for AEAD
    integ: int  # IntegId; 0 (NONE) for AEAD
    integ_key: bytes


@dataclass(frozen=True, slots=True)  # one or two per tunnel: no __dict__
class ChildSaSpec:
    """Everything a data plane needs to carry one CHILD SA pair."""

    name: str  # runtime tunnel name: "T-SiteB" or "T-SiteB:PID1"
    tnid: int
    tunnel_if: str  # "tunnel.1"
    local_addr: str  # outer addresses
    peer_addr: str
    inbound: EspKeys
    outbound: EspKeys
    local_ts: tuple[TrafficSelector, ...]
    remote_ts: tuple[TrafficSelector, ...]
    encap: tuple[int, int] | None = None  # (local port, peer port) for ESP-in-UDP, else raw ESP
    esn: bool = False
    anti_replay: bool = True
    replay_window: int = 1024
    copy_tos: bool = False
    lifetime_soft: int = 0  # seconds, 0 = none
    lifetime_hard: int = 0
    lifesize_soft_kb: int = 0  # 0 = unlimited
    lifesize_hard_kb: int = 0
    initiator: bool = True


@dataclass(frozen=True)
class TunnelInterface:
    name: str  # "tunnel.1"
    addresses: tuple[str, ...] = ()  # "169.254.10.1/30"
    mtu: int = 1500


@dataclass(frozen=True)
class Route:
    destination: str  # "10.2.0.0/24"
    interface: str  # "tunnel.1"
    nexthop: str | None = None
    metric: int = 10


@dataclass
class SaCounters:
    encap_packets: int = 0
    decap_packets: int = 0
    encap_bytes: int = 0
    decap_bytes: int = 0
    auth_errors: int = 0
    decrypt_errors: int = 0
    replay_packets: int = 0
    selector_drops: int = 0
    send_seq: int = 0
    recv_seq: int = 0


@dataclass
class DataPlaneEvents:
    """Callbacks from the data plane into the engine (set by the engine)."""

    # a packet went into a tunnel interface and matched no SA: (tunnel_if, src, dst, proto, dport)
    acquire: Callable[[str, str, str, int, int], None] = lambda *a: None
    # a lifetime or lifesize limit was reached: (inbound spi, "soft"|"hard")
    expire: Callable[[int, str], None] = lambda *a: None
    # send an ESP-in-UDP datagram through the shared IKE socket: (data, local, remote)
    send_udp: Callable[[bytes, tuple[str, int], tuple[str, int]], bool] = lambda *a: False


@dataclass
class DataPlaneInfo:
    kind: str  # "none" | "userspace" | "kernel"
    notes: list[str] = field(default_factory=list)  # e.g. "kernel has no ESP: SA install unavailable"


class DataPlane(Protocol):
    events: DataPlaneEvents
    # ESP must go in UDP even where no NAT is detected (the IKE engines fake one)
    forces_udp_encap: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def info(self) -> DataPlaneInfo: ...

    def set_interfaces(self, interfaces: list[TunnelInterface], routes: list[Route]) -> None:
        """Make the tunnel interfaces and routes exactly these (create, update, remove)."""

    def install_child(self, spec: ChildSaSpec) -> None:
        """Start carrying traffic on this CHILD SA pair (make-before-break on rekey)."""

    def remove_child(self, inbound_spi: int) -> None:
        """Stop using the SA pair whose inbound SPI this is; unknown SPIs are ignored."""

    def counters(self, inbound_spi: int) -> SaCounters | None: ...

    def esp_in_udp(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """An ESP-in-UDP datagram arrived on the shared port-4500 socket."""
