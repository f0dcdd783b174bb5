"""One network from a static-route destination or a proxy-id local/remote: a literal prefix
as it is, or the network of the ``ip-netmask`` address object it names (vpnsh.config.objects
resolves objects; this module only says which kinds fit where one network is needed)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from .objects import ObjectError, address_networks
from .schema import looks_literal
from .tree import grouped_in_order, in_order
from .vpn_schema import ADDRESSES, TUNNELS, VIRTUAL_ROUTERS

ROUTES = ("routing-table", "ip", "static-route")


def network(tree: dict, value: str, where: Sequence[str] = ()) -> str:
    """The prefix ``value`` stands for; :class:`ObjectError` when it names no ip-netmask
    address object."""
    if looks_literal(value):
        return value
    obj = (_get(tree, ADDRESSES) or {}).get(value)
    if not isinstance(obj, dict):
        raise ObjectError(where, f"'{value}' is not a valid reference")
    if "ip-netmask" not in obj:
        raise ObjectError(where, f"'{value}' is not an ip-netmask address object")
    return str(address_networks(tree, value, where)[0])


def uses(tree: dict, tunnels: Collection[str] | None = None,
         routes: bool = True) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, value) of every proxy-id local/remote and static-route destination; only
    those of the ``tunnels`` named (None: all), and of the routes if ``routes``."""
    stored = _get(tree, TUNNELS) or {}
    for name in (stored if tunnels is None else in_order(stored, tunnels)):
        yield from _tunnel_uses(name, stored[name])
    for vr, entry in ((_get(tree, VIRTUAL_ROUTERS) or {}) if routes else {}).items():
        for rname, route in (_get(entry, ROUTES) or {}).items():
            if "destination" in route:
                yield VIRTUAL_ROUTERS + (vr, *ROUTES, rname, "destination"), route["destination"]


def _tunnel_uses(name: str, tun: dict) -> Iterator[tuple[tuple[str, ...], str]]:
    for pid, entry in (_get(tun, ("auto-key", "proxy-id")) or {}).items():
        for key in ("local", "remote"):
            if key in entry:
                yield TUNNELS + (name, "auto-key", "proxy-id", pid, key), entry[key]


def problems(tree: dict, tunnels: Collection[str] | None = None,
             routes: bool = True) -> Iterator[ObjectError]:
    """The uses (:func:`uses`) that name no prefix or ip-netmask address object; those of
    a few tunnels without a pass over every tunnel."""
    if tunnels is not None:
        stored = _get(tree, TUNNELS) or {}
        yield from grouped_in_order(stored, tunnels, lambda name: list(
            _problems(tree, _tunnel_uses(name, stored[name]))))
    yield from _problems(tree, uses(tree, () if tunnels is not None else None, routes))


def _problems(tree: dict, used: Iterable[tuple[tuple[str, ...], str]]) -> Iterator[ObjectError]:
    for path, value in used:
        try:
            network(tree, value, path)
        except ObjectError as exc:
            yield exc


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node
