"""Operational commands that are engine ops -> the op and the renderer of its result.

The table is :mod:`vpnsh.shell.op_table` (``engine``, ``render``, ``variants``); this
module resolves a command's renderer (``module.function`` of ``vpnsh.render``) and the
engine's args from the parsed ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from vpnsh.shell.op_table import COMMANDS, OpCommand

Render = Callable[[Mapping[str, Any]], str]


class EngineOp:
    """What runs an engine command (a plain class: a one-shot vpnsh imports this module,
    and dataclasses costs it ~5 ms of imports)."""

    __slots__ = ("op", "render", "is_show", "per_session")

    def __init__(self, op: str, render: Render, is_show: bool = True,
                 per_session: bool = False) -> None:
        self.op = op
        self.render = render
        self.is_show = is_show  # prints JSON under --output json (every VPN op does: docs/operational-data.md)
        self.per_session = per_session  # the daemon keeps state per CLI session (show counter global delta)


_ENGINE: dict[str, OpCommand] = {c.name: c for c in COMMANDS if c.engine and not c.run}


def renderer(spec: str) -> Render:
    """``"vpn.show_ike_sa"`` -> vpnsh.render.vpn.show_ike_sa."""
    module, _, function = spec.rpartition(".")
    render: Render = getattr(importlib.import_module(f"vpnsh.render.{module}"), function)
    return render


def lookup(name: str, args: Mapping[str, Any]) -> EngineOp | None:
    """The daemon op and renderer for an operational command served by the engine, or None."""
    c = _ENGINE.get(name)
    if c is None:
        return None
    op, render = c.engine, c.render
    for v in c.variants:
        if v.applies(dict(args)):
            op, render = v.op or op, v.render or render
            break
    assert op is not None and render is not None
    return EngineOp(op, renderer(render), True, per_session=c.per_session)


def engine_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The parsed args the engine gets: all but the ones that chose the op or view
    (``detail``; ``all``/``info`` of ``show running tunnel flow``)."""
    out = {k: v for k, v in args.items() if k not in ("detail", "all", "info")}
    if "interface" in out and "name" not in out:  # show interface NAME|all, show arp NAME|all
        out["name"] = out["interface"]
    return out


def names() -> list[str]:
    return list(_ENGINE)
