"""Text of the certificate commands (issue 16).

``show sslmgr-store config-certificate-info`` follows PAN-OS's blocks of ``key: value`` lines
separated by blank lines (reference panos-policy-monitor-pki-api.md E.3: ``db-name``,
``db-exp-date``, ``db-serialno``, ``db-status``, ``issuer``); the lines after those are
vpnsh's (name, validity start, key type, usage, SAN, key and CRL state).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

_STATUS = {"valid": "V", "expired": "E", "revoked": "R", "not-yet-valid": "N"}


def _asn1_time(iso: str) -> str:
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")
    return f"{t:%y%m%d%H%M%S}Z({t:%b} {t.day:2d} {t:%H:%M:%S %Y} GMT)"


def _block(c: Mapping[str, Any]) -> list[str]:
    san = c.get("subject_alt_name") or {}
    sans = ([f"DNS:{v}" for v in san.get("dns", [])] + [f"email:{v}" for v in san.get("email", [])]
            + [f"IP:{v}" for v in san.get("ip", [])])
    lines = [
        f"db-name: {c['subject']}",
        f"db-exp-date: {_asn1_time(c['not_after'])}",
        f"db-serialno: {c['serial']}",
        f"db-status: {_STATUS.get(c['status'], '?')}",
        f"issuer: {c['issuer']}",
        f"certificate-name: {c['name']}",
        f"not-valid-before: {_asn1_time(c['not_before'])}",
        f"key-type: {c['key_type']}",
        f"ca: {'yes' if c['ca'] else 'no'}",
        "key-usage: " + (" ".join(c["key_usage"]) if c.get("key_usage") is not None else "(none)"),
    ]
    if c.get("ext_key_usage"):
        lines.append("ext-key-usage: " + " ".join(c["ext_key_usage"]))
    if sans:
        lines.append("subject-alt-name: " + ", ".join(sans))
    if c.get("signed_by"):
        lines.append(f"signed-by: {c['signed_by']}")
    lines.append("private-key: " + ("yes (encrypted)" if c.get("private_key") else "no"))
    crl = c.get("crl")
    if crl:
        nxt = crl.get("next_update") or "none"
        lines.append(f"crl: {crl['revoked']} revoked, this update {crl['this_update']}, "
                     f"next update {nxt}")
    return lines


def show_certificates(data: Mapping[str, Any]) -> str:
    certs = data.get("certificates") or []
    if not certs:
        return "No certificates\n"
    return "\n".join("\n".join(_block(c)) + "\n" for c in certs)


def message(data: Mapping[str, Any]) -> str:
    return str(data.get("message", "")) + "\n"
