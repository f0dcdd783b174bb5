"""The user-space data plane's SA table: CHILD SA pairs installed (by inbound SPI, and
in the SPD by selectors: the newest pair with the same selectors wins outbound at once,
older inbound SAs decrypt until removed), killed at their hard limit, removed, and
their counters for ``show vpn flow``. With worker processes every call reaches every
worker before it returns (make-before-break, as in one process).
"""

from __future__ import annotations

# the sockets UdpIo hands over are wildcard ones: each datagram's local address comes
# from IP_PKTINFO and each send names its source the same way (vpnsh.engine.udp_io)
from ..udp_io import pktinfo_cmsg, wildcard_for
from .base import ChildSaSpec, SaCounters
from .io_setup import DeviceSetup
from .plane_stats import sa_drops
from .sa import Direction
from .sa_pair import SaPair, esp_sa
from .spd import InboundCheck, compile_all


class SaTable(DeviceSetup):
    """The CHILD SA pairs, by inbound SPI and by selectors."""

    def install_child(self, spec: ChildSaSpec) -> None:
        now = self._clock()
        inbound = esp_sa(spec, Direction.IN, now)
        outbound = esp_sa(spec, Direction.OUT, now)
        udp_local = udp_remote = None
        if spec.encap is not None:
            udp_local, udp_remote = (spec.local_addr, spec.encap[0]), (spec.peer_addr, spec.encap[1])
        else:
            self._raw_socket(spec.local_addr)
        check = InboundCheck(compile_all(spec.local_ts), compile_all(spec.remote_ts))
        child = SaPair(spec, inbound, outbound, check, now, udp_local, udp_remote)
        if udp_local is not None:
            child.udp_wild = (wildcard_for(udp_local[0]), udp_local[1])
            child.udp_src = pktinfo_cmsg(udp_local[0])
        child.compute_next_limit()
        if self.bind_child is not None:  # state in shared memory before anyone uses it
            self.bind_child(child)
        old = self._children.get(spec.inbound.spi)
        if old is not None:
            self._spd.remove(spec.inbound.spi)
        self._children[spec.inbound.spi] = child
        # the newest SA with the same selectors wins: outbound switches to it at once,
        # older inbound SAs keep decrypting until remove_child
        self._spd.add(spec.tunnel_if, spec.inbound.spi, spec.local_ts, spec.remote_ts, child)
        for key in list(self._acquired):  # list(): the outbound thread adds keys
            if key[0] == spec.tunnel_if:
                self._acquired.pop(key, None)
        # the outbound thread sends what waits for this interface. It may be queueing the
        # first packet right now, so ask whatever the queue looks like from here: the
        # thread looks at _flush before it sleeps again. Wake it (a syscall, and a GIL
        # hand-over per SA when many come up at once) only when packets already wait:
        # then it may be asleep with them.
        with self._flush_lock:
            self._flush.add(spec.tunnel_if)
        if self._pending.get(spec.tunnel_if) is not None:
            self._wake(self._out_wake)
        pool = self._pool
        if pool is not None:  # in every worker before this returns (make-before-break)
            pool.call("install", spec, *child.slots, False)
            if old is not None:
                pool.free_slots(old.slots)

    def kill_child(self, inbound_spi: int) -> None:
        """The SA pair's hard limit passed (the owner process said so): it carries nothing more."""
        child = self._children.get(inbound_spi)
        if child is not None:
            child.dead = True
            self._spd.remove(inbound_spi)

    def remove_child(self, inbound_spi: int) -> None:
        child = self._children.pop(inbound_spi, None)
        self._spd.remove(inbound_spi)
        if child is None:
            return
        self._retired.update(sa_drops(child))  # the global counters keep its drops
        if self._pool is not None:  # gone from every worker before its slots are reused
            self._pool.call("remove", inbound_spi)
            self._pool.free_slots(child.slots)
        if child.spec.encap is None and not any(
                c.spec.encap is None and c.spec.local_addr == child.spec.local_addr
                for c in self._children.values()):
            sock = self._raw.get(child.spec.local_addr)
            if sock is not None:
                self._raw = {a: s for a, s in self._raw.items() if s is not sock}
                self._sync_thread("in")
                sock.close()

    def counters(self, inbound_spi: int) -> SaCounters | None:
        child = self._children.get(inbound_spi)
        if child is None:
            return None
        i, o = child.inbound.counters, child.outbound.counters
        return SaCounters(
            encap_packets=o.packets, decap_packets=i.packets,
            encap_bytes=o.bytes, decap_bytes=i.bytes,
            auth_errors=i.auth_fail, decrypt_errors=i.pad_errors + i.other_drops,
            replay_packets=i.replay, selector_drops=i.selector_drop + child.selector_drops,
            send_seq=child.outbound.seq, recv_seq=child.inbound.recv_seq)

    def children(self) -> list[ChildSaSpec]:
        return [c.spec for c in self._children.values()]
