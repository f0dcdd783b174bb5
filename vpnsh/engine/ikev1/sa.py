"""IKEv1 state: phase 1 (ISAKMP SA), phase 2 (IPsec SA), suites, and the snapshot records
for ``show vpn ike-sa`` / ``show vpn ipsec-sa``. The state of the exchanges in progress
lives in the SA's task manager (``task_manager.py``) and its tasks (``tasks/``)."""

from __future__ import annotations

import enum
import functools
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..crypto import algorithms as alg
from ..crypto.cipher import BlockCipher
from ..crypto.dh import DhKeyPair
from ..crypto.keymat import Ikev1Keys
from ..ike.events import ChildSaInfo, IkeSaInfo
from ..policy import ChildPolicy, ChildSaKeys, IkePolicy, TrafficSelector
from .message import IdPayload

Address = tuple[str, int]

NONCE_SIZE = 32
REKEY_JITTER_INITIATOR = (0.80, 0.85)
REKEY_JITTER_RESPONDER = (0.88, 0.92)  # the side that started the SA rekeys it first


def msgid_bytes(v: int) -> bytes:
    """A message ID or SPI as the 4 octets that hashes and Delete payloads carry."""
    return struct.pack("!I", v)


@dataclass(slots=True)
class Flight:
    """Our last message of an exchange and its retransmission state."""

    data: bytes
    what: str  # for the log and the failure reason: "main mode message 1"
    next_at: float = math.inf  # inf: not retransmitted by timer (resent on a duplicate only)
    attempt: int = 0


@dataclass(frozen=True)
class P1Suite:
    """A phase 1 transform: IKEv1 attribute values."""

    encr: int  # Ikev1Encr
    key_bits: int  # 0: fixed
    hash: int  # Ikev1Hash
    group: int  # DhId
    lifetime: int

    @property
    def encr_alg(self) -> alg.EncrAlg:
        return alg.ikev1_encr(self.encr, self.key_bits or None)

    @functools.cached_property
    def prf(self) -> int:  # looked up for every protected message: kept once known
        return int(alg.ikev1_prf(self.hash))

    def short(self) -> str:
        """``PSK/DH14/A128/SHA1`` as in ``show vpn ike-sa``."""
        e = self.encr_alg
        return (
            f"PSK/DH{self.group}/{alg.display_name(e.id, e.key_bits)}/"
            f"{alg.display_name(alg.PrfId(self.prf))}"
        )

    def long(self) -> str:
        e = self.encr_alg
        return (
            f"{alg.display_name(e.id, e.key_bits, 'detail')}/"
            f"{alg.display_name(alg.PrfId(self.prf))}/DH{self.group}"
        )


@functools.cache
def p1_suite(encr: int, key_bits: int, hash: int, group: int, lifetime: int) -> P1Suite:
    """The phase 1 suite of these values, one object for every SA that uses it."""
    return P1Suite(encr, key_bits, hash, group, lifetime)


@dataclass(frozen=True)
class P2Suite:
    """A phase 2 ESP transform."""

    encr: int  # EncrId (IPsec DOI ESP transform IDs share the numbers)
    key_bits: int
    integ: int  # IntegId; 0 for AEAD
    group: int | None  # PFS DhId
    encapsulation: int

    def short(self) -> str:
        return alg.esp_display_name(alg.EncrId(self.encr), self.key_bits, alg.IntegId(self.integ))

    def long(self) -> str:
        e = alg.display_name(alg.EncrId(self.encr), self.key_bits, "detail")
        i = alg.display_name(alg.IntegId(self.integ))
        return f"{e}/{i}/{'DH' + str(self.group) if self.group else 'no-pfs'}"


_P2_SUITES: dict[P2Suite, P2Suite] = {}


def p2_suite(suite: P2Suite) -> P2Suite:
    """The one object of this phase 2 suite that every SA using it holds."""
    return _P2_SUITES.setdefault(suite, suite)


# the fields that the timer deadlines of a phase 1 SA / a phase 2 SA depend on: setting one
# tells the engine's timer heap (ike/timers.py) to recompute that SA's deadline
_P1_TIMER_FIELDS = frozenset({
    "state", "created", "expires", "rekey_at", "retire_at", "dpd_next",
    "next_keepalive",
})
_CHILD_TIMER_FIELDS = frozenset({"state", "rekeying", "rekey_at", "expires", "delete_at"})


class P1State(enum.Enum):
    CONNECTING = "Connecting"
    ESTABLISHED = "Established"
    DEAD = "Dead"


class ChildState(enum.Enum):
    INSTALLED = "Mature"
    REKEYED = "Rekeyed"


_set = object.__setattr__


@dataclass(slots=True)
class Phase1:
    """One ISAKMP SA. Slots, not a ``__dict__``: 10,000 tunnels hold 10,000 of them (and as
    many :class:`Child`); ``tests/unit/test_ikev1_memory.py`` keeps it so."""

    # first: set before the fields below, so that their setter finds it (kw-only: at the
    # end of the constructor's arguments). The engine's timer heap (ike/timers.py): told of
    # each change of a field in _P1_TIMER_FIELDS
    timer_watch: Callable[[Phase1], None] | None = field(
        default=None, compare=False, repr=False, kw_only=True)
    sn: int
    policy: IkePolicy
    initiator: bool
    aggressive: bool
    cky_i: bytes
    cky_r: bytes
    local: Address
    remote: Address
    created: float
    state: P1State = P1State.CONNECTING
    suite: P1Suite | None = None
    offered: Sequence[P1Suite] = ()
    sai_b: bytes = b""
    dh: DhKeyPair | None = None
    g_xi: bytes = b""
    g_xr: bytes = b""
    ni: bytes = b""
    nr: bytes = b""
    keys: Ikev1Keys | None = None
    cipher: BlockCipher | None = None
    iv: bytes = b""  # phase 1 CBC chain; after phase 1, the last phase 1 block
    id_local: IdPayload | None = None
    id_remote: IdPayload | None = None
    peer_natt: bool = False
    peer_natt_draft: bool = False
    peer_dpd: bool = False
    # IKEv1 fragmentation (issue 16; ikev1/fragments.py)
    peer_fragmentation: bool = False  # the peer sent the FRAGMENTATION vendor ID
    fragment_id: int = 0
    fragment_cache: dict[bytes, list[bytes]] | None = field(default=None, repr=False)  # made at need
    reassembler: Any = field(default=None, repr=False)
    nat_local: bool = False
    nat_remote: bool = False
    nat_fake: bool = False  # we sent a random NAT-D for our address to force ESP-in-UDP
    retransmits: int = 0
    established: float | None = None
    expires: float | None = None
    rekey_at: float = math.inf  # a new phase 1 is negotiated then (if phase 2 SAs need one)
    replaced: bool = False  # a newer phase 1 took over: deleted once that one is up ...
    retire_at: float = math.inf  # ... at this time (P1_REPLACE_GRACE after it came up)
    last_rx: float = 0.0
    dpd_seq: int = 0
    dpd_waiting: int | None = None  # sequence number of the R-U-THERE awaiting its ACK
    dpd_tries: int = 0
    dpd_sent: float = 0.0  # when the R-U-THERE awaiting its ACK went out
    dpd_acked: float = -math.inf  # when the last R-U-THERE-ACK came (tasks/dpd.py heard())
    dpd_excused: bool = False  # the last check ran late and did not count (tasks/dpd.py)
    dpd_next: float = math.inf
    next_keepalive: float = math.inf
    # its exchanges: an Ikev1TaskManager (task_manager.py, which imports this module)
    manager: Any = field(default=None, compare=False, repr=False)
    # the timer heap's bookkeeping (ike/timers.py)
    timer_at: float | None = field(default=None, compare=False, repr=False)
    created_seq: int = field(default=0, compare=False, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        _set(self, name, value)
        if name in _P1_TIMER_FIELDS:
            watch = self.timer_watch
            if watch is not None:
                watch(self)

    def timers_changed(self) -> None:
        """A deadline changed (a field above, or the task manager's flights)."""
        watch = self.timer_watch
        if watch is not None:
            watch(self)

    @property
    def gateway(self) -> str:
        return self.policy.name

    @property
    def nat(self) -> bool:
        return self.nat_local or self.nat_remote or self.nat_fake

    @property
    def mode(self) -> str:
        return "Aggr" if self.aggressive else "Main"

    @property
    def mode_words(self) -> str:
        return "aggressive mode" if self.aggressive else "main mode"


@dataclass(slots=True)
class Child:
    """One phase 2 SA (slots, as :class:`Phase1`)."""

    timer_watch: Callable[[Child], None] | None = field(
        default=None, compare=False, repr=False, kw_only=True)
    child_id: int
    policy: ChildPolicy
    initiator: bool
    spi_in: int
    spi_out: int
    suite: P2Suite
    keys: ChildSaKeys
    local_ts: TrafficSelector
    remote_ts: TrafficSelector
    message_id: int
    parent_sn: int
    remote: Address
    created: float
    rekey_at: float
    expires: float
    lifetime: int
    lifesize_kb: int | None
    state: ChildState = ChildState.INSTALLED
    rekeying: bool = False
    delete_at: float = math.inf  # rekeyed: removed (with a Delete) at this time
    nonce_key: bytes = b""  # min(Ni, Nr) of its quick mode: breaks simultaneous negotiations
    timer_at: float | None = field(default=None, compare=False, repr=False)
    created_seq: int = field(default=0, compare=False, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        _set(self, name, value)
        if name in _CHILD_TIMER_FIELDS:
            watch = self.timer_watch
            if watch is not None:
                watch(self)

    @property
    def gateway(self) -> str:
        return self.policy.gateway


# --- snapshots ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ikev1SaInfo(IkeSaInfo):
    """A phase 1 SA (an IkeSaInfo with the IKEv1 columns of ``show vpn ike-sa``)."""

    mode: str = "Main"  # Main / Aggr
    version: str = "v1"
    st: int = 13  # PAN-OS state code seen for an established phase 1
    phase2: int = 0  # phase 2 SAs it negotiated that are alive


@dataclass(frozen=True)
class Ikev1ChildInfo(ChildSaInfo):
    """A phase 2 SA (a ChildSaInfo with the IKEv1 columns)."""

    st: int = 9  # PAN-OS state code seen for a mature phase 2
    xt: int = 1
    lifesize_kb_negotiated: int | None = None
    proxy_local: str = ""
    proxy_remote: str = ""
    extra: dict[str, str] = field(default_factory=dict)
