"""``debug ike pcap on``: IKE datagrams into a classic pcap file (``ikemgr.pcap``).

Pure file writing, no capture: the engine hands over each IKE datagram it sends
or receives as ``(data, src, dst)`` with ``src``/``dst`` = ``(address, port)``;
this writes it as an IPv4 or IPv6 + UDP packet (link type RAW, 101), so
Wireshark/tshark decode it as ISAKMP.  ``data`` is the IKE message; on port
4500 the four-byte non-ESP marker is added when it is not already there (an
IKE SPI_i is never zero, so a message starting with four zero bytes has it).

    with IkePcap(path) as pcap:           # truncates; mode 0600 (keys are not in it,
        pcap.write(data, src, dst)        # but peer identities are)
    write_pcap(path, [(data, src, dst), ...])
"""

from __future__ import annotations

import ipaddress
import os
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from vpnsh.engine.inet_checksum import internet_checksum

LINKTYPE_RAW = 101
PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps
SNAPLEN = 65535
NAT_T_PORT = 4500
NON_ESP_MARKER = b"\x00\x00\x00\x00"
UDP = 17
ESP = 50

Endpoint = tuple[str, int]


def ike_payload(data: bytes, src: Endpoint, dst: Endpoint) -> bytes:
    """The UDP payload: ``data``, with the non-ESP marker on port 4500."""
    if NAT_T_PORT in (src[1], dst[1]) and not data.startswith(NON_ESP_MARKER):
        return NON_ESP_MARKER + data
    return data


def ip_packet(proto: int, payload: bytes, src: str, dst: str) -> bytes:
    """An IPv4 or IPv6 header (checksummed) before ``payload`` of IP protocol ``proto``."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version != d.version:
        raise ValueError(f"address families differ: {src} -> {dst}")
    if s.version == 4:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0,
                             s.packed, d.packed)
        header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
        return header + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, s.packed, d.packed) + payload


def ip_udp_packet(data: bytes, src: Endpoint, dst: Endpoint) -> bytes:
    """An IPv4/IPv6 + UDP packet carrying ``data`` (checksums filled in)."""
    s, d = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    if s.version != d.version:
        raise ValueError(f"address families differ: {src[0]} -> {dst[0]}")
    payload = ike_payload(data, src, dst)
    udp_len = 8 + len(payload)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, UDP, udp_len)
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", udp_len, UDP)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    csum = internet_checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    return ip_packet(UDP, udp, src[0], dst[0])


class IkePcap:
    """An open pcap file of IKE datagrams; thread-safe ``write``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._f: BinaryIO = os.fdopen(fd, "wb")
        self._lock = threading.Lock()
        self._f.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW))
        self._f.flush()
        self.count = 0

    def write(self, data: bytes, src: Endpoint, dst: Endpoint, ts: float | None = None) -> None:
        """One IKE datagram (UDP ``src`` -> ``dst``)."""
        self._record(ip_udp_packet(bytes(data), src, dst), ts)

    def write_esp(self, esp: bytes, src: str, dst: str, ts: float | None = None) -> None:
        """One ESP packet (IP protocol 50) as it goes on the wire, SPI first."""
        self._record(ip_packet(ESP, bytes(esp), src, dst), ts)

    def _record(self, packet: bytes, ts: float | None) -> None:
        ts = time.time() if ts is None else ts
        sec = int(ts)
        usec = int(round((ts - sec) * 1_000_000))
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        caplen = min(len(packet), SNAPLEN)
        with self._lock:
            if self._f.closed:
                return
            self._f.write(struct.pack("<IIII", sec, usec, caplen, len(packet)) + packet[:caplen])
            self._f.flush()  # readable while it is being written (tshark -r during a test)
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.close()

    def __enter__(self) -> IkePcap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_pcap(path: str | Path, packets: Iterable[tuple]) -> int:
    """Write ``(data, src, dst[, ts])`` tuples to a new pcap file; returns how many."""
    with IkePcap(path) as pcap:
        for packet in packets:
            pcap.write(*packet)
        return pcap.count
