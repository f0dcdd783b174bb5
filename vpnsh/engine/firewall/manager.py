"""The daemon's firewall: one policy per commit, enforced by nftables; hit counts, sessions,
traffic logs.

``apply(tree)`` runs inside ``commit`` before the running config is replaced: a policy the
kernel refuses fails the commit and leaves the running config (and the previous table) as
they were.  With ``enforce`` False (``vpnshd --dataplane none``: a control plane only) the
policy is compiled, so ``test security-policy-match`` answers, but no table is made.

State kept in ``<state_dir>/firewall.json``: the generation (bumped per commit, see
:mod:`.nft`), each rule's conntrack id and its create/modify times, and the hit counts of
earlier tables (a commit replaces the table and so its counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vpnsh.config.applications import classify
from vpnsh.config.objects import ObjectError
from vpnsh.config.tree import effective
from vpnsh.config.vpn_schema import RULES

from . import nflog, nft
from . import sessions as ct
from .nat import compile_nat
from .policy import DEFAULT_IDS, MAX_RULE_ID, Policy, Rule, compile_policy

log = logging.getLogger("vpnshd.firewall")

STATE_FILE = "firewall.json"
TRAFFIC_LOG_MAX = 10_000
ACCT_SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_acct"
REAP_INTERVAL = 2.0
DENY_DEDUP_SECONDS = 5.0  # one deny log per attempt, not per retransmitted SYN


class FirewallError(RuntimeError):
    """The policy cannot be enforced (nft refused it, or an object does not resolve)."""


class Firewall:
    def __init__(self, state_dir: str | None, enforce: bool,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(state_dir) / STATE_FILE if state_dir else None
        self.enforce = enforce
        self.clock = clock
        self.policy = Policy()
        self.generation = 0
        self.rules: dict[str, dict[str, Any]] = {}  # name -> id, created, modified, digest
        self.hits: dict[str, dict[str, float]] = {}  # name -> count, first, last, reset
        self._seen: dict[str, int] = {}  # name -> hit count at the last look (for last-hit)
        self.installed = False
        self._first = True  # the first apply also removes a table left by an earlier run
        self.traffic_log: deque[dict[str, Any]] = deque(maxlen=TRAFFIC_LOG_MAX)
        self._events: asyncio.subprocess.Process | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._nflog: socket.socket | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._recent_denies: dict[tuple[str, str, int, int, int], float] = {}
        self._load()

    # ------------------------------------------------------------------ state

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
            self.generation = int(data.get("generation", 0))
            self.rules = {str(k): dict(v) for k, v in data.get("rules", {}).items()}
            self.hits = {str(k): dict(v) for k, v in data.get("hits", {}).items()}
        except (OSError, ValueError, AttributeError):
            log.warning("%s is unreadable: rule ids and hit counts start again", self.path)

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generation": self.generation, "rules": self.rules,
                                   "hits": self.hits}))
        os.replace(tmp, self.path)

    def _rule_id(self, name: str) -> int:
        entry = self.rules.get(name)
        if entry is None:
            used = {int(e["id"]) for e in self.rules.values()}
            rid = next(i for i in range(1, MAX_RULE_ID + 2) if i not in used)
            if rid > MAX_RULE_ID:
                raise FirewallError(f"more than {MAX_RULE_ID} security rules")
            now = self.clock()
            entry = self.rules[name] = {"id": rid, "created": now, "modified": now, "digest": ""}
        return int(entry["id"])

    # ------------------------------------------------------------------ apply

    def compile(self, tree: dict[str, Any]) -> Policy:
        try:
            policy = compile_policy(tree, self._rule_id)
            policy.nat = compile_nat(tree)
            return policy
        except ObjectError as exc:
            raise FirewallError(str(exc)) from None

    def apply(self, tree: dict[str, Any]) -> Policy:
        """Compile ``tree`` and (when enforcing) replace the table in one transaction."""
        known = dict(self.rules)
        # the table being replaced may be an earlier run's: its counts are kept too
        listing = nft.CounterListing() if self.enforce and (self.installed or self._first) \
            else None
        try:
            policy = self.compile(tree)
        except FirewallError:
            if listing is not None:
                listing.result()  # reap it
            raise
        names = {r.name for r in policy.rules}
        generation = (self.generation + 1) & 0xFFFF or 1
        if self.enforce and (policy.enforced or self.installed or self._first):
            batch = nft.ruleset(policy, generation)
            counters = nft.rule_counters(listing.result()) if listing is not None else {}
            try:
                nft.run_nft(batch)
            except nft.NftError as exc:
                self.rules = known
                raise FirewallError(f"the firewall could not be applied: {exc}") from None
            self._harvest(counters)
            self.installed, self._first = policy.enforced, False
            if policy.enforced:
                _enable_acct()
        now = self.clock()
        for name in list(self.rules):
            if name not in names:
                del self.rules[name]
        stored = (tree.get("rulebase") or {}).get("security", {}).get("rules", {}) \
            if isinstance(tree.get("rulebase"), dict) else {}
        for name in names:
            digest = hashlib.sha256(json.dumps(stored.get(name), sort_keys=True)
                                    .encode()).hexdigest()[:16]
            entry = self.rules[name]
            if entry.get("digest") and entry["digest"] != digest:
                entry["modified"] = now
            entry["digest"] = digest
        self.hits = {k: v for k, v in self.hits.items() if k in names or k in DEFAULT_IDS}
        self.policy, self.generation = policy, generation
        self._save()
        return policy

    def _harvest(self, counters: dict[int, int]) -> None:
        """Fold the counters of the table about to go into the kept totals."""
        names = {int(e["id"]): n for n, e in self.rules.items()}
        names.update({rid: name for name, rid in DEFAULT_IDS.items()})
        for rid, n in counters.items():
            name = names.get(rid)
            if n and name is not None:
                h = self.hits.setdefault(name, {"count": 0, "first": 0, "last": 0, "reset": 0})
                h["count"] += n

    def remove(self) -> None:
        """Shutdown: leave the table (enforcement outlives the daemon, as a firewall should)."""

    # ------------------------------------------------------------------ hit counts

    def hit_counts(self) -> list[dict[str, Any]]:
        """Per rule (user rules in order, then the defaults): counts and timestamps."""
        live = nft.rule_counters(nft.list_counters()) if self.installed else {}
        now = int(self.clock())
        out = []
        for rule in self.policy.all_rules():
            h = self.hits.setdefault(rule.name, {"count": 0, "first": 0, "last": 0, "reset": 0})
            count = int(h["count"]) + live.get(rule.rid, 0)
            if count > self._seen.get(rule.name, int(h["count"])):
                h["last"] = now
                h["first"] = h["first"] or now
            self._seen[rule.name] = count
            meta = self.rules.get(rule.name, {})
            out.append({"name": rule.name, "hit-count": count,
                        "last-hit-timestamp": int(h["last"]),
                        "last-reset-timestamp": int(h.get("reset", 0)),
                        "first-hit-timestamp": int(h["first"]),
                        "rule-creation-timestamp": int(meta.get("created", 0)),
                        "rule-modification-timestamp": int(meta.get("modified", 0)),
                        "latest": "yes"})
        return out

    # ------------------------------------------------------------------ test security-policy-match

    def match(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            found = self.policy.match(
                str(args["from"]), str(args["to"]), str(args["source"]), str(args["destination"]),
                int(args.get("protocol", 6)),
                _int(args.get("destination_port")), _int(args.get("source_port")),
                _int(args.get("icmp_type")), args.get("application"),
                show_all=bool(args.get("show_all")))
        except (KeyError, ValueError) as exc:
            raise FirewallError(f"test security-policy-match: {exc}") from None
        return {"rules": [rule_view(r, self.policy) for r in found
                          if not r.predefined]}

    def running_policy(self) -> dict[str, Any]:
        """``show running security-policy``: every enabled user rule, in order."""
        return {"rules": [rule_view(r, self.policy) for r in self.policy.rules if not r.disabled]}

    # ------------------------------------------------------------------ sessions

    def sessions(self) -> list[dict[str, Any]]:
        if not self.enforce:
            return []
        out = []
        for s in ct.list_sessions():
            d = self._session_view(s)
            if d is not None:
                out.append(d)
        return out

    def _session_view(self, s: ct.Session) -> dict[str, Any] | None:
        rule = self.policy.by_id(s.rule_id)
        d = s.to_dict()
        d["rule"] = rule.name if rule else f"(rule id {s.rule_id})"
        d["from"], d["to"] = _zones(rule)
        d["application"] = _application(s)
        return d

    def clear_sessions(self, sid: int | None = None) -> int:
        if not self.enforce:
            return 0
        n = 0
        for s in ct.list_sessions():
            if sid is None or s.id == sid:
                n += ct.delete(s)
        return n

    # ------------------------------------------------------------------ traffic log

    async def start_events(self) -> None:
        """Follow conntrack DESTROY events: each allowed session's end, logged when its
        rule has log-end yes."""
        if not self.enforce or self._events is not None:
            return
        try:
            self._events = await asyncio.create_subprocess_exec(
                *ct.events_argv(), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
        except OSError as exc:
            log.warning("no traffic log: cannot run conntrack -E: %s", exc)
            return
        loop = asyncio.get_running_loop()
        self._events_task = loop.create_task(self._read_events())
        self._reaper = loop.create_task(self._reap())

    async def _reap(self) -> None:
        """List conntrack every few seconds: a dump removes expired entries at once (the
        kernel's own sweep may wait up to a minute), so aged-out sessions are logged soon."""
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            if not self.installed:
                continue
            try:
                proc = await asyncio.create_subprocess_exec(
                    ct.CONNTRACK, "-L", stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
                await proc.wait()
            except OSError as exc:
                log.warning("conntrack -L: %s", exc)
                return

    def start_deny_log(self) -> None:
        """Read the NFLOG group deny rules log to (one entry per denied session attempt)."""
        if not self.enforce or self._nflog is not None:
            return
        try:
            self._nflog = nflog.open_group(nft.LOG_GROUP)
        except OSError as exc:
            log.warning("no deny logs: cannot bind NFLOG group %d: %s", nft.LOG_GROUP, exc)
            return
        asyncio.get_running_loop().add_reader(self._nflog.fileno(), self._read_nflog)

    def _read_nflog(self) -> None:
        assert self._nflog is not None
        while True:
            try:
                data = self._nflog.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ENOBUFS: the kernel dropped logs; go on
                log.warning("NFLOG: %s", exc)
                return
            for pkt in nflog.parse(data):
                self._log_denied(pkt)

    def _log_denied(self, pkt: nflog.LoggedPacket) -> None:
        if not pkt.prefix.startswith(nft.COMMENT_PREFIX):
            return
        try:
            rid = int(pkt.prefix[len(nft.COMMENT_PREFIX):].strip())
        except ValueError:
            return
        rule = self.policy.by_id(rid)
        now = self.clock()
        key = (pkt.src, pkt.dst, pkt.proto, pkt.sport, pkt.dport)
        if now - self._recent_denies.get(key, -1e9) < DENY_DEDUP_SECONDS:
            return  # a retransmission of the same attempt
        self._recent_denies[key] = now
        if len(self._recent_denies) > 4096:
            self._recent_denies = {k: t for k, t in self._recent_denies.items()
                                   if now - t < DENY_DEDUP_SECONDS}
        self.traffic_log.append({
            "time": now, "subtype": "deny", "rule": rule.name if rule else f"(rule id {rid})",
            "action": rule.action if rule else "deny",
            "from": self.policy.zone_of(_ifname(pkt.indev)) or "",
            "to": self.policy.zone_of(_ifname(pkt.outdev)) or "",
            "src": pkt.src, "dst": pkt.dst, "sport": pkt.sport, "dport": pkt.dport,
            "proto": ct.PROTO_NAMES.get(pkt.proto, str(pkt.proto)),
            "app": classify(pkt.proto, pkt.dport if pkt.proto in (6, 17) else None,
                            pkt.icmp_type),
            "bytes": 0, "packets": 1, "bytes_sent": 0, "bytes_received": 0, "session_id": 0,
            "session_end_reason": "policy-deny",
        })

    async def _read_events(self) -> None:
        assert self._events is not None and self._events.stdout is not None
        while True:
            line = await self._events.stdout.readline()
            if not line:
                log.warning("conntrack -E ended: no more session-end logs")
                return
            try:
                s = ct.parse_line(line.decode(errors="replace"))
                if s is None or not s.rule_id:
                    continue
                rule = self.policy.by_id(s.rule_id)
                if rule is None:
                    continue
                if s.event == "new" and rule.log_start:
                    self.log_session_end(s, rule, subtype="start")
                elif s.event == "destroy" and rule.log_end:
                    self.log_session_end(s, rule)
            except Exception:  # noqa: BLE001 - one bad line never stops the log
                log.exception("conntrack event %r", line[:200])

    def log_session_end(self, s: ct.Session, rule: Rule, reason: str = "",
                        subtype: str = "end") -> None:
        """A traffic log entry of a session's end (or, ``subtype`` start, its start)."""
        zone_from, zone_to = _zones(rule)
        if subtype == "start":
            reason = "n/a"
        self.traffic_log.append({
            "time": self.clock(), "subtype": subtype, "rule": rule.name, "action": rule.action,
            "from": zone_from, "to": zone_to, "src": s.src, "dst": s.dst,
            "sport": s.sport, "dport": s.dport, "proto": ct.PROTO_NAMES.get(s.proto,
                                                                                  str(s.proto)),
            "app": _application(s), "bytes": s.bytes, "packets": s.packets,
            "bytes_sent": s.bytes_c2s, "bytes_received": s.bytes_s2c,
            "session_id": s.id,
            "session_end_reason": reason or _end_reason(s),
        })

    def log_deny(self, entry: dict[str, Any]) -> None:
        self.traffic_log.append(entry)

    async def stop_events(self) -> None:
        if self._nflog is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._nflog.fileno())
            self._nflog.close()
            self._nflog = None
        if self._events is not None:
            with contextlib.suppress(ProcessLookupError):
                self._events.kill()
            await self._events.wait()
            self._events = None
        for task in (self._events_task, self._reaper):
            if task is not None:
                task.cancel()
        self._events_task = self._reaper = None


def _zones(rule: Rule | None) -> tuple[str, str]:
    """The zones of a session, as far as its rule tells them (one zone each side)."""
    if rule is None or rule.predefined:
        return "", ""
    f = rule.from_zones[0] if len(rule.from_zones) == 1 and rule.from_zones[0] != "any" else ""
    t = rule.to_zones[0] if len(rule.to_zones) == 1 and rule.to_zones[0] != "any" else ""
    return f, t


def _ifname(index: int) -> str:
    try:
        return socket.if_indextoname(index) if index else ""
    except OSError:
        return ""


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _enable_acct() -> None:
    """Bytes and packets per conntrack entry (per network namespace)."""
    try:
        with open(ACCT_SYSCTL, "w") as f:
            f.write("1")
    except OSError as exc:
        log.warning("cannot turn on conntrack accounting: %s", exc)


def _application(s: ct.Session) -> str:
    from vpnsh.config.applications import classify
    return classify(s.proto, s.dport if s.proto in (6, 17) else None, s.icmp_type)


def _end_reason(s: ct.Session) -> str:
    if s.proto == 6 and s.state in ("TIME_WAIT", "CLOSE", "LAST_ACK", "FIN_WAIT", "CLOSE_WAIT"):
        return "tcp-fin"
    if s.proto == 6 and s.state not in ("ESTABLISHED", ""):
        return "tcp-rst-from-client" if s.state == "SYN_SENT" else "aged-out"
    return "aged-out"


def rule_view(rule: Rule, policy: Policy) -> dict[str, Any]:
    """One rule as the data behind the ``show running security-policy`` block."""
    tuples = []
    apps = rule.applications
    svcs = rule.services
    if svcs in (("any",), ("application-default",)):
        for app in apps:
            from vpnsh.config.applications import app_l4
            tuples += [t.tuple_text(app) for t in app_l4(app)]
    else:
        for app in apps:
            tuples += [t.tuple_text(app) for t in rule.l4]
    return {
        "name": rule.name, "index": rule.index, "from": list(rule.from_zones),
        "to": list(rule.to_zones), "source": list(rule.source_text),
        "destination": list(rule.destination_text), "negate-source": rule.negate_source,
        "negate-destination": rule.negate_destination,
        "application/service": tuples, "action": rule.action, "rule-id": rule.rid,
        "port-based": apps != ("any",), "rule-type": rule.rule_type,
    }


def rule_names(tree: dict[str, Any]) -> list[str]:
    return list(effective(tree, RULES) or {})
