"""The operational commands, declared once: words, arguments, help, and what each runs.

Everything else about an operational command is made from, or checked against, this
table (as the config schema does for config paths):

- the operational half of the grammar (``vpnsh.shell.op_syntax.lark_text``, joined to
  grammar/vpnsh.lark at load; the parser cache is keyed on the joined text);
- ``?`` help and TAB (:func:`position`: the help of each word where it
  stands, the names offered for a value);
- the shell's dispatch (``run``: a method of ``vpnsh.shell.session.Session``; else the
  engine op, rendered by ``render``: ``module.function`` of ``vpnsh.render``);
- the daemon's dispatch (tests/unit/test_op_table.py: every ``engine`` op has a handler in
  ``vpnsh.engine.service`` and every handler a command; every control op of ``ops`` is
  served; ``read`` agrees with ``vpnsh.control.roles``);
- docs/command-reference.md (scripts/gen_command_reference.py).

Syntax notation: :mod:`vpnsh.shell.op_syntax`.  A word's help is found in order: the
command's ``helps`` (keywords after the command's words, and ``<key>`` for a value), then
the argument's own help; the command's words take their help from :data:`GROUPS` or, for
the last, from ``help``.  No help: the word itself is shown.

Cheap to import (``vpnsh -c`` builds the grammar text at each start): the standard
library and :mod:`vpnsh.shell.op_syntax` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property, lru_cache

from vpnsh.shell import op_syntax

NAME = "_name"  # a word or a "quoted string": names of objects, free text
WORD = "WORD"  # one word: addresses, hosts, file names
NUMBER = "NUMBER"  # digits

GATEWAYS = ("network", "ike", "gateway")
TUNNELS = ("network", "tunnel", "ipsec")
VIRTUAL_ROUTERS = ("network", "virtual-router")


# Plain classes, not dataclasses: a one-shot vpnsh imports this module at each start and
# three @dataclass cost it ~2 ms.


class OpArg:
    """A kind of value: its grammar (``kind`` or enumerated ``choices`` with their help),
    its help, and what TAB offers for it (config entries at ``names``; interfaces)."""

    __slots__ = ("kind", "help", "choices", "names", "interfaces")

    def __init__(self, kind: str = NAME, help: str | None = None, *,
                 choices: dict[str, str | None] | None = None, names: tuple[str, ...] = (),
                 interfaces: bool = False) -> None:
        self.kind = kind
        self.help = help
        self.choices: dict[str, str | None] = choices or {}
        self.names = names
        self.interfaces = interfaces

    @property
    def terminal(self) -> str:
        return self.kind


class Variant:
    """A different op or renderer when argument ``arg`` is given (or has ``value``)."""

    __slots__ = ("arg", "value", "op", "render")

    def __init__(self, arg: str, value: object = None, *, op: str | None = None,
                 render: str | None = None) -> None:
        self.arg, self.value, self.op, self.render = arg, value, op, render

    def applies(self, args: dict[str, object]) -> bool:
        return self.arg in args and (self.value is None or args[self.arg] == self.value)


class OpCommand:
    """One operational command (the attributes are described in the module's text)."""

    def __init__(
        self,
        words: str,  # the command's leading keywords ("show vpn ike-sa")
        syntax: str = "",  # what follows them (notation of vpnsh.shell.op_syntax)
        help: str | None = None,  # help of the last of ``words``
        helps: dict[str, str] | None = None,  # keyword or "<key>" -> its help here
        *,
        name: str = "",  # the command's name for the shell ("tail mp-log"); default: words
        also: tuple[str, ...] = (),  # other spellings of the first word ("quit")
        parts: dict[str, str] | None = None,  # _part -> syntax (option lists)
        read: bool = True,  # a superreader may run it (vpnsh.control.roles)
        engine: str | None = None,  # the engine op (control op engine.op, engine/service.py)
        render: str | None = None,  # vpnsh.render module.function for the engine op's result
        variants: tuple[Variant, ...] = (),
        ops: tuple[str, ...] = (),  # control ops that ``run`` sends (docs/control-protocol.md)
        run: str | None = None,  # vpnsh.shell.session.Session method (shell-side commands)
        per_session: bool = False,  # the daemon keeps state per CLI session (delta counters)
        doc: str | None = None,  # the command reference's help for all its forms
    ) -> None:
        self.words, self.syntax, self.help = words, syntax, help
        self.helps: dict[str, str] = helps or {}
        self.name = name or words
        self.also, self.read, self.engine, self.render = also, read, engine, render
        self.parts: dict[str, str] = parts or {}
        self.variants, self.ops, self.run = variants, ops, run
        self.per_session, self.doc = per_session, doc

    # the trees are for help and checks, made on first use (the grammar is made from the text)
    @cached_property
    def tree(self) -> op_syntax.Node | None:
        return op_syntax.parse_syntax(self.syntax) if self.syntax.strip() else None

    @cached_property
    def part_trees(self) -> dict[str, op_syntax.Node]:
        return {k: op_syntax.parse_syntax(v) for k, v in self.parts.items()}

    def __repr__(self) -> str:
        return f"OpCommand({self.name!r})"

    def nodes(self) -> list[op_syntax.Node]:
        found: list[op_syntax.Node] = []
        for tree in (self.tree, *self.part_trees.values()):
            if tree is not None:
                found += op_syntax.walk(tree)
        return found

    def listed_args(self) -> tuple[str, ...]:
        """Arguments that repeat on their own (``<filter>...``): always a list in args."""
        return tuple(n.item.key for n in self.nodes()
                     if isinstance(n, op_syntax.Rep) and isinstance(n.item, op_syntax.Val))

    def arg(self, key: str) -> OpArg:
        return ARGS[key]

    def keyword_help(self, word: str) -> str | None:
        return self.helps.get(word)

    def value_help(self, key: str) -> str:
        return self.helps.get(f"<{key}>") or ARGS[key].help or "Value"


ON_OFF: dict[str, str | None] = {"on": None, "off": None}
YES_NO: dict[str, str | None] = {"yes": None, "no": None}

# Every argument of the operational commands: one kind per key (the grammar has one rule
# a_<key> for it; configure mode's commands use a_file, a_version and a_admin too).
ARGS: dict[str, OpArg] = {
    "gateway": OpArg(NAME, "Show for given IKE gateway", names=GATEWAYS),
    "tunnel": OpArg(NAME, "Show for given tunnel", names=TUNNELS),
    "name": OpArg(NAME, "Show for given tunnel name", names=TUNNELS),
    "tunnel_id": OpArg(NUMBER, "Show for given tunnel id"),
    "which": OpArg(choices={"running": "Running configuration",
                            "candidate": "Candidate configuration",
                            "diff": "Differences between running and candidate configuration"}),
    "job_id": OpArg(NUMBER),
    "filter": OpArg(NAME),
    "format": OpArg(choices={"default": "Brace-formatted output", "set": "Set-command output",
                             "xml": "XML output", "json": "JSON output"}),
    "state": OpArg(choices=ON_OFF),
    "width": OpArg(NUMBER, "Terminal width in columns"),
    "source": OpArg(WORD, "Source IP address"),
    "host": OpArg(WORD, "Destination IP address"),
    "count": OpArg(NUMBER, "Number of requests"),
    "file": OpArg(WORD),
    "follow": OpArg(choices=YES_NO),
    "keyword": OpArg(NAME),
    "level": OpArg(choices={"debug": "Debug logging", "dump": "Debug logging with packet dumps",
                            "normal": "Normal logging (debug off)"}),
    # firewall (issue 14)
    "from": OpArg(NAME, "Name"),
    "to": OpArg(NAME, "Name"),
    "destination": OpArg(WORD),
    "protocol": OpArg(NUMBER),
    "destination_port": OpArg(NUMBER),
    "application": OpArg(NAME),
    "show_all": OpArg(choices=YES_NO),
    "vsys": OpArg(NAME),
    "rule_base": OpArg(NAME),
    "session_id": OpArg(NUMBER),
    # everyday host commands (issue 13)
    "interface": OpArg(NAME, "all, or an interface name (ethernet1/1, tunnel.1, ...)",
                       interfaces=True),
    "virtual_router": OpArg(NAME, "Virtual router name", names=VIRTUAL_ROUTERS),
    "ip": OpArg(WORD, "IP address"),
    # admins, locks, config versions (issue 13)
    "comment": OpArg(NAME, "Lock comment"),
    "admin": OpArg(NAME, "Administrator name"),
    "version": OpArg(NUMBER, "Version number (show jobs, config history)"),
    # show counter global (issue 11)
    "delta": OpArg(choices={"yes": "Show only the change since this session's previous run",
                            "no": "Show the counters' values"}),
    "severity": OpArg(NAME, "info, warn, error or drop"),
    # certificates (issue 16)
    "certificate_name": OpArg(NAME, "Certificate name"),
    "common_name": OpArg(NAME, "Common name"),
    "algorithm": OpArg(choices={"RSA": "RSA key", "ECDSA": "Elliptic curve DSA key"}),
    "rsa_nbits": OpArg(NUMBER, "512, 1024, 2048, 3072 or 4096"),
    "ecdsa_nbits": OpArg(NUMBER, "256 or 384"),
    "digest": OpArg(NAME, "sha256, sha384 or sha512"),
    "days_till_expiry": OpArg(NUMBER, "Days (1-7300)"),
    "ca": OpArg(choices=YES_NO),
    "signed_by": OpArg(NAME, "CA certificate name"),
    "country_code": OpArg(NAME, "Two-letter country code"),
    "organization": OpArg(NAME, "Organization"),
    "organization_unit": OpArg(NAME, "Organization unit"),
    "hostname": OpArg(NAME, "Host name"),
    "alt_email": OpArg(NAME, "Email address"),
    "format_cert": OpArg(choices={"pem": "PEM (certificate, optionally its key)",
                                  "pkcs12": "PKCS#12 (certificate and key)"}),
    "format_export": OpArg(choices={"pem": "PEM (certificate, optionally its key)"}),
    "passphrase": OpArg(NAME, "Passphrase"),
}

# Help of the leading words that commands share ("show vpn"); a command's own words
# take the help of the command whose words they are.
GROUPS: dict[tuple[str, ...], str] = {
    ("show",): "Show operational information",
    ("test",): "Run a test of a feature",
    ("clear",): "Clear runtime parameters",
    ("set",): "Set operational parameters",
    ("less",): "Examine debug file content",
    ("find",): "Find CLI commands with keywords",
    ("debug",): "Debug and diagnose",
    ("request",): "Make system-level requests",
    ("scp",): "Use ssh to copy file to another host",
    ("show", "vpn"): "Show VPN information",
    ("test", "vpn"): "Test VPN",
    ("clear", "vpn"): "Clear VPN",
    ("show", "running"): "Show running operational parameters",
    ("show", "running", "tunnel"): "Show tunnel information",
    ("show", "system"): "Show system information",
    ("show", "log"): "Show logs",
    ("show", "debug"): "Debug and diagnose",
    ("debug", "ike"): "IKE debugging",
    ("find", "command"): "Find CLI commands",
    ("set", "cli"): "Set CLI parameters",
    ("set", "cli", "terminal"): "Set terminal parameters",
    ("show", "session"): "Show session information",
    ("clear", "session"): "Clear sessions",
    ("show", "routing"): "Show routing information",
    ("test", "routing"): "Test routing",
    ("show", "config", "list"): "List configuration changes",
    ("show", "counter"): "Show system counter information",
    ("request", "certificate"): "Certificate operations",
    ("scp", "import"): "Import files from this system (a local absolute path)",
    ("scp", "export"): "Export files to this system (a local absolute path)",
    ("show", "sslmgr-store"): "Show certificate store information",
}

_LEVEL = {"on": "Turn debug logging on", "off": "Turn debug logging off"}
_CERT_GEN = ("certificate-name <certificate_name> | name <common_name> | algorithm <algorithm>"
             " | rsa-nbits <rsa_nbits> | ecdsa-nbits <ecdsa_nbits> | digest <digest>"
             " | days-till-expiry <days_till_expiry> | ca <ca> | signed-by <signed_by>"
             " | country-code <country_code> | organization <organization>"
             " | organization-unit <organization_unit:list> | hostname <hostname:list>"
             " | ip <ip:list> | alt-email <alt_email:list>")
_CERT_IMPORT = "certificate-name <certificate_name> format <format_cert> [passphrase <passphrase>]"

COMMANDS: tuple[OpCommand, ...] = (
    OpCommand("configure", help="Manipulate software configuration information", read=False,
              run="_configure"),
    OpCommand("exit", help="Exit this CLI session", also=("quit",), run="_exit"),
    # ---------------------------------------------------------------- VPN
    OpCommand("show vpn ike-sa", "[[+detail] gateway <gateway>]", "show IKE SA",
              {"detail": "show detail information", "gateway": "show for given IKE gateway"},
              engine="vpn.ike-sa.show", render="vpn.show_ike_sa",
              variants=(Variant("detail", op="vpn.ike-sa.detail", render="vpn.show_ike_sa_detail"),)),
    OpCommand("show vpn ipsec-sa", "[tunnel <tunnel> | +summary]", "show IPSec SA",
              {"tunnel": "show for given tunnel", "summary": "show summary information"},
              engine="vpn.ipsec-sa.show", render="vpn.show_ipsec_sa",
              variants=(Variant("summary", render="vpn.show_ipsec_sa_summary"),)),
    OpCommand("show vpn flow", "[name <name> | tunnel-id <tunnel_id>]",
              "Show dataplane IPSec-VPN tunnel information",
              {"name": "Show for given tunnel name", "tunnel-id": "Show for given tunnel id"},
              engine="vpn.flow.show", render="vpn.show_flow",
              variants=(Variant("name", render="vpn.show_flow_detail"),
                        Variant("tunnel_id", render="vpn.show_flow_detail"))),
    OpCommand("show vpn gateway", "[gateway <gateway>]", "show list of IKE gateway configuration",
              {"gateway": "show for given IKE gateway"},
              engine="vpn.gateway.show", render="vpn.show_gateway"),
    OpCommand("show vpn tunnel", "[name <name>]", "show list of auto-key IPSec tunnel configuration",
              {"name": "Show for given tunnel name"},
              engine="vpn.tunnel.show", render="vpn.show_tunnel"),
    OpCommand("show running tunnel flow", "[+all | +info | tunnel-id <tunnel_id>]",
              "Show tunnel flow information",
              {"all": "Show all", "info": "Show tunnel flow summary",
               "tunnel-id": "Show for given tunnel id"},
              engine="vpn.flow.show", render="vpn.show_flow",
              variants=(Variant("tunnel_id", render="vpn.show_flow_detail"),)),
    OpCommand("test vpn ike-sa", "[gateway <gateway>]", "Initiate IKE SA",
              {"gateway": "Initiate for given IKE gateway"}, read=False,
              engine="vpn.ike-sa.test", render="vpn.test_ike_sa"),
    OpCommand("test vpn ipsec-sa", "[tunnel <tunnel>]", "Initiate IPSec SA",
              {"tunnel": "Initiate for given tunnel"}, read=False,
              engine="vpn.ipsec-sa.test", render="vpn.test_ipsec_sa"),
    OpCommand("clear vpn ike-sa", "[gateway <gateway>]", "Delete IKE SA",
              {"gateway": "Delete for given IKE gateway"}, read=False,
              engine="vpn.ike-sa.clear", render="vpn.clear_ike_sa"),
    OpCommand("clear vpn ipsec-sa", "[tunnel <tunnel>]", "Delete IPSec SA",
              {"tunnel": "Delete for given tunnel"}, read=False,
              engine="vpn.ipsec-sa.clear", render="vpn.clear_ipsec_sa"),
    # ---------------------------------------------------------------- system, jobs, logs
    OpCommand("show config", "<which>", "Show configuration", run="_show_config",
              ops=("config.show", "config.diff")),
    OpCommand("show system info", help="Show system information", run="_show_system_info",
              ops=("system.info",)),
    OpCommand("show jobs", "(all | id <job_id>)", "Show job information",
              {"all": "Show all jobs", "id": "Show the job with this id"},
              run="_show_jobs", ops=("jobs.show",)),
    OpCommand("show log system", "[<filter>...]", "System logs", {"<filter>": "Log filter"},
              run="_show_log_system", ops=("log.system",),
              doc="Show system logs (filter words are passed to the daemon)"),
    OpCommand("less mp-log", "<file>", "Management-plane log files", {"<file>": "Log file name"},
              run="_less_mp_log", ops=("log.read",), doc="Show a management-plane log file"),
    OpCommand("tail", "[follow <follow>] mp-log <file>", "Print the last lines of a debug file",
              {"follow": "Print new lines as they are written", "mp-log": "Management-plane log files",
               "<file>": "Log file name"},
              name="tail mp-log", run="_tail_mp_log", ops=("log.read",)),
    OpCommand("find command keyword", "<keyword>", "Keyword to look for", run="_find_command"),
    # ---------------------------------------------------------------- CLI settings
    OpCommand("set cli config-output-format", "<format>",
              "Set the output format of the configuration file", run="_set_cli_format"),
    OpCommand("set cli pager", "<state>", "Enable/disable pager", run="_set_cli_pager"),
    OpCommand("set cli scripting-mode", "<state>", "Toggle scripting mode", run="_set_cli_scripting"),
    OpCommand("set cli terminal width", "<width>", "Set terminal width", run="_set_cli_width"),
    # ---------------------------------------------------------------- ping, debug
    OpCommand("ping", "[_ping_opt...] host <host> [_ping_opt...]", "Ping hosts and networks",
              {"source": "Source address of echo request", "count": "Number of requests to send",
               "host": "Hostname or IP address of remote host"},
              parts={"ping_opt": "source <source> | count <count>"}, read=False,
              engine="ping", run="_ping", doc="Ping hosts and networks"),
    OpCommand("debug ike global", "(on <level> | off)", "Debug logging of every gateway", _LEVEL,
              read=False, run="_debug_ike", ops=("debug.ike",)),
    OpCommand("debug ike gateway", "<gateway> (on <level> | off)",
              "Debug logging of one IKE gateway", _LEVEL,
              read=False, run="_debug_ike", ops=("debug.ike",)),
    OpCommand("debug ike tunnel", "<tunnel> (on <level> | off)", "Debug logging of one tunnel",
              _LEVEL, read=False, run="_debug_ike", ops=("debug.ike",)),
    OpCommand("debug ike pcap", "<state>", "Write IKE packets to a pcap file", read=False,
              run="_debug_ike", ops=("debug.ike",)),
    OpCommand("debug ike wireshark-keys", "<state>", "Write IKE and ESP keys for Wireshark",
              read=False, run="_debug_ike", ops=("debug.ike",)),
    OpCommand("show debug ike", help="Show the IKE debug settings", run="_show_debug_ike",
              ops=("debug.show",)),
    # ---------------------------------------------------------------- firewall (issue 14)
    # arguments in the order pan-os-python and Ansible send them (a free order would make the
    # command reference list every permutation)
    OpCommand("test security-policy-match",
              "from <from> to <to> source <source> destination <destination> protocol <protocol>"
              " [destination-port <destination_port>] [application <application>]"
              " [show-all <show_all>]",
              "Test security policy match",
              {"from": "From zone", "to": "To zone", "source": "Source IP address",
               "destination": "Destination IP address", "protocol": "IP protocol value",
               "destination-port": "Destination port",
               "application": "Application name (port-based in vpnsh)",
               "show-all": "Show all potential matching rules"},
              engine="security-policy-match.show", render="firewall.test_security_policy_match"),
    OpCommand("show running security-policy", help="Show security policy in the dataplane",
              engine="security-policy.show", render="firewall.show_running_security_policy"),
    OpCommand("show rule-hit-count", "vsys vsys-name <vsys> rule-base <rule_base> rules all",
              "Show rule hit count",
              {"vsys": "Virtual system", "vsys-name": "Virtual system name",
               "rule-base": "Rule base (security)", "rules": "Rules", "all": "All rules"},
              engine="rule-hit-count.show", render="firewall.show_rule_hit_count"),
    OpCommand("show session all", "[filter <filter>...]", "All sessions",
              {"filter": "Filter sessions (source, destination, rule, ...)"},
              engine="session.show", render="firewall.show_session_all"),
    OpCommand("show session id", "<session_id>", "Session by ID",
              engine="session.detail", render="firewall.show_session_id"),
    OpCommand("clear session all", help="All sessions", read=False,
              engine="session.clear", render="firewall.clear_session"),
    OpCommand("clear session id", "<session_id>", "Session by ID", read=False,
              engine="session.clear", render="firewall.clear_session"),
    OpCommand("show log traffic", "[<filter>...]", "Traffic logs",
              engine="log.traffic.show", render="firewall.show_log_traffic"),
    # ---------------------------------------------------------------- host commands (issue 13)
    OpCommand("show interface", "<interface>", "Show interface information",
              engine="host.interface.show", render="host.interface_detail",
              variants=(Variant("interface", "all", render="host.interface_all"),)),
    OpCommand("show routing route", "[virtual-router <virtual_router>]", "Show route table",
              {"virtual-router": "Show for given virtual router"},
              engine="host.routing.route.show", render="host.routing_route"),
    OpCommand("show routing fib", "[virtual-router <virtual_router>]", "Show forwarding table",
              {"virtual-router": "Show for given virtual router"},
              engine="host.routing.fib.show", render="host.routing_fib"),
    OpCommand("test routing fib-lookup", "_lookup_opt...",
              "Perform route lookup within active route table (fib)",
              {"virtual-router": "Show for given virtual router", "ip": "Destination IP address"},
              parts={"lookup_opt": "virtual-router <virtual_router> | ip <ip>"}, read=False,
              engine="host.routing.fib-lookup", render="host.fib_lookup"),
    OpCommand("show clock", help="Show system date and time",
              engine="host.clock.show", render="host.clock"),
    OpCommand("show arp", "<interface>", "Show ARP information",
              {"<interface>": "all, or an interface name"},
              engine="host.arp.show", render="host.arp"),
    OpCommand("show system resources", help="Show system resources",
              engine="host.resources.show", render="host.resources"),
    OpCommand("traceroute", "[source <source>] host <host> [source <source>]",
              "Print the route packets take to network host",
              {"source": "Source address of echo request",
               "host": "Hostname or IP address of remote host"},
              read=False, engine="traceroute", render="host.command_output"),
    # ---------------------------------------------------------------- admins, locks, changes (issue 13)
    OpCommand("show admins", help="Show logged-in administrators", run="_show_admins",
              ops=("admins.show",)),
    OpCommand("request config-lock", "(+add [comment <comment>] | +remove)", "Configuration lock",
              {"add": "Take the lock", "remove": "Release the lock", "comment": "Comment for the lock"},
              read=False, run="_request_lock", ops=("lock.add", "lock.remove")),
    OpCommand("request commit-lock", "(+add [comment <comment>] | +remove [admin <admin>])",
              "Commit lock",
              {"add": "Take the lock", "remove": "Release the lock", "comment": "Comment for the lock",
               "admin": "Owner of the lock"},
              read=False, run="_request_lock", ops=("lock.add", "lock.remove")),
    OpCommand("show config-locks", help="Show configuration locks", run="_show_locks",
              ops=("lock.show",)),
    OpCommand("show commit-locks", help="Show commit locks", run="_show_locks", ops=("lock.show",)),
    OpCommand("show config list changes", "[admin <admin>]",
              "Changes in the candidate not yet committed", {"admin": "Administrator name(s)"},
              run="_show_changes", ops=("config.changes",)),
    OpCommand("show config saved", "<file>", "Show a saved configuration",
              {"<file>": "Saved configuration name"},
              run="_show_config_saved", ops=("config.saved",)),
    OpCommand("show config audit", "(+info | version <version>)", "Committed configuration versions",
              {"info": "List the committed versions", "version": "Show one committed version"},
              run="_show_config_audit", ops=("config.version", "config.history")),
    # ---------------------------------------------------------------- show counter global (issue 11)
    OpCommand("show counter global", "[filter _counter_filter...]", "Show global counters",
              {"filter": "Filter the counters shown",
               "delta": "Show the change since this session's previous run, or the values",
               "severity": "Show only counters of this severity (info, warn, error, drop)"},
              parts={"counter_filter": "delta <delta> | severity <severity>"},
              engine="counter.global.show", render="counters.show_counter_global",
              per_session=True),
    # ---------------------------------------------------------------- path monitor (issue 15)
    OpCommand("show routing path-monitor", "[virtual-router <virtual_router>]",
              "Show static route path monitoring status",
              {"virtual-router": "Show for given virtual router"},
              engine="routing.path-monitor.show", render="vpn.show_path_monitor"),
    # ---------------------------------------------------------------- certificates (issue 16)
    # PAN-OS's request certificate generate; its scp import/export shape with a local
    # absolute path in place of user@host:path
    OpCommand("request certificate generate", "_cert_gen_opt...", "Generate a certificate",
              {"certificate-name": "Name of the certificate object",
               "name": "Common name of the subject", "algorithm": "Public key algorithm",
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
               "ip": "IP addresses (subject alternative name)",
               "alt-email": "Email addresses (subject alternative name)"},
              parts={"cert_gen_opt": _CERT_GEN}, read=False,
              engine="pki.certificate.generate", render="pki.message"),
    OpCommand("request certificate delete", "certificate-name <certificate_name>",
              "Delete a certificate and its key",
              {"certificate-name": "Name of the certificate object"}, read=False,
              engine="pki.certificate.delete", render="pki.message"),
    OpCommand("scp import certificate", "from <from> _cert_import",
              "Import a certificate (PEM or PKCS#12)",
              {"from": "Local file to import", "certificate-name": "Name of the certificate object",
               "format": "File format", "passphrase": "Passphrase of the private key"},
              parts={"cert_import": _CERT_IMPORT}, read=False,
              engine="pki.certificate.import", render="pki.message"),
    OpCommand("scp import keypair", "from <from> _cert_import",
              "Certificate and private key in one file",
              {"from": "Local file to import", "certificate-name": "Name of the certificate object",
               "format": "File format", "passphrase": "Passphrase of the private key"},
              parts={"cert_import": _CERT_IMPORT}, read=False,
              engine="pki.keypair.import", render="pki.message"),
    OpCommand("scp import crl", "from <from> certificate-name <certificate_name>",
              "Certificate revocation list of a CA certificate",
              {"from": "Local CRL file to import", "certificate-name": "Name of the certificate object"},
              read=False, engine="pki.crl.import", render="pki.message"),
    OpCommand("scp export certificate",
              "to <to> certificate-name <certificate_name> [format <format_export>]",
              "Export a certificate (public part, PEM)",
              {"to": "Local file to write", "certificate-name": "Name of the certificate object",
               "format": "File format"},
              read=False, engine="pki.certificate.export", render="pki.message"),
    OpCommand("show sslmgr-store config-certificate-info",
              help="Show the certificates of this device",
              engine="pki.certificate.show", render="pki.show_certificates"),
)

BY_NAME: dict[str, OpCommand] = {c.name: c for c in COMMANDS}


def word_help(words: tuple[str, ...]) -> str | None:
    """Help of the leading words ``words`` of a command (a group, or a command's own)."""
    if words in GROUPS:
        return GROUPS[words]
    for c in COMMANDS:
        if tuple(c.words.split()) == words:
            return c.help
    return None


@lru_cache(maxsize=1)
def _machine() -> op_syntax._Machine:
    return op_syntax.machine(COMMANDS, word_help)


def position(words: Sequence[str]) -> op_syntax.Position:
    """Where ``words`` (the words of a line so far) stand among the commands."""
    return op_syntax.Position(_machine(), words)


def grammar_text() -> str:
    """The operational half of the grammar (Lark), made from :data:`COMMANDS`."""
    return op_syntax.lark_text(COMMANDS, ARGS)
