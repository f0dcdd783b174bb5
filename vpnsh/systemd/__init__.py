"""The systemd unit shipped with vpnsh (``vpnshd.service``) and ``vpnshd --install-unit``.

The unit is package data; installing it writes it to the unit directory with
``ExecStart`` pointing at the ``vpnshd`` that runs the install (a venv's, or
``/usr/local/bin/vpnshd`` after a system-wide pip install).
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

UNIT_NAME = "vpnshd.service"
DEFAULT_UNIT_DIR = "/etc/systemd/system"
_EXEC_START = re.compile(r"^ExecStart=(\S+)", re.MULTILINE)


def unit_text(vpnshd: str | None = None) -> str:
    """The unit; with ``vpnshd`` (an absolute path) as the program ExecStart runs."""
    text = resources.files(__name__).joinpath(UNIT_NAME).read_text(encoding="utf-8")
    if vpnshd is not None:
        if not os.path.isabs(vpnshd):
            raise ValueError(f"ExecStart needs an absolute path, not {vpnshd!r}")
        text = _EXEC_START.sub(lambda m: f"ExecStart={vpnshd}", text, count=1)
    return text


def install(unit_dir: str = DEFAULT_UNIT_DIR, vpnshd: str | None = None) -> Path:
    """Write the unit into ``unit_dir`` (mode 0644); returns its path."""
    path = Path(unit_dir) / UNIT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(unit_text(vpnshd), encoding="utf-8")
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return path
