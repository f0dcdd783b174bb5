"""The engine the daemon owns: applies committed config, answers operational ops.

This first version holds no SAs: it records what it was given, logs each
commit's diff, and answers the VPN ops with empty-state data.  The IKE engine
replaces the insides; the three methods and the result shapes (documented in
docs/control-protocol.md) stay.

``apply`` and ``op`` are called on the daemon's event loop; ``op`` may return
an awaitable (the daemon awaits it), ``shutdown`` may too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("vpnshd.engine")

DATAPLANES = ("userspace", "kernel", "none")


class EngineError(Exception):
    """An operational request the engine cannot do (unknown op, unknown gateway...)."""


@dataclass
class Engine:
    dataplane: str = "userspace"
    state_dir: str | None = None
    log_dir: str | None = None
    running: dict[str, Any] = field(default_factory=dict)
    applied: list[Any] = field(default_factory=list)  # every diff given, oldest first
    stopped: bool = False

    def apply(self, running: dict[str, Any], diff: Any) -> None:
        """Take a newly committed running config and what changed since the last one."""
        self.running = running
        self.applied.append(diff)
        log.info("apply: %s", _describe(diff))

    def op(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """An operational request: data, not text."""
        handler = _OPS.get(name)
        if handler is None:
            raise EngineError(f"unknown operational request {name!r}")
        return handler(self, args)

    def system_events(self) -> list[dict[str, Any]]:
        """Entries for ``show log system``: {"time", "subtype", "eventid", "object",
        "severity", "description"} (vpn events, when there is an IKE engine)."""
        return []

    def shutdown(self) -> Awaitable[None] | None:
        """Stop: delete SAs politely (none yet).  May return an awaitable."""
        self.stopped = True
        log.info("engine shut down")
        return None

    # -- empty-state answers (shapes of vpnsh.render.vpn / docs/operational-data.md)

    def _ike_sa_show(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"gateways_configured": len(self._names(GATEWAYS)), "ikev1_p1": [],
                "ikev1_p2": [], "ikev2": [], "ikev2_children": []}

    def _ike_sa_detail(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"gateway": args.get("gateway"), "now": time.time(), "sas": []}

    def _ipsec_sa_show(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"tunnels_configured": len(self._names(TUNNELS)), "sas": []}

    def _flow_show(self, args: dict[str, Any]) -> dict[str, Any]:
        n = len(self._names(TUNNELS))
        return {"tunnels_configured": n, "ipsec_configured": n, "ipsec_shown": 0, "flows": []}

    def _gateway_show(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"gateways": []}

    def _tunnel_show(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"tunnels": []}

    def _ike_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"start": time.time(), "initiated": 0, "errors": []}

    def _ipsec_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"start": time.time(), "tunnels": [], "errors": []}

    def _ike_clear(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"gateway": args.get("gateway"), "cleared": 0, "ikev1": 0, "ikev2": 0}

    def _ipsec_clear(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"tunnel": args.get("tunnel"), "cleared": 0, "ikev1": 0, "ikev2": 0}

    def _names(self, path: tuple[str, ...]) -> list[str]:
        node: Any = self.running
        for key in path:
            if not isinstance(node, dict):
                return []
            node = node.get(key, {})
        return list(node) if isinstance(node, dict) else []


GATEWAYS = ("network", "ike", "gateway")
TUNNELS = ("network", "tunnel", "ipsec")

_OPS = {
    "vpn.ike-sa.show": Engine._ike_sa_show,
    "vpn.ike-sa.detail": Engine._ike_sa_detail,
    "vpn.ipsec-sa.show": Engine._ipsec_sa_show,
    "vpn.flow.show": Engine._flow_show,
    "vpn.gateway.show": Engine._gateway_show,
    "vpn.tunnel.show": Engine._tunnel_show,
    "vpn.ike-sa.test": Engine._ike_test,
    "vpn.ipsec-sa.test": Engine._ipsec_test,
    "vpn.ike-sa.clear": Engine._ike_clear,
    "vpn.ipsec-sa.clear": Engine._ipsec_clear,
}


def _describe(diff: Any) -> str:
    """A one-line summary of a ConfigDiff without depending on its class."""
    if diff is None:
        return "no diff"
    parts = []
    for name in ("gateways", "tunnels", "tunnel_interfaces", "ethernet_interfaces", "routes"):
        section = getattr(diff, name, None)
        if section is None:
            continue
        counts = []
        for change in ("added", "changed", "removed"):
            items = getattr(section, change, None)
            if items:
                counts.append(f"{change} {', '.join(map(str, sorted(items)[:5]))}"
                              + (f" (+{len(items) - 5})" if len(items) > 5 else ""))
        if counts:
            parts.append(f"{name}: {'; '.join(counts)}")
    return " | ".join(parts) or "nothing changed"
