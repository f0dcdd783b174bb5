"""PAN-OS text for the everyday host commands (data from vpnsh.engine.hostinfo).

Layouts follow /work/shared/reference/panos-cli-ops.md; each function says how sure its
layout is: **verified** (column positions measured on real PAN-OS captures) or **modelled**
(PAN-OS's fields and style, no capture of exactly this seen).  docs/command-reference.md
repeats the verdicts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

DASHES = "-" * 80

# --------------------------------------------------------------------------- show interface


def _hw_state(i: Mapping[str, Any]) -> str:
    speed = i.get("speed", "ukn")
    if speed == "ukn":
        return f"ukn/ukn/{i.get('state', 'down')}"
    return f"{speed}/{i.get('duplex', 'full')}/{i.get('state', 'down')}"


PARENTS = (("vlan", 1), ("loopback", 3), ("tunnel", 4))


def interface_all(data: Mapping[str, Any]) -> str:
    """``show interface all`` (verified layout, 9.x columns: name@0, id@24, state@30,
    mac@56; logical name@0, id@26, vsys@32, zone@37, forwarding@54, tag@79, address@86)."""
    hw = list(data.get("hardware") or [])
    logical = list(data.get("logical") or [])
    lines = [f"total configured hardware interfaces: {len(hw) + len(PARENTS)}", "",
             f"{'name':<24}{'id':<6}{'speed/duplex/state':<26}mac address", DASHES]
    for i in hw:
        lines.append(f"{i['name']:<24}{i['id']!s:<6}{_hw_state(i):<26}{i.get('mac', '')}")
    for name, pid in PARENTS:
        lines.append(f"{name:<24}{pid!s:<6}{'[n/a]/[n/a]/up':<26}")
    lines += ["", "aggregation groups: 0", "", "",
              f"total configured logical interfaces: {len(logical) + len(PARENTS)}", "",
              f"{'name':<26}{'id':<6}{'vsys':<5}{'zone':<17}{'forwarding':<25}{'tag':<7}address",
              "",
              " ".join("-" * n for n in (19, 5, 4, 16, 24, 6, 18))]
    rows = [*logical, *({"name": n, "id": pid, "vr": "", "zone": "", "tag": 0, "addresses": []}
                        for n, pid in PARENTS)]
    for i in rows:
        forwarding = f"vr:{i['vr']}" if i.get("vr") else "N/A"
        addrs = list(i.get("addresses") or []) or ["N/A"]
        lines.append(f"{i['name']:<26}{i['id']!s:<6}{'1':<5}{i.get('zone', ''):<17}"
                     f"{forwarding:<25}{i.get('tag', 0)!s:<7}{addrs[0]}".rstrip())
        lines += [" " * 80 + a for a in addrs[1:]]
    return "\n".join(line.rstrip() for line in lines) + "\n"


COUNTERS = (("rx_bytes", "bytes received"), ("tx_bytes", "bytes transmitted"),
            ("rx_packets", "packets received"), ("tx_packets", "packets transmitted"),
            ("rx_errors", "receive errors"), ("rx_dropped", "packets dropped"))


def interface_detail(i: Mapping[str, Any]) -> str:
    """``show interface NAME`` (verified layout of the port, logical and counter blocks;
    vpnsh prints the Linux counters it has, not PAN-OS's 26 flow counters)."""
    name = i["name"]
    tunnel = name.startswith(("tunnel.", "loopback."))
    lines = [DASHES, f"Name: {name}, ID: {i['id']}"]
    if not tunnel:
        lines += ["Link status:",
                  f"  Runtime link speed/duplex/state: {_hw_state(i)}",
                  "  Configured link speed/duplex/state: auto/auto/auto",
                  "MAC address:", f"  Port MAC address {i.get('mac', '')}"]
    lines.append("Operation mode: layer3")
    if not tunnel:
        lines.append("Untagged sub-interface support: no")
    if i.get("vr"):
        lines.append(f"Virtual router {i['vr']}")
    lines.append(f"Interface MTU {i.get('mtu', 1500)}")
    addrs = list(i.get("addresses") or [])
    lines.append(f"Interface IP address: {addrs[0] if addrs else ''}".rstrip())
    lines += [f"Interface IP address: {a}" for a in addrs[1:]]
    lines.append(f"Interface management profile: {i.get('management_profile') or 'N/A'}")
    lines.append("Service configured:")
    if i.get("zone"):
        lines.append(f"Zone: {i['zone']}, virtual system: vsys1")
    lines += ["Adjust TCP MSS: no", "Policing: no"]
    if i.get("device") and i.get("device") != name:
        lines.append(f"Linux device: {i['device']}" + ("" if i.get("exists") else " (absent)"))
    lines += [DASHES, "Logical interface counters read from CPU:", DASHES]
    counters = i.get("counters") or {}
    lines += [f"{label:<41}{counters.get(key, 0)}" for key, label in COUNTERS]
    lines.append(DASHES)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- routing

ROUTE_LEGEND = (
    "flags: A:active, ?:loose, C:connect, H:host, S:static, ~:internal, R:rip, O:ospf, B:bgp,\n"
    "       Oi:ospf intra-area, Oo:ospf inter-area, O1:ospf ext-type-1, O2:ospf ext-type-2, "
    "E:ecmp, M:multicast")


def routing_route(data: Mapping[str, Any]) -> str:
    """``show routing route`` (verified layout: destination@0, nexthop@44, metric@84,
    flags@91, age@102, interface@108, next-AS@127)."""
    lines = [ROUTE_LEGEND, ""]
    for vr in data.get("virtual_routers") or []:
        lines += [f"VIRTUAL ROUTER: {vr['name']} (id {vr['id']})", "  ==========",
                  f"{'destination':<44}{'nexthop':<40}{'metric':<7}{'flags':<11}{'age':<6}"
                  f"{'interface':<19}next-AS"]
        for r in vr.get("routes") or []:
            lines.append(f"{r['destination']:<44}{r['nexthop']:<40}{r['metric']!s:<7}"
                         f"{r['flags']:<11}{'':<6}{r.get('interface', '')}".rstrip())
        lines.append(f"total routes shown: {len(vr.get('routes') or [])}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


FIB_FLAGS = "flags: u - up, h - host, g - gateway, e - ecmp, * - preferred path"


def routing_fib(data: Mapping[str, Any]) -> str:
    """``show routing fib`` (verified layout, 9.x flags line; counts at column 51)."""
    vrs = list(data.get("virtual_routers") or [])
    lines = [f"{'total virtual-router shown :':<51}{len(vrs)}", DASHES]
    for vr in vrs:
        entries = list(vr.get("entries") or [])
        names = list(vr.get("interfaces") or [])
        lines += [f"virtual-router name: {vr['name']}", "interfaces:"]
        lines += ["   " + " ".join(names[k:k + 4]) for k in range(0, len(names), 4)]
        lines += ["", "route table:", FIB_FLAGS]
        for label, value in (("maximum of fib entries for device:", 5000),
                             ("maximum of IPv4 fib entries for device:", 5000),
                             ("maximum of IPv6 fib entries for device:", 5000),
                             ("number of fib entries for device:", len(entries)),
                             ("maximum of fib entries for this fib:", 5000),
                             ("number of fib entries for this fib:", len(entries)),
                             ("number of fib entries shown:", len(entries))):
            lines.append(f"{label:<51}{value}")
        lines += ["", f"{'id':<8}{'destination':<22}{'nexthop':<19}{'flags':<7}{'interface':<19}mtu",
                  DASHES]
        for e in entries:
            lines.append(f"{e['id']!s:<8}{e['destination']:<22}{e['nexthop']:<19}{e['flags']:<7}"
                         f"{e['interface']:<19}{e['mtu']}")
        lines.append(DASHES)
    return "\n".join(lines) + "\n"


def fib_lookup(data: Mapping[str, Any]) -> str:
    """``test routing fib-lookup`` (modelled block; the ``via ... interface X, source ...,
    metric ...`` line follows the fragment clients match)."""
    lines = [DASHES, "runtime route lookup", DASHES,
             f"virtual-router:   {data.get('virtual_router', 'default')}",
             f"destination:      {data.get('destination', '')}", "result:"]
    if data.get("found"):
        lines.append(f" via {data['nexthop']} interface {data['interface']}, source "
                     f"{data.get('source', '')}, metric {data.get('metric', 0)}")
    lines.append(DASHES)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- system


def arp(data: Mapping[str, Any]) -> str:
    """``show arp all`` (verified layout: summary values at column 36, interface@0,
    ip@18, hw@34, port@52, status@70, ttl@79)."""
    entries = list(data.get("entries") or [])
    lines = ["",
             f"{'maximum of entries supported :':<36}{data.get('max', 0)}",
             f"{'default timeout:':<36}{data.get('timeout', 1800)} seconds",
             f"{'total ARP entries in table :':<36}{data.get('total', len(entries))}",
             f"{'total ARP entries shown :':<36}{len(entries)}",
             "status: s - static, c - complete, e - expiring, i - incomplete", "",
             f"{'interface':<18}{'ip address':<16}{'hw address':<18}{'port':<18}{'status':<9}ttl",
             DASHES]
    for e in entries:
        lines.append(f"{e['interface']:<18}{e['ip']:<16}{e['mac']:<18}{e['port']:<18}"
                     f"{e['status']:<9}{e['ttl']}")
    return "\n".join(lines) + "\n"


def clock(data: Mapping[str, Any]) -> str:
    """``show clock``: one date(1) line (modelled)."""
    return f"{data['time']}\n"


def resources(data: Mapping[str, Any]) -> str:
    """``show system resources``: a ``top -b -n 1`` snapshot (verified: PAN-OS prints top)."""
    text = str(data.get("text") or "")
    if text:
        return text if text.endswith("\n") else text + "\n"
    load = ", ".join(f"{x:.2f}" for x in data.get("load_average") or [])
    return f"load average: {load}\n"


def command_output(data: Mapping[str, Any]) -> str:
    """``ping`` and ``traceroute``: the Linux tool's own text (verified for ping)."""
    return str(data.get("output", ""))


def admin_row(r: Mapping[str, Any], now: float | None = None) -> dict[str, str]:
    """A connection record of the daemon as a ``show admins`` row."""
    now = time.time() if now is None else now
    idle = max(0, int(now - float(r.get("last", now))))
    return {"admin": str(r.get("admin", "")), "from": str(r.get("from", "")),
            "client": str(r.get("client", "")),
            "start": time.strftime("%m/%d %H:%M:%S", time.localtime(float(r.get("started", now)))),
            "idle": f"{idle // 3600:02d}:{idle // 60 % 60:02d}:{idle % 60:02d}s"}


def locks(kind: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """``show config-locks`` / ``show commit-locks`` (modelled on the GUI's Locks dialog)."""
    lines = [f"{kind.capitalize()} locks:",
             f"{'Admin':<13}{'Location':<10}{'Type':<8}{'Created':<21}Comment", DASHES]
    for r in rows:
        created = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(float(r["created"])))
        lines.append(f"{r['admin']:<13}{r['location']:<10}{r['type']:<8}{created:<21}"
                     f"{r.get('comment', '')}".rstrip())
    return "\n".join(lines) + "\n"


def changes(rows: Sequence[Mapping[str, Any]]) -> str:
    """``show config list changes``: ``<admin>  <add|edit|delete>  <xpath>`` (modelled)."""
    width = max([len(str(r["admin"])) for r in rows] + [5])
    return "".join(f"{r['admin']:<{width}}  {r['action']:<6}  {r['xpath']}\n" for r in rows)


def versions(rows: Sequence[Mapping[str, Any]]) -> str:
    """``show config audit info``: the committed versions, newest first (modelled)."""
    lines = [f"{'Version':<9}{'Date':<21}Description", DASHES]
    for r in sorted(rows, key=lambda r: int(r.get("n", 0)), reverse=True):
        when = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(float(r.get("time", 0))))
        lines.append(f"{r.get('n', '')!s:<9}{when:<21}{r.get('description', '')}".rstrip())
    return "\n".join(lines) + "\n"


def admins(rows: Sequence[Mapping[str, Any]]) -> str:
    """``show admins`` (modelled: Admin, From, Client, Session-start, Idle-for)."""
    lines = [f"{'Admin':<15}{'From':<16}{'Client':<7}{'Session-start':<18}Idle-for", DASHES]
    for r in rows:
        lines.append(f"{r['admin']:<15}{r['from']:<16}{r['client']:<7}{r['start']:<18}"
                     f"{r['idle']}")
    return "\n".join(lines) + "\n"
