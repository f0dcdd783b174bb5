"""The sans-IO half that the IKEv2 and IKEv1 engines share.

Datagrams and the clock come in through :meth:`SansIoEngine.receive` and
``handle_timer``, each with a required ``now`` (a monotonic clock: an NTP step must not
move DPD, rekey or retransmit deadlines; wall-clock time is only for what people read,
converted at the edge, see ``Engine.wall``). Commands take an optional ``now`` that
defaults to the engine's clock. Datagrams
and events go out through :meth:`datagrams_to_send` and :meth:`next_event`. A bad
datagram never raises: it is counted in ``drops`` by reason and dropped. A bug that a
datagram or a timer runs into is counted as an internal error and its traceback logged
(a few a minute: :mod:`vpnsh.engine.ratelimit`); it never stops the timers of other SAs.
Subclasses implement ``_receive`` and name their codec's error in ``parse_error``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from ..ratelimit import Repeats, suppressed_text
from .events import LogLine

if TYPE_CHECKING:
    from ..policy import ChildPolicy, IkePolicy

log = logging.getLogger("vpnshd.ike")
INTERNAL_ERROR = "internal error"

Address = tuple[str, int]
KEEPALIVE = b"\xff"  # a NAT-keepalive (RFC 3948): never an IKE message
_VERSION_WORDS = {"ikev1": "IKEv1", "ikev2": "IKEv2"}


def nat_words(local: bool, remote: bool, fake: bool) -> str:
    """NAT detection in log words: a NAT in front of us (``local``), of the peer
    (``remote``), and whether we faked one to force ESP-in-UDP (``fake``)."""
    if local and remote:
        text = "detected on both sides"
    elif local:
        text = "detected in front of us"
    elif remote:
        text = "detected in front of the peer"
    else:
        text = "not detected"
    return text + ", UDP encapsulation forced" if fake else text


def nat_column(local: bool, remote: bool, fake: bool) -> str:
    """NAT detection for ``show vpn ike-sa detail`` (PAN-OS words)."""
    text = {(False, False): "Not detected", (True, False): "ME", (False, True): "PEER",
            (True, True): "BOTH"}[(local, remote)]
    return text + " (UDP encapsulation forced)" if fake else text


class SansIoEngine:
    parse_error: ClassVar[type[Exception]] = ValueError
    version: ClassVar[str] = ""  # "ikev2" | "ikev1": the gateways' protocol version it serves

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._out: list[tuple[bytes, Address, Address]] = []
        self._events: deque[Any] = deque()
        self.drops: Counter[str] = Counter()
        # ESP in UDP even without a NAT, by faking one in NAT detection (where the peer
        # does NAT detection): the user-space data plane asks for it, as strongSwan's
        # kernel-libipsec does, because it batches UDP (GSO/GRO) and not raw ESP
        self.force_udp_encap = False
        self._ike_policies: dict[str, IkePolicy] = {}
        self._child_policies: dict[str, ChildPolicy] = {}
        # gateway -> its child policies in ``_child_policies`` order; rebuilt after a change
        self._children_by_gateway: dict[str, list[ChildPolicy]] | None = None
        # log lines of one kind (a flood of requests from strangers): a few a minute
        self._repeats = Repeats(burst=5, window=60.0)
        self._repeat_levels: dict[str, tuple[str, str]] = {}  # kind -> (gateway, level)
        self._tracebacks = Repeats(burst=3, window=60.0)

    # ------------------------------------------------------------------ policies
    def add_policies(
        self,
        ike_policies: Iterable[IkePolicy],
        child_policies: Iterable[ChildPolicy] = (),
        *,
        now: float,
    ) -> None:
        """Adds or replaces policies; a replaced policy that changed tears down its SAs."""
        self._policies_changed()
        for p in ike_policies:
            old = self._ike_policies.get(p.name)
            if old is not None and old != p:
                self._teardown_gateway(p.name, "gateway configuration changed", now)
            self._ike_policies[p.name] = p
        for c in child_policies:
            old_c = self._child_policies.get(c.name)
            if old_c is not None and old_c != c:
                self.delete_child(c.name, now=now, exact=True)
            self._child_policies[c.name] = c
            self._children_by_gateway = None

    def remove_policies(
        self,
        ike_names: Iterable[str] = (),
        child_names: Iterable[str] = (),
        *,
        now: float,
    ) -> None:
        self._policies_changed()
        for name in child_names:
            self.delete_child(name, now=now, exact=True)
            self._child_policies.pop(name, None)
            self._children_by_gateway = None
        for name in ike_names:
            self._teardown_gateway(name, "gateway removed from configuration", now)
            self._ike_policies.pop(name, None)
        self._policies_changed()

    def _child_policies_of(self, gateway: str) -> list[ChildPolicy]:
        """The child policies of ``gateway``, in configuration order, from an index: not a
        scan of every tunnel's policy for each CHILD SA (quadratic with many tunnels)."""
        index = self._children_by_gateway
        if index is None:
            index = {}
            for c in self._child_policies.values():
                index.setdefault(c.gateway, []).append(c)
            self._children_by_gateway = index
        return index.get(gateway, [])

    def _policies_changed(self) -> None:
        """Drop whatever the engine derived from the policies (lookup indexes)."""

    def _teardown_gateway(self, gateway: str, reason: str, now: float) -> None:
        raise NotImplementedError

    def delete_child(self, name: str | None = None, *, now: float,
                     exact: bool = False) -> int:
        raise NotImplementedError

    def _cannot_initiate(self, policy: IkePolicy) -> str:
        """Why this gateway may not start negotiations here, or "" when it may."""
        gw = policy.name
        if not policy.enabled:
            return f"gateway {gw} is disabled: not initiating"
        if policy.passive:
            return f"gateway {gw} is in passive mode: not initiating"
        if policy.peer_addr is None:
            return f"gateway {gw} has a dynamic peer: not initiating"
        other = {"ikev2": "ikev1", "ikev1": "ikev2"}.get(self.version)
        if policy.version == other:
            return f"gateway {gw} is configured for {_VERSION_WORDS[other]}"
        return ""

    def _receive(self, data: bytes, local_addr: Address, remote_addr: Address, now: float) -> None:
        raise NotImplementedError

    def receive(self, data: bytes, local_addr: Address, remote_addr: Address, now: float) -> None:
        """Takes one datagram that arrived at ``now`` (the caller's monotonic clock, as
        aioquic's ``receive_datagram``); never raises (bad ones are counted in ``drops``)."""
        if data == KEEPALIVE:
            return
        try:
            self._receive(bytes(data), local_addr, remote_addr, now)
        except self.parse_error as exc:
            self.drop(f"parse error: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bad datagram must never kill the daemon
            self.internal_error(f"on a datagram from {remote_addr[0]}[{remote_addr[1]}]", exc, now)

    def internal_error(self, where: str, exc: BaseException, now: float) -> None:
        """A bug met a datagram or a timer: counted as a drop, its traceback logged (at
        most three of one kind a minute, then counted and summarised)."""
        self.drops[INTERNAL_ERROR] += 1
        kind = f"{_VERSION_WORDS.get(self.version, 'IKE')} internal error {type(exc).__name__}"
        write, before = self._tracebacks.allow(kind, now)
        if before:
            log.error("%s", suppressed_text(before, kind))
        if write:
            log.error("%s %s: %s", kind, where, exc, exc_info=exc)

    def log_limited(self, kind: str, text: str, now: float, gateway: str = "",
                    level: str = "ERROR") -> None:
        """A log line of a kind that may come in floods: a few a minute, the rest counted
        and reported as "N similar messages suppressed"."""
        self._repeat_levels[kind] = (gateway, level)
        write, before = self._repeats.allow(kind, now)
        if before:
            self.emit(LogLine(suppressed_text(before, kind), gateway, level))
        if write:
            self.emit(LogLine(text, gateway, level))

    def flush_repeats(self, now: float) -> None:
        """Report what was suppressed in windows that are over (called with the timers)."""
        for kind, count in self._repeats.flush(now):
            gateway, level = self._repeat_levels.pop(kind, ("", "ERROR"))
            self.emit(LogLine(suppressed_text(count, kind), gateway, level))
        for kind, count in self._tracebacks.flush(now):
            log.error("%s", suppressed_text(count, kind))

    def repeats_due(self) -> float | None:
        """When :meth:`flush_repeats` has something to report, or None."""
        if not (self._repeats.pending() or self._tracebacks.pending()):
            return None
        return min(t for t in (self._repeats.next_flush(), self._tracebacks.next_flush())
                   if t is not None)

    def _guarded(self, what: str, now: float, fn: Callable[..., None], *args: Any) -> None:
        """Runs one SA's timers; a bug there is an internal error, not the end of the rest."""
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - one SA's bug must not stop the others' timers
            self.internal_error(f"in the timers of {what}", exc, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Address, Address]]:
        """(data, local address, remote address) to send, oldest first."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> Any:
        return self._events.popleft() if self._events else None

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def send(self, data: bytes, local: Address, remote: Address) -> None:
        self._out.append((data, local, remote))

    def emit(self, event: Any) -> None:
        self._events.append(event)

    def drop(self, why: str) -> None:
        self.drops[why.split(":")[0]] += 1
