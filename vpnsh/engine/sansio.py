"""The sans-IO half that the IKEv2 and IKEv1 engines share.

Datagrams and the clock come in through :meth:`SansIoEngine.receive`; datagrams
and events go out through :meth:`datagrams_to_send` and :meth:`next_event`. A bad
datagram never raises: it is counted in ``drops`` by reason and dropped.
Subclasses implement ``_receive`` and name their codec's error in ``parse_error``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, ClassVar

Address = tuple[str, int]
KEEPALIVE = b"\xff"  # a NAT-keepalive (RFC 3948): never an IKE message


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

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._out: list[tuple[bytes, Address, Address]] = []
        self._events: deque[Any] = deque()
        self.drops: Counter[str] = Counter()
        # ESP in UDP even without a NAT, by faking one in NAT detection (where the peer
        # does NAT detection): the user-space data plane asks for it, as strongSwan's
        # kernel-libipsec does, because it batches UDP (GSO/GRO) and not raw ESP
        self.force_udp_encap = False

    def _receive(self, data: bytes, local_addr: Address, remote_addr: Address, now: float) -> None:
        raise NotImplementedError

    def receive(
        self, data: bytes, local_addr: Address, remote_addr: Address, now: float | None = None
    ) -> None:
        """Takes one datagram; never raises (bad ones are counted in ``drops``)."""
        now = self._now(now)
        if data == KEEPALIVE:
            return
        try:
            self._receive(bytes(data), local_addr, remote_addr, now)
        except self.parse_error as exc:
            self.drop(f"parse error: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bad datagram must never kill the daemon
            self.drop(f"internal error: {type(exc).__name__}: {exc}")

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
