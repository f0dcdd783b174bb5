"""Commit-time validation of a whole candidate: types, references, required fields, semantics.

``validate(tree)`` returns every problem found (an empty list means the tree may be
committed).  Each :class:`Problem` prints as PAN-OS does: ``a -> b -> c message``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

from . import cow, ifnames, netref, objects
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
from .tree import ENCRYPTED_PREFIX, Path, entries_at, grouped_in_order, node_at, with_defaults
from .vpn_schema import (
    ADDRESS_GROUPS,
    ADDRESSES,
    AEAD_CIPHERS,
    CERT_PROFILES,
    ETHERNET,
    GATEWAYS,
    IKE_PROFILES,
    IPSEC_PROFILES,
    LOOPBACKS,
    NAT_RULES,
    ROOT,
    RULES,
    SERVICE_GROUPS,
    SERVICES,
    TUNNEL_UNITS,
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


_BRANCH = (Container, Entries)
_LEAVES = (Leaf, LeafList)


SECRET_UNDECRYPTABLE = ("cannot be decrypted with this device's master key (it was encrypted "
                        "on another device or with a lost master key): enter the key in clear")


def _check_value(node: Leaf | LeafList, path: Path, value: Any, out: list[Problem],
                 decryptable: Callable[[str], bool] | None = None) -> None:
    is_list = isinstance(node, LeafList)
    if is_list and (not isinstance(value, list) or not value):
        out.append(Problem(path, "must be a non-empty list"))
        return
    vtype = node.type
    for v in value if is_list else (value,):
        if not isinstance(v, (str, int)) or isinstance(v, bool):  # noqa: UP038 - faster
            out.append(Problem(path, f"has a value of the wrong type: {v!r}"))
        elif isinstance(vtype, Secret):
            if not str(v).startswith(ENCRYPTED_PREFIX):
                out.append(Problem(path, "is not encrypted"))
            elif decryptable is not None and not decryptable(str(v)):
                out.append(Problem(path, SECRET_UNDECRYPTABLE))
        else:
            try:
                parsed = parse_cached(vtype, v if type(v) is str else str(v))
            except ValueError as exc:
                out.append(Problem(path, str(exc)))
                continue
            if parsed != v:
                out.append(Problem(path, f"'{v}' is not in canonical form '{parsed}'"))


class _Delta:
    """What changed from ``running`` (a valid tree) to ``tree``, per collection of entries.

    The shape walk fills it for the collections it walks (those outside entries); any other
    collection is compared when first asked about.
    """

    def __init__(self, tree: dict, running: dict, peers: PeerIndex | None = None) -> None:
        self.tree, self.running = tree, running
        # collection path -> (names new or different in tree, some name of running gone)
        self.entries: dict[Path, tuple[set[str], bool]] = {}
        self._peers = peers

    def peers(self) -> PeerIndex:
        """running's gateways by peer address (:func:`peer_index`)."""
        self._peers = peer_index(self.running, self._peers)
        return self._peers

    def _of(self, base: Path) -> tuple[set[str], bool]:
        hit = self.entries.get(base)
        if hit is None:
            new, old = entries_at(self.tree, base), entries_at(self.running, base)
            if new is old:
                hit = (set(), False)
            else:
                hit = ({n for n, e in new.items() if n not in old or old[n] != e},
                       any(n not in new for n in old))
            self.entries[base] = hit
        return hit

    def changed(self, base: Path) -> set[str]:
        """Names of the entries at ``base`` new in tree or different from running's."""
        return self._of(base)[0]

    def removed(self, base: Path) -> bool:
        """Whether an entry at ``base`` in running is gone from tree."""
        return self._of(base)[1]

    def clean(self, *bases: Path) -> bool:
        """Whether the collections at ``bases`` are equal in tree and running."""
        return all(not c and not r for c, r in map(self._of, bases))


class _Shape:
    """The type and shape walk: problems, reference values, and the delta to ``good``."""

    def __init__(self, delta: _Delta | None,
                 decryptable: Callable[[str], bool] | None = None) -> None:
        self.out: list[Problem] = []
        self.refs: list[RefUse] = []
        self.delta = delta
        self.decryptable = decryptable

    def walk(self, node: Node, value: Any, path: Path, entry: bool, good: Any,
             inside: bool) -> bool:
        """Check ``value``; True if it was skipped as equal to ``good`` (already valid).

        Above the entries (``inside`` False) containers are not compared whole but walked:
        comparing the root, then ``network``, ... would compare the same data again and again.
        """
        out = self.out
        branch = isinstance(node, _BRANCH)
        if good is not None and (value is good or ((inside or not branch) and value == good)):
            return True
        if not branch:
            if isinstance(node, Flag):
                if value != {}:
                    out.append(Problem(path, "takes no value"))
                return False
            assert isinstance(node, _LEAVES)
            _check_value(node, path, value, out, self.decryptable)
            if isinstance(node.type, Ref):
                for v in value if isinstance(value, list) else (value,):
                    self.refs.append((path, node.type, v))
            return False
        assert isinstance(node, Container | Entries)
        if not isinstance(value, dict):
            out.append(Problem(path, "is unexpected"))
            return False
        good = good if isinstance(good, dict) else {}
        if isinstance(node, Entries) and not entry:
            changed: set[str] = set()
            # not the very entries of the valid tree (copy on write): one pass, or none
            for name in cow.moved(good, value):
                sub = value[name]
                if name not in good:  # a name in a valid tree is a valid name
                    changed.add(name)
                    try:
                        parse_cached(node.key, name)
                    except ValueError as exc:
                        out.append(Problem(path, str(exc)))
                        continue
                if not self.walk(node, sub, path + (name,), True, good.get(name), True):
                    changed.add(name)
            if self.delta is not None and not inside:
                self.delta.entries[path] = (changed, not good.keys() <= value.keys())
            return False
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
            self.walk(child, sub, path + (key,), False, good.get(key), inside)
        return False


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


def _names_removed(delta: _Delta) -> bool:
    """Whether an entry some reference may name exists in running but not in the tree."""
    return any(delta.removed(target) for target in _ref_targets())


def _ref_problems(tree: dict, refs: list[RefUse]) -> Iterator[Problem]:
    names: dict[Path, Any] = {}
    for path, ref, value in refs:
        if not isinstance(value, str) or value in ref.extra:
            continue
        for t in ref.targets:
            entries = names.get(t)
            if entries is None:
                entries = names[t] = entries_at(tree, t)
            if value in entries:
                break
        else:
            yield Problem(path, f"'{value}' is not a valid reference")


def _exists(tree: dict, ref: Ref, name: str) -> bool:
    if name in ref.extra:
        return True
    return any(name in entries_at(tree, t) for t in ref.targets)


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


def _versions(version: str) -> tuple[str, ...]:
    return {"ikev1": ("ikev1",), "ikev2": ("ikev2",)}.get(version, ("ikev1", "ikev2"))


def _family(text: str) -> int:
    """IP version of a (canonical, already type-checked) address or prefix."""
    return 6 if ":" in text else 4


def _check_gateways(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    gateways = _get(tree, GATEWAYS) or {}
    # one gateway is checked against itself, the IKE profiles and the ethernet interfaces
    todo = None if delta is None or not delta.clean(IKE_PROFILES, ETHERNET, LOOPBACKS) else \
        delta.changed(GATEWAYS)
    if todo is not None and not todo:  # the gateways of running, or some of them
        return
    if todo is not None and delta is not None and not _may_clash(gateways, todo, delta.peers()):
        yield from grouped_in_order(gateways, todo, lambda name: list(
            _check_gateway(tree, GATEWAYS + (name,), gateways[name])))
        return
    endpoints: dict[tuple, str] = {}
    for name, gw in gateways.items():
        path = GATEWAYS + (name,)
        if todo is None or name in todo:
            yield from _check_gateway(tree, path, gw)
        key = _endpoints(gw)
        if key is not None:
            if key in endpoints:
                yield Problem(path, "has the same local-address, peer-address and peer-id as "
                              f"gateway '{endpoints[key]}'")
            else:
                endpoints[key] = name


def _peer_key(gw: dict) -> Any:
    peer = gw.get("peer-address") or {}
    return peer.get("ip") or peer.get("fqdn")


def _endpoints(gw: dict) -> tuple | None:
    """What no two gateways may share: local interface and address, peer address and peer
    ID (gateways may share both addresses when their peer IDs tell them apart); None
    without a peer address."""
    peer_key = _peer_key(gw)
    if peer_key is None:
        return None
    local = gw.get("local-address") or {}
    return local.get("interface"), local.get("ip"), peer_key, (gw.get("peer-id") or {}).get("id")


class PeerIndex:
    """The names of a valid tree's gateways by peer address (ip or fqdn), so that the
    endpoint check of a small commit looks at the gateways sharing its peer address, not at
    every gateway.  A superset: a gateway since removed or given another peer address keeps
    its old row until the index is rebuilt, and a lookup checks each name against the tree.

    The config service keeps one for its running tree and moves it along at each commit
    (:meth:`follow`); ``gateways`` is the very dict it indexes, so an index handed with
    another running tree is noticed and not used."""

    __slots__ = ("gateways", "_names", "_rows")

    def __init__(self, gateways: dict) -> None:
        self.gateways = gateways
        # a name, or a set of them where gateways share a peer address (10,000 one-name
        # sets would take ~2 MB)
        self._names: dict[Any, str | set[str]] = {}
        self._rows = 0
        self._add(gateways, gateways)

    def _add(self, gateways: dict, names: Iterable[str]) -> None:
        rows = self._names
        for name in names:
            gw = gateways.get(name)
            key = _peer_key(gw) if isinstance(gw, dict) else None
            if key is None:
                continue
            had = rows.get(key)
            if had is None:
                rows[key] = name
            elif isinstance(had, set):
                had.add(name)
            elif had != name:
                rows[key] = {had, name}
            self._rows += 1

    def follow(self, gateways: dict, moved: Iterable[str]) -> PeerIndex:
        """The index of ``gateways``, a newer valid tree's whose entries other than ``moved``
        are the indexed tree's: this one updated (rebuilt once stale rows outnumber the
        gateways)."""
        if gateways is not self.gateways:
            self._add(gateways, moved)
            self.gateways = gateways
            if self._rows > 2 * len(gateways) + 64:
                return PeerIndex(gateways)
        return self

    def named(self, peer_key: Any) -> Iterable[str]:
        """Names that may be of gateways with this peer address (check each)."""
        names = self._names.get(peer_key, ())
        return (names,) if isinstance(names, str) else names


def peer_index(running: dict, have: PeerIndex | None) -> PeerIndex:
    """The index of ``running``'s gateways: ``have`` if it indexes that very dict, else
    made now (a pass over every gateway)."""
    gateways = entries_at(running, GATEWAYS)
    return have if have is not None and have.gateways is gateways else PeerIndex(gateways)


def _may_clash(gateways: dict, todo: set[str], peers: PeerIndex) -> bool:
    """Whether a gateway of ``todo`` may share its endpoints with another (the gateways not
    in ``todo`` are running's, which had no clash, and ``peers`` indexes them): only then
    is the full check needed.  Visits the gateways of ``todo`` and those sharing their
    peer address."""
    mine = [_peer_key(gateways[n]) for n in todo if n in gateways]
    keys = {k for k in mine if k is not None}
    if len(keys) < sum(k is not None for k in mine):
        return True
    for key in keys:
        for name in peers.named(key):
            if name not in todo and name in gateways and _peer_key(gateways[name]) == key:
                return True
    return False


def _check_gateway(tree: dict, path: Path, gw: dict) -> Iterator[Problem]:
    """The checks of one gateway on its own (all but the endpoint clash)."""
    yield from _missing(path, gw, "peer-address", "local-address")
    cert = _get(gw, ("authentication", "certificate"))
    if cert is None:
        yield from _missing(path, gw, "authentication pre-shared-key key")
    else:  # issue 16: the certificate itself is checked by the engine (the store is not config)
        apath = path + ("authentication", "certificate")
        yield from _missing(apath, cert, "local-certificate name", "certificate-profile")
        if _get(cert, ("local-certificate", "hash-and-url", "enable")) == "yes":
            yield Problem(apath + ("local-certificate", "hash-and-url"),
                          "is not supported (certificates are sent in CERT payloads)")
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
        elif ident.get("type") == "dn" and cert is None:
            yield Problem(path + (which, "type"),
                          "dn needs authentication certificate (a pre-shared-key gateway "
                          "has no certificate to name)")
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
    addrs = ifnames.interface_ips(tree, ifname)
    if "ip" in local:
        if addrs and local["ip"] not in addrs:
            yield Problem(path + ("local-address", "ip"),
                          f"'{local['ip']}' is not an address of interface '{ifname}'")
    elif "floating-ip" not in local and len(addrs) > 1:
        yield Problem(path + ("local-address",), f"is ambiguous: interface '{ifname}' has "
                      f"{len(addrs)} addresses, choose one with 'ip'")


def _check_ike_profiles(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    todo = None if delta is None else delta.changed(IKE_PROFILES)
    for name, prof in (_get(tree, IKE_PROFILES) or {}).items():
        if todo is not None and name not in todo:
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


def _check_ipsec_profiles(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    todo = None if delta is None else delta.changed(IPSEC_PROFILES)
    for name, prof in (_get(tree, IPSEC_PROFILES) or {}).items():
        if todo is not None and name not in todo:
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


def _check_tunnels(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    # one tunnel is checked against itself and the names of the IPsec profiles
    todo = None if delta is None or delta.removed(IPSEC_PROFILES) else delta.changed(TUNNELS)
    tunnels = _get(tree, TUNNELS) or {}
    yield from grouped_in_order(tunnels, todo, lambda name: list(
        _check_tunnel(tree, name, tunnels[name])))


def _check_tunnel(tree: dict, name: str, tun: dict) -> Iterator[Problem]:
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
                _net_family(tree, entry["local"]) != _net_family(tree, entry["remote"]):
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


def _check_membership(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    """An interface belongs to at most one zone and one virtual router."""
    if delta is not None and delta.clean(ZONES, VIRTUAL_ROUTERS):
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


def _check_rules(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    # a rule is checked against itself and the address and service objects it may name
    objs = (ADDRESSES, ADDRESS_GROUPS, SERVICES, SERVICE_GROUPS)
    todo = None if delta is None or not delta.clean(*objs) else delta.changed(RULES)
    for name, rule in (_get(tree, RULES) or {}).items():
        if todo is not None and name not in todo:
            continue
        path = RULES + (name,)
        yield from _missing(path, rule, "from", "to", "source", "destination",
                            "application", "service")
        for key in ("from", "to", "source", "destination", "application", "service"):
            members = rule.get(key) or []
            if "any" in members and len(members) > 1:
                yield Problem(path + (key,), f"is invalid. 'any' should not be used with "
                              f"another {key}")
        yield from _address_members(tree, path, rule, "source", "destination")
        services = rule.get("service") or []
        if len(services) > 1 and "application-default" in services:
            yield Problem(path + ("service",), "is invalid. 'application-default' should not "
                          "be used with another service")
    todo = None if delta is None or not delta.clean(*objs) else delta.changed(NAT_RULES)
    for name, rule in (_get(tree, NAT_RULES) or {}).items():
        if todo is not None and name not in todo:
            continue
        path = NAT_RULES + (name,)
        yield from _missing(path, rule, "from", "to", "source", "destination")
        yield from _address_members(tree, path, rule, "source", "destination")
        st = rule.get("source-translation") or {}
        dipp = st.get("dynamic-ip-and-port")
        if dipp is not None:
            if not dipp:
                yield Problem(path + ("source-translation", "dynamic-ip-and-port"),
                              "is missing 'interface-address' or 'translated-address'")
            elif "interface-address" in dipp:
                yield from _missing(path + ("source-translation", "dynamic-ip-and-port",
                                            "interface-address"),
                                    dipp["interface-address"], "interface")
            yield from _address_members(tree, path + ("source-translation",
                                                      "dynamic-ip-and-port"),
                                        dipp or {}, "translated-address")
        if "static-ip" in st:
            sp = path + ("source-translation", "static-ip")
            yield from _missing(sp, st["static-ip"], "translated-address")
            yield from _address_members(tree, sp, st["static-ip"], "translated-address")
        if "destination-translation" in rule:
            dp = path + ("destination-translation",)
            yield from _missing(dp, rule["destination-translation"], "translated-address")
            yield from _address_members(tree, dp, rule["destination-translation"],
                                        "translated-address")


def _address_members(tree: dict, path: Path, entry: dict, *keys: str) -> Iterator[Problem]:
    """Each address member names an address object or group, or is a valid literal."""
    for key in keys:
        value = entry.get(key)
        for member in value if isinstance(value, list) else [value] if value else []:
            try:
                objects.address_networks(tree, member, path + (key,))
            except objects.ObjectError as exc:
                yield Problem(exc.path, exc.message)


def _check_objects(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    """Address and service objects: each is complete; groups do not contain themselves."""
    if delta is not None and delta.clean(ADDRESSES, ADDRESS_GROUPS, SERVICES, SERVICE_GROUPS):
        return
    for name, obj in (_get(tree, ADDRESSES) or {}).items():
        if not any(k in obj for k in ("ip-netmask", "ip-range", "fqdn")):
            yield Problem(ADDRESSES + (name,), "is missing 'ip-netmask', 'ip-range' or 'fqdn'")
    for name, obj in (_get(tree, SERVICES) or {}).items():
        path = SERVICES + (name,)
        protocol = obj.get("protocol") or {}
        if not protocol:
            yield Problem(path, "is missing 'protocol'")
        for proto, spec in protocol.items():
            yield from _missing(path + ("protocol", proto), spec or {}, "port")
    for name, group in (_get(tree, ADDRESS_GROUPS) or {}).items():
        if not group.get("static"):
            yield Problem(ADDRESS_GROUPS + (name,), "is missing 'static'")
    for name, group in (_get(tree, SERVICE_GROUPS) or {}).items():
        if not group.get("members"):
            yield Problem(SERVICE_GROUPS + (name,), "is missing 'members'")
    for exc in objects.problems(tree):
        yield Problem(exc.path, exc.message)


def _check_subinterfaces(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    """A subinterface is named after its port and has a VLAN tag of its own on that port."""
    if delta is not None and delta.clean(ETHERNET):
        return
    tags: dict[tuple[str, int], str] = {}
    for parent, name, unit in ifnames.subinterfaces(tree):
        path = ETHERNET + (parent, "layer3", "units", name)
        if not name.startswith(parent + "."):
            yield Problem(path, f"'{name}' is not a subinterface of '{parent}' "
                          f"(use {parent}.<unit>)")
        tag = unit.get("tag")
        if tag is None:
            yield Problem(path, "is missing 'tag'")
        elif (parent, int(tag)) in tags:
            yield Problem(path + ("tag",), f"{tag} is already used by '{tags[(parent, int(tag))]}'")
        else:
            tags[(parent, int(tag))] = name


def _net_family(tree: dict, value: str) -> int:
    try:
        return _family(netref.network(tree, value))
    except objects.ObjectError:
        return 0  # reported by _check_network_refs


def _check_network_refs(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    """Static-route destinations and proxy-id local/remote: a prefix, or an ip-netmask
    address object."""
    tunnels: set[str] | None = None
    routes = True
    if delta is not None and delta.clean(ADDRESSES):  # else any use may have broken
        tunnels, routes = delta.changed(TUNNELS), not delta.clean(VIRTUAL_ROUTERS)
    for exc in netref.problems(tree, tunnels, routes):
        yield Problem(exc.path, exc.message)


# ---------------------------------------------------------------- tunnel monitor, path monitor

MAX_MONITOR_DESTINATIONS = 8  # per static route (PAN-OS)
MAX_MONITORED_ROUTES = 128


def _check_monitors(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    """Tunnel monitor probes leave from the tunnel interface's address, so it needs one (as
    PAN-OS demands); path monitoring needs destinations with a source and a destination."""
    if delta is None or not delta.clean(TUNNELS, TUNNEL_UNITS):
        tunnels = _get(tree, TUNNELS) or {}
        todo = None if delta is None or not delta.clean(TUNNEL_UNITS) else delta.changed(TUNNELS)
        yield from grouped_in_order(tunnels, todo, lambda name: list(
            _check_monitor_source(tree, name, tunnels[name])))
    if delta is not None and delta.clean(VIRTUAL_ROUTERS):
        return
    monitored = 0
    for vr, entry in (_get(tree, VIRTUAL_ROUTERS) or {}).items():
        routes = _get(entry, ("routing-table", "ip", "static-route")) or {}
        for rname, route in routes.items():
            pm = _get(route, ("path-monitor",)) or {}
            if pm.get("enable") != "yes":
                continue
            monitored += 1
            ppath = VIRTUAL_ROUTERS + (vr, "routing-table", "ip", "static-route", rname,
                                       "path-monitor")
            dests = pm.get("monitor-destinations") or {}
            if not dests:
                yield Problem(ppath, "is enabled but has no monitor-destinations")
            if len(dests) > MAX_MONITOR_DESTINATIONS:
                yield Problem(ppath + ("monitor-destinations",),
                              f"has {len(dests)} entries: at most {MAX_MONITOR_DESTINATIONS}")
            for dname, dest in dests.items():
                yield from _missing(ppath + ("monitor-destinations", dname), dest,
                                    "source", "destination")
    if monitored > MAX_MONITORED_ROUTES:
        yield Problem(VIRTUAL_ROUTERS, f"{monitored} static routes have path monitoring: at most "
                      f"{MAX_MONITORED_ROUTES}")


def _check_monitor_source(tree: dict, name: str, tun: dict) -> Iterator[Problem]:
    mon = _get(tun, ("tunnel-monitor",)) or {}
    ifname = tun.get("tunnel-interface")
    if mon.get("enable") != "yes" or not ifname:
        return
    unit = _get(tree, TUNNEL_UNITS + (ifname,)) or {}
    if not unit.get("ip"):
        yield Problem(TUNNELS + (name, "tunnel-monitor"),
                      f"needs an IP address on {ifname}: the monitor's probes are sent "
                      f"from it (set network interface tunnel units {ifname} ip ...)")


def _check_cert_profiles(tree: dict, delta: _Delta | None = None) -> Iterator[Problem]:
    """Certificate profiles (issue 16): a profile trusts at least one CA; vpnsh checks
    revocation with CRLs only, so a profile that asks for OCSP alone cannot be honoured."""
    if delta is not None and delta.clean(CERT_PROFILES):
        return
    for name, prof in (_get(tree, CERT_PROFILES) or {}).items():
        if not prof.get("CA"):
            yield Problem(CERT_PROFILES + (name,), "needs at least one CA "
                          f"(set shared certificate-profile {name} CA <certificate-name>)")
        if prof.get("use-ocsp") == "yes" and prof.get("use-crl") != "yes":
            yield Problem(CERT_PROFILES + (name, "use-ocsp"),
                          "OCSP is not supported: use use-crl yes with local CRL files")


SEMANTIC_CHECKS = (_check_subinterfaces, _check_network_refs, _check_gateways,
                   _check_ike_profiles, _check_ipsec_profiles, _check_tunnels, _check_membership,
                   _check_objects, _check_rules, _check_monitors, _check_cert_profiles)


def validate(tree: dict, running: dict | None = None,
             decryptable: Callable[[str], bool] | None = None,
             peers: PeerIndex | None = None) -> list[Problem]:
    """Every problem of ``tree``; semantic checks run only on a well-typed tree.

    ``running`` (optional) is a tree known to be valid, e.g. the running config: subtrees
    equal to it skip the per-value type checks, the reference checks (unless an entry a
    reference may name was removed) and the semantic checks of entries whose dependencies
    are unchanged, which keeps a small commit fast.  The result is the same as without
    ``running``.

    ``decryptable`` (optional) tells whether an encrypted secret can be decrypted with this
    device's master key; a secret it refuses (pasted from another firewall) is a problem of
    its leaf, so the commit names the gateway and asks for the key in clear.

    ``peers`` (optional) indexes ``running``'s gateways by peer address (the config
    service keeps one with its running tree): without it, a commit that changes a gateway
    makes one, a pass over every gateway.
    """
    if not isinstance(running, dict) or not isinstance(tree, dict):
        running = None
    delta = None if running is None else _Delta(tree, running, peers)
    shape = _Shape(delta, decryptable)
    shape.walk(ROOT, tree, (), False, running, False)
    problems = shape.out
    if problems:
        return problems
    refs = shape.refs
    if delta is not None and _names_removed(delta):
        refs = list(_refs(ROOT, tree, ()))
    problems.extend(_ref_problems(tree, refs))
    for check in SEMANTIC_CHECKS:
        problems.extend(check(tree, delta))
    return problems



def references_lost(before: dict, after: dict) -> list[Problem]:
    """The references ``after`` leaves dangling that ``before`` did not: what deleting a
    node from ``before`` (giving ``after``) would break, as the XML API refuses such a delete
    with PAN-OS's code 10.  Empty when ``before`` is not well typed (its references are not
    checked then)."""
    old = {(p.path, p.message) for p in validate(before)}
    return [p for p in validate(after, running=before)
            if p.message.endswith("is not a valid reference") and (p.path, p.message) not in old]
