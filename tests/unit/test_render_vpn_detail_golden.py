"""Golden test: ``show vpn ike-sa detail gateway GW`` against reference 2.2 [V].

The transcript is the Airlink guide's (PAN-OS 11.x) as copied into
shared/reference/panos-cli.md; the data below is the state it shows.  The box's
clock was 0.9 s past the printed ``Current time`` second: "11 minutes 43 seconds
ago" is rounded, "rekey in ... 53 seconds" counts down whole seconds.
"""

from __future__ import annotations

import time

from vpnsh.render import vpn

TRANSCRIPT = """\
IKE Gateway IKE-PRISMA, ID 1 192.168.1.10 => 144.125.90.106
  Current time: Mar.11 12:17:42

IKE SA:
  SPI:  57D57B99A1063996:B53D13349D134568  Init
        State:      Established
        SN:         1
        Authentication:  PSK, peer PSK
        Proposal:   AES256-CBC/SHA256/DH14
        ID local:   fqdn:mpelab.duckdns.org
           remote:  ipaddr:144.125.90.106
        ID_i:       FQDN:mpelab.duckdns.org
        ID_r:       IPv4_address:144.125.90.106
        NAT:        ME
        Message ID: rx 0, tx 142
        Liveness check: sending informational packet after idle 5 seconds
        Created:    Mar.11 12:06:00, 11 minutes 43 seconds ago
        Expires:    Mar.11 20:06:00, rekey in 6 hours 24 minutes 53 seconds (23796 sec)

  Child SA 1:
        Tunnel 1    WSTPRISMA
        Type:       ESP       Init
        State:      Mature
        Message ID: 00000001
        Parent SN:  1
        SPI:        DC741738 : 834DBC59
        Algorithm:  AES256-CBC/SHA256/DH14
        TS local:   Proto:any, 0.0.0.0-255.255.255.255, Ports:any
        TS remote:  Proto:any, 0.0.0.0-255.255.255.255, Ports:any
        Created:    Mar.11 12:06:00, 11 minutes 43 seconds ago
        Expires:    Mar.11 13:06:00, rekey in 36 minutes 28 seconds (2891 sec)

  Child SA 141:
        Type:       INFO
        State:      Expired
        Message ID: 0000008D
        Parent SN:  1
"""


def at(text: str, year: int = 2025) -> float:
    return time.mktime(time.strptime(f"{year} {text}", "%Y %b.%d %H:%M:%S"))


def body(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


CREATED = at("Mar.11 12:06:00")
ANY = "Proto:any, 0.0.0.0-255.255.255.255, Ports:any"
DATA = {
    "gateway": "IKE-PRISMA", "gwid": 1, "local": "192.168.1.10", "peer": "144.125.90.106",
    "now": at("Mar.11 12:17:42") + 0.9,
    "sas": [{
        "spi_i": "57D57B99A1063996", "spi_r": "B53D13349D134568", "role": "Init",
        "state": "Established", "sn": 1, "auth": "PSK, peer PSK",
        "proposal": "AES256-CBC/SHA256/DH14", "local_id": "fqdn:mpelab.duckdns.org",
        "remote_id": "ipaddr:144.125.90.106", "id_i": "FQDN:mpelab.duckdns.org",
        "id_r": "IPv4_address:144.125.90.106", "nat": "ME", "msgid_rx": 0, "msgid_tx": 142,
        "liveness": 5, "created": CREATED, "expires": CREATED + 28800, "rekey_at": CREATED + 23796,
        "children": [
            {"id": 1, "tnid": 1, "tunnel": "WSTPRISMA", "role": "Init", "state": "Mature",
             "msgid": 1, "parent": 1, "spi_in": 0xDC741738, "spi_out": 0x834DBC59,
             "algorithm": "AES256-CBC/SHA256/DH14", "ts_local": [ANY], "ts_remote": [ANY],
             "created": CREATED, "expires": CREATED + 3600, "rekey_at": CREATED + 2891},
            {"id": 141, "type": "INFO", "state": "Expired", "msgid": 0x8D, "parent": 1},
        ],
    }],
}


def test_ike_sa_detail_matches_airlink_transcript() -> None:
    assert body(vpn.show_ike_sa_detail(DATA)) == body(TRANSCRIPT)


def test_ike_sa_detail_integer_spis_and_missing_fields_render() -> None:
    data = {"gateway": "GW", "gwid": 3, "local": "10.0.0.1", "peer": "dynamic", "now": CREATED,
            "sas": [{"spi_i": 0x57D57B99A1063996, "spi_r": 0, "role": "Resp", "sn": 4,
                     "children": [{"id": 2, "tnid": 7, "tunnel": "T", "spi_in": 1, "spi_out": 2}]}]}
    text = body(vpn.show_ike_sa_detail(data))
    assert text[0] == "IKE Gateway GW, ID 3 10.0.0.1 => dynamic"
    assert "  SPI:  57D57B99A1063996:0000000000000000  Resp" in text
    assert "        NAT:        Not detected" in text
    assert "        SPI:        00000001 : 00000002" in text
    assert not any("Liveness" in line for line in text)


def test_ike_sa_detail_without_sa_says_so() -> None:
    text = body(vpn.show_ike_sa_detail({"gateway": "GW", "gwid": 1, "local": "a", "peer": "b",
                                        "now": CREATED, "sas": []}))
    assert text[-1] == "There is no IKEv2 SA found."


def test_duration_words() -> None:
    assert vpn.duration(0) == "0 seconds"
    assert vpn.duration(3600) == "1 hours"
    assert vpn.duration(90061) == "1 days 1 hours 1 minutes 1 seconds"
