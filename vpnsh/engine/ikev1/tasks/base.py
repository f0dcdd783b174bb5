"""What every IKEv1 task shares: its result (:class:`Status`), the message it fills
(:class:`Outgoing`) and the narrow :class:`Context` it runs against (not the engine).

A task plays both roles of one concern, as strongSwan's do (``task.h``): it knows its role
from construction; the initiator calls ``build_i`` then ``process_i`` (again and again for
a multi-message exchange), the responder ``process_r`` then ``build_r``. ``build`` and
``process`` pick the role's half. IKEv1 exchanges are not request/response pairs (main
mode has six messages, quick mode three, informational one), so a task is asked to build
each message of its role in turn and to process each of the peer's; it returns
:attr:`Status.MORE` while the exchange goes on, :attr:`Status.DONE` when its last message
is built or processed, :attr:`Status.FAILED` when it failed (and said why through the
context).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...ike.retransmit import Retransmit
from ...ike.spi import SpiAllocator
from ...policy import ChildPolicy, IkePolicy
from ..message import Header, Message, Payload
from ..sa import Address, Child, Phase1


class Status(enum.Enum):
    DONE = "done"  # this task has nothing more to do in the exchange
    MORE = "more"  # another message of the exchange comes (to build or to process)
    FAILED = "failed"  # the exchange failed; the task said why
    DROPPED = "dropped"  # the message does not fit (said): dropped, nothing changed


@dataclass
class Outgoing:
    """One message being built: the tasks of the exchange append their payloads."""

    number: int  # the message's number in its exchange (main mode 1-6, quick mode 1-3)
    payloads: list[Payload] = field(default_factory=list)
    encrypted: bool = False  # phase 1: main mode messages 5 and 6
    retransmit: bool = True  # resent by timer until the peer answers (else on a duplicate)
    data: bytes | None = None  # set by a task that protects its message itself (quick mode)
    now: float = 0.0


@dataclass
class Incoming:
    """One message of the peer's, decrypted."""

    number: int
    msg: Message
    now: float
    header: Header | None = None
    encrypted: bool = False
    next_iv: bytes = b""  # the CBC IV after it (phase 1: adopted once it verifies)


class Context(Protocol):
    """What a task may use: log, send, keys (on the SA), install/remove a phase 2 SA, fail.

    ``Ikev1Engine`` satisfies it structurally; tests may give a fake.
    """

    retransmit: Retransmit
    rng: random.Random
    spis: SpiAllocator
    force_udp_encap: bool
    nat_traversal: bool  # announce and read NAT-T (False plays a peer without it)

    @property
    def children(self) -> Mapping[int, Child]: ...  # every phase 2 SA, by child_id

    def log(self, sa: Phase1 | None, text: str, *, gateway: str = "",
            level: str = "INFO") -> None: ...
    def send(self, data: bytes, local: Address, remote: Address) -> None: ...
    def drop(self, why: str) -> None: ...
    def emit(self, event: Any) -> None: ...
    # phase 1
    def established(self, sa: Phase1, now: float) -> None: ...
    def fail_p1(self, sa: Phase1, reason: str, notify: int | None = None) -> None: ...
    def auth_failed(self, sa: Phase1, detail: str, now: float) -> None: ...
    def remove_p1(self, sa: Phase1, reason: str, announce: bool = True) -> None: ...
    def phase1_sas(self, gateway: str) -> list[Phase1]: ...
    def children_of(self, gateway: str) -> list[Child]: ...
    def start_phase1(self, policy: IkePolicy, now: float) -> Phase1: ...
    # phase 2
    def child_candidates(self, gateway: str) -> list[ChildPolicy]: ...
    def install_child(self, child: Child) -> None: ...
    def new_child_id(self) -> int: ...
    def remove_child(self, c: Child, reason: str) -> None: ...
    def child_failed(self, sa: Phase1, name: str, reason: str) -> None: ...
