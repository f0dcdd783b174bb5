"""PAN-OS interface names and where each kind lives in the config tree.

PAN-OS names its interfaces ``ethernet1/N`` (the data ports), ``ethernet1/N.U``
(layer3 subinterfaces, 802.1Q VLANs whose tag is set apart from the unit number),
``loopback.N`` and ``tunnel.N``.  vpnsh takes those names everywhere an interface is
named (addresses, zones, virtual routers, local-address, static routes, show commands),
and also keeps taking a plain Linux name (``eth1``, ``veth-a``) for an ethernet entry.

Which Linux device a PAN-OS name is bound to is a fact of the host, not of the config:
see :mod:`vpnsh.engine.ifmap`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

ETHERNET_PATH = ("network", "interface", "ethernet")
SUBIF_PATH = ("layer3", "units")  # inside one ethernet entry
LOOPBACK_PATH = ("network", "interface", "loopback", "units")
TUNNEL_PATH = ("network", "interface", "tunnel", "units")

ETHERNET_RE = re.compile(r"ethernet1/([1-9][0-9]{0,2})")
SUBIF_RE = re.compile(r"(.+)\.([1-9][0-9]{0,3})")
LOOPBACK_RE = re.compile(r"loopback\.([1-9][0-9]{0,3})")
TUNNEL_RE = re.compile(r"tunnel\.([1-9][0-9]{0,3})")


def kind(name: str) -> str:
    """``ethernet`` (a PAN-OS data port), ``subinterface``, ``loopback``, ``tunnel`` or
    ``linux`` (a Linux device name used as an ethernet entry)."""
    if ETHERNET_RE.fullmatch(name):
        return "ethernet"
    if LOOPBACK_RE.fullmatch(name):
        return "loopback"
    if TUNNEL_RE.fullmatch(name):
        return "tunnel"
    m = SUBIF_RE.fullmatch(name)
    if m and ETHERNET_RE.fullmatch(m.group(1)):
        return "subinterface"
    return "linux"


def port_number(name: str) -> int | None:
    """N of ``ethernet1/N``; None for any other name."""
    m = ETHERNET_RE.fullmatch(name)
    return int(m.group(1)) if m else None


def split_subinterface(name: str) -> tuple[str, int] | None:
    """(parent, unit) of ``parent.unit``; None when ``name`` has no unit."""
    m = SUBIF_RE.fullmatch(name)
    return (m.group(1), int(m.group(2))) if m else None


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def subinterfaces(tree: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(parent, subinterface name, its entry) for every ``layer3 units`` entry."""
    for parent, entry in (_get(tree, ETHERNET_PATH) or {}).items():
        for name, unit in (_get(entry, SUBIF_PATH) or {}).items():
            if isinstance(unit, Mapping):
                yield str(parent), str(name), unit


def interface_entry(tree: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The config entry of any interface by its name; for an ethernet port its ``layer3``
    (where its addresses are), else the entry itself."""
    eth = _get(tree, ETHERNET_PATH + (name,))
    if isinstance(eth, Mapping):
        layer3 = eth.get("layer3")
        return layer3 if isinstance(layer3, Mapping) else {}
    for path in (LOOPBACK_PATH, TUNNEL_PATH):
        entry = _get(tree, path + (name,))
        if isinstance(entry, Mapping):
            return entry
    sub = split_subinterface(name)
    if sub is not None:
        entry = _get(tree, ETHERNET_PATH + (sub[0],) + SUBIF_PATH + (name,))
        if isinstance(entry, Mapping):
            return entry
    return None


def interface_ips(tree: Mapping[str, Any], name: str) -> list[str]:
    """The configured ``ip`` values of any interface (empty when it has none)."""
    entry = interface_entry(tree, name)
    ips = entry.get("ip") if entry is not None else None
    return [str(ip) for ip in ips] if isinstance(ips, list) else []


def all_interfaces(tree: Mapping[str, Any]) -> list[str]:
    """Every configured interface name: ethernet ports, subinterfaces, loopbacks, tunnels."""
    out = [str(n) for n in _get(tree, ETHERNET_PATH) or {}]
    out += [name for _, name, _ in subinterfaces(tree)]
    out += [str(n) for n in _get(tree, LOOPBACK_PATH) or {}]
    out += [str(n) for n in _get(tree, TUNNEL_PATH) or {}]
    return out
