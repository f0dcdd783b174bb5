"""Selector lookup: packet parsing, most-specific match, proxy-ids, inbound checks."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given
from hypothesis import strategies as st

from vpnsh.engine.dataplane.spd import (
    CompiledSelector,
    PacketKey,
    Spd,
    compile_all,
    parse_inner,
    selectors_admit,
)
from vpnsh.engine.policy import TrafficSelector

TS = TrafficSelector.from_prefix


def ipv4(src: str, dst: str, proto: int, payload: bytes = b"", frag: int = 0) -> bytes:
    total = 20 + len(payload)
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 1, frag, 64, proto, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return hdr + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes = b"") -> bytes:
    return (struct.pack(">IHBB", 6 << 28, len(payload), nh, 64)
            + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload)


def ports(sport: int, dport: int) -> bytes:
    return struct.pack(">HH", sport, dport) + bytes(16)


def key(src: str, dst: str, proto: int = 6, dport: int | None = 80) -> PacketKey:
    v = ipaddress.ip_address(src)
    return PacketKey(v.version, int(v), int(ipaddress.ip_address(dst)), proto,
                     1234 if dport is not None else None, dport)


# --- parsing ----------------------------------------------------------------------


def test_parse_ipv4_tcp_ports() -> None:
    k = parse_inner(ipv4("10.1.0.1", "10.2.0.9", 6, ports(40000, 443)))
    assert k is not None
    assert (k.version, k.src_text, k.dst_text, k.proto, k.sport, k.dport) == (
        4, "10.1.0.1", "10.2.0.9", 6, 40000, 443)


def test_parse_ipv4_icmp_type_code_is_the_port() -> None:
    k = parse_inner(ipv4("10.1.0.1", "10.2.0.1", 1, bytes([8, 0]) + bytes(6)))
    assert k is not None and k.sport == k.dport == 8 << 8


def test_parse_non_first_fragment_has_no_ports() -> None:
    k = parse_inner(ipv4("10.1.0.1", "10.2.0.1", 17, ports(1, 2), frag=100))
    assert k is not None and k.sport is None and k.dport is None


def test_parse_ipv6_walks_extension_headers() -> None:
    hop_by_hop = bytes([17, 0]) + bytes(6)  # next header UDP, length 0 (8 bytes)
    k = parse_inner(ipv6("2001:db8:1::1", "2001:db8:2::1", 0, hop_by_hop + ports(5000, 53)))
    assert k is not None
    assert (k.version, k.proto, k.dport, k.dst_text) == (6, 17, 53, "2001:db8:2::1")


def test_parse_rejects_garbage() -> None:
    assert parse_inner(b"") is None
    assert parse_inner(bytes(19)) is None
    assert parse_inner(b"\x75" + bytes(40)) is None  # version 7
    assert parse_inner(b"\x4f" + bytes(30)) is None  # IHL 60 > length


@given(st.binary(max_size=80))
def test_parse_never_raises(data: bytes) -> None:
    parse_inner(data)


# --- selectors --------------------------------------------------------------------


def test_selector_port_range_and_protocol() -> None:
    sel = CompiledSelector.compile(TS("10.2.0.0/24", 6, 22))
    assert sel.matches(4, int(ipaddress.IPv4Address("10.2.0.5")), 6, 22)
    assert not sel.matches(4, int(ipaddress.IPv4Address("10.2.0.5")), 6, 23)
    assert not sel.matches(4, int(ipaddress.IPv4Address("10.2.0.5")), 17, 22)
    assert not sel.matches(4, int(ipaddress.IPv4Address("10.2.0.5")), 6, None)
    assert not sel.matches(6, int(ipaddress.IPv4Address("10.2.0.5")), 6, 22)


def test_portless_packet_matches_unrestricted_selector() -> None:
    sel = CompiledSelector.compile(TS("10.2.0.0/24"))
    assert sel.matches(4, int(ipaddress.IPv4Address("10.2.0.1")), 47, None)


def test_inbound_check_swaps_sides() -> None:
    local, remote = compile_all([TS("10.1.0.0/24")]), compile_all([TS("10.2.0.0/24")])
    assert selectors_admit(local, remote, key("10.2.0.1", "10.1.0.1"), inbound=True)
    assert not selectors_admit(local, remote, key("10.1.0.1", "10.2.0.1"), inbound=True)
    assert selectors_admit(local, remote, key("10.1.0.1", "10.2.0.1"), inbound=False)
    assert not selectors_admit(local, remote, key("10.3.0.1", "10.1.0.1"), inbound=True)


# --- the table --------------------------------------------------------------------


def test_proxy_ids_pick_the_right_sa() -> None:
    spd: Spd[str] = Spd()
    spd.add("tunnel.1", 1, [TS("10.1.0.0/24")], [TS("10.2.0.0/24")], "pid-a")
    spd.add("tunnel.1", 2, [TS("10.1.0.0/24")], [TS("10.3.0.0/24")], "pid-b")
    spd.add("tunnel.2", 3, [TS("0.0.0.0/0")], [TS("0.0.0.0/0")], "other-if")
    assert spd.lookup("tunnel.1", key("10.1.0.5", "10.2.0.7")) == "pid-a"
    assert spd.lookup("tunnel.1", key("10.1.0.5", "10.3.0.7")) == "pid-b"
    assert spd.lookup("tunnel.1", key("10.1.0.5", "10.4.0.7")) is None
    assert spd.lookup("tunnel.1", key("10.9.0.5", "10.2.0.7")) is None
    assert spd.lookup("tunnel.3", key("10.1.0.5", "10.2.0.7")) is None


def test_most_specific_match_wins() -> None:
    spd: Spd[str] = Spd()
    spd.add("tunnel.1", 1, [TS("0.0.0.0/0")], [TS("0.0.0.0/0")], "any")
    spd.add("tunnel.1", 2, [TS("10.1.0.0/24")], [TS("10.2.0.0/16")], "net16")
    spd.add("tunnel.1", 3, [TS("10.1.0.0/24")], [TS("10.2.5.0/24", 6, 443)], "https")
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.5.1", 6, 443)) == "https"
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.5.1", 6, 80)) == "net16"
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.9.1", 17, 53)) == "net16"
    assert spd.lookup("tunnel.1", key("192.0.2.1", "10.2.5.1", 6, 443)) == "any"
    spd.remove(3)
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.5.1", 6, 443)) == "net16"


def test_rekey_newest_sa_with_same_selectors_wins_and_old_falls_back() -> None:
    spd: Spd[str] = Spd()
    spd.add("tunnel.1", 10, [TS("10.1.0.0/24")], [TS("10.2.0.0/24")], "old")
    spd.add("tunnel.1", 11, [TS("10.1.0.0/24")], [TS("10.2.0.0/24")], "new")
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.0.1")) == "new"
    spd.remove(11)
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.0.1")) == "old"
    spd.remove(10)
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.0.1")) is None
    assert len(spd) == 0 and spd.interfaces() == []


def test_catch_all_fast_path_only_when_it_wins_every_packet() -> None:
    spd: Spd[str] = Spd()
    spd.add("tunnel.1", 1, [TS("0.0.0.0/0")], [TS("0.0.0.0/0")], "any")
    assert spd.catch_all4 == {"tunnel.1": "any"} and spd.catch_all6 == {}
    spd.add("tunnel.1", 2, [TS("10.1.0.0/24")], [TS("10.2.0.0/24")], "narrow")
    assert "tunnel.1" not in spd.catch_all4
    spd.remove(2)
    assert spd.catch_all4 == {"tunnel.1": "any"}
    spd.add("tunnel.1", 3, [TS("::/0")], [TS("::/0")], "any6")
    assert spd.catch_all6 == {"tunnel.1": "any6"}
    spd.remove(1)
    assert spd.catch_all4 == {}


def test_mixed_family_selector_pairs_are_not_entries() -> None:
    spd: Spd[str] = Spd()
    spd.add("tunnel.1", 1, [TS("10.1.0.0/24"), TS("2001:db8:1::/48")],
            [TS("10.2.0.0/24"), TS("2001:db8:2::/48")], "dual")
    assert spd.lookup("tunnel.1", key("2001:db8:1::1", "2001:db8:2::1")) == "dual"
    assert spd.lookup("tunnel.1", key("10.1.0.1", "10.2.0.1")) == "dual"
    assert spd.sa_ids("tunnel.1") == [1]
