"""IKE SA and CHILD SA state, and the one place that owns message IDs and retransmission.

Window size 1 (RFC 7296 2.3): at most one request of ours is outstanding; the
last response we sent is cached and resent when the peer retransmits its request.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..crypto.dh import DhKeyPair
from ..crypto.keymat import IkeKeys
from ..ike.retransmit import Retransmit
from ..ike.sansio import nat_words
from ..ike.task_manager import Tasks
from ..policy import ChildPolicy, ChildSaKeys, IkePolicy, TrafficSelector
from . import fragments, message
from .constants import ExchangeType, HeaderFlag
from .message import Message, Protection
from .payloads import IdPayload, Payload
from .proposals import EspSuite, IkeSuite

if TYPE_CHECKING:
    import random

    from ..ike.spi import SpiAllocator
    from .cookies import CookieJar

Address = tuple[str, int]

# fields that feed the engine's timers: setting one marks the IKE SA for a recompute
_IKE_TIMER_FIELDS = frozenset(
    {
        "state",
        "initiator",
        "created",
        "policy",
        "outstanding",
        "expires",
        "rekey_at",
        "last_rx",
        "next_keepalive",
        "nat_local",
        "tasks",
        "children",
        "handover_at",
    }
)
_CHILD_TIMER_FIELDS = frozenset({"state", "rekeying", "rekey_at", "expires"})
_set = object.__setattr__


class IkeState(enum.Enum):
    CONNECTING = "Connecting"
    ESTABLISHED = "Established"
    REKEYED = "Rekeyed"  # replaced by a newer IKE SA, waiting for its Delete
    DELETING = "Deleting"
    DEAD = "Dead"


class ChildState(enum.Enum):
    INSTALLED = "Mature"
    REKEYED = "Rekeyed"
    DELETING = "Deleting"


# What a task may use of the engine it runs in, in small protocols named by purpose. Each
# task is typed against just the ones it uses (its own ``...Context`` next to it, in
# ``tasks/``), so mypy checks that it touches no more; :class:`TaskContext` is their union,
# which ``Ikev2Engine`` satisfies (checked at the end of ``engine.py``). The per-SA state
# (message IDs, keys, children) is the ``IkeSa`` itself; these are what lies outside one SA.


class Log(Protocol):
    def log(self, sa: IkeSa | None, text: str, *, gateway: str = "", level: str = "INFO") -> None: ...


class Events(Protocol):
    def emit(self, event: Any) -> None: ...


class Wire(Protocol):
    """Answers, drops and failures before any IKE SA exists (the IKE_SA_INIT responder)."""

    def send(self, data: bytes, local: Address, remote: Address) -> None: ...
    def drop(self, why: str) -> None: ...
    def log_limited(self, kind: str, text: str, now: float, gateway: str = "",
                    level: str = "ERROR") -> None: ...
    def emit_failed(self, gateway: str, reason: str) -> None: ...


class Retries(Protocol):
    retransmit: Retransmit  # how often a request is sent before the peer counts as gone


class IkeKeying(Protocol):
    """An IKE SA's keys from its DH secret; whether to fake a NAT (force ESP-in-UDP)."""

    force_udp_encap: bool
    def derive_ike_keys(self, sa: IkeSa, shared: bytes) -> None: ...


class IkeSpis(Protocol):
    def new_ike_spi(self) -> bytes: ...


class ChildIds(Protocol):
    """A new CHILD SA's inbound SPI, its number and its lifetime jitter."""

    rng: random.Random
    spis: SpiAllocator
    next_child_id: int
    def new_child_spi(self) -> int: ...


class SaWatch(Protocol):
    """The engine's view of one IKE SA: still in its table; its timers may have changed."""

    def alive(self, sa: IkeSa) -> bool: ...
    def touch(self, sa: IkeSa) -> None: ...


class Gateways(Protocol):
    def policy_for_address(self, local_ip: str, remote_ip: str) -> IkePolicy | None: ...
    def policy_for_identity(self, sa: IkeSa, idi: IdPayload) -> IkePolicy | None: ...


class ChildPolicies(Protocol):
    """The proxy-ids of a gateway, and the report that one could not be negotiated."""

    def child_candidates(self, gateway: str) -> list[ChildPolicy]: ...
    def child_failed(self, sa: IkeSa, name: str, reason: str) -> None: ...


class NewSas(Protocol):
    def new_sa(
        self,
        policy: IkePolicy,
        *,
        initiator: bool,
        local: Address,
        remote: Address,
        now: float,
        spi_i: bytes = b"",
    ) -> IkeSa: ...
    def rekeyed_sa(
        self,
        old: IkeSa,
        *,
        initiator: bool,
        spi_i: bytes,
        spi_r: bytes,
        suite: IkeSuite,
        ni: bytes,
        nr: bytes,
        shared: bytes,
        now: float,
    ) -> IkeSa: ...


class IkeFail(Protocol):
    def fail_ike(
        self, sa: IkeSa, reason: str, *, send_delete: bool = False, quiet: bool = False
    ) -> None: ...


class Establish(Protocol):
    def establish_ike(self, sa: IkeSa, now: float) -> None: ...
    def initial_contact(self, sa: IkeSa) -> None: ...
    def is_initial_contact(self, sa: IkeSa) -> bool: ...


class PeerDead(Protocol):
    def peer_dead(self, sa: IkeSa, what: str) -> None: ...


class IkeRemoval(Protocol):
    def remove_ike(self, sa: IkeSa, reason: str, announce: bool = True) -> None: ...


class Children(Protocol):
    def owner_of(self, child: ChildSa) -> IkeSa | None: ...
    def remove_child(self, sa: IkeSa, child: ChildSa, reason: str) -> None: ...


class TaskQueue(Protocol):
    """More work for an IKE SA (``task_manager.queue``/``kick``, which hand the queued task
    the whole context): what a task that rekeys needs to start the Delete that follows."""

    def queue_task(self, sa: IkeSa, task: Task, now: float) -> None: ...
    def kick_tasks(self, sa: IkeSa, now: float) -> None: ...


class HalfOpen(Protocol):
    """The responder's limits on IKE SAs not yet authenticated (cookies, RFC 7296 2.6)."""

    cookies: CookieJar
    half_open_limit: int
    def half_open_count(self) -> int: ...
    def half_open_done(self, sa: IkeSa) -> None: ...


class TaskContext(
    Log, Events, Wire, Retries, IkeKeying, IkeSpis, ChildIds, SaWatch, Gateways, ChildPolicies,
    NewSas, IkeFail, Establish, PeerDead, IkeRemoval, Children, TaskQueue, HalfOpen, Protocol,
):
    """All of the above: what the task manager (``task_manager.py``, ``passive.py``) hands
    every task, the engine itself. Tasks import nothing of the engine."""


class Task(Protocol):
    """One concern of one exchange, in the role of the side that sends the request
    (strongSwan's ``build_i``/``process_i``). ``build_i`` returns the request payloads
    (None: nothing to do any more), ``process_i`` reads the response, ``failed`` is told
    when the peer never answered. The same classes play the responder (:class:`Responder`).
    """

    @property
    def exchange(self) -> int: ...

    def build_i(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload] | None: ...

    def process_i(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None: ...

    def failed(self, engine: TaskContext, sa: IkeSa, now: float) -> None: ...


class Responder(Protocol):
    """A task in the role of the side that answers (``process_r``/``build_r``): made by the
    task manager from the request (``task_manager.responder_tasks``); ``process_r`` reads
    and acts on the request, ``build_r`` returns its part of the response."""

    def process_r(self, engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> None: ...

    def build_r(self, engine: TaskContext, sa: IkeSa, now: float) -> list[Payload]: ...


@dataclass(slots=True)
class Outstanding:
    task: Task
    message_id: int
    exchange: int
    data: bytes
    attempt: int
    next_at: float


@dataclass(slots=True)
class ChildSa:
    # first: set before the fields below, so that their setter finds it (kw-only: at the
    # end of the constructor's arguments); set by the engine
    owner: IkeSa | None = field(default=None, compare=False, repr=False, kw_only=True)
    child_id: int
    policy: ChildPolicy
    initiator: bool  # we started the exchange that created it
    spi_in: int
    spi_out: int
    suite: EspSuite
    local_ts: tuple[TrafficSelector, ...]
    remote_ts: tuple[TrafficSelector, ...]
    keys: ChildSaKeys
    message_id: int
    created: float
    rekey_at: float
    expires: float
    state: ChildState = ChildState.INSTALLED
    # rekey bookkeeping (RFC 7296 2.8.1)
    rekeying: bool = False  # our rekey of this SA is in flight
    our_rekey: tuple[ChildSa, bytes, bytes] | None = None  # (new SA, Ni, Nr) we created
    peer_rekey: tuple[ChildSa, bytes, bytes] | None = None  # (new SA, Ni, Nr) the peer created

    def __setattr__(self, name: str, value: Any) -> None:
        _set(self, name, value)
        if name in _CHILD_TIMER_FIELDS:
            owner = self.owner
            if owner is not None:
                owner.timers_changed()


@dataclass(slots=True)
class IkeSa:
    """One IKE SA. Slots, not a ``__dict__``: 10,000 tunnels hold 10,000 of them (and as
    many ``ChildSa``); ``tests/unit/test_ikev2_memory.py`` keeps it so."""

    # first: set before the fields below, so that their setter finds it (kw-only: at the
    # end of the constructor's arguments). The engine's timer heap: told of each change of a
    # field in _IKE_TIMER_FIELDS
    timer_watch: Callable[[IkeSa], None] | None = field(
        default=None, compare=False, repr=False, kw_only=True)
    sn: int
    policy: IkePolicy
    initiator: bool  # original initiator
    spi_i: bytes
    spi_r: bytes
    local: Address
    remote: Address
    created: float
    state: IkeState = IkeState.CONNECTING
    suite: IkeSuite | None = None
    keys: IkeKeys | None = None
    protection: Protection | None = None
    ni: bytes = b""
    nr: bytes = b""
    dh: DhKeyPair | None = None
    init_request: bytes = b""
    init_response: bytes = b""
    id_i: IdPayload | None = None
    id_r: IdPayload | None = None
    nat_local: bool = False
    nat_remote: bool = False
    nat_fake: bool = False  # we faked a NAT to force ESP-in-UDP (natd_payloads)
    # message IDs and retransmission
    next_request_id: int = 0
    expected_request_id: int = 0
    outstanding: Outstanding | None = None
    last_response: tuple[int, bytes] | None = None
    retransmits: int = 0
    tasks: Tasks[Task] = field(default_factory=Tasks)
    # lifetime and liveness
    established: float | None = None
    rekey_at: float | None = None
    expires: float | None = None
    last_rx: float = 0.0
    next_keepalive: float | None = None
    children: dict[int, ChildSa] = field(default_factory=dict)
    # IKE rekey bookkeeping
    rekeying: bool = False
    our_rekey: tuple[IkeSa, bytes, bytes] | None = None
    peer_rekey: tuple[IkeSa, bytes, bytes] | None = None
    rekey: bool = False  # this SA came from rekeying another
    first_child: ChildPolicy | None = None
    pending_children: set[str] = field(default_factory=set)
    delete_reason: str = ""
    replaced: bool = False  # superseded by a rekey (or redundant after a collision)
    doomed: bool = False
    then_delete: IkeSa | None = None  # delete this old SA once this redundant one is gone
    # certificate authentication and fragmentation (issue 16; ikev2/auth.py, fragments.py)
    peer_hashes: tuple[int, ...] | None = None  # SIGNATURE_HASH_ALGORITHMS from the peer
    fragmentation: bool = False  # RFC 7383 negotiated: both sent IKEV2_FRAGMENTATION_SUPPORTED
    fragment_cache: dict[bytes, list[bytes]] = field(default_factory=dict, repr=False)
    reassembler: Any = field(default=None, repr=False)
    auth_text: str = ""  # how we authenticated ("RSA signature"...), for show
    peer_auth_text: str = ""  # "RSA signature" (the peer certificate's key)
    peer_auth_scheme: str = ""  # "AUTH method 14, sha256WithRSAEncryption"
    peer_id_text: str = ""
    # IKE SA collision (both peers initiated, ``collision.py``): this one is redundant
    superseded_by: IkeSa | None = None  # the IKE SA that stays
    handover_deadline: float = 0.0  # then we end it whoever initiated it
    handover_at: float | None = None  # next look at it (collision.progress)
    handover_created: bool = False  # the CHILD SAs it alone had were asked for on the survivor
    created_seq: int = 0
    established_seq: int = 0  # remove after sending the response being built
    # the engine's timer heap: this SA's earliest deadline as queued there (None: not queued)
    timer_at: float | None = field(default=None, compare=False, repr=False)
    gw_indexed: str = field(default="", compare=False, repr=False)  # in the engine's index as

    def __setattr__(self, name: str, value: Any) -> None:
        _set(self, name, value)
        if name in _IKE_TIMER_FIELDS:
            watch = self.timer_watch
            if watch is not None:
                watch(self)

    def timers_changed(self) -> None:
        watch = self.timer_watch
        if watch is not None:
            watch(self)

    @property
    def local_spi(self) -> bytes:
        return self.spi_i if self.initiator else self.spi_r

    @property
    def gateway(self) -> str:
        return self.policy.name

    def nat_text(self) -> str:
        """NAT detection in log words."""
        return nat_words(self.nat_local, self.nat_remote, self.nat_fake)

    @property
    def nat(self) -> bool:
        """ESP goes in UDP and IKE on port 4500: a NAT was detected, or faked."""
        return self.nat_local or self.nat_remote or self.nat_fake

    def new_message(self, exchange: int, message_id: int, response: bool) -> Message:
        return Message(
            exchange=exchange,
            message_id=message_id,
            spi_i=self.spi_i,
            spi_r=self.spi_r,
            is_response=response,
            is_initiator=self.initiator,
        )

    def encode(self, msg: Message) -> bytes:
        if msg.exchange == ExchangeType.IKE_SA_INIT:
            return message.encode(msg)
        assert self.protection is not None
        data = message.encode(msg, self.protection)
        if self.fragmentation:  # RFC 7383: the engine sends these fragments for ``data``
            fragments.prepare(self, msg, data)
        return data

    def _encode_empty(self, exchange: int, message_id: int, response: bool) -> bytes:
        """``encode`` of a message with no payloads (never fragmented: it is small)."""
        assert self.protection is not None
        flags = (HeaderFlag.INITIATOR if self.initiator else 0) | \
            (HeaderFlag.RESPONSE if response else 0)
        return message.encode_empty(self.spi_i, self.spi_r, exchange, flags, message_id,
                                    self.protection)

    def _encode_payloads(self, exchange: int, message_id: int, response: bool,
                         payloads: list[Payload]) -> bytes:
        """The protected message of ``payloads``; an empty one on the short encoder."""
        if not payloads and exchange != ExchangeType.IKE_SA_INIT:
            return self._encode_empty(exchange, message_id, response)
        msg = self.new_message(exchange, message_id, response=response)
        msg.payloads = payloads
        return self.encode(msg)

    def start_request(
        self, task: Task, payloads: list[Payload], now: float, retransmit: Retransmit
    ) -> bytes:
        data = self._encode_payloads(task.exchange, self.next_request_id, False, payloads)
        self.outstanding = Outstanding(
            task, self.next_request_id, task.exchange, data, 0, now + retransmit.timeout(0)
        )
        return data

    def finish_request(self) -> None:
        self.outstanding = None
        _set(self, "next_request_id", self.next_request_id + 1)  # not a timer field

    def respond_empty(self, exchange: int, message_id: int) -> bytes:
        """``respond`` with no payloads to the request ``message_id`` (a liveness check)."""
        data = self._encode_empty(exchange, message_id, True)
        _set(self, "last_response", (message_id, data))  # not timer fields: no watch to tell
        _set(self, "expected_request_id", message_id + 1)
        return data

    def respond(self, request: Message, payloads: list[Payload]) -> bytes:
        data = self._encode_payloads(request.exchange, request.message_id, True, payloads)
        self.last_response = (request.message_id, data)
        self.expected_request_id = request.message_id + 1
        return data
