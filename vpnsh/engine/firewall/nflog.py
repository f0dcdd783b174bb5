"""Deny logs: packets a deny rule dropped, from NFLOG (nft ``log group N``) over netlink.

A minimal NFLOG client on a raw ``NETLINK_NETFILTER`` socket: bind one group, copy the
first 128 bytes of each packet, read the log prefix (``vpnsh:<rule id> ``), the in/out
interfaces and the IP/TCP/UDP header.  No library needed (libnetfilter_log is C only).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
NFULA_CFG_CMD = 1
NFULA_CFG_MODE = 2
CMD_BIND = 1
CMD_PF_BIND = 3
CMD_PF_UNBIND = 4
COPY_PACKET = 2
NFULA_IFINDEX_INDEV = 4
NFULA_IFINDEX_OUTDEV = 5
NFULA_PAYLOAD = 9
NFULA_PREFIX = 10
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
COPY_RANGE = 128


@dataclass
class LoggedPacket:
    prefix: str
    indev: int
    outdev: int
    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    icmp_type: int | None


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _config_msg(group: int, family: int, attrs: bytes, seq: int) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(group)) + attrs
    kind = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG
    return struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def open_group(group: int) -> socket.socket:
    """A non-blocking netlink socket bound to NFLOG ``group``; raises OSError on refusal."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.bind((0, 0))
        for family in (socket.AF_INET, socket.AF_INET6):  # harmless on new kernels
            for cmd in (CMD_PF_UNBIND, CMD_PF_BIND):
                sock.send(_config_msg(0, family, _attr(NFULA_CFG_CMD, bytes([cmd])), 1))
                sock.recv(4096)
        sock.send(_config_msg(group, 0, _attr(NFULA_CFG_CMD, bytes([CMD_BIND])), 2))
        _check_ack(sock.recv(4096))
        mode = struct.pack(">IBB", COPY_RANGE, COPY_PACKET, 0)
        sock.send(_config_msg(group, 0, _attr(NFULA_CFG_MODE, mode), 3))
        _check_ack(sock.recv(4096))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _check_ack(data: bytes) -> None:
    if len(data) >= 20:
        _length, kind = struct.unpack_from("=IH", data)
        if kind == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", data, 16)
            if err:
                raise OSError(-err, f"NFLOG bind refused: {err}")


def _attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4: offset + length]
        offset += (length + 3) & ~3
    return out


def parse(data: bytes) -> Iterator[LoggedPacket]:
    """Every logged packet in one netlink datagram (anything malformed is skipped)."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16 or offset + length > len(data):
            return
        if kind == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
            attrs = _attrs(data, offset + 20, offset + length)
            pkt = _packet(attrs)
            if pkt is not None:
                yield pkt
        offset += (length + 3) & ~3


def _packet(attrs: dict[int, bytes]) -> LoggedPacket | None:
    payload = attrs.get(NFULA_PAYLOAD, b"")
    prefix = attrs.get(NFULA_PREFIX, b"").rstrip(b"\0").decode(errors="replace")
    indev = struct.unpack(">I", attrs[NFULA_IFINDEX_INDEV])[0] if NFULA_IFINDEX_INDEV in attrs else 0
    outdev = struct.unpack(">I", attrs[NFULA_IFINDEX_OUTDEV])[0] \
        if NFULA_IFINDEX_OUTDEV in attrs else 0
    if len(payload) < 20:
        return None
    version = payload[0] >> 4
    if version == 4:
        ihl = (payload[0] & 0x0F) * 4
        proto = payload[9]
        src, dst = str(ipaddress.IPv4Address(payload[12:16])), str(ipaddress.IPv4Address(payload[16:20]))
        l4 = payload[ihl:]
    elif version == 6 and len(payload) >= 40:
        proto = payload[6]
        src = str(ipaddress.IPv6Address(payload[8:24]))
        dst = str(ipaddress.IPv6Address(payload[24:40]))
        l4 = payload[40:]
    else:
        return None
    sport = dport = 0
    icmp_type = None
    if proto in (6, 17, 132) and len(l4) >= 4:
        sport, dport = struct.unpack_from(">HH", l4)
    elif proto in (1, 58) and l4:
        icmp_type = l4[0]
    return LoggedPacket(prefix, indev, outdev, src, dst, proto, sport, dport, icmp_type)
