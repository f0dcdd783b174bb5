"""What a commit changes: per object kind, the names added, changed and removed.

An object counts as changed when its own effective config (defaults applied) changed, or
when something it depends on changed: a gateway with its IKE crypto profile(s); a tunnel with
its gateway(s), its IPsec crypto profile, its tunnel interface and its monitor profile.  The
engine re-keys exactly these and leaves every other SA alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from . import cow
from .formats import render
from .schema import Node
from .tree import node_at, with_defaults
from .vpn_schema import (
    ADDRESSES,
    ETHERNET,
    GATEWAYS,
    IKE_PROFILES,
    IPSEC_PROFILES,
    LOOPBACKS,
    MONITOR_PROFILES,
    TUNNEL_UNITS,
    TUNNELS,
    VIRTUAL_ROUTERS,
)

ROUTES = ("routing-table", "ip", "static-route")


@dataclass
class Changes:
    added: set = field(default_factory=set)
    changed: set = field(default_factory=set)
    removed: set = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def to_dict(self) -> dict[str, list]:
        """JSON-ready: sorted lists (a route key becomes ``[vr, name]``)."""
        return {k: sorted(list(v) if isinstance(v, tuple) else v for v in getattr(self, k))
                for k in ("added", "changed", "removed")}


@dataclass
class ConfigDiff:
    """Names per kind; routes are keyed by ``(virtual_router, route_name)``."""

    gateways: Changes = field(default_factory=Changes)
    tunnels: Changes = field(default_factory=Changes)
    tunnel_interfaces: Changes = field(default_factory=Changes)
    ethernet_interfaces: Changes = field(default_factory=Changes)  # with their subinterfaces
    loopback_interfaces: Changes = field(default_factory=Changes)
    routes: Changes = field(default_factory=Changes)
    ike_profiles: Changes = field(default_factory=Changes)
    ipsec_profiles: Changes = field(default_factory=Changes)
    monitor_profiles: Changes = field(default_factory=Changes)
    other: bool = False  # zones, rules, virtual-router interfaces, ...: anything else

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: getattr(self, f).to_dict() for f in self.__dataclass_fields__
                               if f != "other"}
        out["other"] = self.other
        return out

    @property
    def empty(self) -> bool:
        return not (self.other or any(
            getattr(self, f) for f in self.__dataclass_fields__ if f != "other"))


def _get(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _objects(tree: dict, path: tuple[str, ...]) -> dict[Hashable, Any]:
    return _get(tree, path) or {}


def _routes(tree: dict) -> dict[Hashable, Any]:
    out: dict[Hashable, Any] = {}
    for vr, entry in _objects(tree, VIRTUAL_ROUTERS).items():
        for name, route in (_get(entry, ROUTES) or {}).items():
            out[(vr, name)] = route
    return out


def _compare(old: dict, new: dict, node: Node) -> Changes:
    """Names added, removed, and changed in effect (stored values compared with defaults)."""
    if old is new:
        return Changes()
    # one pass, by identity: the candidate shares every entry it did not edit with running
    moved = cow.moved(old, new)
    added = {k for k in moved if k not in old}
    removed = set(old.keys() - new.keys()) if len(new) - len(added) != len(old) else set()
    changed = {k for k in moved if k not in added and old[k] != new[k]
               and with_defaults(node, old[k], entry=True) != with_defaults(node, new[k],
                                                                             entry=True)}
    return Changes(added=added, removed=removed, changed=changed)


def _ref(entry: dict, base: tuple[str, ...], *keys: str) -> Any:
    node = node_at(base + ("_",) + keys)[0]
    return with_defaults(node, _get(entry, keys))


def _touched(c: Changes) -> set:
    return c.changed | c.added | c.removed


def _moved(c: Changes) -> set:
    return c.changed | c.removed


KINDS = (("ike_profiles", IKE_PROFILES), ("ipsec_profiles", IPSEC_PROFILES),
         ("monitor_profiles", MONITOR_PROFILES), ("tunnel_interfaces", TUNNEL_UNITS),
         ("ethernet_interfaces", ETHERNET), ("loopback_interfaces", LOOPBACKS), ("gateways", GATEWAYS), ("tunnels", TUNNELS))


def diff(running: dict, candidate: dict) -> ConfigDiff:
    d = ConfigDiff()
    for attr, path in KINDS:
        node = node_at(path)[0]
        setattr(d, attr, _compare(_objects(running, path), _objects(candidate, path), node))
    d.routes = _compare(_routes(running), _routes(candidate),
                        node_at(VIRTUAL_ROUTERS + ("_",) + ROUTES)[0])

    ike = _touched(d.ike_profiles)
    if ike:  # else no gateway changes through its profiles
        for name, gw in _objects(candidate, GATEWAYS).items():
            if name not in d.gateways.added and {
                    _ref(gw, GATEWAYS, "protocol", v, "ike-crypto-profile")
                    for v in ("ikev1", "ikev2")} & ike:
                d.gateways.changed.add(name)

    # an added gateway is named only by tunnels added or changed themselves (a tunnel of
    # running named an existing gateway): a new tunnel's gateway moves no other tunnel
    gateways, ipsec = _moved(d.gateways), _touched(d.ipsec_profiles)
    units, monitors = _touched(d.tunnel_interfaces), _touched(d.monitor_profiles)
    if gateways or ipsec or units or monitors:  # else no tunnel changes through these
        for name, tun in _objects(candidate, TUNNELS).items():
            if name in d.tunnels.added:
                continue
            if (not gateways.isdisjoint(_get(tun, ("auto-key", "ike-gateway")) or ())
                    or (ipsec and _ref(tun, TUNNELS, "auto-key", "ipsec-crypto-profile")
                        in ipsec)
                    or tun.get("tunnel-interface") in units
                    or _get(tun, ("tunnel-monitor", "tunnel-monitor-profile")) in monitors):
                d.tunnels.changed.add(name)

    # an address object's new value moves the proxy-ids and static routes that name it
    addrs = _touched(_compare(_objects(running, ADDRESSES), _objects(candidate, ADDRESSES),
                              node_at(ADDRESSES)[0]))
    if addrs:
        for name, tun in _objects(candidate, TUNNELS).items():
            pids = (_get(tun, ("auto-key", "proxy-id")) or {}).values()
            if name not in d.tunnels.added and any(
                    p.get(k) in addrs for p in pids for k in ("local", "remote")):
                d.tunnels.changed.add(name)
        for key, route in _routes(candidate).items():
            if route.get("destination") in addrs and key not in d.routes.added:
                d.routes.changed.add(key)

    d.other = running is not candidate and _rest(running) != _rest(candidate)
    return d


def _rest(tree: dict) -> list:
    """The parts of the tree ConfigDiff does not report by name (compared as stored)."""
    vrs = {name: {k: v for k, v in entry.items() if k != "routing-table"}
           for name, entry in _objects(tree, VIRTUAL_ROUTERS).items()}
    return [tree.get("zone"), tree.get("rulebase"), vrs,
            _get(tree, ("network", "profiles", "interface-management-profile"))]


def text_diff(running: dict, candidate: dict, fmt: str = "default") -> str:
    """``+``/``-`` lines between the two configs rendered in ``fmt`` (with context)."""
    old = render(running, fmt).splitlines()
    new = render(candidate, fmt).splitlines()
    if fmt == "set":
        gone = set(new)
        came = set(old)
        lines = [f"-{line}" for line in old if line not in gone]
        lines += [f"+{line}" for line in new if line not in came]
        return "\n".join(lines) + ("\n" if lines else "")
    out = [line for line in difflib.unified_diff(old, new, lineterm="", n=3)
           if not line.startswith(("---", "+++"))]
    return "\n".join(out) + ("\n" if out else "")
