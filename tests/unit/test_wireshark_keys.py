"""vpnsh.engine.wireshark_keys: tshark decrypts an IKEv2 exchange and ESP traffic of vpnsh's
engine (two in-process IKEv2 engines, the real ESP transform) with the tables it writes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_ikev2_handoff import ipv4_packet
from vpnsh.engine.dataplane.esp import encapsulate
from vpnsh.engine.dataplane.sa import Direction, EspSA
from vpnsh.engine.ike.events import ChildInstalled
from vpnsh.engine.ike_pcap import IkePcap
from vpnsh.engine.ikev2.handoff import child_sa_spec
from vpnsh.engine.ikev2.testing import child_policy, ike_policy, make_pair
from vpnsh.engine.policy import EspProposal, IkeProposal
from vpnsh.engine.wireshark_keys import (
    ESP_TABLE,
    IKE_TABLE,
    KeyTables,
    UnsupportedAlgorithm,
    esp_line,
    ikev2_line,
)

A, B = "192.0.2.1", "192.0.2.2"
IKE_CBC = IkeProposal(((12, 256),), (5,), (12,), (19,))
IKE_GCM = IkeProposal(((20, 256),), (6,), (), (20,))
ESP_GCM = EspProposal(((20, 128),), ())
ESP_CBC = EspProposal(((12, 256),), (12,))


def test_line_formats() -> None:
    line = ikev2_line(bytes.fromhex("0102030405060708"), bytes(8), b"\x11" * 16, b"\x22" * 16, 12, 128,
                      b"\x33" * 32, b"\x44" * 32, 12)
    assert line.startswith("0102030405060708,0000000000000000,1111")
    assert '"AES-CBC-128 [RFC3602]"' in line and line.endswith('"HMAC_SHA2_256_128 [RFC4868]"\n')
    line = esp_line("2001:db8::1", "2001:db8::2", 0xC204F4FA, 20, b"\x01" * 20, 0, b"")
    assert line == ('"IPv6","2001:db8::1","2001:db8::2","0xc204f4fa","AES-GCM with 16 octet ICV [RFC4106]",'
                    f'"0x{"01" * 20}","NULL",""\n')
    with pytest.raises(UnsupportedAlgorithm):
        esp_line(A, B, 1, 99, b"", 0, b"")


def capture(tmp_path: Path, ike: IkeProposal, esp: EspProposal) -> Path:
    """Negotiate, write the pcap (IKE + one ESP packet each way) and the key tables."""
    w, a, b = make_pair(
        ike_policy("gw", A, B, proposals=(ike,)), ike_policy("gw", B, A, proposals=(ike,)),
        (child_policy("tun", "gw", proposals=(esp,), local_ts=("10.1.0.0/24",), remote_ts=("10.2.0.0/24",)),),
        (child_policy("tun", "gw", proposals=(esp,), local_ts=("10.2.0.0/24",), remote_ts=("10.1.0.0/24",)),),
    )
    assert a.engine.initiate("gw", now=w.clock.now)
    w.run()
    [ka] = [e.keys for e in a.of(ChildInstalled)]
    [kb] = [e.keys for e in b.of(ChildInstalled)]
    a_out = EspSA.from_spec(child_sa_spec(ka, "tunnel.1"), Direction.OUT, w.clock.now)
    b_out = EspSA.from_spec(child_sa_spec(kb, "tunnel.1"), Direction.OUT, w.clock.now)
    with IkePcap(tmp_path / "vpn.pcap") as pcap:
        for _, data, local, remote in w.sent:
            pcap.write(data, local, remote)
        pcap.write_esp(encapsulate(a_out, ipv4_packet("10.1.0.5", "10.2.0.9")), A, B)
        pcap.write_esp(encapsulate(b_out, ipv4_packet("10.2.0.9", "10.1.0.5")), B, A)
    tables = KeyTables(tmp_path / "wireshark")
    [sa] = a.engine._unique_sas()
    k, s = sa.keys, sa.suite
    assert k is not None and s is not None
    tables.ike_sa(sa.spi_i, sa.spi_r, k.sk_ei, k.sk_er, s.encr, s.key_bits, k.sk_ai, k.sk_ar, s.integ)
    tables.esp_sa(A, B, ka.spi_out, ka.encr_id, ka.encr_key_out, ka.integ_id, ka.integ_key_out)
    tables.esp_sa(B, A, ka.spi_in, ka.encr_id, ka.encr_key_in, ka.integ_id, ka.integ_key_in)
    return tmp_path / "vpn.pcap"


def tshark(tmp_path: Path, pcap: Path, *fields: str, keys: bool = True) -> list[list[str]]:
    config = tmp_path if keys else tmp_path / "nokeys"  # XDG_CONFIG_HOME/wireshark/<tables>
    r = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
         "-T", "fields", "-E", "separator=;", *[a for f in fields for a in ("-e", f)]],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(config)},
    )
    assert r.returncode == 0, r.stderr
    assert "Error loading table" not in r.stderr, r.stderr
    return [line.split(";") for line in r.stdout.splitlines()]


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
@pytest.mark.parametrize(("ike", "esp"), [(IKE_CBC, ESP_CBC), (IKE_GCM, ESP_GCM)], ids=["cbc-sha256", "gcm"])
def test_tshark_decrypts_ike_auth_and_esp(tmp_path: Path, ike: IkeProposal, esp: EspProposal) -> None:
    pcap = capture(tmp_path, ike, esp)
    assert (tmp_path / "wireshark" / IKE_TABLE).stat().st_mode & 0o777 == 0o600
    assert len((tmp_path / "wireshark" / ESP_TABLE).read_text().splitlines()) == 2
    rows = tshark(tmp_path, pcap, "frame.protocols", "isakmp.exchangetype", "isakmp.id.type", "ip.src")
    ike_auth = [r for r in rows if r[1] == "35"]
    assert len(ike_auth) == 2 and all(r[2].startswith("1") for r in ike_auth)  # IDi/IDr (IPv4) read inside SK
    esp_rows = [r for r in rows if ":esp:" in r[0]]
    assert [r[0] for r in esp_rows] == ["raw:ip:esp:ip:udp:data"] * 2
    assert [r[3] for r in esp_rows] == [f"{A},10.1.0.5", f"{B},10.2.0.9"]  # the inner packets
    # and without the tables nothing inside is readable
    rows = tshark(tmp_path, pcap, "frame.protocols", "isakmp.exchangetype", "isakmp.id.type", keys=False)
    assert all(r[2] == "" for r in rows if r[1] == "35")
    assert all(r[0] == "raw:ip:esp" for r in rows if ":esp" in r[0])
