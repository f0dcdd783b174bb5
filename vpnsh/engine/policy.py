"""Plain dataclasses that configure the IKE engines and describe what they install.

``vpnsh/engine/config_map.py`` builds ``IkePolicy`` / ``ChildPolicy`` from the
running config tree; the IKE engines never see the tree. Algorithm fields hold
IANA numbers (the IntEnums of ``vpnsh.engine.crypto.algorithms`` are ints).
Secrets are kept out of ``repr``.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ANY_PREFIX = "0.0.0.0/0"


@dataclass(frozen=True)
class Identity:
    """An IKE identity as configured: type is ipaddr, fqdn, ufqdn, keyid or dn."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True)
class CertAuth:
    """``authentication certificate`` of a gateway (issue 16), with what the engine made of
    it at commit: ``credential`` (a :class:`vpnsh.engine.pki.ikeauth.LocalCredential`: our
    certificate, key and intermediates) and ``peer_check`` (a
    :class:`vpnsh.engine.pki.ikeauth.PeerCheck`: the profile's CAs and CRLs, the peer-id)."""

    local_certificate: str
    certificate_profile: str
    allow_id_payload_mismatch: bool = False
    strict_validation_revocation: bool = False
    credential: object = field(default=None, repr=False, compare=False)
    peer_check: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class IkeProposal:
    """One IKE crypto profile: every combination of its lists is acceptable."""

    encryption: tuple[tuple[int, int], ...]  # (EncrId, key bits; 0 for fixed-size ciphers)
    prf: tuple[int, ...]  # PrfId
    integrity: tuple[int, ...]  # IntegId; empty for AEAD ciphers
    dh_groups: tuple[int, ...]  # DhId


@dataclass
class IkePolicy:
    """One IKE gateway."""

    name: str
    local_addr: str
    peer_addr: str | None  # None: dynamic peer, responder only
    psk: bytes = field(repr=False)
    proposals: tuple[IkeProposal, ...]
    local_id: Identity | None = None  # None: ipaddr of local_addr
    peer_id: Identity | None = None  # None: accept any ID the peer sends
    lifetime: int = 28800
    dpd_enabled: bool = True
    dpd_interval: int = 5
    require_cookie: bool = False
    nat_traversal: bool = False
    keepalive_interval: int = 20
    passive: bool = False
    version: str = "ikev2"  # ikev1 | ikev2 | ikev2-preferred
    enabled: bool = True
    local_port: int = 500
    peer_port: int = 500
    exchange_mode: str = "auto"  # IKEv1: auto | main | aggressive (auto initiates main mode)
    dpd_retry: int = 5  # IKEv1 DPD: R-U-THERE tries before the peer is declared dead
    ikev1_proposals: tuple[IkeProposal, ...] = ()  # ikev2-preferred: the ikev1 profile (else proposals)
    peer_fqdn: str | None = None  # peer-address fqdn (shown as the peer; not resolved here)
    certificate: CertAuth | None = None  # authentication certificate (else pre-shared-key)
    fragmentation: bool = False  # protocol-common fragmentation enable (RFC 7383; IKEv1 too)
    peer_id_wildcard: bool = False  # peer-id matching wildcard (certificate authentication)

    @property
    def peer_display(self) -> str:
        """The peer as show commands name it: its address, its FQDN, or ``dynamic``."""
        return self.peer_addr or self.peer_fqdn or "dynamic"

    def effective_local_id(self) -> Identity:
        return self.local_id or Identity("ipaddr", self.local_addr)


@dataclass(frozen=True)
class TrafficSelector:
    """An address range, port range and IP protocol (0 = any)."""

    start_addr: IpAddress
    end_addr: IpAddress
    ip_proto: int = 0
    start_port: int = 0
    end_port: int = 65535

    @classmethod
    def from_prefix(cls, prefix: str, ip_proto: int = 0, port: int = 0) -> TrafficSelector:
        net = ipaddress.ip_network(prefix, strict=False)
        sport, eport = (port, port) if port else (0, 65535)
        return cls(net.network_address, net.broadcast_address, ip_proto, sport, eport)

    @property
    def version(self) -> int:
        return self.start_addr.version

    def describe(self) -> str:
        proto = "any" if self.ip_proto == 0 else str(self.ip_proto)
        if (self.start_port, self.end_port) == (0, 65535):
            ports = "any"
        elif self.start_port == self.end_port:
            ports = str(self.start_port)
        else:
            ports = f"{self.start_port}-{self.end_port}"
        return f"Proto:{proto}, {self.start_addr}-{self.end_addr}, Ports:{ports}"

    def short(self) -> str:
        """Prefix form when the range is a CIDR block, e.g. ``10.1.0.0/24``."""
        nets = list(ipaddress.summarize_address_range(self.start_addr, self.end_addr))
        addr = str(nets[0]) if len(nets) == 1 else f"{self.start_addr}-{self.end_addr}"
        extra = ""
        if self.ip_proto:
            extra += f" proto {self.ip_proto}"
        if (self.start_port, self.end_port) != (0, 65535):
            extra += f" port {self.start_port}-{self.end_port}"
        return addr + extra


@dataclass(frozen=True)
class EspProposal:
    """One IPsec crypto profile (esp): every combination of its lists is acceptable."""

    encryption: tuple[tuple[int, int], ...]  # (EncrId, key bits); NULL is EncrId 11
    integrity: tuple[int, ...]  # IntegId; (0,) or empty for none (AEAD)


@dataclass
class ChildPolicy:
    """One IPsec tunnel proxy-id: name ``TUNNEL`` or ``TUNNEL:PROXYID``."""

    name: str
    gateway: str
    proposals: tuple[EspProposal, ...]
    local_ts: tuple[str, ...] = (ANY_PREFIX,)
    remote_ts: tuple[str, ...] = (ANY_PREFIX,)
    ip_proto: int = 0
    local_port: int = 0
    remote_port: int = 0
    pfs_group: int | None = None  # DhId
    lifetime: int = 3600
    lifesize_kb: int | None = None
    anti_replay: bool = True
    replay_window: int = 1024
    enabled: bool = True
    tunnel_id: int = 0  # TnID for show output

    def local_selectors(self) -> tuple[TrafficSelector, ...]:
        return _selectors(tuple(self.local_ts), self.ip_proto, self.local_port)

    def remote_selectors(self) -> tuple[TrafficSelector, ...]:
        return _selectors(tuple(self.remote_ts), self.ip_proto, self.remote_port)

    @property
    def tunnel(self) -> str:
        return self.name.split(":", 1)[0]


@functools.lru_cache(maxsize=65536)
def _selectors(prefixes: tuple[str, ...], ip_proto: int, port: int) -> tuple[TrafficSelector, ...]:
    """A proxy-id's selectors, parsed once per distinct value (every CHILD SA negotiation
    asks; the selectors are frozen, so the SAs may share them). Keyed by value: a policy
    whose fields change gets the selectors of its new values."""
    return tuple(TrafficSelector.from_prefix(p, ip_proto, port) for p in prefixes)


@dataclass(frozen=True, slots=True)
class ChildSaKeys:
    """Everything a data plane needs to install one CHILD SA (both directions)."""

    name: str  # ChildPolicy.name
    gateway: str
    child_id: int
    spi_in: int
    spi_out: int
    encr_id: int
    encr_key_bits: int
    integ_id: int  # 0: none (AEAD or null auth)
    encr_key_in: bytes = field(repr=False)
    integ_key_in: bytes = field(repr=False)
    encr_key_out: bytes = field(repr=False)
    integ_key_out: bytes = field(repr=False)
    local_ts: tuple[TrafficSelector, ...]
    remote_ts: tuple[TrafficSelector, ...]
    local_addr: str
    remote_addr: str
    encap: bool  # UDP encapsulation (RFC 3948)
    local_port: int
    remote_port: int
    lifetime_soft: int
    lifetime_hard: int
    lifesize_kb: int | None
    anti_replay: bool
    replay_window: int
    esn: bool = False
    initiator: bool = True  # we started the exchange that created it
    lifesize_soft_kb: int | None = None  # rekey point, jittered like lifetime_soft
    tunnel_id: int = 0
