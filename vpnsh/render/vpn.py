"""PAN-OS text for the operational VPN commands.

Each function takes the data the daemon returns for one command (the shapes are
documented in docs/operational-data.md) and gives the text PAN-OS prints.
Column widths, headings, footers and empty-state lines follow the [V]
transcripts in the PAN-OS reference; times are epoch seconds in the data and
``Mon.DD HH:MM:SS`` local time here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]
Columns = Sequence[tuple[str, int, str]]  # (heading, width, data key); width 0 = last column


def panos_time(epoch: float | None) -> str:
    """``Jun.04 21:09:13`` as in every PAN-OS VPN table."""
    if not epoch:
        return ""
    return time.strftime("%b.%d %H:%M:%S", time.localtime(epoch))


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    if width == 0:
        return text
    return text.ljust(width - 1) + " " if len(text) < width else text + " "


def table(columns: Columns, rows: Iterable[Row]) -> list[str]:
    """Heading line, dash line, then one line per row; trailing blanks removed."""
    lines = ["".join(_cell(h, w) for h, w, _ in columns).rstrip()]
    lines.append("".join(_cell("-" * len(h), w) for h, w, _ in columns).rstrip())
    for row in rows:
        lines.append("".join(_cell(row.get(key), w) for _, w, key in columns).rstrip())
    return lines


def spi(value: int | None) -> str:
    return "" if value is None else f"{value:08X}"


# --------------------------------------------------------------------------- show vpn ike-sa

IKEV1_P1: Columns = (
    ("GwID/client IP", 16, "gwid"),
    ("Peer-Address", 23, "peer"),
    ("Gateway Name", 64, "gateway"),
    ("Role", 5, "role"),
    ("Mode", 5, "mode"),
    ("Algorithm", 22, "algorithm"),
    ("Established", 16, "established"),
    ("Expiration", 16, "expiration"),
    ("V", 3, "version"),
    ("ST", 3, "state"),
    ("Xt", 3, "xt"),
    ("Phase2", 0, "phase2"),
)
IKEV1_P2: Columns = (
    ("Gateway Name", 64, "gateway"),
    ("TnID", 9, "tnid"),
    ("Tunnel", 23, "tunnel"),
    ("GwID/IP", 17, "gwid"),
    ("Role", 5, "role"),
    ("Algorithm", 19, "algorithm"),
    ("SPI(in)", 9, "spi_in"),
    ("SPI(out)", 9, "spi_out"),
    ("MsgID", 9, "msgid"),
    ("ST", 3, "state"),
    ("Xt", 0, "xt"),
)
IKEV2_SA: Columns = (
    ("Gateway ID", 16, "gwid"),
    ("Peer-Address", 23, "peer"),
    ("Gateway Name", 23, "gateway"),
    ("Role", 5, "role"),
    ("SN", 9, "sn"),
    ("Algorithm", 22, "algorithm"),
    ("Established", 16, "established"),
    ("Expiration", 16, "expiration"),
    ("Xt", 3, "xt"),
    ("Child", 7, "children"),
    ("ST", 0, "state"),
)
IKEV2_CHILD: Columns = (
    ("Gateway Name", 23, "gateway"),
    ("TnID", 9, "tnid"),
    ("Tunnel", 26, "tunnel"),
    ("ID", 9, "id"),
    ("Parent", 9, "parent"),
    ("Role", 5, "role"),
    ("SPI(in)", 9, "spi_in"),
    ("SPI(out)", 9, "spi_out"),
    ("MsgID", 9, "msgid"),
    ("ST", 0, "state"),
)


def _with_times(rows: Iterable[Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        r = dict(row)
        for key in ("established", "expiration"):
            if key in r:
                r[key] = panos_time(r[key])
        for key in ("spi_in", "spi_out"):
            if isinstance(r.get(key), int):
                r[key] = spi(r[key])
        if isinstance(r.get("msgid"), int):
            r["msgid"] = f"{r['msgid']:08X}"
        out.append(r)
    return out


def show_ike_sa(data: Row) -> str:
    """``show vpn ike-sa [gateway GW]``: IKEv1 phase-1, phase-2, then IKEv2."""
    configured = data.get("gateways_configured", 0)
    p1, p2 = data.get("ikev1_p1", []), data.get("ikev1_p2", [])
    v2, children = data.get("ikev2", []), data.get("ikev2_children", [])
    out: list[str] = [""]
    if p1:
        out += ["IKEv1 phase-1 SAs", *table(IKEV1_P1, _with_times(p1)), ""]
        out += [f"Show IKEv1 IKE SA: Total {configured} gateways found. {len(p1)} ike sa found.", "", ""]
    else:
        out += ["There is no IKEv1 phase-1 SA found.", ""]
    if p2:
        out += ["IKEv1 phase-2 SAs", *table(IKEV1_P2, _with_times(p2)), ""]
        out += [f"Show IKEv1 phase2 SA: Total {configured} gateways found. {len(p2)} ike sa found.", "", ""]
    else:
        out += ["There is no IKEv1 phase-2 SA found.", ""]
    if v2:
        out += ["IKEv2 SAs", *table(IKEV2_SA, _with_times(v2)), ""]
        out += ["IKEv2 IPsec Child SAs", *table(IKEV2_CHILD, _with_times(children)), ""]
        out += [f"Show IKEv2 SA: Total {configured} gateways found. {len(v2)} ike sa found.", ""]
    else:
        out += ["There is no IKEv2 SA found.", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- show vpn ipsec-sa

IPSEC_SA: Columns = (
    ("GwID/client IP", 16, "gwid"),
    ("TnID", 7, "tnid"),
    ("Peer-Address", 23, "peer"),
    ("Tunnel(Gateway)", 47, "tunnel_gateway"),
    ("Algorithm", 19, "algorithm"),
    ("SPI(in)", 9, "spi_in"),
    ("SPI(out)", 9, "spi_out"),
    ("life(Sec/KB)", 25, "life"),
    ("remain-time(Sec)", 0, "remain"),
)


def _ipsec_rows(sas: Iterable[Row]) -> list[dict[str, Any]]:
    rows = []
    for sa in _with_times(sas):
        kb = sa.get("life_kb")
        sa["life"] = f"{sa.get('life_sec', 0)}/{kb if kb else 'Unlimited'}"
        sa["tunnel_gateway"] = f"{sa.get('tunnel')}({sa.get('gateway')})"
        rows.append(sa)
    return rows


def ipsec_totals(data: Row) -> str:
    return f"Total {data.get('tunnels_configured', 0)} tunnels found. {len(data.get('sas', []))} ipsec sa found."


def show_ipsec_sa(data: Row) -> str:
    """``show vpn ipsec-sa [tunnel T]``."""
    sas = data.get("sas", [])
    if not sas:
        return "\nThere is no IPSec SA found.\n"
    lines = ["", *table(IPSEC_SA, _ipsec_rows(sas)), "", f"Show IPSec SA: {ipsec_totals(data)}", ""]
    return "\n".join(lines)


def show_ipsec_sa_summary(data: Row) -> str:
    return ipsec_totals(data) + "\n"


# --------------------------------------------------------------------------- show vpn flow

FLOW: Columns = (
    ("id", 6, "id"),
    ("name", 64, "name"),
    ("state", 8, "state"),
    ("monitor", 8, "monitor"),
    ("local-ip", 30, "local_ip"),
    ("peer-ip", 30, "peer_ip"),
    ("tunnel-i/f", 0, "tunnel_if"),
)


def _total(label: str, value: int) -> str:
    return f"{label:<62}{value}"


def show_flow(data: Row) -> str:
    """``show vpn flow``: totals, filter line, then one row per tunnel."""
    flows = data.get("flows", [])
    flow_heads: Columns = FLOW
    lines = [
        "",
        _total("total tunnels configured:", data.get("tunnels_configured", len(flows))),
        "filter - type IPSec, state any",
        "",
        _total("total IPSec tunnel configured:", data.get("ipsec_configured", len(flows))),
        _total("total IPSec tunnel shown:", data.get("ipsec_shown", len(flows))),
        "",
    ]
    heads = table(flow_heads, [])
    # PAN-OS prints a wider dash run under "name" than the word itself.
    heads[1] = heads[1][:6] + "-" * 14 + heads[1][20:]
    rows = [{**f, "state": str(f.get("state", ""))[:7]} for f in flows]
    lines += heads + table(flow_heads, rows)[2:] + [""]
    return "\n".join(lines)


FLOW_DETAIL_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("type", "type"),
    ("gateway id", "gwid"),
    ("local ip", "local_ip"),
    ("peer ip", "peer_ip"),
    ("inner interface", "tunnel_if"),
    ("outer interface", "outer_if"),
    ("state", "state"),
    ("session", "session"),
    ("tunnel mtu", "mtu"),
    ("soft lifetime", "soft_lifetime"),
    ("hard lifetime", "hard_lifetime"),
    ("lifetime remain", "lifetime_remain"),
    ("lifesize remain", "lifesize_remain"),
    ("latest rekey", "latest_rekey"),
    ("monitor", "monitor"),
    ("en/decap context", "context"),
    ("local spi", "local_spi"),
    ("remote spi", "remote_spi"),
    ("key type", "key_type"),
    ("protocol", "protocol"),
    ("auth algorithm", "auth_algorithm"),
    ("enc  algorithm", "enc_algorithm"),
)
FLOW_COUNTERS: tuple[tuple[str, str], ...] = (
    ("anti replay check", "anti_replay"),
    ("copy tos", "copy_tos"),
    ("initiator", "initiator"),
    ("authentication errors", "auth_errors"),
    ("decryption errors", "decrypt_errors"),
    ("inner packet warnings", "inner_warnings"),
    ("replay packets", "replay_packets"),
    ("sending sequence", "send_seq"),
    ("receive sequence", "recv_seq"),
    ("encap packets", "encap_packets"),
    ("decap packets", "decap_packets"),
    ("encap bytes", "encap_bytes"),
    ("decap bytes", "decap_bytes"),
    ("key acquire requests", "key_acquires"),
)


def _monitor_lines(m: Row | None) -> list[str]:
    """Under ``monitor:`` in the detail block (reference D.4: the two-column style, [U])."""
    if not m:
        return []
    rows = [
        ("monitor status", m.get("status")),
        ("monitor interval", f"{m.get('interval')} sec"),
        ("monitor threshold", m.get("threshold")),
        ("monitor action", m.get("action")),
        ("monitor profile", m.get("profile")),
        ("monitor source", m.get("source")),
        ("monitor destination", m.get("destination")),
        ("monitor packets sent", m.get("sent")),
        ("monitor packets reply", m.get("replies")),
        ("monitor lost in row", m.get("lost_in_row")),
    ]
    if m.get("status") == "down" and m.get("reason"):
        rows.append(("monitor down reason", m.get("reason")))
    return [f"          {label + ':':<22}{value}" for label, value in rows]


def show_path_monitor(data: Row) -> str:
    """``show routing path-monitor``: one row per monitored static route, one indented row
    per monitor destination (reference D.4: no PAN-OS transcript found; [U])."""
    routes = data.get("routes", [])
    if not routes:
        return "No static route with path monitoring.\n"
    cols: Columns = (
        ("VirtualRouter", 15, "vr"), ("Route", 17, "name"), ("Destination", 20, "destination"),
        ("Nexthop", 16, "nexthop"), ("Interface", 12, "interface"), ("Metric", 8, "metric"),
        ("Condition", 11, "failure_condition"), ("Status", 0, "status"),
    )
    lines = table(cols, [])
    for r in routes:
        row = {**r, "nexthop": r.get("nexthop") or "None",
               "status": ("Up" if r.get("status") == "up" else "Down")
               + (f" (hold {r['hold_remaining']} s)" if r.get("hold_remaining") is not None else "")}
        lines += table(cols, [row])[2:]
        for m in r.get("monitors", []):
            state = "Up" if m.get("status") == "up" else "Down"
            if not m.get("enabled", True):
                state = "Disabled"
            lines.append(f"    {m.get('name', ''):<12} source {m.get('source', ''):<16} "
                         f"destination {m.get('destination', ''):<16} interval {m.get('interval')} "
                         f"count {m.get('count')} sent {m.get('sent')} reply {m.get('replies')} {state}")
        if r.get("reason"):
            lines.append(f"    reason: {r['reason']}")
    return "\n".join(lines) + "\n"


def show_flow_detail(data: Row) -> str:
    """``show vpn flow name T`` / ``tunnel-id N``: one block per tunnel."""
    out: list[str] = []
    for f in data.get("flows", []):
        out.append(f"tunnel  {f.get('name')}")
        for label, key in FLOW_DETAIL_FIELDS:
            value = f.get(key)
            if key in ("local_spi", "remote_spi") and isinstance(value, int):
                value = spi(value)
            out.append(f"        {label + ':':<24}{'' if value is None else value}")
            if key == "monitor":
                out += _monitor_lines(f.get("monitor_detail"))
        pid = f.get("proxy_id", {})
        out.append("        proxy-id:")
        for label, key in (("local ip", "local"), ("remote ip", "remote"), ("protocol", "protocol"),
                           ("local port", "local_port"), ("remote port", "remote_port")):
            out.append(f"          {label + ':':<22}{pid.get(key, 0)}")
        for label, key in FLOW_COUNTERS:
            out.append(f"        {label + ':':<24}{f.get(key, 0)}")
        out.append("")
    return "\n".join(out) if out else "No tunnel found.\n"


# --------------------------------------------------------------------------- config views


def show_gateway(data: Row) -> str:
    """``show vpn gateway``: configured IKE gateways."""
    cols: Columns = (
        ("GwID", 9, "gwid"),
        ("Name", 21, "name"),
        ("Peer-Address/ID", 31, "peer"),
        ("Local Address/ID", 31, "local"),
        ("Protocol", 12, "protocol"),
        ("Proposals", 0, "proposals"),
    )
    rows = [{**g, "local": str(g.get("local", ""))[:30], "peer": str(g.get("peer", ""))[:30]}
            for g in data.get("gateways", [])]
    lines = table(cols, rows)
    lines.append(f"Show IKE gateway config: Total {len(rows)} gateways found.")
    return "\n".join(lines) + "\n"


def show_tunnel(data: Row) -> str:
    """``show vpn tunnel``: configured auto-key tunnels with their proxy-ids."""
    head = ("TnID    Name(Gateway)                        Local Proxy IP     Ptl:Port      "
            "Remote Proxy IP    Ptl:Port                                   Proposals")
    lines = [head, "-" * len(head)]
    for t in data.get("tunnels", []):
        lines.append(
            f"{t['tnid']:<11}{t['name'] + '(' + t['gateway'] + ')':<34}"
            f"{t['local']:<19}{t['local_ptl']:<14}{t['remote']:<19}{t['remote_ptl']:<12}"
            f"{t['proposals']}"
        )
    lines.append(f"Show IPSec tunnel config: Total {len(data.get('tunnels', []))} tunnels found")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- test / clear


def test_ike_sa(data: Row) -> str:
    lines = ["", f"Start time: {panos_time(data.get('start'))}"]
    lines.append(f"Initiate {data.get('initiated', 0)} IKE SA.")
    lines += [f"  {r}" for r in data.get("errors", [])]
    return "\n".join(lines) + "\n"


def test_ipsec_sa(data: Row) -> str:
    lines = ["", f"Start time: {panos_time(data.get('start'))}"]
    for name in data.get("tunnels", []):
        lines.append(f"Initiate 1 IPsec SA for tunnel {name}.")
    if not data.get("tunnels"):
        lines.append("Initiate 0 IPsec SA.")
    lines += [f"  {r}" for r in data.get("errors", [])]
    return "\n".join(lines) + "\n"


def clear_ike_sa(data: Row) -> str:
    if data.get("gateway") is not None:
        if not data.get("cleared"):
            return f"IKE SA for gateway ID {data.get('gwid', 0)} not found.\n"
        return f"Delete IKEv2 IKE SA: Total {data['cleared']} gateways found.\n"
    return f"Clear IKE SA: {data.get('ikev1', 0)} IKEv1 SA, {data.get('ikev2', 0)} IKEv2 SA.\n"


def clear_ipsec_sa(data: Row) -> str:
    if data.get("tunnel") is not None:
        if not data.get("cleared"):
            return f"IPSec SA for tunnel {data['tunnel']} not found.\n"
        return f"Delete IKEv2 IPSec SA: Total {data['cleared']} tunnels found.\n"
    return f"Clear IPSec SA: {data.get('ikev1', 0)} IKEv1 SA, {data.get('ikev2', 0)} IKEv2 SA.\n"


# --------------------------------------------------------------------------- show vpn ike-sa detail


def duration(seconds: float) -> str:
    """``6 hours 24 minutes 53 seconds`` (zero parts left out; ``0 seconds`` for nothing)."""
    total = max(0, int(seconds))
    parts = []
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if total >= size:
            parts.append(f"{total // size} {unit}")
            total %= size
    if total or not parts:
        parts.append(f"{total} seconds")
    return " ".join(parts)


def _hex_spi(value: Any, digits: int) -> str:
    if isinstance(value, int):
        return f"{value:0{digits}X}"
    return "" if value is None else str(value).upper()


def _created_line(created: Any, now: float) -> str:
    if not created:
        return "        Created:    "
    return f"        Created:    {panos_time(created)}, {duration(round(now - created))} ago"


def _expires_line(created: Any, expires: Any, rekey_at: Any, now: float) -> str:
    line = f"        Expires:    {panos_time(expires)}"
    if rekey_at:
        soft = f" ({int(rekey_at - created)} sec)" if created else ""
        line += f", rekey in {duration(rekey_at - now)}{soft}"
    return line


def _ike_sa_detail_block(sa: Row, now: float) -> list[str]:
    out = [
        "IKE SA:",
        f"  SPI:  {_hex_spi(sa.get('spi_i'), 16)}:{_hex_spi(sa.get('spi_r'), 16)}  {sa.get('role', '')}",
        f"        State:      {sa.get('state', '')}",
        f"        SN:         {sa.get('sn', '')}",
        f"        Authentication:  {sa.get('auth', '')}",
        f"        Proposal:   {sa.get('proposal', '')}",
        f"        ID local:   {sa.get('local_id', '')}",
        f"           remote:  {sa.get('remote_id', '')}",
        f"        ID_i:       {sa.get('id_i', '')}",
        f"        ID_r:       {sa.get('id_r', '')}",
        f"        NAT:        {sa.get('nat') or 'Not detected'}",
        f"        Message ID: rx {sa.get('msgid_rx', 0)}, tx {sa.get('msgid_tx', 0)}",
    ]
    if sa.get("liveness"):
        out.append(f"        Liveness check: sending informational packet after idle {sa['liveness']} seconds")
    out.append(_created_line(sa.get("created"), now))
    out.append(_expires_line(sa.get("created"), sa.get("expires"), sa.get("rekey_at"), now))
    for child in sa.get("children", []):
        out += ["", f"  Child SA {child.get('id', '')}:"]
        kind = child.get("type", "ESP")
        if kind == "ESP":
            out.append(f"        Tunnel {child.get('tnid', ''):<4} {child.get('tunnel', '')}")
            out.append(f"        Type:       {kind:<10}{child.get('role', '')}")
        else:
            out.append(f"        Type:       {kind}")
        msgid = child.get("msgid")
        out += [
            f"        State:      {child.get('state', '')}",
            f"        Message ID: {msgid:08X}" if isinstance(msgid, int) else f"        Message ID: {msgid or ''}",
            f"        Parent SN:  {child.get('parent', sa.get('sn', ''))}",
        ]
        if kind != "ESP":
            continue
        out.append(f"        SPI:        {spi(child.get('spi_in'))} : {spi(child.get('spi_out'))}")
        out.append(f"        Algorithm:  {child.get('algorithm', '')}")
        for label, key in (("TS local:   ", "ts_local"), ("TS remote:  ", "ts_remote")):
            selectors = child.get(key) or [""]
            if isinstance(selectors, str):
                selectors = [selectors]
            out += [f"        {label if i == 0 else ' ' * 12}{ts}" for i, ts in enumerate(selectors)]
        out.append(_created_line(child.get("created"), now))
        out.append(_expires_line(child.get("created"), child.get("expires"), child.get("rekey_at"), now))
    return out


def show_ike_sa_detail(data: Row) -> str:
    """``show vpn ike-sa detail gateway GW`` (IKEv2): one block per IKE SA, its child SAs below."""
    now = data.get("now") or time.time()
    out = [
        "",
        f"IKE Gateway {data.get('gateway', '')}, ID {data.get('gwid', '')} "
        f"{data.get('local', '')} => {data.get('peer', '')}",
        f"  Current time: {panos_time(now)}",
        "",
    ]
    sas = data.get("sas", [])
    if not sas:
        out += ["There is no IKEv2 SA found.", ""]
    for sa in sas:
        out += [*_ike_sa_detail_block(sa, now), ""]
    return "\n".join(out)
