"""Address and service objects: turn a name or a literal into networks and port patterns.

One resolver for every user of objects (security and NAT rules, static-route destinations,
proxy-ids).  A member is looked up as an object name first (address, then address-group;
service, then service-group, then the predefined ``service-http``/``service-https``), and
otherwise read as a literal (``10.1.0.0/24``, ``10.1.0.5``, ``10.1.0.10-10.1.0.20``).

Errors are :class:`ObjectError` whose text has PAN-OS's validation form
(``rulebase -> security -> rules -> R -> source 'X' is not a valid reference``): the
path of the config node that names the member, then what is wrong.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .applications import ANY, L4, TCP, UDP, app_l4
from .schema import looks_literal, parse_range
from .vpn_schema import ADDRESS_GROUPS, ADDRESSES, PREDEFINED_SERVICES, SERVICE_GROUPS, SERVICES

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Path = tuple[str, ...]
FqdnResolver = Callable[[str], Sequence[str]]

ANY_NETWORKS: tuple[Network, ...] = (ipaddress.ip_network("0.0.0.0/0"),
                                     ipaddress.ip_network("::/0"))
PROTOCOLS = {"tcp": TCP, "udp": UDP}


class ObjectError(ValueError):
    """A member that names no object and is no literal, or a group that contains itself."""

    def __init__(self, path: Sequence[str], message: str) -> None:
        super().__init__(" -> ".join(path) + " " + message if path else message)
        self.path = tuple(path)
        self.message = message


def _table(tree: dict, path: Path) -> dict[str, Any]:
    node: Any = tree
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


# --------------------------------------------------------------------------- addresses


def literal_networks(text: str) -> list[Network]:
    """A literal address member as networks: a prefix, a host, or a range (summarized)."""
    if "-" in text:
        lo, _, hi = parse_range(text).partition("-")
        return list(ipaddress.summarize_address_range(ipaddress.ip_address(lo),
                                                      ipaddress.ip_address(hi)))
    return [ipaddress.ip_network(text, strict=False)]


def address_networks(tree: dict, member: str, where: Sequence[str] = (),
                     fqdn: FqdnResolver | None = None) -> list[Network]:
    """The networks one address member stands for (``any``: both whole address families).

    ``fqdn`` resolves an fqdn object to addresses; without one an fqdn object stands for no
    address (it matches nothing).  Raises :class:`ObjectError` for an unknown name, a bad
    literal or a group cycle.
    """
    return list(_address(tree, member, tuple(where), fqdn, ()))


def _address(tree: dict, member: str, where: Path, fqdn: FqdnResolver | None,
             seen: tuple[str, ...]) -> Iterator[Network]:
    if member == "any":
        yield from ANY_NETWORKS
        return
    obj = _table(tree, ADDRESSES).get(member)
    if isinstance(obj, dict):
        if "ip-netmask" in obj:
            yield ipaddress.ip_network(obj["ip-netmask"], strict=False)
        elif "ip-range" in obj:
            yield from literal_networks(obj["ip-range"])
        elif "fqdn" in obj and fqdn is not None:
            for addr in fqdn(obj["fqdn"]):
                yield ipaddress.ip_network(addr)
        return
    group = _table(tree, ADDRESS_GROUPS).get(member)
    if isinstance(group, dict):
        if member in seen:
            raise ObjectError(ADDRESS_GROUPS + (seen[0], "static"),
                              f"'{member}' contains itself")
        for sub in group.get("static") or []:
            yield from _address(tree, sub, ADDRESS_GROUPS + (member, "static"), fqdn,
                                seen + (member,))
        return
    if looks_literal(member):
        try:
            yield from literal_networks(member)
        except ValueError:
            raise ObjectError(where, f"'{member}' is not a valid IP address, network or "
                              "range") from None
        return
    raise ObjectError(where, f"'{member}' is not a valid reference")


def addresses_networks(tree: dict, members: Iterable[str], where: Sequence[str] = (),
                       fqdn: FqdnResolver | None = None) -> list[Network]:
    """The networks of a member list, collapsed per address family."""
    nets: list[Network] = []
    for m in members:
        nets.extend(address_networks(tree, m, where, fqdn))
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def is_address_name(tree: dict, member: str) -> bool:
    return member in _table(tree, ADDRESSES) or member in _table(tree, ADDRESS_GROUPS)


# --------------------------------------------------------------------------- services


def port_ranges(text: str | None) -> tuple[tuple[int, int], ...]:
    """``"80,8080,1000-2000"`` as ((80, 80), (8080, 8080), (1000, 2000)); None: any port."""
    if not text:
        return ()
    out: list[tuple[int, int]] = []
    for part in str(text).split(","):
        lo, sep, hi = part.partition("-")
        out.append((int(lo), int(hi) if sep else int(lo)))
    return tuple(out)


def service_l4(tree: dict, name: str, where: Sequence[str] = ()) -> list[L4]:
    """The protocol/port patterns of a service member (``any``: every packet)."""
    return list(_service(tree, name, tuple(where), ()))


def _service(tree: dict, name: str, where: Path, seen: tuple[str, ...]) -> Iterator[L4]:
    if name == "any":
        yield ANY
        return
    obj = _table(tree, SERVICES).get(name)
    if isinstance(obj, dict):
        for proto, spec in (obj.get("protocol") or {}).items():
            spec = spec or {}
            yield L4(PROTOCOLS[proto], port_ranges(spec.get("port")),
                     port_ranges(spec.get("source-port")))
        return
    group = _table(tree, SERVICE_GROUPS).get(name)
    if isinstance(group, dict):
        if name in seen:
            raise ObjectError(SERVICE_GROUPS + (seen[0], "members"), f"'{name}' contains itself")
        for sub in group.get("members") or []:
            yield from _service(tree, sub, SERVICE_GROUPS + (name, "members"), seen + (name,))
        return
    if name in PREDEFINED_SERVICES:
        proto, ports = PREDEFINED_SERVICES[name]
        yield L4(PROTOCOLS[proto], port_ranges(ports))
        return
    raise ObjectError(where, f"'{name}' is not a valid reference")


def rule_l4(tree: dict, applications: Sequence[str], services: Sequence[str],
            where: Sequence[str] = ()) -> list[L4]:
    """What a security rule's application and service members match, port-based.

    See :mod:`vpnsh.config.applications` for how the two combine.
    """
    apps = list(applications) or ["any"]
    svcs = list(services) or ["any"]
    if svcs in (["any"], ["application-default"]):
        out: list[L4] = []
        for app in apps:
            out.extend(t for t in app_l4(app) if t not in out)
        return out
    out = []
    for svc in svcs:
        out.extend(t for t in service_l4(tree, svc, where) if t not in out)
    return out


# --------------------------------------------------------------------------- validation


def problems(tree: dict) -> Iterator[ObjectError]:
    """Every object problem: group cycles, group members, and each rule member that names
    nothing (the shape and reference walks of :mod:`vpnsh.config.validate` do the rest)."""
    for name in _table(tree, ADDRESS_GROUPS):
        try:
            address_networks(tree, name)
        except ObjectError as exc:
            yield exc
    for name in _table(tree, SERVICE_GROUPS):
        try:
            service_l4(tree, name)
        except ObjectError as exc:
            yield exc
