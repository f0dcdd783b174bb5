"""Two engines on an in-process wire, for tests and benchmarks (no sockets)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..clock import FakeClock
from ..ike.events import Event
from ..policy import ChildPolicy, EspProposal, Identity, IkePolicy, IkeProposal
from .engine import Ikev2Engine
from .sa import Address

E = TypeVar("E")

# Drop filter: (data, sender engine name) -> True to lose the datagram.
DropFilter = Callable[[bytes, str], bool]

AES128_SHA256_G14 = IkeProposal(((12, 128),), (5,), (12,), (14,))
ESP_AES128_SHA256 = EspProposal(((12, 128),), (12,))


def ike_policy(name: str, local: str, peer: str | None, **kw: object) -> IkePolicy:
    args: dict[str, object] = {
        "psk": b"secret-psk-0123",
        "proposals": (AES128_SHA256_G14,),
        "local_id": Identity("ipaddr", local),
        "peer_id": Identity("ipaddr", peer) if peer else None,
    }
    args.update(kw)
    return IkePolicy(name=name, local_addr=local, peer_addr=peer, **args)  # type: ignore[arg-type]


def child_policy(name: str, gateway: str, **kw: object) -> ChildPolicy:
    args: dict[str, object] = {"proposals": (ESP_AES128_SHA256,)}
    args.update(kw)
    return ChildPolicy(name=name, gateway=gateway, **args)  # type: ignore[arg-type]


@dataclass
class Node:
    name: str
    engine: Ikev2Engine
    address: str
    events: list[Event] = field(default_factory=list)

    def drain(self) -> None:
        while (ev := self.engine.next_event()) is not None:
            self.events.append(ev)

    def of(self, cls: type[E]) -> list[E]:
        self.drain()
        return [e for e in self.events if isinstance(e, cls)]


class Wire:
    """Delivers datagrams between nodes by address; a NAT can rewrite one side's source."""

    def __init__(self, clock: FakeClock, *nodes: Node) -> None:
        self.clock = clock
        self.nodes = {n.address: n for n in nodes}
        self.drop: DropFilter | None = None
        self.delivered = 0
        self.dropped = 0
        self.nat: dict[str, tuple[str, dict[int, int]]] = {}  # inside ip -> (public ip, port map)
        self.sent: list[tuple[str, bytes, Address, Address]] = []

    def add_nat(self, inside: str, public: str) -> None:
        self.nat[inside] = (public, {})

    def _translate(self, src: Address) -> Address:
        if src[0] not in self.nat:
            return src
        public, ports = self.nat[src[0]]
        if src[1] not in ports:  # a port of its own among all hosts behind ``public``
            ports[src[1]] = 40000 + sum(len(p) for pub, p in self.nat.values() if pub == public)
        return (public, ports[src[1]])

    def _inbound(self, dst: Address) -> Address:
        for inside, (public, ports) in self.nat.items():
            if dst[0] == public:
                for private, mapped in ports.items():
                    if mapped == dst[1]:
                        return (inside, private)
        return dst

    def step(self) -> int:
        """Moves every queued datagram once; returns how many were moved."""
        moved = 0
        nodes = list({id(n): n for n in self.nodes.values()}.values())  # a node may own several addresses
        for node in nodes:
            for data, local, remote in node.engine.datagrams_to_send():
                moved += 1
                self.sent.append((node.name, data, local, remote))
                if self.drop is not None and self.drop(data, node.name):
                    self.dropped += 1
                    continue
                src = self._translate(local)
                dst = self._inbound(remote)
                target = self.nodes.get(dst[0])
                if target is None:
                    self.dropped += 1
                    continue
                self.delivered += 1
                target.engine.receive(data, dst, src, self.clock.now)
        for node in nodes:
            node.drain()
        return moved

    def run(self, max_steps: int = 100) -> None:
        for _ in range(max_steps):
            if not self.step():
                return
        raise AssertionError("the exchange did not settle")

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Moves the clock forward, firing timers and delivering datagrams on the way."""
        end = self.clock.now + seconds
        stuck = 0
        while self.clock.now < end:
            before = self.clock.now
            timers = [t for n in self.nodes.values() if (t := n.engine.next_timer()) is not None]
            nxt = min([end, self.clock.now + step, *timers])
            self.clock.now = max(nxt, self.clock.now)
            for n in self.nodes.values():
                n.engine.handle_timer(self.clock.now)
            self.run()
            stuck = stuck + 1 if self.clock.now == before else 0
            if stuck > 1000:
                raise AssertionError(f"a timer at {self.clock.now} fires without end")


def make_pair(
    a_policy: IkePolicy,
    b_policy: IkePolicy,
    a_children: tuple[ChildPolicy, ...] = (),
    b_children: tuple[ChildPolicy, ...] = (),
    seed: int = 1,
) -> tuple[Wire, Node, Node]:
    clock = FakeClock()
    a = Node("a", Ikev2Engine(clock=clock, rng=random.Random(seed)), a_policy.local_addr)
    b = Node("b", Ikev2Engine(clock=clock, rng=random.Random(seed + 1)), b_policy.local_addr)
    a.engine.add_policies([a_policy], a_children, now=clock.now)
    b.engine.add_policies([b_policy], b_children, now=clock.now)
    return Wire(clock, a, b), a, b
