"""How sure each command's output layout is: **verified** (matched column for column to real
PAN-OS output: a capture, a Palo Alto KB article or Palo Alto's client code) or **modelled**
(PAN-OS's fields and style; no capture of exactly this text seen).  The sources are in
/work/shared/reference/panos-cli.md and panos-cli-ops.md; the command reference prints this
table."""

from __future__ import annotations

VERIFIED = "verified"
MODELLED = "modelled"

LAYOUTS: dict[str, tuple[str, str]] = {
    "show interface all": (VERIFIED, "ntc-templates PA-VM capture (9.x columns, no fec)"),
    "show interface <name>": (VERIFIED, "KB: port, logical and counter blocks; vpnsh prints the "
                              "Linux counters it has"),
    "show routing route": (VERIFIED, "ntc-templates capture: columns, legend, counts"),
    "show routing fib": (VERIFIED, "KB / Zscaler transcripts (9.x flags line)"),
    "test routing fib-lookup": (MODELLED, "the `via X interface Y, source Z, metric M` line "
                                "clients match; the block around it"),
    "show arp all": (VERIFIED, "ntc-templates capture"),
    "show clock": (MODELLED, "date(1) line from a third-party parser test"),
    "show system resources": (VERIFIED, "KB: a top batch snapshot (procps-ng header here)"),
    "show admins": (MODELLED, "column names as recalled"),
    "ping": (VERIFIED, "Cloudflare transcript: Linux iputils text"),
    "traceroute": (MODELLED, "Linux traceroute text"),
    "show jobs all": (VERIFIED, "ntc-templates capture, 7.1+ layout with PositionInQ"),
    "show jobs id <n>": (MODELLED, "the jobs row, then Warnings: and Details: lines"),
    "commit (success)": (VERIFIED, "netmiko and transcripts: banner, progress, verdict"),
    "commit (failure)": (MODELLED, "Validation Error: with `->` paths (verified), then "
                         "`Commit failed` (modelled)"),
    "validate full": (MODELLED, "`Validate job enqueued with jobid N` (XML API message)"),
    "show config-locks, show commit-locks": (MODELLED, "fields of the GUI's Locks dialog"),
    "request config-lock|commit-lock": (MODELLED, "error texts verified (pan-os-python regexes); "
                                        "success lines modelled"),
    "show config list changes": (MODELLED, "admin, add/edit/delete, PAN-OS xpath"),
    "save/load config (versions, partial)": (MODELLED, "`Config saved to X`, `Config loaded "
                                             "from X`"),
    "show config audit info|version N": (MODELLED, "versions table; a version in the current "
                                         "output format"),
    "show config running (default format)": (VERIFIED, "brace tree under `config {`"),
    # certificates (issue 16): reference section E
    "show sslmgr-store config-certificate-info": (MODELLED, "blocks of `db-name:`, "
                                                  "`db-exp-date:`, `db-serialno:`, `db-status:` "
                                                  "lines as three third-party parsers read them"),
    "request certificate generate": (MODELLED, "command syntax verified; the reply line not seen"),
    "scp import certificate|keypair|crl": (MODELLED, "PAN-OS's scp import shape with a local "
                                           "path in place of user@host:path; reply not seen"),
    "show vpn ike-sa detail (certificates)": (MODELLED, "the `Authentication:` line and the "
                                              "RSA/ECDSA algorithm column: spellings not seen"),
}
