"""``DualEngine``: the IKEv2 and IKEv1 engines behind one sans-IO API.

The daemon can hold one ``DualEngine`` where it held an ``Ikev2Engine``: datagrams are
routed by the ISAKMP version byte, everything else goes to the engine of the gateway's
``protocol version``, and queries merge both. ``ikev2-preferred`` gateways initiate
IKEv2 first; when IKE_SA_INIT fails (the peer does not answer it, or refuses it: an
IKEv1-only peer answers NO_PROPOSAL_CHOSEN or INVALID_MAJOR_VERSION) the gateway falls
back to IKEv1 and stays there until its configuration changes. A failure after
IKE_SA_INIT (a wrong pre-shared key, selectors refused) is reported as it is: the peer
does speak IKEv2 with us.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable

from ..ike.events import ChildSaInfo, Event, IkeEstablished, IkeFailed, IkeSaInfo, LogLine
from ..ike.pacing import InitiationWindow
from ..ikev2.engine import Ikev2Engine
from ..policy import ChildPolicy, IkePolicy
from .engine import Ikev1Engine
from .message import is_ikev1
from .sa import Address


class DualEngine:
    """IKEv2 and IKEv1 for all gateways. Not thread-safe: call it from one task."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        v2: Ikev2Engine | None = None,
        v1: Ikev1Engine | None = None,
    ) -> None:
        self._clock = clock
        # one initiation window for the daemon (ike/pacing.py says why): engines passed in
        # keep their own
        self.initiations = InitiationWindow()
        self.v2 = v2 or Ikev2Engine(clock=clock, rng=rng, initiations=self.initiations)
        self.v1 = v1 or Ikev1Engine(clock=clock, rng=rng, initiations=self.initiations)
        self._policies: dict[str, IkePolicy] = {}
        self._trying_v2: dict[str, str | None] = {}  # ikev2-preferred gateway -> child asked
        self.fallen_back: set[str] = set()  # ikev2-preferred gateways now on IKEv1
        self._events: deque[Event] = deque()

    # ------------------------------------------------------------------ config
    def add_policies(self, ike_policies: Iterable[IkePolicy],
                     child_policies: Iterable[ChildPolicy] = (), *, now: float) -> None:
        ike, child = list(ike_policies), list(child_policies)
        for p in ike:
            old = self._policies.get(p.name)
            if old is not None and old != p:
                self.fallen_back.discard(p.name)
            self._policies[p.name] = p
        self.v2.add_policies(ike, child, now=now)
        self.v1.add_policies(ike, child, now=now)

    def remove_policies(self, ike_names: Iterable[str] = (), child_names: Iterable[str] = (),
                        *, now: float) -> None:
        ike, child = list(ike_names), list(child_names)
        self.v2.remove_policies(ike, child, now=now)
        self.v1.remove_policies(ike, child, now=now)
        for name in ike:
            self._policies.pop(name, None)
            self.fallen_back.discard(name)
            self._trying_v2.pop(name, None)

    @property
    def policies(self) -> dict[str, IkePolicy]:
        return dict(self._policies)

    @property
    def force_udp_encap(self) -> bool:
        """ESP in UDP even without a NAT (see ``SansIoEngine.force_udp_encap``)."""
        return self.v2.force_udp_encap

    @force_udp_encap.setter
    def force_udp_encap(self, value: bool) -> None:
        self.v2.force_udp_encap = self.v1.force_udp_encap = value

    # --------------------------------------------------------------- commands
    def uses_ikev1(self, gateway: str) -> bool:
        """Whether ``gateway`` negotiates (or would now negotiate) with IKEv1."""
        p = self._policies[gateway]
        if p.version == "ikev1":
            return True
        if p.version == "ikev2":
            return False
        return gateway in self.fallen_back or bool(self.v1.ike_sas(gateway))

    def initiate(self, gateway: str, child: str | None = None, *, now: float) -> bool:
        if self.uses_ikev1(gateway):
            return self.v1.initiate(gateway, child, now=now)
        started = self.v2.initiate(gateway, child, now=now)
        if started and self._policies[gateway].version == "ikev2-preferred":
            self._trying_v2[gateway] = child
        return started

    def delete_ike(self, gateway: str | None = None, *, now: float) -> int:
        return self.v2.delete_ike(gateway, now=now) + self.v1.delete_ike(gateway, now=now)

    def delete_child(self, name: str | None = None, *, now: float,
                     exact: bool = False) -> int:
        return self.v2.delete_child(name, now=now, exact=exact) + self.v1.delete_child(name, now=now, exact=exact)

    def renegotiate(self, gateway: str, child: str | None, reason: str,
                    *, now: float) -> bool:
        """Tunnel monitor: new IKE and CHILD SAs for ``gateway`` now (the old ones are dropped
        without waiting for the peer). False when the gateway may not initiate."""
        if self.uses_ikev1(gateway):
            if child:
                self.v1.delete_child(child, now=now)
            self.v1.delete_ike(gateway, now=now)
        else:
            self.v2.abandon_ike(gateway, reason)
        return self.initiate(gateway, child, now=now)

    def shutdown(self, *, now: float) -> None:
        self.v2.shutdown(now=now)
        self.v1.shutdown(now=now)

    def child_lifesize_exceeded(self, spi_in: int, hard: bool, *, now: float) -> None:
        self.v2.child_lifesize_exceeded(spi_in, hard, now=now)
        self.v1.child_lifesize_exceeded(spi_in, hard, now=now)

    # ------------------------------------------------------------------ I/O
    def receive(self, data: bytes, local_addr: Address, remote_addr: Address,
                now: float) -> None:
        if is_ikev1(data):
            self.v1.receive(data, local_addr, remote_addr, now)
        else:
            self.v2.receive(data, local_addr, remote_addr, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Address, Address]]:
        return self.v2.datagrams_to_send() + self.v1.datagrams_to_send()

    def next_event(self) -> Event | None:
        while not self._events:
            ev = self.v2.next_event()
            if ev is None:
                break
            if isinstance(ev, IkeFailed) and ev.gateway in self._trying_v2:
                if ev.at_sa_init:
                    self._fall_back(ev)
                    continue
                # the peer does IKEv2 with us (it answered IKE_SA_INIT): its own error
                # (authentication, selectors...) is the outcome, not a reason for IKEv1
                self._trying_v2.pop(ev.gateway, None)
            if isinstance(ev, IkeEstablished):
                self._trying_v2.pop(ev.gateway, None)
            self._events.append(ev)
        if self._events:
            return self._events.popleft()
        return self.v1.next_event()

    def _fall_back(self, failed: IkeFailed) -> None:
        gateway = failed.gateway
        child = self._trying_v2.pop(gateway)
        self.fallen_back.add(gateway)
        self._events.append(LogLine(
            f"IKEv2 negotiation with gateway {gateway} failed ({failed.reason}): "
            f"protocol version ikev2-preferred, falling back to IKEv1", gateway))
        try:
            # found while draining events (no time is passed in): the clock that IKEv1
            # used here before now was required
            if not self.v1.initiate(gateway, child, now=self._clock()):
                self._events.append(failed)
        except KeyError:
            self._events.append(failed)

    def next_timer(self) -> float | None:
        times = [t for t in (self.v2.next_timer(), self.v1.next_timer()) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for engine in (self.v2, self.v1):  # one engine's bug never stops the other's timers
            try:
                engine.handle_timer(now)
            except Exception as exc:  # noqa: BLE001 - counted and logged, see internal_error
                engine.internal_error("in its timers", exc, now)

    # -------------------------------------------------------------- queries
    def ike_sas(self, gateway: str | None = None) -> list[IkeSaInfo]:
        """IKEv1 phase 1 SAs are ``Ikev1SaInfo`` (a subclass): tell them apart by type."""
        return [*self.v1.ike_sas(gateway), *self.v2.ike_sas(gateway)]

    def child_sas(self, tunnel: str | None = None) -> list[ChildSaInfo]:
        """IKEv1 phase 2 SAs are ``Ikev1ChildInfo`` (a subclass)."""
        return [*self.v1.child_sas(tunnel), *self.v2.child_sas(tunnel)]

    @property
    def drops(self) -> Counter[str]:
        return self.v2.drops + self.v1.drops
