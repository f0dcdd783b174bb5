"""What the IKE engines (IKEv1 and IKEv2) report: events (taken with ``next_event``) and state snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..policy import ChildSaKeys


@dataclass(frozen=True)
class IkeEstablished:
    gateway: str
    sn: int
    initiator: bool
    rekey: bool = False


@dataclass(frozen=True)
class IkeFailed:
    gateway: str
    reason: str
    # our IKE_SA_INIT got no answer or was refused (no keys yet): the peer may not do
    # IKEv2 with us at all, so an ikev2-preferred gateway tries IKEv1
    at_sa_init: bool = False


@dataclass(frozen=True)
class IkeDeleted:
    gateway: str
    sn: int
    reason: str
    replaced: bool = False  # a rekey replaced it: its CHILD SAs live on in the new IKE SA


@dataclass(frozen=True)
class ChildInstalled:
    keys: ChildSaKeys
    rekey_of: int | None = None  # spi_in of the CHILD SA this one replaces


@dataclass(frozen=True)
class ChildRemoved:
    gateway: str
    name: str
    child_id: int
    spi_in: int
    spi_out: int
    reason: str


@dataclass(frozen=True)
class ChildFailed:
    gateway: str
    name: str
    reason: str


@dataclass(frozen=True)
class LogLine:
    """One ikemgr-style log line: the writer adds time, ``[level]`` and ``{gateway}``.

    e.g. ``IkemgrLog.write(ev.text, level=ev.level, gateway=ev.gateway)``.
    """

    text: str
    gateway: str = ""
    level: str = "INFO"


Event = (
    IkeEstablished | IkeFailed | IkeDeleted | ChildInstalled | ChildRemoved | ChildFailed | LogLine
)


@dataclass(frozen=True)
class ChildSaInfo:
    """One CHILD SA, for ``show vpn ipsec-sa`` and the detail view."""

    gateway: str
    name: str  # TUNNEL or TUNNEL:PROXYID
    tunnel_id: int
    child_id: int
    parent_sn: int
    role: str  # Init / Resp
    state: str  # Mature / Rekeyed / Deleting
    spi_in: int
    spi_out: int
    message_id: int
    algorithm: str  # ESP/A128/SHA1
    proposal: str  # AES128-CBC/SHA1/DH2
    local_ts: tuple[str, ...]
    remote_ts: tuple[str, ...]
    peer_address: str
    created: float
    rekey_at: float
    expires: float
    lifetime: int
    lifesize_kb: int | None
    encap: bool


@dataclass(frozen=True)
class IkeSaInfo:
    """One IKE SA, for ``show vpn ike-sa`` and ``show vpn ike-sa detail``."""

    gateway: str
    sn: int
    role: str  # Init / Resp
    state: str  # Established / Connecting / Rekeyed / Deleting
    local_address: str
    local_port: int
    peer_address: str
    peer_port: int
    spi_i: str  # 16 hex digits
    spi_r: str
    algorithm: str  # PSK/DH20/A256/SHA256
    proposal: str  # AES256-CBC/SHA256/DH14
    id_local: str  # fqdn:vpn.example
    id_remote: str
    id_i: str  # FQDN:vpn.example
    id_r: str
    nat: str  # ME / PEER / BOTH / Not detected
    message_id_rx: int
    message_id_tx: int
    retransmits: int
    liveness_interval: int | None
    created: float | None
    rekey_at: float | None
    expires: float | None
    children: tuple[int, ...] = field(default=())
    auth: str = "PSK, peer PSK"  # the detail view's Authentication: line (issue 16)
