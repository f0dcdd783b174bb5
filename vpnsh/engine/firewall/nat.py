"""NAT rules (PAN-OS ``rulebase nat``) as two nat chains of table ``inet vpnsh``.

PAN-OS semantics (reference B): NAT rules match pre-NAT addresses and zones, first match
wins, once per session; a rule with no translation is a NAT exemption (the VPN case: LAN to
LAN untranslated, above an internet masquerade rule).  Each chain keeps the rule order and
ends a matching rule with its translation, or ``accept`` (no translation in this hook):

    chain nat_pre   hook prerouting, priority dstnat     destination-translation -> dnat
    chain nat_post  hook postrouting, priority srcnat    source-translation -> snat / masquerade

The destination zone of a rule is matched against the egress interface: in prerouting the
route lookup of the original destination (``fib daddr oifname``), in postrouting the real one.
IPv4 only (nat-type ipv4).

Translations: ``dynamic-ip-and-port interface-address interface X`` -> masquerade (the egress
address), with ``ip A/N`` -> snat to A; ``dynamic-ip-and-port translated-address [...]`` and
``static-ip translated-address`` -> snat to the first address (a range: the range);
``static-ip ... bi-directional yes`` adds the reverse dnat; ``destination-translation
translated-address A translated-port P`` -> dnat to A:P.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpnsh.config.applications import L4
from vpnsh.config.objects import addresses_networks, service_l4
from vpnsh.config.vpn_schema import NAT_RULES

from .policy import Network, Policy

Expr = dict[str, Any]


@dataclass(frozen=True)
class NatRule:
    name: str
    from_zones: tuple[str, ...]
    to_zones: tuple[str, ...]
    to_interface: str
    source: tuple[Network, ...] | None
    destination: tuple[Network, ...] | None
    l4: tuple[L4, ...]
    snat: str = ""  # "" | "masquerade" | "snat"
    snat_to: str = ""  # address or "a-b"
    bidirectional: bool = False
    dnat_to: str = ""
    dnat_port: int | None = None


def compile_nat(tree: dict) -> list[NatRule]:
    rules = []
    stored = _stored(tree, NAT_RULES)
    for name, r in stored.items():
        if r.get("disabled") == "yes":
            continue
        where = NAT_RULES + (name,)
        st = r.get("source-translation") or {}
        snat, snat_to, bidir = "", "", False
        if "dynamic-ip-and-port" in st:
            dipp = st["dynamic-ip-and-port"] or {}
            if "interface-address" in dipp:
                ip = (dipp["interface-address"] or {}).get("ip")
                snat, snat_to = ("snat", ip.split("/")[0]) if ip else ("masquerade", "")
            elif dipp.get("translated-address"):
                snat, snat_to = "snat", _first(tree, dipp["translated-address"], where)
        elif "static-ip" in st:
            s = st["static-ip"] or {}
            snat, snat_to = "snat", _first(tree, [s["translated-address"]], where)
            bidir = s.get("bi-directional") == "yes"
        dt = r.get("destination-translation") or {}
        svc = r.get("service", "any")
        rules.append(NatRule(
            name=name, from_zones=tuple(r.get("from") or ("any",)),
            to_zones=tuple(r.get("to") or ("any",)), to_interface=r.get("to-interface", "any"),
            source=_nets(tree, r.get("source") or ["any"], where + ("source",)),
            destination=_nets(tree, r.get("destination") or ["any"], where + ("destination",)),
            l4=tuple(service_l4(tree, svc, where + ("service",))),
            snat=snat, snat_to=snat_to, bidirectional=bidir,
            dnat_to=_first(tree, [dt["translated-address"]], where) if dt.get(
                "translated-address") else "",
            dnat_port=dt.get("translated-port")))
    return rules


def _stored(tree: dict, path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = tree
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _nets(tree: dict, members: list[str], where: tuple[str, ...]) -> tuple[Network, ...] | None:
    if members == ["any"]:
        return None
    return tuple(n for n in addresses_networks(tree, members, where) if n.version == 4)


def _first(tree: dict, members: list[str], where: tuple[str, ...]) -> str:
    """The translated address: one host, or a range ``a-b`` of the first member."""
    nets = addresses_networks(tree, members, where)
    v4 = [n for n in nets if n.version == 4]
    if not v4:
        return ""
    lo, hi = v4[0].network_address, v4[-1].broadcast_address
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _match(left: Any, right: Any, op: str = "==") -> Expr:
    return {"match": {"op": op, "left": left, "right": right}}


def _set(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else {"set": values}


def _addr(nets: tuple[Network, ...]) -> Any:
    return _set([str(n.network_address) if n.prefixlen == 32 else
                 {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}} for n in nets])


def _target(text: str) -> Any:
    if "-" in text:
        lo, hi = text.split("-")
        return {"range": [lo, hi]}
    return text


def _ifaces(policy: Policy, zones: tuple[str, ...]) -> list[str] | None:
    """Interfaces of zones (None: any)."""
    if "any" in zones:
        return None
    return sorted({i for z in zones for i in policy.zones.get(z, ())})


def nat_chains(rules: list[NatRule], policy: Policy, obj: Callable[..., dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """The batch commands of the two NAT chains (empty without NAT rules)."""
    if not rules:
        return []
    cmds: list[dict[str, Any]] = [
        {"add": obj("chain", name="nat_pre", type="nat", hook="prerouting", prio=-100,
                    policy="accept")},
        {"add": obj("chain", name="nat_post", type="nat", hook="postrouting", prio=100,
                    policy="accept")},
    ]

    def add(chain: str, expr: list[Expr], name: str) -> None:
        cmds.append({"add": obj("rule", chain=chain, expr=expr, comment=f"nat:{name}")})

    for r in rules:
        base: list[Expr] = [_match({"meta": {"key": "nfproto"}}, "ipv4")]
        src_ifs = _ifaces(policy, r.from_zones)
        dst_ifs = _ifaces(policy, r.to_zones)
        if src_ifs is not None:
            if not src_ifs:
                continue
            base.append(_match({"meta": {"key": "iifname"}}, _set(src_ifs)))
        if r.source is not None:
            if not r.source:
                continue
            base.append(_match({"ct": {"key": "ip saddr", "dir": "original"}},
                               _addr(r.source)))
        if r.destination is not None:
            if not r.destination:
                continue
            base.append(_match({"ct": {"key": "ip daddr", "dir": "original"}},
                               _addr(r.destination)))
        for t in r.l4:
            l4: list[Expr] = []
            if t.proto is not None:
                l4.append(_match({"meta": {"key": "l4proto"}}, t.proto))
                if t.dports:
                    l4.append(_match({"ct": {"key": "proto-dst", "dir": "original"}},
                                     _set([a if a == b else {"range": [a, b]}
                                           for a, b in t.dports])))
            pre = [*base, *l4]
            post = [*base, *l4]
            if dst_ifs is not None:
                if not dst_ifs:
                    continue
                pre.append(_match({"fib": {"result": "oifname", "flags": ["daddr"]}},
                                  _set(dst_ifs)))
                post.append(_match({"meta": {"key": "oifname"}}, _set(dst_ifs)))
            if r.to_interface != "any":
                pre.append(_match({"fib": {"result": "oifname", "flags": ["daddr"]}},
                                  r.to_interface))
                post.append(_match({"meta": {"key": "oifname"}}, r.to_interface))
            if r.dnat_to:
                dnat: dict[str, Any] = {"family": "ip", "addr": _target(r.dnat_to)}
                if r.dnat_port:
                    dnat["port"] = r.dnat_port
                add("nat_pre", [*pre, {"dnat": dnat}], r.name)
            else:
                add("nat_pre", [*pre, {"accept": None}], r.name)
            if r.snat == "masquerade":
                add("nat_post", [*post, {"masquerade": None}], r.name)
            elif r.snat == "snat" and r.snat_to:
                add("nat_post", [*post, {"snat": {"family": "ip", "addr": _target(r.snat_to)}}],
                    r.name)
            else:
                add("nat_post", [*post, {"accept": None}], r.name)
        if r.bidirectional and r.snat_to and "-" not in r.snat_to and r.source is not None \
                and len(r.source) == 1 and r.source[0].prefixlen == 32:
            back = [_match({"meta": {"key": "nfproto"}}, "ipv4"),
                    _match({"payload": {"protocol": "ip", "field": "daddr"}}, r.snat_to)]
            add("nat_pre", [*back, {"dnat": {"family": "ip",
                                             "addr": str(r.source[0].network_address)}}],
                r.name + ":bi")
    return cmds
