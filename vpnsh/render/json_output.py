"""JSON output for ``--output json`` and ``config-output-format json`` data."""

from __future__ import annotations

import json
from typing import Any


def to_json(data: Any) -> str:
    """Stable, indented JSON text with a trailing newline."""
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"
