"""PAN-OS text for the firewall commands: test security-policy-match, show running
security-policy, show rule-hit-count, show session, show log traffic.

Layouts: reference panos-policy-monitor-pki-api.md A.5, C.1, C.3 ([V] widths), C.4 ([U]).
Applications other than ``any`` are vpnsh's port-based stand-in (no App-ID): ``show running
security-policy`` says so under each rule that names one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

PORT_BASED_NOTE = "        # applications are port-based in vpnsh (no App-ID)"


def _members(values: Sequence[str], negate: bool = False) -> str:
    text = values[0] if len(values) == 1 else "[ " + " ".join(values) + " ]"
    return text + (" (negate)" if negate else "")


def rule_block(rule: Mapping[str, Any]) -> str:
    tuples = " ".join(f"{i}:{t}" for i, t in enumerate(rule["application/service"]))
    lines = [
        f'"{rule["name"]}; index: {rule["index"]}" {{',
        f'        from {_members(rule["from"])};',
        f'        source {_members(rule["source"], rule["negate-source"])};',
        "        source-region none;",
        f'        to {_members(rule["to"])};',
        f'        destination {_members(rule["destination"], rule["negate-destination"])};',
        "        destination-region none;",
        "        user any;",
        "        source-device any;",
        "        destination-device any;",
        "        category any;",
        f"        application/service [ {tuples} ];",
        f'        action {rule["action"]};',
        "        icmp-unreachable: no",
        "        terminal yes;",
        "}",
    ]
    return "\n".join(lines)


def test_security_policy_match(result: Mapping[str, Any]) -> str:
    """The block of the first matching rule; nothing when only a default rule matches."""
    blocks = [rule_block(r) for r in result.get("rules", [])]
    return ("\n\n" + "\n\n".join(blocks) + "\n") if blocks else ""


def show_running_security_policy(result: Mapping[str, Any]) -> str:
    out = []
    for r in result.get("rules", []):
        block = rule_block(r)
        if r.get("port-based"):
            block = block[:-1] + PORT_BASED_NOTE + "\n}"
        out.append(block)
    return "\n\n".join(out) + ("\n" if out else "")


# ------------------------------------------------------------------ rule hit count

HIT_WIDTHS = (65, 12, 26, 26, 26, 26, 26)
HIT_HEADERS = ("Rule Name", "Hit Count", "Last Hit Timestamp", "Last Reset Timestamp",
               "First Hit Timestamp", "Rule Create Timestamp", "Rule Modify Timestamp")
HIT_DASHES = 209


def _ctime(epoch: int) -> str:
    if not epoch:
        return "-"
    t = time.localtime(epoch)
    return time.strftime("%a %b ", t) + f"{t.tm_mday:>2}" + time.strftime(" %H:%M:%S %Y", t)


def _row(cells: Sequence[str]) -> str:
    return "".join(c.ljust(w) for c, w in zip(cells, HIT_WIDTHS, strict=True)).rstrip()


def show_rule_hit_count(result: Mapping[str, Any]) -> str:
    lines = ["", _row(HIT_HEADERS), "-" * HIT_DASHES]
    for r in result.get("rules", []):
        lines.append(_row([r["name"], str(r["hit-count"]), _ctime(r["last-hit-timestamp"]),
                           _ctime(r["last-reset-timestamp"]), _ctime(r["first-hit-timestamp"]),
                           _ctime(r["rule-creation-timestamp"]),
                           _ctime(r["rule-modification-timestamp"])]))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ sessions

SESSION_RULE = "-" * 80
PROTO = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 50: "esp"}


def _state(s: Mapping[str, Any]) -> str:
    return "ACTIVE"


def _nat(s: Mapping[str, Any]) -> tuple[str, str]:
    """The translated source and destination (reply tuple seen from the client side)."""
    src = f'{s["reply_dst"]}[{s["reply_dport"]}]'
    dst = f'{s["reply_src"]}[{s["reply_sport"]}]'
    return src, dst


def show_session_all(result: Mapping[str, Any]) -> str:
    lines = [SESSION_RULE,
             "ID          Application    State   Type Flag  Src[Sport]/Zone/Proto (translated IP[Port])",
             "Vsys                                          Dst[Dport]/Zone (translated IP[Port])",
             SESSION_RULE]
    for s in result.get("sessions", []):
        nsrc, ndst = _nat(s)
        flag = "NS" if (s["reply_dst"], s["reply_dport"]) != (s["src"], s["sport"]) else ""
        lines.append(f'{s["id"]:<12}{s["application"]:<15}{_state(s):<8}{"FLOW":<5}{flag:<6}'
                     f'{s["src"]}[{s["sport"]}]/{s.get("from") or "-"}/{s["proto"]}  ({nsrc})')
        lines.append(f'{"vsys1":<46}{s["dst"]}[{s["dport"]}]/{s.get("to") or "-"}  ({ndst})')
    return "\n".join(lines) + "\n"


def show_session_id(result: Mapping[str, Any]) -> str:
    s = result["session"]
    proto = s["proto"]
    lines = [
        "",
        f'Session {s["id"]:>14}',
        "",
        "        c2s flow:",
        f'                source:      {s["src"]} [{s.get("from") or "-"}]',
        f'                dst:         {s["dst"]}',
        f"                proto:       {proto}",
        f'                sport:       {s["sport"]:<16}dport:      {s["dport"]}',
        f"                state:       {_state(s):<16}type:       FLOW",
        "                src user:    unknown",
        "                dst user:    unknown",
        "",
        "        s2c flow:",
        f'                source:      {s["reply_src"]} [{s.get("to") or "-"}]',
        f'                dst:         {s["reply_dst"]}',
        f"                proto:       {proto}",
        f'                sport:       {s["reply_sport"]:<16}dport:      {s["reply_dport"]}',
        f"                state:       {_state(s):<16}type:       FLOW",
        "                src user:    unknown",
        "                dst user:    unknown",
        "",
        f'        {"timeout":<37}: {s["timeout"]} sec',
        f'        {"total byte count(c2s)":<37}: {s["bytes_c2s"]}',
        f'        {"total byte count(s2c)":<37}: {s["bytes_s2c"]}',
        f'        {"layer7 packet count(c2s)":<37}: {s["packets_c2s"]}',
        f'        {"layer7 packet count(s2c)":<37}: {s["packets_s2c"]}',
        f'        {"vsys":<37}: vsys1',
        f'        {"application":<37}: {s["application"]} (port-based)',
        f'        {"rule":<37}: {s["rule"]}',
        f'        {"conntrack state":<37}: {s.get("state") or "-"}',
    ]
    return "\n".join(lines) + "\n"


def clear_session(result: Mapping[str, Any]) -> str:
    n = result.get("cleared", 0)
    return f"{n} session{'s' if n != 1 else ''} cleared\n" if n else "no session cleared\n"


# ------------------------------------------------------------------ traffic log

LOG_HEADER = [
    "Time                App             From            Src Port  Source",
    "Rule                Action          To              Dst Port  Destination",
    "                    Src User        Dst User        End Reason",
    "=" * 110,
]


def show_log_traffic(result: Mapping[str, Any]) -> str:
    lines = list(LOG_HEADER)
    for e in result.get("logs", []):
        when = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(e["time"]))
        lines.append(f'{when:<20}{e["app"]:<16}{e.get("from") or "-":<16}'
                     f'{e["sport"]:<10}{e["src"]}')
        lines.append(f'{e["rule"][:19]:<20}{e["action"]:<16}{e.get("to") or "-":<16}'
                     f'{e["dport"]:<10}{e["dst"]}')
        extra = f'  bytes {e.get("bytes", 0)} packets {e.get("packets", 0)}'
        lines.append(f'{"":<20}{"":<16}{"":<16}{e["session_end_reason"]}{extra}')
    return "\n".join(lines) + "\n"
