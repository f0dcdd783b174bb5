"""A :class:`~.policy.Policy` as the nftables JSON of one table, ``inet vpnsh``.

Why ``nft -j -f -`` rather than libnftables' Python binding: the binding (Debian
``python3-nftables``) is not on PyPI and not in a venv without system site packages, while
the ``nft`` binary is in the ``nftables`` package CI installs anyway; the JSON is the same
either way, and one fork per commit (a few ms) is nothing next to building the rules.

Every commit is one transaction: ``add table`` (so that ``delete`` cannot fail),
``delete table``, ``add table`` and everything in it, in one batch, so the kernel swaps the
whole table at once and no other table is touched.

The table::

    chain forward   hook forward, priority filter, policy accept
        ct mark & 0xffff0000 == GEN<<16 accept      # session already allowed by THIS commit
        ct direction reply accept                   # replies of an existing session
        ct state related accept                     # ICMP errors of a session
        iifname @zoned jump secpolicy                 # traffic in or out of a zone
        oifname @zoned jump secpolicy
    chain secpolicy one nft rule per (rule, zone pair, address family, L4 pattern), in order:
        iifname {from} oifname {to} ct original ip saddr {...} ... counter ct mark set GEN<<16|ID accept
        ... counter drop | reject
        default rules: intrazone-default per zone, then interzone-default

A commit bumps GEN.  A session allowed under an older commit carries an older GEN in its
conntrack mark, so its next packet in the original direction is evaluated again by the new
rules: still allowed, it is re-marked and goes on; no longer allowed, it is dropped (the
session is cut).  Addresses and ports are read from the conntrack original tuple, i.e.
pre-NAT; the destination zone is the egress interface, i.e. post-NAT (PAN-OS semantics).
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import orjson

from vpnsh.config.applications import ICMP, ICMPV6, L4

from .nat import nat_chains
from .policy import Network, Policy, Rule

FAMILY = "inet"
TABLE = "vpnsh"
GEN_MASK = 0xFFFF0000
ID_MASK = 0x0000FFFF
COMMENT_PREFIX = "vpnsh:"
NFT = "nft"
POLICY_CHAIN = "secpolicy"  # ("policy" is an nft keyword: a chain so named cannot be listed)
LOG_GROUP = 14  # NFLOG group of deny logs


class NftError(RuntimeError):
    """nft refused the batch (the kernel kept the previous table)."""


def mark(generation: int, rid: int) -> int:
    return ((generation & 0xFFFF) << 16) | (rid & ID_MASK)


def _obj(kind: str, **body: Any) -> dict[str, Any]:
    return {kind: {"family": FAMILY, "table": TABLE, **body}}


def _match(left: Any, right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


def _ct(key: str, family: str | None = None) -> dict[str, Any]:
    # nft's JSON spells the address keys "ip saddr" / "ip6 daddr" (a "family" member is
    # not read: the address would be compared as 16 bytes)
    return {"ct": {"key": f"{family} {key}" if family else key, "dir": "original"}}


def _one_or_set(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else {"set": values}


def _prefix(net: Network) -> Any:
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _ports(ranges: tuple[tuple[int, int], ...]) -> Any:
    return _one_or_set([a if a == b else {"range": [a, b]} for a, b in ranges])


def _names(ifaces: list[str]) -> Any:
    return _one_or_set(sorted(ifaces))


def _address_exprs(nets: tuple[Network, ...] | None, negate: bool, version: int,
                   key: str) -> list[dict[str, Any]] | None:
    """Match expressions of one side for one family; None if the side cannot match it."""
    if nets is None:
        return [] if not negate else None
    mine = [n for n in nets if n.version == version]
    if not mine:
        return [] if negate else None
    fam = "ip" if version == 4 else "ip6"
    return [_match(_ct(key, fam), _one_or_set([_prefix(n) for n in mine]),
                   "!=" if negate else "==")]


def _l4_exprs(t: L4, version: int | None) -> list[dict[str, Any]] | None:
    if t.proto is None:
        return []
    if version == 4 and t.proto == ICMPV6 or version == 6 and t.proto == ICMP:
        return None
    out = [_match(_meta("l4proto"), t.proto)]
    if t.dports:
        out.append(_match(_ct("proto-dst"), _ports(t.dports)))
    if t.sports:
        out.append(_match(_ct("proto-src"), _ports(t.sports)))
    if t.icmp_type is not None:
        proto = "icmp" if t.proto == ICMP else "icmpv6"
        out.append(_match({"payload": {"protocol": proto, "field": "type"}}, t.icmp_type))
    return out


def _verdict(rule: Rule, generation: int) -> list[dict[str, Any]]:
    counter: dict[str, Any] = {"counter": {"packets": 0, "bytes": 0}}
    if rule.allows:
        return [counter, {"mangle": {"key": {"ct": {"key": "mark"}},
                                     "value": mark(generation, rule.rid)}}, {"accept": None}]
    out: list[dict[str, Any]] = [counter]
    if rule.log_end:
        out.append({"log": {"prefix": f"{COMMENT_PREFIX}{rule.rid} ", "group": LOG_GROUP}})
    if rule.action.startswith("reset-"):
        return out  # the reject statements follow, by protocol (see _reject_rules)
    return [*out, {"drop": None}]


def rule_exprs(rule: Rule, policy: Policy, generation: int) -> list[list[dict[str, Any]]]:
    """The nft rules (expression lists) of one security rule, in order."""
    pairs: list[tuple[tuple[str, ...], tuple[str, ...]]]
    if rule.predefined:
        if rule.name == "intrazone-default":
            pairs = [(policy.zones[z], policy.zones[z]) for z in policy.zones if policy.zones[z]]
        else:
            pairs = [((), ())]  # every packet that reaches the end of the chain
    else:
        pairs = _merged_pairs(rule, policy)
    out: list[list[dict[str, Any]]] = []
    verdict = _verdict(rule, generation)
    for src_ifs, dst_ifs in pairs:
        zone_m: list[dict[str, Any]] = []
        if src_ifs:
            zone_m = [_match(_meta("iifname"), _names(list(src_ifs))),
                      _match(_meta("oifname"), _names(list(dst_ifs)))]
        if rule.predefined:
            out.extend(_with_verdict(rule, zone_m, verdict))
            continue
        versions: list[int | None]
        versions = [None] if rule.source is None and rule.destination is None else [4, 6]
        for version in versions:
            addr: list[dict[str, Any]] = []
            if version is not None:
                s = _address_exprs(rule.source, rule.negate_source, version, "saddr")
                d = _address_exprs(rule.destination, rule.negate_destination, version, "daddr")
                if s is None or d is None:
                    continue
                addr = [_match(_meta("nfproto"), "ipv4" if version == 4 else "ipv6"), *s, *d]
            for t in rule.l4:
                l4 = _l4_exprs(t, version)
                if l4 is None:
                    continue
                out.extend(_with_verdict(rule, [*zone_m, *addr, *l4], verdict))
    return out


def _with_verdict(rule: Rule, match: list[dict[str, Any]],
                  verdict: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    if not rule.action.startswith("reset-"):
        return [[*match, *verdict]]
    tcp = _match(_meta("l4proto"), 6)
    return [[*match, tcp, *verdict, {"reject": {"type": "tcp reset"}}],
            [*match, *verdict, {"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]]


def _merged_pairs(rule: Rule, policy: Policy) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(ingress interfaces, egress interfaces) per zone pair; universal rules need one."""
    pairs = rule.zone_pairs(list(policy.zones))
    if not pairs:
        return []
    if rule.rule_type == "universal":
        froms = sorted({f for f, _ in pairs})
        tos = sorted({t for _, t in pairs})
        src = tuple(i for z in froms for i in policy.zones[z])
        dst = tuple(i for z in tos for i in policy.zones[z])
        return [(src, dst)] if src and dst else []
    return [(policy.zones[f], policy.zones[t]) for f, t in pairs
            if policy.zones[f] and policy.zones[t]]


def ruleset(policy: Policy, generation: int) -> dict[str, Any]:
    """The whole batch: replace table inet vpnsh (or just remove it: no zone, nothing to do)."""
    table = {"family": FAMILY, "name": TABLE}
    cmds: list[dict[str, Any]] = [{"metainfo": {"json_schema_version": 1}},
                                  {"add": {"table": dict(table)}},
                                  {"delete": {"table": dict(table)}}]
    if not policy.enforced:
        return {"nftables": cmds}
    cmds.append({"add": {"table": dict(table)}})
    cmds.append({"add": _obj("chain", name="forward", type="filter", hook="forward", prio=0,
                              policy="accept")})
    cmds.append({"add": _obj("chain", name=POLICY_CHAIN)})
    zoned = sorted({i for ifs in policy.zones.values() for i in ifs})

    def rule(chain: str, expr: list[dict[str, Any]], comment: str | None = None) -> None:
        body: dict[str, Any] = {"chain": chain, "expr": expr}
        if comment:
            body["comment"] = comment
        cmds.append({"add": _obj("rule", **body)})

    cmds.extend(nat_chains(policy.nat, policy, _obj))
    rule("forward", [_match({"&": [{"ct": {"key": "mark"}}, GEN_MASK]},
                            mark(generation, 0)), {"accept": None}])
    rule("forward", [_match({"ct": {"key": "direction"}}, "reply"), {"accept": None}])
    rule("forward", [_match({"ct": {"key": "state"}}, "related"), {"accept": None}])
    if zoned:
        rule("forward", [_match(_meta("iifname"), _names(zoned)), {"jump": {"target": POLICY_CHAIN}}])
        rule("forward", [_match(_meta("oifname"), _names(zoned)), {"jump": {"target": POLICY_CHAIN}}])
    for r in policy.all_rules():
        if r.disabled:
            continue
        for expr in rule_exprs(r, policy, generation):
            rule(POLICY_CHAIN, expr, f"{COMMENT_PREFIX}{r.rid}")
    return {"nftables": cmds}


def run_nft(batch: dict[str, Any], *, check: bool = True) -> str:
    """Feed one JSON batch to ``nft -j -f -`` (one transaction); raise NftError on refusal."""
    try:
        res = subprocess.run([NFT, "-j", "-f", "-"], input=orjson.dumps(batch), capture_output=True,
                             timeout=60)
    except FileNotFoundError:
        raise NftError("nft is not installed (Debian package nftables)") from None
    if check and res.returncode != 0:
        raise NftError(res.stderr.decode(errors="replace").strip()
                       or f"nft exited with {res.returncode}")
    return res.stdout.decode(errors="replace")


_COUNTED = re.compile(r'counter packets (\d+) bytes \d+.* comment "' + COMMENT_PREFIX
                      + r'(\d+)"')


def list_counters() -> str | None:
    """``nft list chain inet vpnsh secpolicy`` (text: nft writes JSON ~50x slower), or None
    when there is no such table."""
    return CounterListing().result()


class CounterListing:
    """``list_counters`` started now, read later: the listing runs while Python builds the
    next batch."""

    def __init__(self) -> None:
        try:
            self.proc: subprocess.Popen[str] | None = subprocess.Popen(
                [NFT, "list", "chain", FAMILY, TABLE, POLICY_CHAIN], text=True,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            self.proc = None

    def result(self) -> str | None:
        if self.proc is None:
            return None
        out, _ = self.proc.communicate(timeout=30)
        return out if self.proc.returncode == 0 else None


def rule_counters(listing: str | None) -> dict[int, int]:
    """Packets counted per rule id (first packets of sessions, plus re-evaluations)."""
    out: dict[int, int] = {}
    for m in _COUNTED.finditer(listing or ""):
        rid = int(m.group(2))
        out[rid] = out.get(rid, 0) + int(m.group(1))
    return out
