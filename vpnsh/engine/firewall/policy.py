"""The security policy of one running config, as plain data, and its first-match lookup.

Semantics (PAN-OS, reference A.1/A.2): rules are evaluated top-down, first match wins;
disabled rules are skipped; ``rule-type`` universal matches the listed zones both intra- and
inter-zone, ``intrazone`` only when source zone = destination zone, ``interzone`` only when
they differ.  Below the user rules sit ``intrazone-default`` (allow) and ``interzone-default``
(deny), whose action and log settings an override may change.  Addresses are matched
pre-NAT, the destination zone post-NAT (the packet's egress interface).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpnsh.config.applications import L4
from vpnsh.config.objects import FqdnResolver, addresses_networks, rule_l4
from vpnsh.config.tree import effective
from vpnsh.config.vpn_schema import DEFAULT_RULES, RULES, ZONES

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

INTRAZONE_DEFAULT = "intrazone-default"
INTERZONE_DEFAULT = "interzone-default"
# ct mark ids of the default rules (user rules get 1..MAX_RULE_ID)
DEFAULT_IDS = {INTRAZONE_DEFAULT: 0xFFFE, INTERZONE_DEFAULT: 0xFFFD}
MAX_RULE_ID = 0xFFF0
ALLOW = "allow"


@dataclass(frozen=True)
class Rule:
    name: str
    index: int  # position among the rules, 1-based (PAN-OS ``; index: N``)
    rid: int  # conntrack mark id
    from_zones: tuple[str, ...] = ("any",)
    to_zones: tuple[str, ...] = ("any",)
    rule_type: str = "universal"
    source: tuple[Network, ...] | None = None  # None: any
    negate_source: bool = False
    destination: tuple[Network, ...] | None = None
    negate_destination: bool = False
    l4: tuple[L4, ...] = (L4(),)
    action: str = ALLOW
    log_start: bool = False
    log_end: bool = True
    disabled: bool = False
    applications: tuple[str, ...] = ("any",)
    services: tuple[str, ...] = ("any",)
    source_text: tuple[str, ...] = ("any",)  # as configured, for show output
    destination_text: tuple[str, ...] = ("any",)
    description: str = ""
    tags: tuple[str, ...] = ()
    predefined: bool = False

    @property
    def allows(self) -> bool:
        return self.action == ALLOW

    def zone_pairs(self, zones: Sequence[str]) -> list[tuple[str, str]]:
        """Every (from, to) zone pair this rule covers, given the configured zones."""
        froms = list(zones) if "any" in self.from_zones else [z for z in self.from_zones if z in zones]
        tos = list(zones) if "any" in self.to_zones else [z for z in self.to_zones if z in zones]
        pairs = [(f, t) for f in froms for t in tos]
        if self.rule_type == "intrazone":
            return [(f, t) for f, t in pairs if f == t]
        if self.rule_type == "interzone":
            return [(f, t) for f, t in pairs if f != t]
        return pairs

    def matches(self, from_zone: str, to_zone: str, src: Address, dst: Address, proto: int,
                dport: int | None = None, sport: int | None = None,
                icmp_type: int | None = None, application: str | None = None) -> bool:
        if self.disabled:
            return False
        if self.predefined:
            return (from_zone == to_zone) == (self.name == INTRAZONE_DEFAULT)
        if "any" not in self.from_zones and from_zone not in self.from_zones:
            return False
        if "any" not in self.to_zones and to_zone not in self.to_zones:
            return False
        if self.rule_type == "intrazone" and from_zone != to_zone:
            return False
        if self.rule_type == "interzone" and from_zone == to_zone:
            return False
        if not _in(src, self.source, self.negate_source):
            return False
        if not _in(dst, self.destination, self.negate_destination):
            return False
        if application is not None and "any" not in self.applications and \
                application not in self.applications:
            return False
        return any(t.matches(proto, dport, sport, icmp_type) for t in self.l4)


def _in(addr: Address, nets: tuple[Network, ...] | None, negate: bool) -> bool:
    inside = nets is None or any(addr.version == n.version and addr in n for n in nets)
    return inside != negate


@dataclass
class Policy:
    zones: dict[str, tuple[str, ...]] = field(default_factory=dict)  # zone -> interfaces
    rules: list[Rule] = field(default_factory=list)
    defaults: dict[str, Rule] = field(default_factory=dict)
    nat: list[Any] = field(default_factory=list)  # NatRule (see .nat), in order

    @property
    def enforced(self) -> bool:
        """Whether there is anything to enforce: a firewall exists once a zone or a NAT
        rule does."""
        return bool(self.zones) or bool(self.nat)

    def zone_of(self, ifname: str) -> str | None:
        for zone, ifaces in self.zones.items():
            if ifname in ifaces:
                return zone
        return None

    def all_rules(self) -> list[Rule]:
        """User rules in order, then the two default rules."""
        return [*self.rules, *(self.defaults[n] for n in (INTRAZONE_DEFAULT, INTERZONE_DEFAULT)
                               if n in self.defaults)]

    def by_id(self, rid: int) -> Rule | None:
        for rule in self.all_rules():
            if rule.rid == rid:
                return rule
        return None

    def match(self, from_zone: str, to_zone: str, src: str, dst: str, proto: int,
              dport: int | None = None, sport: int | None = None,
              icmp_type: int | None = None, application: str | None = None,
              show_all: bool = False) -> list[Rule]:
        """The first rule (or with ``show_all`` every rule) the session would match.

        The default rule that applies comes last when no user rule matches.
        """
        s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        found = []
        for rule in self.all_rules():
            if rule.matches(from_zone, to_zone, s, d, proto, dport, sport, icmp_type, application):
                found.append(rule)
                if not show_all:
                    break
        return found


def compile_policy(tree: dict, rule_id: Callable[[str], int],
                   fqdn: FqdnResolver | None = None) -> Policy:
    """The policy of a validated config tree; ``rule_id`` gives each user rule its mark id."""
    policy = Policy()
    for zone, entry in (effective(tree, ZONES) or {}).items():
        policy.zones[zone] = tuple(((entry.get("network") or {}).get("layer3")) or ())
    stored = _stored(tree, RULES)
    for index, name in enumerate(stored, start=1):
        r = stored[name]  # defaults below: effective() per rule costs ~0.2 ms each
        where = RULES + (name,)
        src_text = tuple(r.get("source") or ("any",))
        dst_text = tuple(r.get("destination") or ("any",))
        apps = tuple(r.get("application") or ("any",))
        svcs = tuple(r.get("service") or ("any",))
        policy.rules.append(Rule(
            name=name, index=index, rid=rule_id(name),
            from_zones=tuple(r.get("from") or ("any",)), to_zones=tuple(r.get("to") or ("any",)),
            rule_type=r.get("rule-type", "universal"),
            source=_nets(tree, src_text, where + ("source",), fqdn),
            negate_source=r.get("negate-source") == "yes",
            destination=_nets(tree, dst_text, where + ("destination",), fqdn),
            negate_destination=r.get("negate-destination") == "yes",
            l4=tuple(rule_l4(tree, apps, svcs, where + ("service",))),
            action=r.get("action", ALLOW), log_start=r.get("log-start") == "yes",
            log_end=r.get("log-end", "yes") == "yes", disabled=r.get("disabled") == "yes",
            applications=apps, services=svcs, source_text=src_text, destination_text=dst_text,
            description=r.get("description", ""), tags=tuple(r.get("tag") or ()),
        ))
    overrides = _stored(tree, DEFAULT_RULES)
    n = len(policy.rules)
    for offset, (name, action) in enumerate(((INTRAZONE_DEFAULT, ALLOW),
                                             (INTERZONE_DEFAULT, "deny")), start=1):
        o: dict[str, Any] = overrides.get(name) or {}
        policy.defaults[name] = Rule(
            name=name, index=n + offset, rid=DEFAULT_IDS[name],
            rule_type="intrazone" if name == INTRAZONE_DEFAULT else "interzone",
            action=o.get("action", action), log_start=o.get("log-start") == "yes",
            log_end=o.get("log-end") == "yes", tags=tuple(o.get("tag") or ()),
            predefined=True)
    return policy


def _nets(tree: dict, members: tuple[str, ...], where: tuple[str, ...],
          fqdn: FqdnResolver | None) -> tuple[Network, ...] | None:
    if members == ("any",):
        return None
    return tuple(addresses_networks(tree, members, where, fqdn))


def _stored(tree: dict, path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = tree
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}
