"""vpnsh.engine.ike_pcap: the file ``debug ike pcap on`` writes is read by tshark as ISAKMP."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from vpnsh.engine.ike_pcap import IkePcap, ip_udp_packet, write_pcap
from vpnsh.engine.ikev2.constants import ExchangeType
from vpnsh.engine.ikev2.message import Message, encode
from vpnsh.engine.ikev2.payloads import NoncePayload

SPI_I = bytes.fromhex("57d57b99a1063996")
SPI_R = bytes.fromhex("b53d13349d134568")


def ike(exchange: int, msgid: int, response: bool, spi_r: bytes = bytes(8)) -> bytes:
    return encode(Message(exchange, msgid, SPI_I, spi_r, response, not response,
                          [NoncePayload(bytes(range(32)))]))


PACKETS = [
    (ike(ExchangeType.IKE_SA_INIT, 0, False), ("192.0.2.1", 500), ("192.0.2.2", 500), 1_700_000_000.25),
    (ike(ExchangeType.IKE_SA_INIT, 0, True, SPI_R), ("192.0.2.2", 500), ("192.0.2.1", 500), 1_700_000_000.5),
    (ike(ExchangeType.INFORMATIONAL, 2, False, SPI_R), ("192.0.2.1", 4500), ("192.0.2.2", 4500), 1_700_000_001.0),
    (ike(ExchangeType.INFORMATIONAL, 2, True, SPI_R), ("2001:db8::2", 4500), ("2001:db8::1", 4500), 1_700_000_002.0),
]


def test_header_and_records(tmp_path: Path) -> None:
    path = tmp_path / "ikemgr.pcap"
    assert write_pcap(path, PACKETS) == 4
    raw = path.read_bytes()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 65535, 101)
    sec, usec, caplen, length = struct.unpack("<IIII", raw[24:40])
    assert (sec, usec) == (1_700_000_000, 250_000) and caplen == length == 20 + 8 + len(PACKETS[0][0])
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_nat_t_port_gets_the_non_esp_marker_once() -> None:
    data = PACKETS[2][0]
    packet = ip_udp_packet(data, ("192.0.2.1", 4500), ("192.0.2.2", 4500))
    assert packet[28:32] == bytes(4) and packet[32:] == data
    again = ip_udp_packet(bytes(4) + data, ("192.0.2.1", 4500), ("192.0.2.2", 4500))
    assert again == packet


def test_mixed_families_refused(tmp_path: Path) -> None:
    with IkePcap(tmp_path / "x.pcap") as pcap, pytest.raises(ValueError):
        pcap.write(b"x", ("192.0.2.1", 500), ("2001:db8::1", 500))


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
def test_tshark_reads_the_ike_messages(tmp_path: Path) -> None:
    path = tmp_path / "ikemgr.pcap"
    write_pcap(path, PACKETS)
    r = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "isakmp && !_ws.malformed", "-T", "fields", "-E", "separator=,",
         "-e", "udp.srcport", "-e", "isakmp.ispi", "-e", "isakmp.exchangetype", "-e", "isakmp.messageid",
         "-e", "udp.checksum.status", "-o", "udp.check_checksum:TRUE"],
        capture_output=True, text=True, timeout=120, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.splitlines()]
    assert [row[0] for row in rows] == ["500", "500", "4500", "4500"]
    assert {row[1] for row in rows} == {SPI_I.hex()}
    assert [row[2] for row in rows] == ["34", "34", "37", "37"]
    assert [int(row[3], 0) for row in rows] == [0, 0, 2, 2]
    assert all(row[4] == "1" for row in rows)  # UDP checksums good (IPv4 and IPv6)
