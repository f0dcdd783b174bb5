"""``show counter global`` as PAN-OS prints it (docs/operational-data.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DASHES = "-" * 80
_ROW = "%-35s%9s%9s %-10s%-10s%-10s%s"


def show_counter_global(data: Mapping[str, Any]) -> str:
    rows = list(data.get("counters", []))
    lines = [
        "Global counters:",
        f"Elapsed time since last sampling: {float(data.get('elapsed', 0.0)):.3f} seconds",
        "",
        _ROW % ("name", "value", "rate", "severity", "category", "aspect", "description"),
        DASHES,
    ]
    for r in rows:
        lines.append(_ROW % (r["name"], r["value"], r["rate"], r["severity"], r["category"],
                             r["aspect"], r["description"]))
    lines += [DASHES, f"Total counters shown: {len(rows)}", DASHES]
    return "\n".join(lines) + "\n"
