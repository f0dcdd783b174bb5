"""Commit-time validation of a whole candidate: types, references, required fields, semantics.

``validate(tree)`` returns every problem found (an empty list means the tree may be
committed).  Each :class:`Problem` prints as PAN-OS does: ``a -> b -> c message``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import cache
from typing import Any

from .schema import Container, Entries, Flag, Leaf, LeafList, Node, Problem, Ref, Secret
from .tree import ENCRYPTED_PREFIX, Path, node_at, with_defaults
from .vpn_schema import (
    AEAD_CIPHERS,
    ETHERNET,
    GATEWAYS,
    IKE_PROFILES,
    IPSEC_PROFILES,
    ROOT,
    RULES,
    TUNNELS,
    VIRTUAL_ROUTERS,
    ZONES,
)

__all__ = ["Problem", "validate"]


@cache
def _schema(base: Path, keys: Path) -> Node:
    return node_at(base + ("_",) + keys)[0]


def _eff(entry: dict, base: Path, *keys: str) -> Any:
    """The value at ``keys`` in one entry of ``base``, or its schema default."""
    return with_defaults(_schema(base, keys), _get(entry, keys))


def _get(tree: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


# --------------------------------------------------------------------------- types and shape


def _check_value(node: Leaf | LeafList, path: Path, value: Any) -> Iterator[Problem]:
    values = value if isinstance(node, LeafList) else [value]
    if isinstance(node, LeafList) and (not isinstance(value, list) or not value):
        yield Problem(path, "must be a non-empty list")
        return
    for v in values:
        if not isinstance(v, str | int) or isinstance(v, bool):
            yield Problem(path, f"has a value of the wrong type: {v!r}")
        elif isinstance(node.type, Secret):
            if not str(v).startswith(ENCRYPTED_PREFIX):
                yield Problem(path, "is not encrypted")
        else:
            try:
                parsed = node.type.parse(str(v))
            except ValueError as exc:
                yield Problem(path, str(exc))
                continue
            if parsed != v:
                yield Problem(path, f"'{v}' is not in canonical form '{parsed}'")


def _check_shape(node: Node, value: Any, path: Path, entry: bool = False,
                 good: Any = None) -> Iterator[Problem]:
    """Types and shape of ``value``; subtrees equal to ``good`` (already valid) are skipped."""
    if good is not None and value == good:
        return
    good = good if isinstance(good, dict) else {}
    if isinstance(node, Flag):
        if value != {}:
            yield Problem(path, "takes no value")
        return
    if isinstance(node, Leaf | LeafList):
        yield from _check_value(node, path, value)
        return
    assert isinstance(node, Container | Entries)
    if not isinstance(value, dict):
        yield Problem(path, "is unexpected")
        return
    if isinstance(node, Entries) and not entry:
        for name, sub in value.items():
            try:
                node.key.parse(name)
            except ValueError as exc:
                yield Problem(path, str(exc))
                continue
            yield from _check_shape(node, sub, path + (name,), True, good.get(name))
        return
    for key, sub in value.items():
        child = node.child(key)
        if child is None:
            yield Problem(path + (key,), "is unexpected")
            continue
        rivals = [r for r in node.rivals(key) if r in value and r < key]
        if rivals:
            yield Problem(path + (key,), f"cannot be used together with {rivals[0]}")
        yield from _check_shape(child, sub, path + (key,), False, good.get(key))


# --------------------------------------------------------------------------- references


def _refs(node: Node, value: Any, path: Path, entry: bool = False
          ) -> Iterator[tuple[Path, Ref, str]]:
    """Every stored reference value: (path, Ref type, value)."""
    if isinstance(node, Leaf | LeafList) and isinstance(node.type, Ref):
        for v in value if isinstance(value, list) else [value]:
            yield path, node.type, v
    elif isinstance(node, Entries) and not entry and isinstance(value, dict):
        for name, sub in value.items():
            yield from _refs(node, sub, path + (name,), entry=True)
    elif isinstance(node, Container | Entries) and isinstance(value, dict):
        for key, sub in value.items():
            child = node.child(key)
            if child is not None:
                yield from _refs(child, sub, path + (key,))


def _exists(tree: dict, ref: Ref, name: str) -> bool:
    if name in ref.extra:
        return True
    return any(isinstance(_get(tree, t), dict) and name in _get(tree, t) for t in ref.targets)


def _check_refs(tree: dict) -> Iterator[Problem]:
    for path, ref, value in _refs(ROOT, tree, ()):
        if isinstance(value, str) and not _exists(tree, ref, value):
            yield Problem(path, f"'{value}' is not a valid reference")


# --------------------------------------------------------------------------- semantics


def _missing(path: Path, entry: dict, *keys: str) -> Iterator[Problem]:
    for key in keys:
        if _get(entry, tuple(key.split())) is None:
            yield Problem(path, f"is missing '{key.split()[-1]}'")


def _versions(version: str) -> tuple[str, ...]:
    return {"ikev1": ("ikev1",), "ikev2": ("ikev2",)}.get(version, ("ikev1", "ikev2"))


def _family(text: str) -> int:
    """IP version of a (canonical, already type-checked) address or prefix."""
    return 6 if ":" in text else 4


def _check_gateways(tree: dict) -> Iterator[Problem]:
    gateways = _get(tree, GATEWAYS) or {}
    endpoints: dict[tuple, str] = {}
    for name, gw in gateways.items():
        path = GATEWAYS + (name,)
        yield from _missing(path, gw, "peer-address", "local-address",
                            "authentication pre-shared-key key")
        if "local-address" in gw:
            yield from _missing(path + ("local-address",), gw, "local-address interface")
        for v in _versions(_eff(gw, GATEWAYS, "protocol", "version")):
            profile_name = _eff(gw, GATEWAYS, "protocol", v, "ike-crypto-profile")
            profile = _get(tree, IKE_PROFILES + (profile_name,))
            ppath = path + ("protocol", v, "ike-crypto-profile")
            if profile is None:
                if _get(gw, ("protocol", v, "ike-crypto-profile")) is None:
                    yield Problem(ppath, f"'{profile_name}' is not a valid reference")
            elif v == "ikev1" and any("gcm" in e for e in profile.get("encryption", [])):
                yield Problem(ppath, f"'{profile_name}' uses GCM encryption, "
                              "which IKEv1 does not support")
        for which in ("local-id", "peer-id"):
            ident = gw.get(which) or {}
            if ("type" in ident) != ("id" in ident):
                yield Problem(path + (which,),
                              f"is missing '{'id' if 'type' in ident else 'type'}'")
            elif ident.get("type") == "ipaddr":
                try:
                    ipaddress.ip_address(ident["id"])
                except ValueError:
                    yield Problem(path + (which, "id"),
                                  f"'{ident['id']}' is not an IP address (type ipaddr)")
        yield from _check_local_address(tree, path, gw)
        local = gw.get("local-address") or {}
        peer = gw.get("peer-address") or {}
        if "ip" in local and "ip" in peer and _family(local["ip"]) != _family(peer["ip"]):
            yield Problem(path + ("peer-address", "ip"),
                          "is not of the same address family as local-address")
        peer_key = peer.get("ip") or peer.get("fqdn")
        if peer_key is not None:
            key = (local.get("interface"), local.get("ip"), peer_key)
            if key in endpoints:
                yield Problem(path, "has the same local-address and peer-address as gateway "
                              f"'{endpoints[key]}'")
            else:
                endpoints[key] = name


def _check_local_address(tree: dict, path: Path, gw: dict) -> Iterator[Problem]:
    local = gw.get("local-address") or {}
    ifname = local.get("interface")
    if ifname is None:
        return
    addrs = _get(tree, ETHERNET + (ifname, "layer3", "ip")) or []
    if "ip" in local:
        if addrs and local["ip"] not in addrs:
            yield Problem(path + ("local-address", "ip"),
                          f"'{local['ip']}' is not an address of interface '{ifname}'")
    elif "floating-ip" not in local and len(addrs) > 1:
        yield Problem(path + ("local-address",), f"is ambiguous: interface '{ifname}' has "
                      f"{len(addrs)} addresses, choose one with 'ip'")


def _check_ike_profiles(tree: dict) -> Iterator[Problem]:
    for name, prof in (_get(tree, IKE_PROFILES) or {}).items():
        path = IKE_PROFILES + (name,)
        yield from _missing(path, prof, "encryption", "hash", "dh-group")
        enc, hashes = prof.get("encryption") or [], prof.get("hash") or []
        gcm = [e for e in enc if "gcm" in e]
        if gcm and any(h != "non-auth" for h in hashes):
            yield Problem(path + ("hash",), f"must be non-auth with {gcm[0]} encryption")
        plain = [e for e in enc if "gcm" not in e]
        if "non-auth" in hashes and plain:
            yield Problem(path + ("hash",), f"non-auth cannot be used with {plain[0]} "
                          "encryption (GCM only)")


def _check_ipsec_profiles(tree: dict) -> Iterator[Problem]:
    for name, prof in (_get(tree, IPSEC_PROFILES) or {}).items():
        path = IPSEC_PROFILES + (name,)
        if "esp" not in prof and "ah" not in prof:
            yield Problem(path, "is missing 'esp'")
            continue
        if "ah" in prof:
            yield from _missing(path + ("ah",), prof["ah"], "authentication")
            continue
        esp = prof["esp"]
        yield from _missing(path + ("esp",), esp, "encryption", "authentication")
        enc, auth = esp.get("encryption") or [], esp.get("authentication") or []
        aead = [e for e in enc if e in AEAD_CIPHERS]
        if aead and any(a != "none" for a in auth):
            yield Problem(path + ("esp", "authentication"),
                          f"must be none with {aead[0]} encryption")
        plain = [e for e in enc if e not in AEAD_CIPHERS]
        if plain and auth == ["none"]:
            yield Problem(path + ("esp", "authentication"),
                          f"none cannot be used with {plain[0]} encryption "
                          "(it needs an authentication algorithm)")


PROXY_ID = TUNNELS + ("_", "auto-key", "proxy-id")


def _selector(pid: dict) -> tuple:
    proto = _eff(pid, PROXY_ID, "protocol")
    return pid.get("local"), pid.get("remote"), repr(sorted(proto.items()))


def _check_tunnels(tree: dict) -> Iterator[Problem]:
    for name, tun in (_get(tree, TUNNELS) or {}).items():
        path = TUNNELS + (name,)
        yield from _missing(path, tun, "tunnel-interface", "auto-key ike-gateway")
        profile = _eff(tun, TUNNELS, "auto-key", "ipsec-crypto-profile")
        if _get(tree, IPSEC_PROFILES + (profile,)) is None and \
                _get(tun, ("auto-key", "ipsec-crypto-profile")) is None:
            yield Problem(path + ("auto-key", "ipsec-crypto-profile"),
                          f"'{profile}' is not a valid reference")
        proxies = _get(tun, ("auto-key", "proxy-id")) or {}
        seen: dict[tuple, str] = {}
        for pid, entry in proxies.items():
            ppath = path + ("auto-key", "proxy-id", pid)
            yield from _missing(ppath, entry, "local", "remote")
            if "local" in entry and "remote" in entry and \
                    _family(entry["local"]) != _family(entry["remote"]):
                yield Problem(ppath, "local and remote are of different address families")
            sel = _selector(entry)
            if sel in seen:
                yield Problem(ppath, f"has the same local, remote and protocol as proxy-id "
                              f"'{seen[sel]}'")
            else:
                seen[sel] = pid
        mon = _eff(tun, TUNNELS, "tunnel-monitor")
        mpath = path + ("tunnel-monitor",)
        if mon["enable"] == "yes" and "destination-ip" not in mon:
            yield Problem(mpath, "is missing 'destination-ip'")
        if "proxy-id" in mon and mon["proxy-id"] not in proxies:
            yield Problem(mpath + ("proxy-id",), f"'{mon['proxy-id']}' is not a proxy-id of "
                          "this tunnel")


def _check_membership(tree: dict) -> Iterator[Problem]:
    """An interface belongs to at most one zone and one virtual router."""
    for base, keys, what in ((ZONES, ("network", "layer3"), "zone"),
                             (VIRTUAL_ROUTERS, ("interface",), "virtual-router")):
        owner: dict[str, str] = {}
        for name, entry in (_get(tree, base) or {}).items():
            for ifname in _get(entry, keys) or []:
                if ifname in owner:
                    yield Problem(base + (name,) + keys, f"'{ifname}' is already in {what} "
                                  f"'{owner[ifname]}'")
                else:
                    owner[ifname] = name
    for vr, entry in (_get(tree, VIRTUAL_ROUTERS) or {}).items():
        routes = _get(entry, ("routing-table", "ip", "static-route")) or {}
        for rname, route in routes.items():
            rpath = VIRTUAL_ROUTERS + (vr, "routing-table", "ip", "static-route", rname)
            yield from _missing(rpath, route, "destination")
            if _get(route, ("nexthop", "next-vr")) == vr:
                yield Problem(rpath + ("nexthop", "next-vr"), "must not be its own "
                              "virtual-router")


def _check_rules(tree: dict) -> Iterator[Problem]:
    for name, rule in (_get(tree, RULES) or {}).items():
        path = RULES + (name,)
        yield from _missing(path, rule, "from", "to", "source", "destination",
                            "application", "service")
        for key in ("from", "to", "source", "destination", "application", "service"):
            members = rule.get(key) or []
            if "any" in members and len(members) > 1:
                yield Problem(path + (key,), f"is invalid. 'any' should not be used with "
                              f"another {key}")


SEMANTIC_CHECKS = (_check_gateways, _check_ike_profiles, _check_ipsec_profiles,
                   _check_tunnels, _check_membership, _check_rules)


def validate(tree: dict, running: dict | None = None) -> list[Problem]:
    """Every problem of ``tree``; semantic checks run only on a well-typed tree.

    ``running`` (optional) is a tree known to be valid, e.g. the running config: subtrees
    equal to it skip the per-value type checks, which keeps a small commit fast.
    """
    problems = list(_check_shape(ROOT, tree, (), good=running))
    if problems:
        return problems
    problems.extend(_check_refs(tree))
    for check in SEMANTIC_CHECKS:
        problems.extend(check(tree))
    return problems

