"""Help text for the keywords of the command grammar: the one table.

Config-path keywords are not here: their help comes from the schema
(vpnsh.config).  ``KEYWORD_HELP`` is keyed by the words of the command so far
plus the keyword, falling back to the keyword alone, so that a word used in
two places ("gateway") can say the right thing in each.
"""

from __future__ import annotations

from collections.abc import Sequence

KEYWORD_HELP: dict[str, str] = {
    # operational, first words
    "configure": "Manipulate software configuration information",
    "exit": "Exit this CLI session",
    "quit": "Exit this CLI session",
    "show": "Show operational information",
    "test": "Run a test of a feature",
    "clear": "Clear runtime parameters",
    "set": "Set operational parameters",
    "ping": "Ping hosts and networks",
    "less": "Examine debug file content",
    "tail": "Print the last lines of a debug file",
    "find": "Find CLI commands with keywords",
    "debug": "Debug and diagnose",
    # show ...
    "vpn": "Show VPN information",
    "running": "Show running operational parameters",
    "config": "Show configuration",
    "system": "Show system information",
    "jobs": "Show job information",
    "log": "Show logs",
    "info": "Show system information",
    "all": "Show all",
    # show vpn ...
    "flow": "Show dataplane IPSec-VPN tunnel information",
    "gateway": "show list of IKE gateway configuration",
    "ike-sa": "show IKE SA",
    "ipsec-sa": "show IPSec SA",
    "tunnel": "show list of auto-key IPSec tunnel configuration",
    "detail": "show detail information",
    "summary": "show summary information",
    "name": "Show for given tunnel name",
    "tunnel-id": "Show for given tunnel id",
    # show config ...
    "candidate": "Candidate configuration",
    "diff": "Differences between running and candidate configuration",
    # set cli ...
    "cli": "Set CLI parameters",
    "config-output-format": "Set the output format of the configuration file",
    "pager": "Enable/disable pager",
    "scripting-mode": "Toggle scripting mode",
    "terminal": "Set terminal parameters",
    "width": "Set terminal width",
    "default": "Brace-formatted output",
    "xml": "XML output",
    "json": "JSON output",
    "on": "on",
    "off": "off",
    # ping, less
    "source": "Source address of echo request",
    "host": "Hostname or IP address of remote host",
    "count": "Number of requests to send",
    "mp-log": "Management-plane log files",
    # configure mode
    "delete": "Delete specified configuration",
    "edit": "Edit configuration",
    "up": "Go up one level of hierarchy",
    "top": "Go to top level of hierarchy",
    "rename": "Rename specified configuration entry",
    "move": "Move specified entry",
    "commit": "Commit configuration",
    "validate": "Validate the candidate configuration",
    "revert": "Revert the candidate configuration",
    "save": "Save configuration to a named snapshot",
    "load": "Load configuration from a named snapshot",
    "run": "Run an operational-mode command",
    "full": "Validate the full candidate configuration",
    "to": "New name",
    "from": "Snapshot to load from",
    "force": "Commit even if there are warnings",
    "description": "Description of this commit",
    "bottom": "Move to the bottom",
    "before": "Move before an entry",
    "after": "Move after an entry",
    # everyday host commands (issue 13)
    "interface": "Show interface information",
    "route": "Show route table",
    "fib": "Show forwarding table",
    "fib-lookup": "Perform route lookup within active route table (fib)",
    "ip": "Destination IP address",
    "clock": "Show system date and time",
    "arp": "Show ARP information",
    "resources": "Show system resources",
    "traceroute": "Print the route packets take to network host",
    "id": "Show the job with this id",
    "keyword": "Keyword to look for",
    "normal": "Normal logging (debug off)",
    "dump": "Debug logging with packet dumps",
    # admins, locks and per-admin changes (issue 13)
    "admins": "Show logged-in administrators",
    "request": "Make system-level requests",
    "config-lock": "Configuration lock",
    "commit-lock": "Commit lock",
    "add": "Take the lock",
    "remove": "Release the lock",
    "comment": "Comment for the lock",
    "config-locks": "Show configuration locks",
    "commit-locks": "Show commit locks",
    "list": "List configuration changes",
    "changes": "Changes in the candidate not yet committed",
    "partial": "Only the changes of the given administrators",
    "admin": "Administrator name(s)",
    # config versions (issue 13)
    "version": "Load a committed config version",
    "last-saved": "Load the last saved configuration",
    "from-xpath": "Xpath of the part to load from",
    "to-xpath": "Xpath of the part to load into",
    "mode": "merge or replace",
    "merge": "Merge into the candidate",
    "replace": "Replace the part in the candidate",
    "saved": "Show a saved configuration",
    "audit": "Committed configuration versions",
    # show counter global (issue 11)
    "counter": "Show system counter information",
    "global": "Show global counters",
    "filter": "Filter the counters shown",
    "delta": "Show the change since this session's previous run, or the values",
    "severity": "Show only counters of this severity (info, warn, error, drop)",
    # tunnel monitor, path monitor (issue 15)
    "routing": "Show routing information",
    "path-monitor": "Show static route path monitoring status",
    "virtual-router": "Show for given virtual router",
    # certificates (issue 16)
    "scp": "Use ssh to copy file to another host",
    "import": "Import files from this system (a local absolute path)",
    "export": "Export files to this system (a local absolute path)",
    "keypair": "Certificate and private key in one file",
    "crl": "Certificate revocation list of a CA certificate",
    "generate": "Generate a certificate",
    "certificate-name": "Name of the certificate object",
    "algorithm": "Public key algorithm",
    "RSA": "RSA key",
    "ECDSA": "Elliptic curve DSA key",
    "rsa-nbits": "Number of bits of the RSA key",
    "ecdsa-nbits": "Number of bits of the ECDSA key (256 or 384)",
    "digest": "Digest algorithm (sha256, sha384, sha512)",
    "days-till-expiry": "Number of days the certificate is valid",
    "ca": "Whether the certificate is a CA",
    "signed-by": "CA certificate that signs it (self-signed if absent)",
    "country-code": "Country code of the subject",
    "organization": "Organization of the subject",
    "organization-unit": "Organization units of the subject",
    "hostname": "Host names (subject alternative name)",
    "alt-email": "Email addresses (subject alternative name)",
    "format": "File format",
    "pem": "PEM (certificate, optionally its key)",
    "pkcs12": "PKCS#12 (certificate and key)",
    "passphrase": "Passphrase of the private key",
    "sslmgr-store": "Show certificate store information",
    "config-certificate-info": "Show the certificates of this device",
    # pipes
    "match": "Show only lines that match a regular expression",
    "except": "Show all lines except those that match a regular expression",
}

# firewall (issue 14): zones, security rules, sessions, traffic log
FIREWALL_HELP: dict[tuple[str, ...], str] = {
    ("test", "security-policy-match"): "Test security policy match",
    ("security-policy-match", "from"): "From zone",
    ("security-policy-match", "to"): "To zone",
    ("security-policy-match", "source"): "Source IP address",
    ("security-policy-match", "destination"): "Destination IP address",
    ("security-policy-match", "protocol"): "IP protocol value",
    ("security-policy-match", "destination-port"): "Destination port",
    ("security-policy-match", "application"): "Application name (port-based in vpnsh)",
    ("security-policy-match", "show-all"): "Show all potential matching rules",
    ("show", "running", "security-policy"): "Show security policy in the dataplane",
    ("show", "rule-hit-count"): "Show rule hit count",
    ("rule-hit-count", "vsys"): "Virtual system",
    ("rule-hit-count", "vsys", "vsys-name"): "Virtual system name",
    ("rule-hit-count", "rule-base"): "Rule base (security)",
    ("rule-hit-count", "rules"): "Rules",
    ("show", "session"): "Show session information",
    ("clear", "session"): "Clear sessions",
    ("session", "all"): "All sessions",
    ("session", "id"): "Session by ID",
    ("session", "all", "filter"): "Filter sessions (source, destination, rule, ...)",
    ("show", "log", "traffic"): "Traffic logs",
}

CONTEXT_HELP: dict[tuple[str, ...], str] = {
    **FIREWALL_HELP,
    ("test", "vpn"): "Test VPN",
    ("clear", "vpn"): "Clear VPN",
    ("test", "vpn", "ike-sa"): "Initiate IKE SA",
    ("test", "vpn", "ipsec-sa"): "Initiate IPSec SA",
    ("clear", "vpn", "ike-sa"): "Delete IKE SA",
    ("clear", "vpn", "ipsec-sa"): "Delete IPSec SA",
    ("show", "vpn", "ike-sa", "gateway"): "show for given IKE gateway",
    ("show", "vpn", "ike-sa", "detail", "gateway"): "show for given IKE gateway",
    ("show", "vpn", "ipsec-sa", "tunnel"): "show for given tunnel",
    ("show", "vpn", "gateway", "gateway"): "show for given IKE gateway",
    ("show", "running", "tunnel"): "Show tunnel information",
    ("show", "running", "tunnel", "flow"): "Show tunnel flow information",
    ("show", "running", "tunnel", "flow", "info"): "Show tunnel flow summary",
    ("show", "config", "running"): "Running configuration",
    ("show", "jobs", "all"): "Show all jobs",
    ("show", "log", "system"): "System logs",
    ("test", "vpn", "ike-sa", "gateway"): "Initiate for given IKE gateway",
    ("test", "vpn", "ipsec-sa", "tunnel"): "Initiate for given tunnel",
    ("clear", "vpn", "ike-sa", "gateway"): "Delete for given IKE gateway",
    ("clear", "vpn", "ipsec-sa", "tunnel"): "Delete for given tunnel",
    ("set", "cli", "config-output-format", "set"): "Set-command output",
    ("move", "top"): "Move to the top",
    ("commit", "description"): "Description of this commit",
    ("save", "config"): "Save the candidate configuration",
    ("load", "config"): "Load a saved configuration",
    ("revert", "config"): "Discard candidate changes, back to running",
    ("test", "routing"): "Test routing",
    ("show", "arp"): "Show ARP information",
    ("show", "system", "resources"): "Show system resources",
    ("commit", "partial"): "Commit only the changes of the given administrators",
    ("show", "config", "audit", "info"): "List the committed versions",
    ("show", "config", "audit", "version"): "Show one committed version",
    ("validate", "partial"): "Validate only the changes of the given administrators",
    ("load", "config", "partial"): "Load part of a configuration (xpath)",
    ("revert", "config", "partial"): "Revert only the changes of the given administrators",
    ("request", "commit-lock", "remove", "admin"): "Owner of the lock",
    ("delta", "yes"): "Show only the change since this session's previous run",
    ("delta", "no"): "Show the counters' values",
    # certificates (issue 16)
    ("request", "certificate"): "Certificate operations",
    ("request", "ip"): "IP addresses (subject alternative name)",
    ("scp", "import", "certificate"): "Import a certificate (PEM or PKCS#12)",
    ("scp", "export", "certificate"): "Export a certificate (public part, PEM)",
    ("certificate", "from"): "Local file to import",
    ("keypair", "from"): "Local file to import",
    ("crl", "from"): "Local CRL file to import",
    ("certificate", "to"): "Local file to write",
    ("certificate", "delete"): "Delete a certificate and its key",
    ("certificate", "generate", "name"): "Common name of the subject",
}

# First words of configure mode whose help differs from operational mode.
CONFIG_FIRST_HELP: dict[str, str] = {
    "set": "Set a parameter in the candidate configuration",
    "show": "Show the candidate configuration",
    "exit": "Exit from this level",
    "quit": "Exit from this level",
}

# Value slots: the keyword before a value -> its help line for "<value>".
VALUE_HELP: dict[str, str] = {
    "gateway": "Show for given IKE gateway",
    "tunnel": "Show for given tunnel",
    "name": "Show for given tunnel name",
    "tunnel-id": "Show for given tunnel id",
    "width": "Terminal width in columns",
    "source": "Source IP address",
    "host": "Destination IP address",
    "count": "Number of requests",
    "mp-log": "Log file name",
    "to": "Name",
    "from": "Name",
    "before": "Entry name",
    "after": "Entry name",
    "description": "Commit description",
    "match": "Regular expression",
    "except": "Regular expression",
    "system": "Log filter",
    "interface": "all, or an interface name (ethernet1/1, tunnel.1, ...)",
    "arp": "all, or an interface name",
    "ip": "IP address",
    "comment": "Lock comment",
    "admin": "Administrator name",
    "version": "Version number (show jobs, config history)",
    "from-xpath": "Xpath (/config/devices/entry[@name='localhost.localdomain']/network/...)",
    "to-xpath": "Xpath (/config/devices/entry[@name='localhost.localdomain']/network/...)",
    "saved": "Saved configuration name",
    "severity": "info, warn, error or drop",
    "virtual-router": "Virtual router name",  # tunnel monitor, path monitor (issue 15)
    # certificates (issue 16)
    "certificate-name": "Certificate name",
    "rsa-nbits": "512, 1024, 2048, 3072 or 4096",
    "ecdsa-nbits": "256 or 384",
    "days-till-expiry": "Days (1-7300)",
    "signed-by": "CA certificate name",
    "country-code": "Two-letter country code",
    "organization": "Organization",
    "organization-unit": "Organization unit",
    "hostname": "Host name",
    "alt-email": "Email address",
    "passphrase": "Passphrase",
    "digest": "sha256, sha384 or sha512",
}

PIPE_HELP = "Pipe through a command"
ENTER_HELP = "Finish input"


def keyword_help(words_before: Sequence[str], keyword: str, mode: str = "operational") -> str:
    """Help for ``keyword`` after ``words_before`` (the command's keywords so far)."""
    words = tuple(words_before)
    if not words and mode == "configure" and keyword in CONFIG_FIRST_HELP:
        return CONFIG_FIRST_HELP[keyword]
    for start in range(len(words) + 1):
        text = CONTEXT_HELP.get(words[start:] + (keyword,))
        if text:
            return text
    if words and (words[0], keyword) in CONTEXT_HELP:  # "move ... top"
        return CONTEXT_HELP[(words[0], keyword)]
    return KEYWORD_HELP.get(keyword, keyword)


def value_help(previous_word: str | None) -> str:
    return VALUE_HELP.get(previous_word or "", "Value")
