"""Golden texts of the everyday host commands (vpnsh.render.host) from fixed data, and the
column positions of the layouts verified on real PAN-OS captures (panos-cli-ops.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vpnsh.render import host, system

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

PORT = {"name": "ethernet1/1", "id": 16, "device": "ens4", "exists": True,
        "mac": "52:54:00:a1:00:01", "speed": "10000", "duplex": "full", "state": "up",
        "mtu": 1500, "zone": "untrust", "vr": "default", "tag": 0,
        "addresses": ["203.0.113.2/24"], "management_profile": "",
        "counters": {"rx_bytes": 48212, "tx_bytes": 51877, "rx_packets": 410, "tx_packets": 388,
                     "rx_errors": 0, "rx_dropped": 2}}
SUBIF = {**PORT, "name": "ethernet1/2.110", "id": 256, "device": "ens5.110", "zone": "trust",
         "tag": 110, "addresses": ["10.1.1.1/24", "10.1.2.1/24"]}
TUNNEL = {**PORT, "name": "tunnel.1", "id": 257, "device": "tunnel.1", "mac": "", "zone": "vpn",
          "mtu": 1436, "addresses": ["169.254.10.1/30"]}

DATA: dict[str, tuple[Callable[[Any], str], Any]] = {
    "interface_all": (host.interface_all, {"hardware": [PORT, {**PORT, "name": "ethernet1/2",
                                                               "id": 17, "mac": "52:54:00:a1:00:02",
                                                               "addresses": [], "zone": "",
                                                               "vr": ""}],
                                           "logical": [PORT, SUBIF, TUNNEL]}),
    "interface_detail": (host.interface_detail, PORT),
    "interface_tunnel": (host.interface_detail, TUNNEL),
    "routing_route": (host.routing_route, {"virtual_routers": [{"name": "default", "id": 1, "routes": [
        {"destination": "0.0.0.0/0", "nexthop": "203.0.113.1", "metric": 10, "flags": "A S",
         "interface": "ethernet1/1"},
        {"destination": "10.1.1.0/24", "nexthop": "10.1.1.1", "metric": 0, "flags": "A C",
         "interface": "ethernet1/2.110"},
        {"destination": "10.1.1.1/32", "nexthop": "0.0.0.0", "metric": 0, "flags": "A H",
         "interface": ""},
        {"destination": "10.20.0.0/16", "nexthop": "0.0.0.0", "metric": 10, "flags": "A S",
         "interface": "tunnel.1"}]}]}),
    "routing_fib": (host.routing_fib, {"virtual_routers": [{
        "name": "default", "interfaces": ["ethernet1/1", "ethernet1/2.110", "tunnel.1"],
        "entries": [{"id": 41, "destination": "0.0.0.0/0", "nexthop": "203.0.113.1",
                     "flags": "ug", "interface": "ethernet1/1", "mtu": 1500},
                    {"id": 57, "destination": "10.20.0.0/16", "nexthop": "0.0.0.0",
                     "flags": "u", "interface": "tunnel.1", "mtu": 1436}]}]}),
    "fib_lookup": (host.fib_lookup, {"virtual_router": "default", "destination": "198.51.100.7",
                                     "found": True, "interface": "ethernet1/1",
                                     "nexthop": "203.0.113.1", "source": "203.0.113.2",
                                     "metric": 10}),
    "arp": (host.arp, {"max": 2500, "timeout": 1800, "total": 2, "entries": [
        {"interface": "ethernet1/1", "ip": "203.0.113.1", "mac": "52:54:00:b2:00:01",
         "port": "ethernet1/1", "status": "c", "ttl": 1800},
        {"interface": "ethernet1/2.110", "ip": "10.1.1.20", "mac": "(incomplete)",
         "port": "ethernet1/2.110", "status": "i", "ttl": 1800}]}),
    "clock": (host.clock, {"time": "Tue Jun  4 10:15:02 UTC 2024"}),
    "ping": (host.command_output, {"output": "PING 10.2.0.1 (10.2.0.1) 56(84) bytes of data.\n"}),
    "admins": (host.admins, [{"admin": "ops1", "from": "198.51.100.20", "client": "CLI",
                              "start": "06/04 10:02:11", "idle": "00:00:00s"}]),
}


@pytest.mark.parametrize("name", sorted(DATA))
def test_golden(name: str) -> None:
    render, data = DATA[name]
    text = render(data)
    path = GOLDEN / f"host_{name}.txt"
    if os.environ.get("VPNSH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_interface_all_columns_as_captured() -> None:
    lines = host.interface_all(DATA["interface_all"][1]).splitlines()
    row = next(line for line in lines if line.startswith("ethernet1/1 ") and "52:54" in line)
    assert row.index("16") == 24 and row.index("10000/full/up") == 30 and row.index("52:54") == 56
    head = next(line for line in lines if line.startswith("name") and "vsys" in line)
    assert [head.index(w) for w in ("id", "vsys", "zone", "forwarding", "tag", "address")] == \
        [26, 32, 37, 54, 79, 86]
    sub = next(line for line in lines if line.startswith("ethernet1/2.110"))
    assert sub[79:82] == "110" and sub[86:] == "10.1.1.1/24"
    assert lines[lines.index(sub) + 1] == " " * 80 + "10.1.2.1/24"  # second IP at column 80
    assert lines[lines.index(head) + 1] == ""  # show interface all: blank line before the dashes


def test_routing_route_columns_as_captured() -> None:
    lines = host.routing_route(DATA["routing_route"][1]).splitlines()
    head = next(line for line in lines if line.startswith("destination"))
    assert [head.index(w) for w in ("nexthop", "metric", "flags", "age", "interface", "next-AS")] \
        == [44, 84, 91, 102, 108, 127]
    row = next(line for line in lines if line.startswith("10.20.0.0/16"))
    assert row[84:86] == "10" and row[91:94] == "A S" and row[108:] == "tunnel.1"
    assert lines[-1] == "total routes shown: 4"


def test_arp_and_fib_columns_as_captured() -> None:
    lines = host.arp(DATA["arp"][1]).splitlines()
    assert lines[1][36:] == "2500" and lines[2] == "default timeout:                    1800 seconds"
    row = lines[-2]
    assert row[18:29] == "203.0.113.1" and row[34:51] == "52:54:00:b2:00:01" and row[70] == "c"
    fib = host.routing_fib(DATA["routing_fib"][1]).splitlines()
    assert fib[0] == "total virtual-router shown :                       1"


def test_jobs_layout_as_captured() -> None:
    """show jobs all (7.1+): the header and a row of the real capture, character for character."""
    assert system.JOB_HEAD == ("Enqueued              Dequeued           ID  PositionInQ      "
                               "                        Type                         Status "
                               "Result Completed")
    row = system._job_row({"id": 5, "type": "Commit", "status": "FIN", "result": "OK",
                           "enqueued": 1, "completed": 1})
    assert row[30:43] == "            5" and row[84:90] == "Commit" and row[118:128] == "FIN     OK"
