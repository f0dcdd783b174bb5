"""Golden tests: the VPN tables against the [V] transcripts of the PAN-OS reference.

Each golden file under tests/golden/ is a transcript copied from
shared/reference/panos-cli.md; the data below is the state that transcript shows.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vpnsh.render import vpn

GOLDEN = Path(__file__).parent.parent / "golden"


def at(text: str, year: int = 2025) -> float:
    """Epoch seconds for a PAN-OS ``Mon.DD HH:MM:SS`` local time."""
    return time.mktime(time.strptime(f"{year} {text}", "%Y %b.%d %H:%M:%S"))


def golden(name: str) -> list[str]:
    return [line.rstrip() for line in (GOLDEN / name).read_text().strip("\n").splitlines()]


def body(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def test_ike_sa_ikev2_matches_cloudflare_transcript() -> None:
    data = {
        "gateways_configured": 2,
        "ikev2": [{
            "gwid": 2, "peer": "162.159.66.164", "gateway": "CF_Magic_WAN_IKE_01", "role": "Init",
            "sn": 67, "algorithm": "PSK/DH20/A256/SHA256", "established": at("Jun.04 21:09:13"),
            "expiration": at("Jun.05 05:09:13"), "xt": 0, "children": 1, "state": "Established",
        }],
        "ikev2_children": [{
            "gateway": "CF_Magic_WAN_IKE_01", "tnid": 2, "tunnel": "CF_Magic_WAN_IPsec_01",
            "id": 322550, "parent": 67, "role": "Init", "spi_in": 0xFCAEE176,
            "spi_out": 0x1EF41BA9, "msgid": 0x7B4, "state": "Mature",
        }],
    }
    text = body(vpn.show_ike_sa(data))
    assert text[:3] == [
        "There is no IKEv1 phase-1 SA found.", "", "There is no IKEv1 phase-2 SA found.",
    ]
    assert text[4:] == golden("ike_sa_ikev2_cloudflare.txt")


def test_ike_sa_ikev1_matches_vyos_transcript() -> None:
    data = {
        "gateways_configured": 1,
        "ikev1_p1": [{
            "gwid": 1, "peer": "10.0.1.2", "gateway": "VyOS", "role": "Resp", "mode": "Main",
            "algorithm": "PSK/DH14/A128/SHA1", "established": at("Jul.31 01:35:00"),
            "expiration": at("Jul.31 09:35:00"), "version": "v1", "state": 13, "xt": 1, "phase2": 1,
        }],
        "ikev1_p2": [{
            "gateway": "VyOS", "tnid": 1, "tunnel": "VyOS-tunnel", "gwid": 1, "role": "Resp",
            "algorithm": "ESP/    /tunl/SHA2", "spi_in": 0x8827A3D9, "spi_out": 0xC204F4FA,
            "msgid": 0xBD202829, "state": 9, "xt": 1,
        }],
    }
    text = body(vpn.show_ike_sa(data))
    expected = golden("ike_sa_ikev1_vyos.txt")
    assert text[: len(expected)] == expected
    assert text[-1] == "There is no IKEv2 SA found."


def test_empty_ike_sa_prints_the_three_empty_lines() -> None:
    assert body(vpn.show_ike_sa({"gateways_configured": 0})) == [
        "There is no IKEv1 phase-1 SA found.", "",
        "There is no IKEv1 phase-2 SA found.", "",
        "There is no IKEv2 SA found.",
    ]


def test_ipsec_sa_matches_vyos_transcript() -> None:
    data = {
        "tunnels_configured": 1,
        "sas": [{
            "gwid": 1, "tnid": 1, "peer": "10.0.1.2", "tunnel": "VyOS-tunnel", "gateway": "VyOS",
            "algorithm": "ESP/A256/SHA256", "spi_in": 0x8827A3D9, "spi_out": 0xC204F4FA,
            "life_sec": 3600, "life_kb": None, "remain": 2733,
        }],
    }
    assert body(vpn.show_ipsec_sa(data)) == golden("ipsec_sa_vyos.txt")
    assert vpn.show_ipsec_sa_summary(data) == "Total 1 tunnels found. 1 ipsec sa found.\n"
    assert body(vpn.show_ipsec_sa({"sas": []})) == ["There is no IPSec SA found."]


def test_flow_matches_exporter_transcript() -> None:
    flows = [
        {"id": 2, "name": "IPSEC-TUN1", "state": "inactive", "monitor": "off",
         "local_ip": "234.64.49.14", "peer_ip": "XXX.XX.XX.XX", "tunnel_if": "tunnel.3"},
        {"id": 3, "name": "IPSEC-TUN2", "state": "active", "monitor": "off",
         "local_ip": "234.64.49.14", "peer_ip": "XXX.XX.XX.XX", "tunnel_if": "tunnel.4"},
        {"id": 24, "name": "localzs3:primarytunnel", "state": "active", "monitor": "up",
         "local_ip": "10.96.19.238", "peer_ip": "10.66.88.108", "tunnel_if": "tunnel.2"},
    ]
    # the transcript is cut after three of the four rows it counts
    data = {"tunnels_configured": 5, "ipsec_configured": 4, "ipsec_shown": 4, "flows": flows}
    assert body(vpn.show_flow(data)) == golden("flow_prometheus.txt")


def test_gateway_matches_zscaler_transcript() -> None:
    data = {"gateways": [{
        "gwid": 17, "name": "localzs3", "peer": "10.66.88.108",
        "local": "10.96.19.238(email:pa220@ec2.com)", "protocol": "IKEv2",
        "proposals": "[PSK][DH2][AES128][SHA1]360-sec",
    }]}
    assert body(vpn.show_gateway(data)) == golden("gateway_zscaler.txt")


def test_tunnel_matches_zscaler_transcript() -> None:
    rows = [
        {"tnid": 3, "name": "Zscaler-Tunnel", "gateway": "VPN-71"},
        {"tnid": 4, "name": "Zscaler-backup-tunnel", "gateway": "VPN-81"},
    ]
    for r in rows:
        r.update(local="0.0.0.0/0", local_ptl="0:0", remote="0.0.0.0/0", remote_ptl="0:0",
                 proposals="ESP tunl [DH2][NULL][MD5]      7200-sec")
    assert body(vpn.show_tunnel({"tunnels": rows})) == golden("tunnel_zscaler.txt")


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"gateway": "IKE-PRISMA", "gwid": 1, "cleared": 0}, "IKE SA for gateway ID 1 not found.\n"),
        ({"ikev1": 0, "ikev2": 1}, "Clear IKE SA: 0 IKEv1 SA, 1 IKEv2 SA.\n"),
    ],
)
def test_clear_ike_sa_messages(data: dict, text: str) -> None:
    assert vpn.clear_ike_sa(data) == text


def test_clear_ipsec_sa_messages() -> None:
    assert vpn.clear_ipsec_sa({"tunnel": "WSTPRISMA", "cleared": 0}) == (
        "IPSec SA for tunnel WSTPRISMA not found.\n"
    )
    assert vpn.clear_ipsec_sa({"ikev1": 0, "ikev2": 2}) == "Clear IPSec SA: 0 IKEv1 SA, 2 IKEv2 SA.\n"
