"""Operational VPN commands -> daemon ops and the renderers of their results.

One table: the command name from the parser, the daemon op (the engine op
names of docs/design-notes.md), how to build the op's args from the parsed
args, and which ``vpnsh.render.vpn`` function turns the result into text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vpnsh.render import counters as counters_render
from vpnsh.render import firewall as fw_render
from vpnsh.render import host as host_render
from vpnsh.render import pki as pki_render
from vpnsh.render import vpn as vpn_render
from vpnsh.render.json_output import to_json

Render = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class OpCommand:
    op: str
    render: Render
    is_show: bool = True  # prints JSON under --output json (every VPN op does: docs/operational-data.md)
    per_session: bool = False  # the daemon keeps state per CLI session (show counter global delta)


def _show_ike_sa(args: Mapping[str, Any]) -> Render:
    if args.get("detail"):
        # vpnsh.render.vpn.show_ike_sa_detail when it exists; the data as JSON until then
        return getattr(vpn_render, "show_ike_sa_detail", to_json)
    return vpn_render.show_ike_sa


def _show_ipsec_sa(args: Mapping[str, Any]) -> Render:
    return vpn_render.show_ipsec_sa_summary if args.get("summary") else vpn_render.show_ipsec_sa


def _show_flow(args: Mapping[str, Any]) -> Render:
    if "name" in args or "tunnel_id" in args:
        return vpn_render.show_flow_detail
    return vpn_render.show_flow


_TABLE: dict[str, tuple[str, Callable[[Mapping[str, Any]], Render], bool]] = {
    "show vpn ike-sa": ("vpn.ike-sa.show", _show_ike_sa, True),
    "show vpn ipsec-sa": ("vpn.ipsec-sa.show", _show_ipsec_sa, True),
    "show vpn flow": ("vpn.flow.show", _show_flow, True),
    "show running tunnel flow": ("vpn.flow.show", _show_flow, True),
    "show vpn gateway": ("vpn.gateway.show", lambda a: vpn_render.show_gateway, True),
    "show vpn tunnel": ("vpn.tunnel.show", lambda a: vpn_render.show_tunnel, True),
    "test vpn ike-sa": ("vpn.ike-sa.test", lambda a: vpn_render.test_ike_sa, True),
    "test vpn ipsec-sa": ("vpn.ipsec-sa.test", lambda a: vpn_render.test_ipsec_sa, True),
    "clear vpn ike-sa": ("vpn.ike-sa.clear", lambda a: vpn_render.clear_ike_sa, True),
    "clear vpn ipsec-sa": ("vpn.ipsec-sa.clear", lambda a: vpn_render.clear_ipsec_sa, True),
    # firewall (issue 14): zones, security rules, sessions, traffic log
    "test security-policy-match": ("security-policy-match.show",
                                   lambda a: fw_render.test_security_policy_match, True),
    "show running security-policy": ("security-policy.show",
                                     lambda a: fw_render.show_running_security_policy, True),
    "show rule-hit-count": ("rule-hit-count.show", lambda a: fw_render.show_rule_hit_count, True),
    "show session all": ("session.show", lambda a: fw_render.show_session_all, True),
    "show session id": ("session.detail", lambda a: fw_render.show_session_id, True),
    "clear session all": ("session.clear", lambda a: fw_render.clear_session, True),
    "clear session id": ("session.clear", lambda a: fw_render.clear_session, True),
    "show log traffic": ("log.traffic.show", lambda a: fw_render.show_log_traffic, True),
    # everyday host commands (issue 13): data from the daemon's namespace (engine/hostinfo.py)
    "show interface": ("host.interface.show", lambda a: host_render.interface_all
                       if a.get("interface") == "all" else host_render.interface_detail, True),
    "show routing route": ("host.routing.route.show", lambda a: host_render.routing_route, True),
    "show routing fib": ("host.routing.fib.show", lambda a: host_render.routing_fib, True),
    "test routing fib-lookup": ("host.routing.fib-lookup", lambda a: host_render.fib_lookup, True),
    "show arp": ("host.arp.show", lambda a: host_render.arp, True),
    "show clock": ("host.clock.show", lambda a: host_render.clock, True),
    "show system resources": ("host.resources.show", lambda a: host_render.resources, True),
    "traceroute": ("traceroute", lambda a: host_render.command_output, True),
    # show counter global (issue 11)
    "show counter global": ("counter.global.show", lambda a: counters_render.show_counter_global, True),
    # tunnel monitor, path monitor (issue 15)
    "show routing path-monitor": ("routing.path-monitor.show", lambda a: vpn_render.show_path_monitor, True),
    # certificates (issue 16): vpnsh.engine.pki.ops
    "request certificate generate": ("pki.certificate.generate", lambda a: pki_render.message, True),
    "request certificate delete": ("pki.certificate.delete", lambda a: pki_render.message, True),
    "scp import certificate": ("pki.certificate.import", lambda a: pki_render.message, True),
    "scp import keypair": ("pki.keypair.import", lambda a: pki_render.message, True),
    "scp import crl": ("pki.crl.import", lambda a: pki_render.message, True),
    "scp export certificate": ("pki.certificate.export", lambda a: pki_render.message, True),
    "show sslmgr-store config-certificate-info": (
        "pki.certificate.show", lambda a: pki_render.show_certificates, True),
}
_PER_SESSION = {"show counter global"}


def lookup(name: str, args: Mapping[str, Any]) -> OpCommand | None:
    """The daemon op and renderer for an operational VPN command, or None."""
    entry = _TABLE.get(name)
    if entry is None:
        return None
    op, pick, is_show = entry
    if name == "show vpn ike-sa" and args.get("detail"):
        op = "vpn.ike-sa.detail"
    return OpCommand(op, pick(args), is_show, per_session=name in _PER_SESSION)


def engine_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The parsed args the engine gets: all but the ones that chose the op or view
    (``detail``; ``all``/``info`` of ``show running tunnel flow``)."""
    out = {k: v for k, v in args.items() if k not in ("detail", "all", "info")}
    if "interface" in out and "name" not in out:  # show interface NAME|all, show arp NAME|all
        out["name"] = out["interface"]
    return out


def names() -> list[str]:
    return list(_TABLE)
