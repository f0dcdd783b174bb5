"""Commit-time validation of a whole candidate: types, references, required fields, semantics.

``validate(tree)`` returns every problem found (an empty list means the tree may be
committed).  Each :class:`Problem` prints as PAN-OS does: ``a -> b -> c message``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import cache
from typing import Any

from .schema import (
    Container,
    Entries,
    Flag,
    Leaf,
    LeafList,
    Node,
    Problem,
    Ref,
    Secret,
    parse_cached,
)
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

RefUse = tuple[Path, Ref, Any]  # a stored reference value: (path, Ref type, value)


def _check_value(node: Leaf | LeafList, path: Path, value: Any, out: list[Problem]) -> None:
    if isinstance(node, LeafList) and (not isinstance(value, list) or not value):
        out.append(Problem(path, "must be a non-empty list"))
        return
    vtype = node.type
    for v in value if isinstance(node, LeafList) else (value,):
        if not isinstance(v, str | int) or isinstance(v, bool):
            out.append(Problem(path, f"has a value of the wrong type: {v!r}"))
        elif isinstance(vtype, Secret):
            if not str(v).startswith(ENCRYPTED_PREFIX):
                out.append(Problem(path, "is not encrypted"))
        else:
            try:
                parsed = parse_cached(vtype, v if type(v) is str else str(v))
            except ValueError as exc:
                out.append(Problem(path, str(exc)))
                continue
            if parsed != v:
                out.append(Problem(path, f"'{v}' is not in canonical form '{parsed}'"))


def _check_shape(node: Node, value: Any, path: Path, entry: bool, good: Any,
                 out: list[Problem], refs: list[RefUse]) -> None:
    """Types and shape of ``value`` into ``out``, and its reference values into ``refs``.

    Subtrees equal to ``good`` (already valid) are skipped: neither checked nor collected.
    """
    if good is not None and value == good:
        return
    good = good if isinstance(good, dict) else {}
    if isinstance(node, Flag):
        if value != {}:
            out.append(Problem(path, "takes no value"))
        return
    if isinstance(node, Leaf | LeafList):
        _check_value(node, path, value, out)
        if isinstance(node.type, Ref):
            for v in value if isinstance(value, list) else (value,):
                refs.append((path, node.type, v))
        return
    assert isinstance(node, Container | Entries)
    if not isinstance(value, dict):
        out.append(Problem(path, "is unexpected"))
        return
    if isinstance(node, Entries) and not entry:
        for name, sub in value.items():
            if name not in good:  # a name in a valid tree is a valid name
                try:
                    parse_cached(node.key, name)
                except ValueError as exc:
                    out.append(Problem(path, str(exc)))
                    continue
            _check_shape(node, sub, path + (name,), True, good.get(name), out, refs)
        return
    exclusive = node.choice if isinstance(node, Container) else False
    for key, sub in value.items():
        child = node.child(key)
        if child is None:
            out.append(Problem(path + (key,), "is unexpected"))
            continue
        if exclusive or node.exclusive:
            rivals = [r for r in node.rivals(key) if r in value and r < key]
            if rivals:
                out.append(Problem(path + (key,), f"cannot be used together with {rivals[0]}"))
        _check_shape(child, sub, path + (key,), False, good.get(key), out, refs)


# --------------------------------------------------------------------------- references

_HAS_REFS: dict[int, tuple[Node, bool]] = {}


def _has_refs(node: Node) -> bool:
    """Whether a Ref leaf sits anywhere under schema node ``node`` (memoized)."""
    hit = _HAS_REFS.get(id(node))
    if hit is None:
        if isinstance(node, Leaf | LeafList):
            found = isinstance(node.type, Ref)
        elif isinstance(node, Container | Entries):
            found = any(_has_refs(c) for c in node.children)
        else:
            found = False
        hit = _HAS_REFS[id(node)] = (node, found)  # the node kept alive: its id stays its own
    return hit[1]


def _collect_refs(node: Node, value: Any, path: Path, entry: bool, out: list[RefUse]) -> None:
    if not _has_refs(node):
        return
    if isinstance(node, Leaf | LeafList):
        assert isinstance(node.type, Ref)
        for v in value if isinstance(value, list) else (value,):
            out.append((path, node.type, v))
    elif isinstance(node, Entries) and not entry and isinstance(value, dict):
        for name, sub in value.items():
            _collect_refs(node, sub, path + (name,), True, out)
    elif isinstance(node, Container | Entries) and isinstance(value, dict):
        for key, sub in value.items():
            child = node.child(key)
            if child is not None:
                _collect_refs(child, sub, path + (key,), False, out)


def _refs(node: Node, value: Any, path: Path, entry: bool = False) -> Iterator[RefUse]:
    """Every stored reference value: (path, Ref type, value)."""
    out: list[RefUse] = []
    _collect_refs(node, value, path, entry, out)
    yield from out


@cache
def _ref_targets() -> tuple[Path, ...]:
    """Every Entries path some reference of the schema points into."""
    found: dict[Path, None] = {}

    def visit(node: Node) -> None:
        if isinstance(node, Leaf | LeafList) and isinstance(node.type, Ref):
            found.update(dict.fromkeys(node.type.targets))
        elif isinstance(node, Container | Entries):
            for c in node.children:
                visit(c)

    visit(ROOT)
    return tuple(found)


def _names_removed(tree: dict, running: dict) -> bool:
    """Whether an entry some reference may name exists in ``running`` but not in ``tree``."""
    for target in _ref_targets():
        old, new = _get(running, target), _get(tree, target)
        if isinstance(old, dict) and old and old is not new:
            if not isinstance(new, dict):
                return True
            if any(name not in new for name in old):
                return True
    return False


def _ref_problems(tree: dict, refs: list[RefUse]) -> Iterator[Problem]:
    names: dict[Path, Any] = {}
    for path, ref, value in refs:
        if not isinstance(value, str) or value in ref.extra:
            continue
        for t in ref.targets:
            entries = names.get(t)
            if entries is None:
                entries = names[t] = _get(tree, t)
                if not isinstance(entries, dict):
                    entries = names[t] = {}
            if value in entries:
                break
        else:
            yield Problem(path, f"'{value}' is not a valid reference")


def _exists(tree: dict, ref: Ref, name: str) -> bool:
    if name in ref.extra:
        return True
    return any(isinstance(_get(tree, t), dict) and name in _get(tree, t) for t in ref.targets)


def _check_refs(tree: dict) -> Iterator[Problem]:
    yield from _ref_problems(tree, list(_refs(ROOT, tree, ())))


# --------------------------------------------------------------------------- semantics


@cache
def _split(key: str) -> Path:
    return tuple(key.split())


def _missing(path: Path, entry: dict, *keys: str) -> Iterator[Problem]:
    for key in keys:
        if _get(entry, _split(key)) is None:
            yield Problem(path, f"is missing '{_split(key)[-1]}'")


def _old(running: dict | None, tree: dict, base: Path, *deps: Path) -> dict | None:
    """The entries at ``base`` in ``running``, if every subtree in ``deps`` is as there.

    Semantic checks skip an entry equal to its entry in this dict: it passed them in
    ``running`` (valid), and nothing else it is checked against changed.  None: check all.
    """
    if running is None:
        return None
    for dep in deps:
        if _get(tree, dep) != _get(running, dep):
            return None
    old = _get(running, base)
    return old if isinstance(old, dict) else {}


def _same(old: dict | None, name: str, entry: Any) -> bool:
    return old is not None and name in old and old[name] == entry


def _versions(version: str) -> tuple[str, ...]:
    return {"ikev1": ("ikev1",), "ikev2": ("ikev2",)}.get(version, ("ikev1", "ikev2"))


def _family(text: str) -> int:
    """IP version of a (canonical, already type-checked) address or prefix."""
    return 6 if ":" in text else 4


def _check_gateways(tree: dict, running: dict | None = None) -> Iterator[Problem]:
    gateways = _get(tree, GATEWAYS) or {}
    old = _old(running, tree, GATEWAYS, IKE_PROFILES, ETHERNET)
    if old is not None and old == gateways:
        return
    endpoints: dict[tuple, str] = {}
    for name, gw in gateways.items():
        path = GATEWAYS + (name,)
        if not _same(old, name, gw):
            yield from _check_gateway(tree, path, gw)
        local = gw.get("local-address") or {}
        peer = gw.get("peer-address") or {}
        peer_key = peer.get("ip") or peer.get("fqdn")
        if peer_key is not None:
            key = (local.get("interface"), local.get("ip"), peer_key)
            if key in endpoints:
                yield Problem(path, "has the same local-address and peer-address as gateway "
                              f"'{endpoints[key]}'")
            else:
                endpoints[key] = name


def _check_gateway(tree: dict, path: Path, gw: dict) -> Iterator[Problem]:
    """The checks of one gateway on its own (all but the endpoint clash)."""
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


def _check_ike_profiles(tree: dict, running: dict | None = None) -> Iterator[Problem]:
    old = _old(running, tree, IKE_PROFILES)
    for name, prof in (_get(tree, IKE_PROFILES) or {}).items():
        if _same(old, name, prof):
            continue
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


def _check_ipsec_profiles(tree: dict, running: dict | None = None) -> Iterator[Problem]:
    old = _old(running, tree, IPSEC_PROFILES)
    for name, prof in (_get(tree, IPSEC_PROFILES) or {}).items():
        if _same(old, name, prof):
            continue
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


def _check_tunnels(tree: dict, running: dict | None = None) -> Iterator[Problem]:
    old = _old(running, tree, TUNNELS)
    if old is not None:  # a tunnel depends on the names of the IPsec profiles only
        profiles = _get(tree, IPSEC_PROFILES) or {}
        if any(p not in profiles for p in _get(running, IPSEC_PROFILES) or {}):
            old = None
    for name, tun in (_get(tree, TUNNELS) or {}).items():
        if _same(old, name, tun):
            continue
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


def _check_membership(tree: dict, running: dict | None = None) -> Iterator[Problem]:
    """An interface belongs to at most one zone and one virtual router."""
    if _old(running, tree, (), ZONES, VIRTUAL_ROUTERS) is not None:
        return
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


def _check_rules(tree: dict, running: dict | None = None) -> Iterator[Problem]:
    old = _old(running, tree, RULES)
    for name, rule in (_get(tree, RULES) or {}).items():
        if _same(old, name, rule):
            continue
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
    equal to it skip the per-value type checks, the reference checks (unless an entry a
    reference may name was removed) and the semantic checks of entries whose dependencies
    are unchanged, which keeps a small commit fast.  The result is the same as without
    ``running``.
    """
    if running is not None and not isinstance(running, dict):
        running = None
    problems: list[Problem] = []
    refs: list[RefUse] = []
    _check_shape(ROOT, tree, (), False, running, problems, refs)
    if problems:
        return problems
    if running is not None and _names_removed(tree, running):
        refs = list(_refs(ROOT, tree, ()))
    problems.extend(_ref_problems(tree, refs))
    for check in SEMANTIC_CHECKS:
        problems.extend(check(tree, running))
    return problems

