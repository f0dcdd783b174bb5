"""The Lark grammars of the vpnsh command surface (package data)."""

from __future__ import annotations

import os


def static_text() -> str:
    """grammar/vpnsh.lark, the hand-written part of the grammar (the operational commands'
    rules are made from vpnsh.shell.op_table).  A plain read beside the package:
    importlib.resources costs a one-shot shell ~10 ms of imports (tempfile, zipfile,
    lzma...) for nothing (vpnsh is never run from a zip)."""
    with open(os.path.join(os.path.dirname(__file__), "vpnsh.lark"), encoding="utf-8") as f:
        return f.read()
