"""Every operational VPN command is reachable from the shell, renders, and prints its data
under ``--output json`` (docs/operational-data.md)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from vpnsh.shell.session import Session

NOW = time.mktime(time.strptime("2025 Jun.04 21:09:13", "%Y %b.%d %H:%M:%S"))

ANSWERS: dict[str, dict[str, Any]] = {
    "vpn.ike-sa.show": {
        "gateways_configured": 1, "ikev1_p1": [], "ikev1_p2": [],
        "ikev2": [{"gwid": 1, "peer": "203.0.113.2", "gateway": "GW1", "role": "Init", "sn": 3,
                   "algorithm": "PSK/DH14/A128/SHA256", "established": NOW, "expiration": NOW + 28800,
                   "xt": 0, "children": 1, "state": "Established"}],
        "ikev2_children": [{"gateway": "GW1", "tnid": 1, "tunnel": "T1", "id": 7, "parent": 3,
                            "role": "Init", "spi_in": 0xAABBCCDD, "spi_out": 0x11223344,
                            "msgid": 2, "state": "Mature"}]},
    "vpn.ike-sa.detail": {"gateway": "GW1", "gwid": 1, "local": "198.51.100.1",
                          "peer": "203.0.113.2", "now": NOW, "sas": []},
    "vpn.ipsec-sa.show": {"tunnels_configured": 1, "sas": [{
        "gwid": 1, "tnid": 1, "peer": "203.0.113.2", "tunnel": "T1", "gateway": "GW1",
        "algorithm": "ESP/A128/SHA256", "spi_in": 0xAABBCCDD, "spi_out": 0x11223344,
        "life_sec": 3600, "life_kb": None, "remain": 3000}]},
    "vpn.flow.show": {"tunnels_configured": 1, "ipsec_configured": 1, "ipsec_shown": 1, "flows": [{
        "id": 1, "name": "T1", "state": "active", "monitor": "off", "local_ip": "198.51.100.1",
        "peer_ip": "203.0.113.2", "tunnel_if": "tunnel.1", "encap_packets": 5, "decap_packets": 4,
        "local_spi": 0xAABBCCDD, "remote_spi": 0x11223344, "proxy_id": {"local": "0.0.0.0/0"}}]},
    "vpn.gateway.show": {"gateways": [{"gwid": 1, "name": "GW1", "peer": "203.0.113.2",
                                       "local": "198.51.100.1", "protocol": "IKEv2",
                                       "proposals": "[PSK][DH14][AES128][SHA256]28800-sec"}]},
    "vpn.tunnel.show": {"tunnels": [{"tnid": 1, "name": "T1", "gateway": "GW1", "local": "0.0.0.0/0",
                                     "local_ptl": "0:0", "remote": "0.0.0.0/0", "remote_ptl": "0:0",
                                     "proposals": "ESP tunl [DH14][AES128][SHA256] 3600-sec"}]},
    "vpn.ike-sa.test": {"start": NOW, "initiated": 1, "errors": []},
    "vpn.ipsec-sa.test": {"start": NOW, "tunnels": ["T1"], "errors": []},
    "vpn.ike-sa.clear": {"gateway": None, "gwid": None, "cleared": 1, "ikev1": 0, "ikev2": 1},
    "vpn.ipsec-sa.clear": {"tunnel": None, "cleared": 2, "ikev1": 0, "ikev2": 2},
}


class EngineClient:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def request(self, op: str, **args: Any) -> Any:
        self.requests.append((op, args))
        if op == "system.info":
            return {"hostname": "PA-VM"}
        assert op == "engine.op"
        answer = dict(ANSWERS[args["name"]])
        for key in ("gateway", "tunnel"):  # the single-object forms echo the name
            if key in answer and key in args["args"]:
                answer[key] = args["args"][key]
        return answer


# (command, engine op, engine args, a line the text must have)
CASES = [
    ("show vpn ike-sa", "vpn.ike-sa.show", {}, "Show IKEv2 SA: Total 1 gateways found. 1 ike sa found."),
    ("show vpn ike-sa gateway GW1", "vpn.ike-sa.show", {"gateway": "GW1"}, "IKEv2 SAs"),
    ("show vpn ike-sa detail gateway GW1", "vpn.ike-sa.detail", {"gateway": "GW1"},
     "IKE Gateway GW1, ID 1 198.51.100.1 => 203.0.113.2"),
    ("show vpn ipsec-sa", "vpn.ipsec-sa.show", {}, "Show IPSec SA: Total 1 tunnels found. 1 ipsec sa found."),
    ("show vpn ipsec-sa tunnel T1", "vpn.ipsec-sa.show", {"tunnel": "T1"}, "remain-time(Sec)"),
    ("show vpn ipsec-sa summary", "vpn.ipsec-sa.show", {"summary": True},
     "Total 1 tunnels found. 1 ipsec sa found."),
    ("show vpn flow", "vpn.flow.show", {}, "filter - type IPSec, state any"),
    ("show vpn flow name T1", "vpn.flow.show", {"name": "T1"}, "tunnel  T1"),
    ("show vpn flow tunnel-id 1", "vpn.flow.show", {"tunnel_id": 1}, "        encap packets:          5"),
    ("show vpn gateway", "vpn.gateway.show", {}, "Show IKE gateway config: Total 1 gateways found."),
    ("show vpn tunnel", "vpn.tunnel.show", {}, "Show IPSec tunnel config: Total 1 tunnels found"),
    ("show running tunnel flow all", "vpn.flow.show", {}, "filter - type IPSec, state any"),
    ("show running tunnel flow info", "vpn.flow.show", {}, "total IPSec tunnel shown:"),
    ("show running tunnel flow tunnel-id 1", "vpn.flow.show", {"tunnel_id": 1}, "        local spi:              AABBCCDD"),
    ("test vpn ike-sa", "vpn.ike-sa.test", {}, "Initiate 1 IKE SA."),
    ("test vpn ike-sa gateway GW1", "vpn.ike-sa.test", {"gateway": "GW1"}, "Start time: Jun.04 21:09:13"),
    ("test vpn ipsec-sa", "vpn.ipsec-sa.test", {}, "Initiate 1 IPsec SA for tunnel T1."),
    ("test vpn ipsec-sa tunnel T1", "vpn.ipsec-sa.test", {"tunnel": "T1"}, "Initiate 1 IPsec SA for tunnel T1."),
    ("clear vpn ike-sa", "vpn.ike-sa.clear", {}, "Clear IKE SA: 0 IKEv1 SA, 1 IKEv2 SA."),
    ("clear vpn ike-sa gateway GW1", "vpn.ike-sa.clear", {"gateway": "GW1"},
     "Delete IKEv2 IKE SA: Total 1 gateways found."),
    ("clear vpn ipsec-sa", "vpn.ipsec-sa.clear", {}, "Clear IPSec SA: 0 IKEv1 SA, 2 IKEv2 SA."),
    ("clear vpn ipsec-sa tunnel T1", "vpn.ipsec-sa.clear", {"tunnel": "T1"},
     "Delete IKEv2 IPSec SA: Total 2 tunnels found."),
]


@pytest.mark.parametrize(("line", "op", "args", "expect"), CASES, ids=[c[0] for c in CASES])
def test_vpn_command_text(line: str, op: str, args: dict[str, Any], expect: str) -> None:
    client = EngineClient()
    out = Session(client, user="admin").execute(line)
    assert out.ok, out.error
    assert client.requests[-1] == ("engine.op", {"name": op, "args": args})
    assert expect in out.output


@pytest.mark.parametrize(("line", "op", "args", "expect"), CASES, ids=[c[0] for c in CASES])
def test_vpn_command_json_is_the_data(line: str, op: str, args: dict[str, Any], expect: str) -> None:
    client = EngineClient()
    out = Session(client, user="admin", output_json=True).execute(line)
    assert out.ok, out.error
    data = json.loads(out.output)
    assert set(data) == set(ANSWERS[op])


@pytest.mark.parametrize("line", ["show vpn ike-sa", "clear vpn ipsec-sa", "show vpn ike-sa detail gateway GW1"])
def test_vpn_commands_run_from_configure_mode(line: str) -> None:
    session = Session(EngineClient(), user="admin")
    session.execute("configure")
    out = session.execute(f"run {line}")
    assert out.ok and out.output.strip()


def test_vpn_command_with_match_pipe() -> None:
    out = Session(EngineClient(), user="admin").execute("show vpn ike-sa | match Mature")
    assert out.output.splitlines() == [
        "GW1                    1        T1                        7        3        Init "
        "AABBCCDD 11223344 00000002 Mature"]
