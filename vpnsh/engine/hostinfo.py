"""Host data for the everyday operational commands, as plain data (pyroute2, /proc).

``show interface``, ``show routing route|fib``, ``test routing fib-lookup``, ``show arp``,
``show clock``, ``show system resources``: the daemon reads its own network namespace (where
the data plane and the tunnel interfaces are) and answers with dicts; vpnsh.render.host
prints them in PAN-OS's layouts.  Interface names are PAN-OS names wherever the config or the
interface map (vpnsh.engine.ifmap) gives one, Linux names otherwise.

The netlink reads run in a helper thread with their own IPRoute (see
vpnsh.engine.dataplane.routes.run_netlink): pyroute2's synchronous API cannot run inside the
daemon's event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import time
from collections.abc import Mapping
from typing import Any

from vpnsh.config import ifnames
from vpnsh.engine.dataplane.routes import RTPROT_VPNSH, run_netlink
from vpnsh.engine.ifmap import InterfaceMap

# PAN-OS interface ids (panos-cli-ops.md section 11): ethernet1/N = 15 + N; the pseudo
# parents vlan, loopback, tunnel are 1, 3, 4; logical units count from 256
PARENT_IDS = {"vlan": 1, "loopback": 3, "tunnel": 4}
FIRST_LOGICAL_ID = 256
RTPROT_KERNEL = 2
RTN_BLACKHOLE = 6
# NUD states -> PAN-OS ARP status letters (s static, c complete, e expiring, i incomplete)
NUD = {0x80: "s", 0x02: "c", 0x04: "e", 0x08: "e", 0x10: "c", 0x01: "i", 0x20: "i"}
ARP_MAX = 2500
ARP_TIMEOUT = 1800
COUNTER_KEYS = (("rx_bytes", "bytes received"), ("tx_bytes", "bytes transmitted"),
                ("rx_packets", "packets received"), ("tx_packets", "packets transmitted"),
                ("rx_errors", "receive errors"), ("rx_dropped", "packets dropped"))


# --------------------------------------------------------------------------- netlink reads


def _links(ipr: Any) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for msg in ipr.get_links():
        info = msg.get_attr("IFLA_LINKINFO")
        stats = msg.get_attr("IFLA_STATS64") or {}
        out[int(msg["index"])] = {
            "device": msg.get_attr("IFLA_IFNAME"),
            "mac": msg.get_attr("IFLA_ADDRESS") or "",
            "mtu": int(msg.get_attr("IFLA_MTU") or 0),
            "up": bool(msg["flags"] & 1),
            "oper": str(msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN"),
            "kind": (info.get_attr("IFLA_INFO_KIND") if info is not None else None) or "",
            "counters": {k: int(stats.get(k, 0)) for k in ("rx_bytes", "tx_bytes", "rx_packets",
                                                           "tx_packets", "rx_errors", "tx_errors",
                                                           "rx_dropped", "tx_dropped")},
            "addresses": [],
        }
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_addr(family=family):
            link = out.get(int(msg["index"]))
            iface = ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
            if link is not None and not (iface.version == 6 and iface.ip.is_link_local):
                link["addresses"].append(str(iface))
    return out


def _routes(ipr: Any) -> list[dict[str, Any]]:
    out = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_routes(family=family, table=254):
            dst = msg.get_attr("RTA_DST")
            default = "0.0.0.0" if family == socket.AF_INET else "::"
            out.append({
                "destination": f"{dst or default}/{msg['dst_len']}",
                "gateway": msg.get_attr("RTA_GATEWAY"),
                "oif": msg.get_attr("RTA_OIF"),
                "metric": msg.get_attr("RTA_PRIORITY") or 0,
                "proto": int(msg["proto"]),
                "blackhole": int(msg["type"]) == RTN_BLACKHOLE,
                "prefsrc": msg.get_attr("RTA_PREFSRC"),
            })
    return out


def _neighbours(ipr: Any) -> list[dict[str, Any]]:
    return [{"ip": m.get_attr("NDA_DST"), "mac": m.get_attr("NDA_LLADDR"),
             "oif": int(m["ifindex"]), "state": int(m["state"])}
            for m in ipr.get_neighbours(family=socket.AF_INET)
            if m.get_attr("NDA_DST") and int(m["state"]) not in (0x40,)]  # not NUD_NOARP


def snapshot() -> dict[str, Any]:
    """Links (with addresses and counters), main-table routes and ARP entries, by ifindex."""
    def read(ipr: Any) -> dict[str, Any]:
        return {"links": _links(ipr), "routes": _routes(ipr), "neighbours": _neighbours(ipr)}

    return run_netlink(read)


def lookup(ip: str) -> dict[str, Any] | None:
    """The kernel's route for ``ip`` (``ip route get``): oif, gateway, source; None: no route."""
    def get(ipr: Any) -> dict[str, Any] | None:
        try:
            msg = ipr.route("get", dst=ip)[0]
        except Exception:  # noqa: BLE001 - NetlinkError: unreachable
            return None
        return {"oif": msg.get_attr("RTA_OIF"), "gateway": msg.get_attr("RTA_GATEWAY"),
                "src": msg.get_attr("RTA_PREFSRC")}

    return run_netlink(get)


def link_speed(device: str) -> tuple[str, str]:
    """(speed, duplex) from sysfs, ``ukn`` when the driver does not say (veth, tun)."""
    def read(name: str) -> str:
        try:
            with open(f"/sys/class/net/{device}/{name}", encoding="ascii") as f:
                return f.read().strip()
        except (OSError, ValueError):
            return ""

    speed, duplex = read("speed"), read("duplex")
    speed = speed if speed.isdigit() and int(speed) > 0 else "ukn"
    return speed, duplex if duplex in ("full", "half") else ("full" if speed != "ukn" else "ukn")


# --------------------------------------------------------------------------- the views


class HostView:
    """The host's links and routes seen with PAN-OS names and the running config."""

    def __init__(self, running: Mapping[str, Any], ifmap: InterfaceMap,
                 snap: dict[str, Any] | None = None) -> None:
        self.running = running
        self.ifmap = ifmap
        self.snap = snap if snap is not None else snapshot()
        self.by_index: dict[int, dict[str, Any]] = self.snap["links"]
        self.by_device = {link["device"]: link for link in self.by_index.values()}
        self.zone_of: dict[str, str] = {}
        for zone, entry in (running.get("zone") or {}).items():
            for name in ((entry.get("network") or {}).get("layer3") or []):
                self.zone_of[name] = zone
        self.vr_of: dict[str, str] = {}
        for vr, entry in (((running.get("network") or {}).get("virtual-router")) or {}).items():
            for name in entry.get("interface") or []:
                self.vr_of[name] = vr
        configured = ifnames.all_interfaces(running)
        self.panos: dict[str, str] = {}  # device -> PAN-OS (or configured) name
        for name in configured:
            dev = ifmap.linux_name(name)
            if dev and dev != "lo":
                self.panos.setdefault(dev, name)
        for name, (dev, _how) in ifmap.ports().items():
            self.panos.setdefault(dev, name)

    def name_of(self, index: int | None) -> str:
        link = self.by_index.get(int(index)) if index is not None else None
        if link is None:
            return ""
        return self.panos.get(link["device"], self.ifmap.panos_name(link["device"]))

    # ------------------------------------------------------------ interfaces

    def ports(self) -> list[str]:
        """Hardware interfaces: bound ethernet1/N that exist, then configured Linux ports."""
        names = [n for n, (dev, _h) in self.ifmap.ports().items() if dev in self.by_device]
        for name in (self.running.get("network") or {}).get("interface", {}).get("ethernet", {}):
            if name not in names:
                names.append(name)
        return names

    def _ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        next_port = 16
        for name in self.ports():
            n = ifnames.port_number(name)
            ids[name] = 15 + n if n else next_port + 100
            next_port += 1
        logical = FIRST_LOGICAL_ID
        for name in ifnames.all_interfaces(self.running):
            if name not in ids:
                ids[name] = logical
                logical += 1
        return ids

    def interface(self, name: str, ids: dict[str, int] | None = None) -> dict[str, Any]:
        ids = ids or self._ids()
        dev = self.ifmap.linux_name(name)
        link = self.by_device.get(dev or "")
        entry = ifnames.interface_entry(self.running, name) or {}
        sub = ifnames.split_subinterface(name)
        addresses = ifnames.interface_ips(self.running, name)
        if link is not None and dev != "lo":
            addresses = link["addresses"] or addresses
        speed, duplex = link_speed(dev) if link is not None and dev else ("ukn", "ukn")
        state = "up" if link is not None and link["up"] and link["oper"] in ("UP", "UNKNOWN") \
            else "down"
        return {
            "name": name, "id": ids.get(name, 0), "device": dev or "",
            "exists": link is not None, "mac": link["mac"] if link else "",
            "speed": speed, "duplex": duplex, "state": state,
            "mtu": (link["mtu"] if link else 0) or int(entry.get("mtu", 1500) or 1500),
            "zone": self.zone_of.get(name, ""), "vr": self.vr_of.get(name, ""),
            "tag": int(entry.get("tag", 0) or 0) if sub and ifnames.kind(name) == "subinterface"
            else 0,
            "addresses": addresses,
            "management_profile": entry.get("interface-management-profile", ""),
            "counters": dict(link["counters"]) if link else {},
        }

    def interfaces(self) -> dict[str, Any]:
        ids = self._ids()
        ports = self.ports()
        hardware = [self.interface(n, ids) for n in ports]
        logical = [self.interface(n, ids) for n in ports]
        for name in ifnames.all_interfaces(self.running):
            if name not in ports:
                logical.append(self.interface(name, ids))
        return {"hardware": hardware, "logical": logical}

    # ------------------------------------------------------------ routing

    def routes(self) -> list[dict[str, Any]]:
        """The main table as PAN-OS shows it: connected (A C) with a host route (A H) for
        each own address, static (A S), sorted by destination, IPv4 first."""
        out: list[dict[str, Any]] = []
        for r in self.snap["routes"]:
            ifname = self.name_of(r["oif"])
            if r["destination"].startswith("fe80:"):  # link-local: not a route PAN-OS shows
                continue
            if r["proto"] == RTPROT_KERNEL and not r["gateway"]:
                out.append({"destination": r["destination"], "nexthop": r["prefsrc"] or "0.0.0.0",
                            "metric": 0, "flags": "A C", "interface": ifname})
            else:
                nexthop = "discard" if r["blackhole"] else (r["gateway"] or "0.0.0.0")
                metric = r["metric"] if r["proto"] == RTPROT_VPNSH else (r["metric"] or 10)
                out.append({"destination": r["destination"], "nexthop": nexthop,
                            "metric": metric, "flags": "A S", "interface": ifname})
        for link in self.by_index.values():
            if link["device"] == "lo":
                continue
            for addr in link["addresses"]:
                ip = ipaddress.ip_interface(addr).ip
                out.append({"destination": f"{ip}/{ip.max_prefixlen}", "nexthop": "0.0.0.0",
                            "metric": 0, "flags": "A H", "interface": ""})
        return sorted(out, key=_route_key)

    def fib(self) -> list[dict[str, Any]]:
        out = []
        for i, r in enumerate(self.snap["routes"], 1):
            if r["blackhole"] or ":" in r["destination"]:
                continue
            link = self.by_index.get(int(r["oif"] or 0))
            flags = "ug" if r["gateway"] else "u"
            out.append({"id": i, "destination": r["destination"],
                        "nexthop": r["gateway"] or "0.0.0.0", "flags": flags,
                        "interface": self.name_of(r["oif"]), "mtu": link["mtu"] if link else 0})
        for link in self.by_index.values():
            if link["device"] == "lo":
                continue
            for addr in link["addresses"]:
                ip = ipaddress.ip_interface(addr).ip
                if ip.version == 4:
                    out.append({"id": len(out) + 100, "destination": f"{ip}/32",
                                "nexthop": "0.0.0.0", "flags": "uh",
                                "interface": self.panos.get(link["device"], link["device"]),
                                "mtu": link["mtu"]})
        return sorted(out, key=_route_key)

    def arp(self) -> list[dict[str, Any]]:
        out = []
        for n in self.snap["neighbours"]:
            ifname = self.name_of(n["oif"])
            out.append({"interface": ifname, "ip": n["ip"],
                        "mac": n["mac"] or "(incomplete)", "port": ifname,
                        "status": NUD.get(n["state"], "c"),
                        "ttl": 0 if n["state"] == 0x80 else ARP_TIMEOUT})
        return sorted(out, key=lambda e: (e["interface"], ipaddress.ip_address(e["ip"])))

    def interface_names(self) -> list[str]:
        return [link["name"] for link in self.interfaces()["logical"]]


def _route_key(r: Mapping[str, Any]) -> tuple[int, int, int]:
    net = ipaddress.ip_network(r["destination"], strict=False)
    return (net.version, int(net.network_address), net.prefixlen)


# --------------------------------------------------------------------------- system


def clock(now: float | None = None) -> dict[str, Any]:
    t = time.localtime(now)
    return {"time": time.strftime("%a %b %e %H:%M:%S %Z %Y", t), "epoch": time.mktime(t)}


async def resources() -> dict[str, Any]:
    """``top -b -n 1`` of this host (PAN-OS shows the management plane's top), with the load
    averages and memory as data."""
    with open("/proc/loadavg", encoding="ascii") as f:
        load = [float(x) for x in f.read().split()[:3]]
    mem: dict[str, int] = {}
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("MemTotal", "MemFree", "MemAvailable", "SwapTotal", "SwapFree"):
                mem[key] = int(rest.split()[0])
    text = ""
    top = shutil.which("top")
    if top:
        proc = await asyncio.create_subprocess_exec(
            top, "-b", "-n", "1", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120"})
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
        text = out.decode(errors="replace")
    return {"load_average": load, "memory_kb": mem, "text": text}
