"""The filters of ``show session all filter ...`` and ``show log traffic ...``.

Session filter words come in pairs: ``source IP``, ``destination IP``, ``source-port N``,
``destination-port N``, ``protocol N``, ``application A``, ``rule R``, ``from Z``, ``to Z``.
Log filters come in triples ``FIELD OP VALUE`` (ops ``equal``, ``in``, ``neq``), plus
``direction equal backward|forward``: ``src in 10.1.0.10``, ``action equal deny``,
``rule equal R``, ``app equal ssh``, ``dport equal 22``, ``from equal trust``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

SESSION_KEYS = {"source": "src", "destination": "dst", "source-port": "sport",
                "destination-port": "dport", "protocol": "proto", "application": "application",
                "rule": "rule", "from": "from", "to": "to", "state": "state"}
LOG_FIELDS = {"src", "dst", "sport", "dport", "rule", "action", "app", "from", "to", "proto",
              "session_end_reason", "subtype"}


class FilterError(ValueError):
    pass


def filter_sessions(sessions: list[dict[str, Any]], words: Sequence[str]) -> list[dict[str, Any]]:
    words = list(words)
    if len(words) % 2:
        raise FilterError(f"filter {' '.join(words)}: a value is missing")
    wanted = []
    for key, value in zip(words[::2], words[1::2], strict=True):
        if key not in SESSION_KEYS:
            raise FilterError(f"filter: unknown field {key!r} ({', '.join(SESSION_KEYS)})")
        wanted.append((SESSION_KEYS[key], value))
    return [s for s in sessions if all(str(s.get(k)) == v for k, v in wanted)]


def _matches(entry: dict[str, Any], field: str, op: str, value: str) -> bool:
    have = entry.get(field)
    if op == "in" and field in ("src", "dst"):
        try:
            return ipaddress.ip_address(str(have)) in ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
    if op in ("equal", "eq", "in"):
        return str(have) == value
    if op in ("neq", "notequal"):
        return str(have) != value
    raise FilterError(f"unknown operator {op!r} (equal, in, neq)")


def filter_logs(logs: list[dict[str, Any]], words: Sequence[str]) -> list[dict[str, Any]]:
    words = list(words)
    if len(words) % 3:
        raise FilterError(f"{' '.join(words)}: filters are FIELD OP VALUE")
    backward = False
    conds = []
    for field, op, value in zip(words[::3], words[1::3], words[2::3], strict=True):
        if field == "direction":
            backward = value == "backward"
            continue
        if field not in LOG_FIELDS:
            raise FilterError(f"unknown log field {field!r} ({', '.join(sorted(LOG_FIELDS))})")
        conds.append((field, op, value))
    out = [e for e in logs if all(_matches(e, f, o, v) for f, o, v in conds)]
    return out[::-1] if backward else out
