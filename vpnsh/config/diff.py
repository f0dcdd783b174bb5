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

from .formats import render
from .tree import effective
from .vpn_schema import (
    ETHERNET,
    GATEWAYS,
    IKE_PROFILES,
    IPSEC_PROFILES,
    MONITOR_PROFILES,
    TUNNEL_UNITS,
    TUNNELS,
    VIRTUAL_ROUTERS,
)


@dataclass
class Changes:
    added: set = field(default_factory=set)
    changed: set = field(default_factory=set)
    removed: set = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass
class ConfigDiff:
    """Names per kind; routes are keyed by ``(virtual_router, route_name)``."""

    gateways: Changes = field(default_factory=Changes)
    tunnels: Changes = field(default_factory=Changes)
    tunnel_interfaces: Changes = field(default_factory=Changes)
    ethernet_interfaces: Changes = field(default_factory=Changes)
    routes: Changes = field(default_factory=Changes)
    ike_profiles: Changes = field(default_factory=Changes)
    ipsec_profiles: Changes = field(default_factory=Changes)
    monitor_profiles: Changes = field(default_factory=Changes)
    other: bool = False  # zones, rules, virtual-router interfaces, ...: anything else

    @property
    def empty(self) -> bool:
        return not (self.other or any(
            getattr(self, f) for f in self.__dataclass_fields__ if f != "other"))


def _objects(tree: dict, path: tuple[str, ...]) -> dict[Hashable, Any]:
    names = effective(tree, path) if _exists(tree, path) else {}
    return names or {}


def _exists(tree: dict, path: tuple[str, ...]) -> bool:
    d: Any = tree
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return False
        d = d[key]
    return True


def _routes(tree: dict) -> dict[Hashable, Any]:
    out: dict[Hashable, Any] = {}
    for vr, entry in _objects(tree, VIRTUAL_ROUTERS).items():
        for name, route in entry.get("routing-table", {}).get("ip", {}).get(
                "static-route", {}).items():
            out[(vr, name)] = route
    return out


def _compare(old: dict, new: dict) -> Changes:
    return Changes(added=set(new) - set(old), removed=set(old) - set(new),
                   changed={k for k in set(old) & set(new) if old[k] != new[k]})


def diff(running: dict, candidate: dict) -> ConfigDiff:
    d = ConfigDiff()
    for attr, path in (("ike_profiles", IKE_PROFILES), ("ipsec_profiles", IPSEC_PROFILES),
                       ("monitor_profiles", MONITOR_PROFILES),
                       ("tunnel_interfaces", TUNNEL_UNITS), ("ethernet_interfaces", ETHERNET),
                       ("gateways", GATEWAYS), ("tunnels", TUNNELS)):
        setattr(d, attr, _compare(_objects(running, path), _objects(candidate, path)))
    d.routes = _compare(_routes(running), _routes(candidate))

    touched_ike = d.ike_profiles.changed | d.ike_profiles.added | d.ike_profiles.removed
    for name, gw in _objects(candidate, GATEWAYS).items():
        if name in d.gateways.added:
            continue
        proto = gw["protocol"]
        if {proto["ikev1"]["ike-crypto-profile"], proto["ikev2"]["ike-crypto-profile"]} \
                & touched_ike:
            d.gateways.changed.add(name)

    def touched(c: Changes) -> set:
        return c.changed | c.added | c.removed

    for name, tun in _objects(candidate, TUNNELS).items():
        if name in d.tunnels.added:
            continue
        deps = (set(tun["auto-key"].get("ike-gateway", [])) & touched(d.gateways)
                or tun["auto-key"]["ipsec-crypto-profile"] in touched(d.ipsec_profiles)
                or tun.get("tunnel-interface") in touched(d.tunnel_interfaces)
                or tun["tunnel-monitor"].get("tunnel-monitor-profile")
                in touched(d.monitor_profiles))
        if deps:
            d.tunnels.changed.add(name)

    rest_old = {k: v for k, v in running.items()}
    rest_new = {k: v for k, v in candidate.items()}
    d.other = _strip(rest_old) != _strip(rest_new)
    return d


def _strip(tree: dict) -> Any:
    """The tree without the parts ConfigDiff reports by name."""
    import copy

    t = copy.deepcopy(tree)
    for path in (IKE_PROFILES, IPSEC_PROFILES, MONITOR_PROFILES, TUNNEL_UNITS, ETHERNET,
                 GATEWAYS, TUNNELS):
        parent = t
        for key in path[:-1]:
            parent = parent.get(key, {}) if isinstance(parent, dict) else {}
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    for entry in (t.get("network", {}).get("virtual-router", {}) or {}).values():
        entry.get("routing-table", {}).get("ip", {}).pop("static-route", None)
    return effective(t, ())


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
