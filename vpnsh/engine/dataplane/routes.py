"""Tunnel interface addresses, MTU and static routes through pyroute2.

Shared by the user-space data plane (TUN devices) and the kernel one (XFRM
interfaces): the data plane makes the link, this module makes its addresses, MTU and
the routes into it exactly what the configuration says.

Routes made here carry the routing protocol number :data:`RTPROT_VPNSH` (``ip route``
shows ``proto 77``), so a sync touches only the routes vpnsh made: anything another
program or the operator put into the main table stays.

pyroute2's synchronous ``IPRoute`` runs its own asyncio loop and cannot be used from a
thread that is running one (the daemon's); :func:`run_netlink` runs a function with a
fresh ``IPRoute`` in a short-lived helper thread and returns its result.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .base import Route

R = TypeVar("R")
log = logging.getLogger("vpnsh.dataplane.routes")

RTPROT_VPNSH = 77
RT_TABLE_MAIN = 254
RTNH_F_ONLINK = 4
IFF_UP = 0x1


def run_netlink(fn: Callable[[Any], R], timeout: float = 30.0) -> R:
    """``fn(ipr)`` with a new pyroute2 ``IPRoute``, in a helper thread; re-raises its error."""
    from pyroute2 import IPRoute

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            with IPRoute() as ipr:
                box["result"] = fn(ipr)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=work, name="vpnsh-netlink", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"netlink operation did not finish in {timeout:.0f}s")
    if "error" in box:
        raise box["error"]
    result: R = box["result"]
    return result


def link_index(ipr: Any, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def link_addresses(ipr: Any, index: int) -> set[str]:
    """The addresses of a link as ``addr/prefixlen`` (link-local IPv6 left out)."""
    out = set()
    for msg in ipr.get_addr(index=index):
        iface = ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
        if iface.version == 6 and iface.ip.is_link_local:
            continue
        out.add(str(iface))
    return out


def configure_link(ipr: Any, name: str, addresses: Iterable[str], mtu: int,
                   gso_max_segs: int | None = None) -> None:
    """Give link ``name`` exactly these addresses and this MTU (and, when given, this
    cap on the segments of the GSO packets the kernel hands it), and bring it up."""
    index = link_index(ipr, name)
    if index is None:
        raise OSError(f"interface {name} does not exist")
    link = ipr.get_links(index)[0]
    if link.get_attr("IFLA_MTU") != mtu:
        ipr.link("set", index=index, mtu=mtu)
    if gso_max_segs is not None and link.get_attr("IFLA_GSO_MAX_SEGS") != gso_max_segs:
        try:
            ipr.link("set", index=index, IFLA_GSO_MAX_SEGS=gso_max_segs)
        except Exception as exc:  # noqa: BLE001 - a kernel before 5.19: larger trains, no harm
            log.debug("%s: gso_max_segs %d not set: %s", name, gso_max_segs, exc)
    want = {str(ipaddress.ip_interface(a)) for a in addresses}
    have = link_addresses(ipr, index)
    for cidr in sorted(have - want):
        iface = ipaddress.ip_interface(cidr)
        ipr.addr("del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    for cidr in sorted(want - have):
        iface = ipaddress.ip_interface(cidr)
        ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    if not link["flags"] & IFF_UP:
        ipr.link("set", index=index, state="up")


@dataclass(frozen=True)
class RouteKey:
    """A route as the kernel holds it: what a sync compares."""

    destination: str  # normalised prefix
    oif: int
    gateway: str | None
    metric: int

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.destination else socket.AF_INET


def managed_routes(ipr: Any) -> list[RouteKey]:
    """The routes in the main table that vpnsh made (proto :data:`RTPROT_VPNSH`)."""
    out = []
    for msg in ipr.get_routes(table=RT_TABLE_MAIN):
        if msg["proto"] != RTPROT_VPNSH:
            continue
        dst = msg.get_attr("RTA_DST")
        if dst is None:
            dst = "0.0.0.0" if msg["family"] == socket.AF_INET else "::"
        prefix = str(ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False))
        out.append(RouteKey(prefix, int(msg.get_attr("RTA_OIF") or 0),
                            msg.get_attr("RTA_GATEWAY"), int(msg.get_attr("RTA_PRIORITY") or 0)))
    return out


def _route_args(key: RouteKey) -> dict[str, Any]:
    net = ipaddress.ip_network(key.destination)
    args: dict[str, Any] = {
        "dst": str(net.network_address), "dst_len": net.prefixlen, "family": key.family,
        "oif": key.oif, "priority": key.metric, "proto": RTPROT_VPNSH, "table": RT_TABLE_MAIN,
    }
    if key.gateway:
        args["gateway"] = key.gateway
        args["flags"] = RTNH_F_ONLINK  # the nexthop is across the tunnel: no ARP, no subnet
    return args


def sync_routes(ipr: Any, routes: Sequence[Route]) -> list[str]:
    """Make vpnsh's routes in the kernel exactly ``routes``; returns one line per failure.

    A route whose interface does not exist is skipped (and reported); routes of other
    programs are never touched.
    """
    problems: list[str] = []
    want: dict[RouteKey, Route] = {}
    for route in routes:
        index = link_index(ipr, route.interface)
        if index is None:
            problems.append(f"route {route.destination}: interface {route.interface} does not exist")
            continue
        prefix = str(ipaddress.ip_network(route.destination, strict=False))
        gateway = str(ipaddress.ip_address(route.nexthop)) if route.nexthop else None
        want[RouteKey(prefix, index, gateway, route.metric)] = route
    have = set(managed_routes(ipr))
    for key in have - set(want):
        try:
            ipr.route("del", **_route_args(key))
        except Exception as exc:  # noqa: BLE001 - reported, the sync goes on
            problems.append(f"route {key.destination}: cannot remove: {exc}")
    for key in set(want) - have:
        try:
            ipr.route("replace", **_route_args(key))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"route {key.destination}: cannot install: {exc}")
    return problems
