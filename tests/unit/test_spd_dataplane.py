"""The user-space data plane's per-packet logic without I/O: SA choice, acquire and the
waiting queue, lifetimes, make-before-break, drops. No TUN, no sockets, no threads:
packets go in through the same methods the threads call, and ESP-in-UDP comes out of
the queue meant for the event loop."""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
from typing import Any

import pytest

from vpnsh.engine.dataplane.acquire import ACQUIRE_HOLDOFF, PENDING_MAX_AGE
from vpnsh.engine.dataplane.base import ChildSaSpec, EspKeys
from vpnsh.engine.dataplane.plane_state import PENDING_PER_IF
from vpnsh.engine.dataplane.spd import parse_inner
from vpnsh.engine.dataplane.tun import TunDevice
from vpnsh.engine.dataplane.userspace import UserspaceDataPlane
from vpnsh.engine.policy import TrafficSelector

TS = TrafficSelector.from_prefix


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keys(spi: int, seed: int) -> EspKeys:
    return EspKeys(spi, 20, 128, bytes([seed]) * 20, 0, b"")


def spec_pair(spi_a: int, spi_b: int, local: str = "10.1.0.0/24", remote: str = "10.2.0.0/24",
              **extra: Any) -> tuple[ChildSaSpec, ChildSaSpec]:
    """(left, right): left's inbound SPI is spi_a, right's spi_b."""
    ab, ba = keys(spi_b, spi_b & 0xFF), keys(spi_a, spi_a & 0xFF)
    common: dict[str, Any] = {"name": "T", "tnid": 1, "tunnel_if": "tunnel.1",
                              "encap": (4500, 4500), **extra}
    left = ChildSaSpec(local_addr="198.51.100.1", peer_addr="198.51.100.2", inbound=ba,
                       outbound=ab, local_ts=(TS(local),), remote_ts=(TS(remote),), **common)
    right = ChildSaSpec(local_addr="198.51.100.2", peer_addr="198.51.100.1", inbound=ab,
                        outbound=ba, local_ts=(TS(remote),), remote_ts=(TS(local),), **common)
    return left, right


def packet(src: str, dst: str, proto: int = 17, size: int = 100, dport: int = 53) -> bytes:
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, size, 1, 0, 64, proto, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return hdr + struct.pack(">HH", 1234, dport) + bytes(size - 24)


class Recorder:
    def __init__(self, dp: UserspaceDataPlane) -> None:
        self.acquires: list[tuple[Any, ...]] = []
        self.expires: list[tuple[int, str]] = []
        self.sent: list[bytes] = []
        dp.events.acquire = lambda *a: self.acquires.append(a)
        dp.events.expire = lambda spi, kind: self.expires.append((spi, kind))
        dp.events.send_udp = self.send_udp

    def send_udp(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> bool:
        self.sent.append(data)
        return True


def outbound(dp: UserspaceDataPlane, pkt: bytes, tunnel_if: str = "tunnel.1") -> None:
    """What the outbound thread does with one packet read from ``tunnel_if``."""
    key = parse_inner(pkt)
    assert key is not None
    child = dp._spd.lookup(tunnel_if, key)
    if child is None:
        dp._no_sa(tunnel_if, key, pkt)
    else:
        dp._send(child, pkt)
    dp._drain_udp_out()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def left(clock: Clock) -> UserspaceDataPlane:
    return UserspaceDataPlane(clock=clock)


def test_no_sa_queues_a_bounded_burst_and_acquires_once(left: UserspaceDataPlane,
                                                        clock: Clock) -> None:
    rec = Recorder(left)
    for _ in range(PENDING_PER_IF + 4):
        outbound(left, packet("10.1.0.1", "10.2.0.1"))
    assert rec.acquires == [("tunnel.1", "10.1.0.1", "10.2.0.1", 17, 53)]
    assert left.stats.no_sa == PENDING_PER_IF + 4 and left.stats.pending_dropped == 4
    clock.now += ACQUIRE_HOLDOFF + 1
    outbound(left, packet("10.1.0.1", "10.2.0.1"))
    assert len(rec.acquires) == 2
    # another flow asks at once
    outbound(left, packet("10.1.0.1", "10.2.0.9", proto=6, dport=443))
    assert rec.acquires[-1] == ("tunnel.1", "10.1.0.1", "10.2.0.9", 6, 443)


def test_link_scoped_packets_never_acquire(left: UserspaceDataPlane) -> None:
    rec = Recorder(left)
    outbound(left, packet("10.1.0.1", "224.0.0.5"))
    outbound(left, packet("169.254.10.1", "10.2.0.1"))
    assert rec.acquires == [] and left.stats.link_scoped == 2


def test_waiting_packets_go_out_after_install_and_expire_otherwise(left: UserspaceDataPlane,
                                                                   clock: Clock) -> None:
    rec = Recorder(left)
    for i in range(3):
        outbound(left, packet("10.1.0.1", "10.2.0.1", size=100 + i))
    outbound(left, packet("10.1.0.1", "10.3.0.1"))  # no SA will match this one
    a, b = spec_pair(0x1001, 0x2001)
    left.install_child(a)
    left._flush_pending()
    left._drain_udp_out()
    assert len(rec.sent) == 3 and left.stats.pending_sent == 3
    right = UserspaceDataPlane()
    right.install_child(b)
    for esp in rec.sent:
        right._inbound(esp, True)
    counters = right.counters(0x2001)
    assert counters is not None and counters.decap_packets == 3
    assert counters.decap_bytes == 100 + 101 + 102
    # the 10.3.0.1 packet still waits, then ages out
    assert len(left._pending["tunnel.1"].packets) == 1
    clock.now += PENDING_MAX_AGE + 0.1
    left._expire_pending()
    assert "tunnel.1" not in left._pending and left.stats.pending_dropped == 1


def test_install_clears_the_acquire_holdoff(left: UserspaceDataPlane) -> None:
    rec = Recorder(left)
    outbound(left, packet("10.1.0.1", "10.2.0.1"))
    a, _ = spec_pair(0x1001, 0x2001)
    left.install_child(a)
    left.remove_child(0x1001)
    outbound(left, packet("10.1.0.1", "10.2.0.1"))
    assert len(rec.acquires) == 2


def test_rekey_is_make_before_break(left: UserspaceDataPlane) -> None:
    rec = Recorder(left)
    right = UserspaceDataPlane()
    old_a, old_b = spec_pair(0x1001, 0x2001)
    new_a, new_b = spec_pair(0x1002, 0x2002)
    left.install_child(old_a)
    right.install_child(old_b)
    outbound(left, packet("10.1.0.1", "10.2.0.1"))
    in_flight = rec.sent.pop()  # sent on the old SA, arrives after the rekey
    right.install_child(new_b)
    left.install_child(new_a)
    outbound(left, packet("10.1.0.1", "10.2.0.1"))
    right._inbound(rec.sent.pop(), True)
    right._inbound(in_flight, True)  # the old inbound SA still decrypts
    old, new = right.counters(0x2001), right.counters(0x2002)
    assert old is not None and new is not None
    assert (old.decap_packets, new.decap_packets) == (1, 1)
    la_old, la_new = left.counters(0x1001), left.counters(0x1002)
    assert la_old is not None and la_new is not None
    assert (la_old.encap_packets, la_new.encap_packets) == (1, 1)
    right.remove_child(0x2001)
    assert right.counters(0x2001) is None
    right._inbound(in_flight, True)
    assert right.stats.unknown_spi == 1


def test_lifesize_soft_and_hard_fire_once_each(left: UserspaceDataPlane) -> None:
    rec = Recorder(left)
    a, _ = spec_pair(0x1001, 0x2001, lifesize_soft_kb=2, lifesize_hard_kb=4)
    left.install_child(a)
    for _ in range(60):
        outbound(left, packet("10.1.0.1", "10.2.0.1", size=100))
        left._check_limits()
    assert rec.expires == [(0x1001, "soft"), (0x1001, "hard")]
    counters = left.counters(0x1001)
    assert counters is not None
    # the hard limit stops the SA: encapsulation refused at 4 KB, then no SA at all
    assert 4096 <= counters.encap_bytes < 4096 + 100
    assert rec.acquires and rec.acquires[0][2] == "10.2.0.1"


def test_hard_lifetime_seconds_fire_once(left: UserspaceDataPlane, clock: Clock) -> None:
    rec = Recorder(left)
    a, _ = spec_pair(0x1001, 0x2001, lifetime_hard=30)
    left.install_child(a)
    left._check_limits()
    assert rec.expires == []
    clock.now += 31
    left._check_limits()
    left._check_limits()
    assert rec.expires == [(0x1001, "hard")]


def test_malformed_and_forged_packets_are_counted_and_dropped(left: UserspaceDataPlane) -> None:
    rec = Recorder(left)
    right = UserspaceDataPlane()
    a, b = spec_pair(0x1001, 0x2001)
    left.install_child(a)
    right.install_child(b)
    outbound(left, packet("10.1.0.1", "10.2.0.1"))
    good = rec.sent.pop()
    right._inbound(b"\x00\x00", True)
    right._inbound(bytes.fromhex("deadbeef") + bytes(40), True)
    right._inbound(good[:12], True)  # truncated
    right._inbound(good[:-1] + bytes([good[-1] ^ 1]), True)  # ICV broken
    right._inbound(good, False)  # a UDP SA's packet as raw ESP
    assert (right.stats.short, right.stats.unknown_spi, right.stats.wrong_path) == (1, 1, 1)
    c = right.counters(0x2001)
    assert c is not None and c.auth_errors == 1 and c.decrypt_errors == 1
    right._inbound(good, True)
    right._inbound(good, True)  # replayed
    c = right.counters(0x2001)
    assert c is not None and (c.decap_packets, c.replay_packets, c.recv_seq) == (1, 1, 1)


def test_inner_packet_outside_the_selectors_is_dropped(left: UserspaceDataPlane) -> None:
    rec = Recorder(left)
    right = UserspaceDataPlane()
    a, b = spec_pair(0x1001, 0x2001, remote="0.0.0.0/0")  # left sends anything
    left.install_child(a)
    # right accepts only 10.1.0.0/24 -> 10.2.0.0/24 on it
    right.install_child(dataclasses.replace(b, local_ts=(TS("10.2.0.0/24"),)))
    outbound(left, packet("10.1.0.1", "10.2.0.1"))
    outbound(left, packet("10.1.0.1", "10.9.0.1"))
    for esp in rec.sent:
        right._inbound(esp, True)
    c = right.counters(0x2001)
    assert c is not None and (c.decap_packets, c.selector_drops) == (1, 1)


def test_counters_of_unknown_spi_is_none(left: UserspaceDataPlane) -> None:
    assert left.counters(0x9999) is None
    left.remove_child(0x9999)  # ignored


class NoDeviceTun(TunDevice):
    """A TunDevice without a device (nothing is written here: the train's packets stay
    in the batch the caller hands to the TUN)."""

    def __init__(self) -> None:  # noqa: D107 - no super(): no /dev/net/tun needed
        self.name, self.fd, self.offload, self.tso, self.coalesced = "tunnel.1", 99, True, False, 0


def test_a_gro_train_is_opened_in_one_go_only_when_every_datagram_is_of_its_sa(
        left: UserspaceDataPlane) -> None:
    """_inbound_train takes a train only when each datagram carries the first one's SPI
    (every byte of it checked) and the last is 8 bytes or more; else nothing is done
    (the caller goes datagram by datagram)."""
    rec = Recorder(left)
    right = UserspaceDataPlane()
    a, b = spec_pair(0x1001, 0x2001)
    left.install_child(a)
    right.install_child(b)
    right._tuns["tunnel.1"] = tun = NoDeviceTun()
    inner = [packet("10.1.0.1", "10.2.0.1", size=1000) for _ in range(5)] + [packet("10.1.0.1", "10.2.0.1")]
    for p in inner:
        outbound(left, p)
    esps = rec.sent
    seg = len(esps[0])
    assert {len(e) for e in esps[:5]} == {seg} and len(esps[5]) < seg
    for j in range(4):  # one byte of one datagram's SPI differs: not this SA's train
        other = [bytearray(e) for e in esps]
        other[3][j] ^= 0x40
        assert not right._inbound_train(b"".join(other), seg, {})
    assert not right._inbound_train(b"".join(esps[:5]) + esps[5][:7], seg, {})  # a runt last
    assert right.counters(0x2001).decap_packets == 0  # type: ignore[union-attr]
    batch: dict[TunDevice, list[bytes]] = {}
    assert right._inbound_train(b"".join(esps), seg, batch)
    assert [bytes(p) for p in batch[tun]] == inner
    assert right.counters(0x2001).decap_packets == 6  # type: ignore[union-attr]
