"""Outbound packets that find no SA: they wait in a short bounded queue per interface
(:class:`~.plane_state.Pending`) and trigger one ``acquire`` per flow per hold-off; when
an SA comes for the interface they are sent, when they are too old they are dropped.
"""

from __future__ import annotations

from collections import deque

from .esp_send import EspSend
from .plane_state import PENDING_PER_IF, Pending
from .spd import PacketKey, parse_inner

PENDING_MAX_AGE = 3.0  # seconds a waiting packet is kept
ACQUIRE_HOLDOFF = 10.0  # seconds before the same flow triggers another acquire
# flows remembered for that hold-off: a tunnel that stays down must not grow the table
# with every new flow sent into it; past this, the stale and then the oldest go
ACQUIRED_MAX = 4096


class AcquireQueue(EspSend):
    """Packets with no SA: queued per interface, one acquire per flow per hold-off."""

    def _no_sa(self, tunnel_if: str, key: PacketKey, packet: bytes) -> None:
        if link_scoped(key):
            # the kernel's own chatter on the interface (router solicitations, MLD):
            # never worth a negotiation
            self.stats.link_scoped += 1
            return
        self.stats.no_sa += 1
        now = self._clock()
        pending = self._pending.get(tunnel_if)
        if pending is None:
            pending = self._pending[tunnel_if] = Pending()
        if len(pending.packets) == PENDING_PER_IF:
            self.stats.pending_dropped += 1
        pending.packets.append((now, packet))
        flow = (tunnel_if, key.src_text, key.dst_text, key.proto, key.dport or 0)
        last = self._acquired.get(flow)
        if last is not None and now - last < ACQUIRE_HOLDOFF:
            return
        acquired = self._acquired
        acquired.pop(flow, None)  # in again at the end: the table stays oldest first
        acquired[flow] = now
        if len(acquired) > ACQUIRED_MAX:
            self._prune_acquired(now)
        self.stats.acquires += 1
        self._call_soon(self.events.acquire, *flow)

    def _prune_acquired(self, now: float) -> None:
        """Forget flows whose hold-off is over, then the oldest, down to ACQUIRED_MAX."""
        acquired = self._acquired
        while acquired:
            oldest = next(iter(acquired))
            if len(acquired) <= ACQUIRED_MAX and now - acquired[oldest] < ACQUIRE_HOLDOFF:
                break
            acquired.pop(oldest, None)

    def _flush_pending(self) -> None:
        with self._flush_lock:
            names, self._flush = self._flush, set()
        now = self._clock()
        for name in names:
            pending = self._pending.get(name)
            if pending is None:
                continue
            keep: deque[tuple[float, bytes]] = deque(maxlen=PENDING_PER_IF)
            while pending.packets:
                t, packet = pending.packets.popleft()
                if now - t > PENDING_MAX_AGE:
                    self.stats.pending_dropped += 1
                    continue
                key = parse_inner(packet)
                child = self._spd.lookup(name, key) if key is not None else None
                if child is None:
                    keep.append((t, packet))
                    continue
                self.stats.pending_sent += 1
                self._send(child, packet)
            if keep:
                pending.packets = keep
            else:
                self._pending.pop(name, None)
        self._gso_flush()
        self._kick_udp_out()

    def _expire_pending(self) -> None:
        now = self._clock()
        for name, pending in list(self._pending.items()):
            while pending.packets and now - pending.packets[0][0] > PENDING_MAX_AGE:
                pending.packets.popleft()
                self.stats.pending_dropped += 1
            if not pending.packets:
                self._pending.pop(name, None)


def link_scoped(key: PacketKey) -> bool:
    """Multicast, broadcast or link-local: traffic that never starts a negotiation."""
    if key.version == 4:
        return key.dst >> 28 == 0xE or key.dst == 0xFFFFFFFF or key.src >> 16 == 0xA9FE
    return key.dst >> 120 == 0xFF or key.dst >> 118 == 0x3FA or key.src >> 118 == 0x3FA
