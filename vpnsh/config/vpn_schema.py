"""``ROOT``: the whole config tree of a site-to-site VPN gateway, with PAN-OS keywords.

Reference: /work/shared/reference/panos-cli.md sections 1.2-1.9 (keywords), 4.2 (defaults),
4.3 (algorithm names).  Everything else (parsing, completion, help, rendering,
validation) is derived from this one definition.
"""

from __future__ import annotations

from .applications import APPLICATION_NAMES, APPLICATIONS
from .schema import (
    YES_NO,
    AddressMember,
    Container,
    Entries,
    Enum,
    EthernetName,
    Flag,
    Hostname,
    Int,
    IPAddress,
    IPInterface,
    IPPrefix,
    IPRange,
    Leaf,
    LeafList,
    LoopbackName,
    Name,
    Node,
    PortList,
    PrefixOrAddress,
    Ref,
    Secret,
    String,
    SubinterfaceName,
    TunnelName,
)

# ---------------------------------------------------------------- paths other nodes refer to

IKE_PROFILES = ("network", "ike", "crypto-profiles", "ike-crypto-profiles")
IPSEC_PROFILES = ("network", "ike", "crypto-profiles", "ipsec-crypto-profiles")
GATEWAYS = ("network", "ike", "gateway")
TUNNELS = ("network", "tunnel", "ipsec")
TUNNEL_UNITS = ("network", "interface", "tunnel", "units")
ETHERNET = ("network", "interface", "ethernet")
# every ethernet entry's subinterfaces ("*": any entry name, as references read it)
SUBINTERFACES = ETHERNET + ("*", "layer3", "units")
LOOPBACKS = ("network", "interface", "loopback", "units")
MONITOR_PROFILES = ("network", "profiles", "monitor-profile")
MGMT_PROFILES = ("network", "profiles", "interface-management-profile")
VIRTUAL_ROUTERS = ("network", "virtual-router")
ZONES = ("zone",)
RULES = ("rulebase", "security", "rules")
DEFAULT_RULES = ("rulebase", "default-security-rules", "rules")
NAT_RULES = ("rulebase", "nat", "rules")
ADDRESSES = ("address",)
ADDRESS_GROUPS = ("address-group",)
SERVICES = ("service",)
SERVICE_GROUPS = ("service-group",)
# services PAN-OS predefines (not config entries): name -> (protocol, ports)
PREDEFINED_SERVICES = {"service-http": ("tcp", "80,8080"), "service-https": ("tcp", "443")}
MAX_ROLLBACK_VERSION = ("deviceconfig", "setting", "management", "max-rollback-version")

# ---------------------------------------------------------------- algorithm names (4.3)

IKE_ENCRYPTION = ("des", "3des", "aes-128-cbc", "aes-192-cbc", "aes-256-cbc",
                  "aes-128-gcm", "aes-256-gcm")
IKE_HASH = ("non-auth", "md5", "sha1", "sha256", "sha384", "sha512")
DH_GROUPS = ("group1", "group2", "group5", "group14", "group15", "group16",
             "group19", "group20", "group21")
ESP_ENCRYPTION = ("des", "3des", "aes-128-cbc", "aes-192-cbc", "aes-256-cbc",
                  "aes-128-ccm", "aes-128-gcm", "aes-256-gcm", "null")
ESP_AUTH = ("none", "md5", "sha1", "sha256", "sha384", "sha512")
AH_AUTH = ("md5", "sha1", "sha256", "sha384", "sha512")
ID_TYPES = ("ipaddr", "fqdn", "ufqdn", "keyid", "dn")
AEAD_CIPHERS = ("aes-128-gcm", "aes-256-gcm", "aes-128-ccm")

ANY_INTERFACE = Ref(target=ETHERNET, also=(SUBINTERFACES, LOOPBACKS, TUNNEL_UNITS),
                    hint="<interface>")
# where an IKE gateway may have its local address: anything but a tunnel interface
LOCAL_INTERFACE = Ref(target=ETHERNET, also=(SUBINTERFACES, LOOPBACKS), hint="<interface>")


def yes_no(name: str, help: str, default: str | None = None) -> Leaf:
    return Leaf(name, help, type=YES_NO, default=default)


def lifetime(default: dict) -> Container:
    return Container("lifetime", "IKE/IPsec SA key lifetime", choice=True, default=default,
                     children=[
                         Leaf("seconds", "specify lifetime in seconds", type=Int(lo=180, hi=65535)),
                         Leaf("minutes", "specify lifetime in minutes", type=Int(lo=3, hi=65535)),
                         Leaf("hours", "specify lifetime in hours", type=Int(lo=1, hi=65535)),
                         Leaf("days", "specify lifetime in days", type=Int(lo=1, hi=365)),
                     ])


def ports(name: str, help: str) -> Container:
    return Container(name, help, children=[
        Leaf("local-port", "local port", type=Int(lo=0, hi=65535), default=0),
        Leaf("remote-port", "remote port", type=Int(lo=0, hi=65535), default=0),
    ])


# ---------------------------------------------------------------- crypto profiles (1.2, 1.3)

IKE_CRYPTO_PROFILE = Entries("ike-crypto-profiles", "IKE SA crypto profiles", children=[
    LeafList("encryption", "encryption algorithm", type=Enum(values=IKE_ENCRYPTION)),
    LeafList("hash", "hashing algorithm", type=Enum(values=IKE_HASH)),
    LeafList("dh-group", "phase-1 DH group", type=Enum(values=DH_GROUPS)),
    lifetime({"hours": 8}),
    Leaf("authentication-multiple", "IKEv2 SA reauthentication interval equals "
         "authentication-multiple * rekey-lifetime; 0 means reauthentication disabled",
         type=Int(lo=0, hi=50), default=0),
])

IPSEC_CRYPTO_PROFILE = Entries("ipsec-crypto-profiles", "IPSec SA crypto profiles",
                               exclusive=(("esp", "ah"),), children=[
    Container("esp", "ESP configuration", children=[
        LeafList("encryption", "encryption algorithm", type=Enum(values=ESP_ENCRYPTION)),
        LeafList("authentication", "authentication algorithm", type=Enum(values=ESP_AUTH)),
    ]),
    Container("ah", "AH configuration", children=[
        LeafList("authentication", "authentication algorithm", type=Enum(values=AH_AUTH)),
    ]),
    Leaf("dh-group", "phase-2 DH group (PFS DH group)",
         type=Enum(values=("no-pfs", *DH_GROUPS)), default="group2"),
    lifetime({"hours": 1}),
    Container("lifesize", "IPSec SA lifesize", choice=True, children=[
        Leaf(unit, f"specify lifesize in {unit.upper()}", type=Int(lo=1, hi=65535))
        for unit in ("kb", "mb", "gb", "tb")
    ]),
])

# ---------------------------------------------------------------- IKE gateway (1.4)


def dpd(v1: bool) -> Container:
    children: list[Node] = [
        yes_no("enable", "enable Dead-Peer-Detection" if v1 else "enable sending empty "
               "information liveness check message", "yes" if v1 else "no"),
        Leaf("interval", "sending interval for probing packets (in seconds)"
             if v1 else "delay interval before sending probing packets (in seconds)",
             type=Int(lo=2, hi=100), default=5),
    ]
    if v1:
        children.append(Leaf("retry", "number of retries before disconnection",
                             type=Int(lo=2, hi=100), default=5))
    return Container("dpd", "Dead-Peer-Detection settings", children=children)


def ike_id(name: str, help: str, peer: bool) -> Container:
    children: list[Node] = [
        Leaf("type", "type of IKE identification", type=Enum(values=ID_TYPES)),
        Leaf("id", "IKE identification", type=String(max_len=1024)),
    ]
    if peer:
        children.append(Leaf("matching", "enable peer ID wildcard match for certificate "
                             "authentication", type=Enum(values=("exact", "wildcard")),
                             default="exact"))
    return Container(name, help, children=children)


GATEWAY = Entries("gateway", "IKE gateway", children=[
    Container("authentication", "Authentication method", choice=True, children=[
        Container("pre-shared-key", "use pre-shared key for mutual authentication", children=[
            Leaf("key", "the string used as pre-shared key", type=Secret()),
        ]),
        # certificate authentication (issue 16): panos-policy-monitor-pki-api.md E.5 [V]. The
        # local certificate names a certificate of the certificate store (not config): the
        # engine checks at commit that it exists with its private key.
        Container("certificate", "use certificate for mutual authentication", children=[
            Container("local-certificate", "local certificate", children=[
                Leaf("name", "local certificate name", type=String(max_len=255)),
                Container("hash-and-url", "use hash-and-url for local certificate", children=[
                    yes_no("enable", "enable hash-and-url (not supported)", "no"),
                    Leaf("base-url", "the host and directory part of URL for local "
                         "certificates (http only)", type=String(max_len=255)),
                ]),
            ]),
            Leaf("certificate-profile", "profile for certificate validation during IKE "
                 "negotiation", type=Ref(target=("shared", "certificate-profile"))),
            yes_no("allow-id-payload-mismatch", "permit peer identification and certificate "
                   "payload identification mismatch", "no"),
            yes_no("strict-validation-revocation", "enable strict validation of peer's "
                   "extended key use and revocation status", "no"),
            yes_no("use-management-as-source", "use management interface IP as source to "
                   "retrieve http certificates (not used: no hash-and-url)", "no"),
        ]),
    ]),
    Container("protocol", "IKE Protocol settings", children=[
        Leaf("version", "IKE protocol version",
             type=Enum(values=("ikev1", "ikev2", "ikev2-preferred")), default="ikev1"),
        Container("ikev1", "IKEv1 setting", children=[
            Leaf("exchange-mode", "exchange mode",
                 type=Enum(values=("auto", "main", "aggressive")), default="auto"),
            Leaf("ike-crypto-profile", "IKE SA crypto profile name",
                 type=Ref(target=IKE_PROFILES), default="default"),
            dpd(v1=True),
        ]),
        Container("ikev2", "IKEv2 setting", children=[
            Leaf("ike-crypto-profile", "IKE SA crypto profile name",
                 type=Ref(target=IKE_PROFILES), default="default"),
            dpd(v1=False),
            yes_no("require-cookie", "require cookie", "no"),
        ]),
    ]),
    Container("local-address", "Local address configuration", exclusive=(("ip", "floating-ip"),),
              children=[
                  Leaf("interface", "local gateway end-point",
                       type=LOCAL_INTERFACE),
                  Leaf("ip", "specify exact IP address if interface has multiple addresses",
                       type=IPInterface()),
                  Leaf("floating-ip", "floating IP address in HA Active-Active configuration",
                       type=IPAddress()),
              ]),
    Container("peer-address", "Peer address configuration", choice=True, children=[
        Leaf("ip", "peer gateway has static IP address", type=IPAddress()),
        Flag("dynamic", "peer gateway has dynamic IP address"),
        Leaf("fqdn", "peer gateway FQDN name", type=Hostname()),
    ]),
    ike_id("local-id", "Local ID", peer=False),
    ike_id("peer-id", "Peer ID", peer=True),
    Container("protocol-common", "IKE Protocol settings common to IKEv1 and IKEv2", children=[
        Container("nat-traversal", "NAT-Traversal", children=[
            yes_no("enable", "enable NAT-Traversal", "no"),
            Leaf("keep-alive-interval", "sending interval for NAT keep-alive packets "
                 "(in seconds)", type=Int(lo=10, hi=3600), default=20),
            yes_no("udp-checksum-enable", "enable UDP checksum", "no"),
        ]),
        Container("fragmentation", "IKE fragmentation", children=[
            yes_no("enable", "enable IKE fragmentation", "no"),
        ]),
        yes_no("passive-mode", "Enable passive mode (responder only)", "no"),
    ]),
    yes_no("disabled", "Disable the IKE gateway", "no"),
    yes_no("ipv6", "use IPv6 for the IKE gateway", "no"),
    Leaf("comment", "comment", type=String(max_len=1023)),
])

IKE = Container("ike", "IKE configuration", children=[
    Container("crypto-profiles", "Crypto profiles", children=[
        IKE_CRYPTO_PROFILE,
        IPSEC_CRYPTO_PROFILE,
    ]),
    GATEWAY,
])

# ---------------------------------------------------------------- interfaces (1.5, 1.8)

MGMT_PROFILE_REF = Leaf("interface-management-profile", "Interface management profile",
                        type=Ref(target=MGMT_PROFILES))

def _logical(name: str, help: str, key: object, *extra: Node) -> Entries:
    """Entries of logical interfaces (subinterfaces, loopbacks, tunnel units)."""
    return Entries(name, help, key=key, children=[  # type: ignore[arg-type]
        *extra,
        LeafList("ip", "IP address with netmask", type=IPInterface(), xml="entry"),
        Leaf("mtu", "Maximum Transfer Unit", type=Int(lo=576, hi=9216), default=1500),
        MGMT_PROFILE_REF,
        Leaf("comment", "comment", type=String(max_len=1023)),
    ])


def _enabled(name: str, help: str, keyword: str = "enabled") -> Container:
    return Container(name, help, children=[yes_no(keyword, f"{help}: enable", "no")])


INTERFACE = Container("interface", "Network interfaces", children=[
    Entries("ethernet", "Ethernet interfaces (ethernet1/N, or a Linux device name)",
            key=EthernetName(), children=[
        Container("layer3", "Layer3 interface", children=[
            LeafList("ip", "IP address with netmask", type=IPInterface(), xml="entry"),
            MGMT_PROFILE_REF,
            Leaf("mtu", "Maximum Transfer Unit", type=Int(lo=576, hi=9216)),
            _logical("units", "Layer3 subinterfaces (802.1Q VLANs)", SubinterfaceName(),
                     Leaf("tag", "802.1Q VLAN tag", type=Int(lo=1, hi=4094))),
            # accepted so that a pasted PAN-OS config loads; vpnsh does not act on them
            _enabled("ndp-proxy", "NDP proxy"),
            _enabled("lldp", "LLDP", "enable"),
            Container("adjust-tcp-mss", "TCP MSS adjustment", children=[
                yes_no("enable", "Adjust TCP MSS", "no"),
            ]),
        ]),
        Leaf("link-speed", "Interface link speed", type=String(max_len=15), default="auto"),
        Leaf("link-duplex", "Interface link duplex", type=Enum(values=("auto", "half", "full")),
             default="auto"),
        Leaf("link-state", "Interface link state", type=Enum(values=("auto", "up", "down")),
             default="auto"),
        Leaf("comment", "comment", type=String(max_len=1023)),
    ]),
    Container("loopback", "Loopback interface", children=[
        _logical("units", "Logical interfaces", LoopbackName()),
    ]),
    Container("tunnel", "Tunnel interface", children=[
        _logical("units", "Logical interfaces", TunnelName()),
    ]),
])

# ---------------------------------------------------------------- IPsec tunnel (1.6)

PROXY_ID = Entries("proxy-id", "IPv4 type of proxy ID", children=[
    Leaf("local", "IP subnet or IP address represents local network (or an address object)",
         type=PrefixOrAddress()),
    Leaf("remote", "IP subnet or IP address represents remote network (or an address object)",
         type=PrefixOrAddress()),
    Container("protocol", "Specify protocol and port number for proxy-id", choice=True,
              default={"any": {}}, children=[
                  Flag("any", "any IP protocol"),
                  Leaf("number", "IP protocol number", type=Int(lo=1, hi=254)),
                  ports("tcp", "TCP protocol"),
                  ports("udp", "UDP protocol"),
              ]),
])

TUNNEL = Container("tunnel", "Tunnels", children=[
    Entries("ipsec", "IPSec tunnel configuration", children=[
        Leaf("tunnel-interface", "to apply IPSec VPN tunnels to tunnel interface",
             type=Ref(target=TUNNEL_UNITS, hint="<tunnel.N>")),
        Container("auto-key", "IKE VPN options", children=[
            LeafList("ike-gateway", "IKE gateway", type=Ref(target=GATEWAYS), xml="entry"),
            Leaf("ipsec-crypto-profile", "IPSec crypto profile name",
                 type=Ref(target=IPSEC_PROFILES), default="default"),
            PROXY_ID,
        ]),
        yes_no("anti-replay", "Enable Anti-Replay check on this tunnel", "yes"),
        Leaf("anti-replay-window", "64,128,256,512,1024,2048,4096",
             type=Enum(values=("64", "128", "256", "512", "1024", "2048", "4096")),
             default="1024"),
        yes_no("copy-tos", "Copy IP TOS bits from inner packet to IPSec packet "
               "(not recommended)", "no"),
        # accepted so that PAN-OS configs and API clients (Ansible sends it) load; IPv6
        # tunnels are not carried, so vpnsh does not act on it
        yes_no("copy-flow-label", "Copy IPv6 flow label for 6in6 tunnel from inner packet to "
               "IPSec packet (not recommended)", "no"),
        Container("tunnel-monitor", "Monitor tunnel status", children=[
            yes_no("enable", "Enable tunnel monitoring on this tunnel", "no"),
            Leaf("destination-ip", "Destination IP to send ICMP probe", type=IPAddress()),
            Leaf("proxy-id", "Which proxy-id (or proxy-id-v6) the monitoring traffic will use",
                 type=Name()),
            Leaf("tunnel-monitor-profile", "monitoring action",
                 type=Ref(target=MONITOR_PROFILES)),
        ]),
        yes_no("disabled", "Disable the IPSec tunnel", "no"),
        yes_no("ipv6", "use IPv6 for the IPSec tunnel", "no"),
        Leaf("comment", "comment", type=String(max_len=1023)),
    ]),
])

# ---------------------------------------------------------------- profiles

PROFILES = Container("profiles", "Network profiles", children=[
    # ranges and defaults: panos-policy-monitor-pki-api.md D.2 (codegen accepts interval 2-100)
    Entries("monitor-profile", "Tunnel monitor profiles", key=Name(max_len=31), children=[
        Leaf("interval", "probing interval in seconds", type=Int(lo=2, hi=100), default=3),
        Leaf("threshold", "number of failures before taking action",
             type=Int(lo=2, hi=10), default=5),
        Leaf("action", "action when tunnel is down",
             type=Enum(values=("wait-recover", "fail-over")), default="wait-recover"),
    ]),
    Entries("interface-management-profile", "Interface management profiles", children=[
        yes_no("ping", "allow ping", "no"),
        yes_no("ssh", "allow ssh", "no"),
        yes_no("https", "allow https", "no"),
        yes_no("http", "allow http", "no"),
        yes_no("snmp", "allow snmp", "no"),
        yes_no("response-pages", "allow response pages", "no"),
        LeafList("permitted-ip", "permitted IP addresses", type=IPPrefix(), xml="entry"),
    ]),
])

# ---------------------------------------------------------------- virtual router (1.7)

# static-route path monitoring: panos-policy-monitor-pki-api.md D.3
PATH_MONITOR = Container("path-monitor", "Static Route Path Monitoring", children=[
    yes_no("enable", "Enable path monitoring", "no"),
    Leaf("failure-condition", "failure condition: any or all destinations down",
         type=Enum(values=("any", "all")), default="any"),
    Leaf("hold-time", "hold time in minutes before a recovered path is used again (preemptive hold)",
         type=Int(lo=0, hi=1440), default=2),
    Entries("monitor-destinations", "Monitor destinations (up to 8)", children=[
        yes_no("enable", "Enable this monitor destination", "yes"),
        Leaf("source", "Source IP address (an interface address with its mask)",
             type=IPInterface()),
        Leaf("destination", "Destination IP address to ping", type=IPAddress()),
        Leaf("interval", "ping interval in seconds", type=Int(lo=1, hi=60), default=3),
        Leaf("count", "pings lost in a row before the destination is down",
             type=Int(lo=3, hi=10), default=5),
    ]),
])

STATIC_ROUTE = Entries("static-route", "Static routes", children=[
    Leaf("destination", "Destination IP address/prefix (or an address object)",
         type=PrefixOrAddress()),
    Leaf("interface", "Interface to use", type=ANY_INTERFACE),
    Container("nexthop", "Next hop to destination", choice=True, children=[
        Leaf("ip-address", "Next hop IP address", type=IPAddress()),
        Flag("discard", "Discard packet"),
        Leaf("next-vr", "Next hop virtual router", type=Ref(target=VIRTUAL_ROUTERS)),
    ]),
    Leaf("metric", "metric value (path cost)", type=Int(lo=1, hi=65535), default=10),
    Leaf("admin-dist", "administrative distance", type=Int(lo=10, hi=240)),
    Container("route-table", "target routing table to install the route", choice=True,
              default={"unicast": {}}, children=[
                  Flag("unicast", "Install route into unicast routing table"),
                  Flag("multicast", "Install route into multicast routing table"),
                  Flag("both", "Install route into unicast and multicast routing table"),
                  Flag("no-install", "Do not install route into forwarding table"),
              ]),
    Container("bfd", "BFD configuration", children=[
        Leaf("profile", "BFD profile", type=String(max_len=63), default="None"),
    ]),
    PATH_MONITOR,
])

VIRTUAL_ROUTER = Entries("virtual-router", "Virtual routers", children=[
    LeafList("interface", "Interfaces using this virtual router", type=ANY_INTERFACE),
    Container("routing-table", "Routing table", children=[
        Container("ip", "IPv4 routing table", children=[STATIC_ROUTE]),
    ]),
])

NETWORK = Container("network", "Network configuration", children=[
    IKE, INTERFACE, TUNNEL, PROFILES, VIRTUAL_ROUTER,
])

# ---------------------------------------------------------------- objects (address, service)

ADDRESS = Entries("address", "Address objects",
                  exclusive=(("ip-netmask", "ip-range", "fqdn"),), children=[
    Leaf("ip-netmask", "IP address or network in CIDR form (10.1.0.0/24)", type=IPPrefix()),
    Leaf("ip-range", "IP address range (10.1.0.10-10.1.0.20)", type=IPRange()),
    Leaf("fqdn", "fully qualified domain name (resolved at commit)", type=Hostname()),
    Leaf("description", "description", type=String(max_len=1023)),
    LeafList("tag", "tags", type=Name()),
])

ADDRESS_GROUP = Entries("address-group", "Address groups", children=[
    LeafList("static", "address objects and groups of this static group",
             type=Ref(target=ADDRESSES, also=(ADDRESS_GROUPS,), hint="<address>")),
    Leaf("description", "description", type=String(max_len=1023)),
    LeafList("tag", "tags", type=Name()),
])


def _service_protocol(name: str) -> Container:
    return Container(name, f"{name.upper()} service", children=[
        Leaf("port", "destination ports (22, 80,8080, 1024-65535)", type=PortList()),
        Leaf("source-port", "source ports (any when absent)", type=PortList()),
    ])


SERVICE = Entries("service", "Service objects", children=[
    Container("protocol", "service protocol", choice=True, children=[
        _service_protocol("tcp"), _service_protocol("udp"),
    ]),
    Leaf("description", "description", type=String(max_len=1023)),
    LeafList("tag", "tags", type=Name()),
])

SERVICE_REF = Ref(target=SERVICES, also=(SERVICE_GROUPS,), extra=tuple(PREDEFINED_SERVICES),
                  hint="<service>")

SERVICE_GROUP = Entries("service-group", "Service groups", children=[
    LeafList("members", "services and service groups of this group", type=SERVICE_REF),
    LeafList("tag", "tags", type=Name()),
])

# ---------------------------------------------------------------- zones, rules (1.8, 1.9)

ZONE = Entries("zone", "Security zones", children=[
    Container("network", "Zone network configuration", children=[
        LeafList("layer3", "Layer3 interfaces", type=ANY_INTERFACE),
    ]),
])

ZONE_OR_ANY = Ref(target=ZONES, extra=("any",), hint="<zone>")

ACTIONS = ("allow", "deny", "drop", "reset-client", "reset-server", "reset-both")
RULE_SERVICE = Ref(target=SERVICES, also=(SERVICE_GROUPS,),
                   extra=("any", "application-default", *PREDEFINED_SERVICES), hint="<service>")
APPLICATION = Enum(values=APPLICATION_NAMES, hint="<application>")

SECURITY_RULES = Entries("rules", "Security rules", ordered=True, children=[
    LeafList("from", "Source zones", type=ZONE_OR_ANY),
    LeafList("to", "Destination zones", type=ZONE_OR_ANY),
    LeafList("source", "Source addresses (any, IP, network, range, address object or group)",
             type=AddressMember()),
    LeafList("destination", "Destination addresses (any, IP, network, range, address object "
             "or group)", type=AddressMember()),
    yes_no("negate-source", "Negate the source addresses", "no"),
    yes_no("negate-destination", "Negate the destination addresses", "no"),
    LeafList("source-user", "Source users", type=Name(), default=("any",)),
    LeafList("category", "URL categories", type=Name(), default=("any",)),
    LeafList("application", "Applications (any, or a port-based stand-in: "
             + ", ".join(APPLICATIONS) + ")", type=APPLICATION),
    LeafList("service", "Services (any, application-default, service-http, service-https, "
             "service objects and groups)", type=RULE_SERVICE),
    LeafList("hip-profiles", "HIP profiles", type=Name(), default=("any",)),
    Leaf("action", "Action", type=Enum(values=ACTIONS), default="allow"),
    Leaf("rule-type", "Rule type",
         type=Enum(values=("universal", "intrazone", "interzone")), default="universal"),
    Leaf("description", "Description", type=String(max_len=1024)),
    LeafList("tag", "Tags", type=Name()),
    yes_no("disabled", "Disable the rule", "no"),
    yes_no("log-start", "Log at session start", "no"),
    yes_no("log-end", "Log at session end", "yes"),
])

DEFAULT_SECURITY_RULES = Container("default-security-rules", "Predefined security rules "
                                   "(override)", children=[
    Entries("rules", "intrazone-default (allow) or interzone-default (deny)",
            key=Enum(values=("intrazone-default", "interzone-default"), hint="<rule>"),
            children=[
                Leaf("action", "Action", type=Enum(values=ACTIONS)),
                yes_no("log-start", "Log at session start"),
                yes_no("log-end", "Log at session end"),
                LeafList("tag", "Tags", type=Name()),
            ]),
])

NAT_ADDRESS = AddressMember()

NAT_RULE_ENTRIES = Entries("rules", "NAT rules", ordered=True, children=[
    Leaf("nat-type", "NAT type", type=Enum(values=("ipv4",)), default="ipv4"),
    LeafList("from", "Source zones", type=ZONE_OR_ANY),
    LeafList("to", "Destination zone", type=ZONE_OR_ANY),
    Leaf("to-interface", "Egress interface", type=Ref(target=ETHERNET,
                                                      also=(SUBINTERFACES, TUNNEL_UNITS),
                                                      extra=("any",), hint="<interface>"),
         default="any"),
    LeafList("source", "Source addresses", type=NAT_ADDRESS),
    LeafList("destination", "Destination addresses", type=NAT_ADDRESS),
    Leaf("service", "Service (one)", type=Ref(target=SERVICES, extra=("any", *PREDEFINED_SERVICES),
                                              hint="<service>"), default="any"),
    Container("source-translation", "Source address translation", choice=True, children=[
        Container("dynamic-ip-and-port", "Dynamic IP and port (masquerade)", choice=True,
                  children=[
                      Container("interface-address", "Use the address of an interface",
                                children=[
                                    Leaf("interface", "interface", type=ANY_INTERFACE),
                                    Leaf("ip", "interface address with netmask",
                                         type=IPInterface()),
                                ]),
                      LeafList("translated-address", "Translated addresses",
                               type=NAT_ADDRESS),
                  ]),
        Container("static-ip", "Static IP (one to one)", children=[
            Leaf("translated-address", "Translated address or network", type=NAT_ADDRESS),
            yes_no("bi-directional", "Also translate connections to the translated address",
                   "no"),
        ]),
    ]),
    Container("destination-translation", "Destination address translation", children=[
        Leaf("translated-address", "Translated address", type=NAT_ADDRESS),
        Leaf("translated-port", "Translated port", type=Int(lo=1, hi=65535)),
    ]),
    Leaf("description", "Description", type=String(max_len=1024)),
    LeafList("tag", "Tags", type=Name()),
    yes_no("disabled", "Disable the rule", "no"),
])

RULEBASE = Container("rulebase", "Rule base", children=[
    Container("security", "Security policies", children=[SECURITY_RULES]),
    DEFAULT_SECURITY_RULES,
    Container("nat", "NAT policies", children=[NAT_RULE_ENTRIES]),
])

# PAN-OS: Device > Setup > Management > Number of Versions for Config Backups
DEVICECONFIG = Container("deviceconfig", "Device configuration", children=[
    Container("setting", "Device settings", children=[
        Container("management", "Management settings", children=[
            Leaf("max-rollback-version", "Number of committed config versions kept (history)",
                 type=Int(lo=1, hi=1048576), default=100),
        ]),
    ]),
])

# certificate profiles (issue 16): reference panos-policy-monitor-pki-api.md section E.4. The
# CA entries name certificates of the certificate store (vpnsh.engine.pki.store), which is
# not config: the engine checks that they exist and are CAs (vpnsh.engine.pki.profile).
CERT_PROFILES = ("shared", "certificate-profile")
CERTIFICATE_PROFILE = Entries("certificate-profile", "Certificate profile", children=[
    Entries("CA", "CA certificate", children=[
        Leaf("default-ocsp-url", "Default OCSP URL (not used: vpnsh checks CRLs only)",
             type=String(max_len=255)),
        Leaf("ocsp-verify-cert", "Certificate to verify signature in OCSP response",
             type=String(max_len=63)),
    ]),
    yes_no("use-crl", "Use CRL", "no"),
    yes_no("use-ocsp", "Use OCSP (not supported: CRLs only)", "no"),
    Leaf("crl-receive-timeout", "CRL receive timeout (seconds)", type=Int(lo=1, hi=60), default=5),
    Leaf("ocsp-receive-timeout", "OCSP receive timeout (seconds)", type=Int(lo=1, hi=60),
         default=5),
    Leaf("cert-status-timeout", "Certificate status timeout (seconds)", type=Int(lo=0, hi=60),
         default=5),
    yes_no("block-unknown-cert", "Block session if certificate status is unknown", "no"),
    yes_no("block-timeout-cert", "Block session if certificate status cannot be retrieved "
           "within timeout", "no"),
    yes_no("block-unauthenticated-cert", "Block session if the certificate was not issued to "
           "the authenticating device", "no"),
    yes_no("block-expired-cert", "Block sessions with expired certificates", "no"),
    yes_no("ocsp-exclude-nonce", "Whether to exclude nonce extension for OCSP requests", "no"),
    Container("username-field", "User name field", children=[
        Leaf("subject", "Get user name from subject", type=Enum(values=("common-name",))),
        Leaf("subject-alt", "Get user name from subject alternative name",
             type=Enum(values=("email", "principal-name"))),
    ], choice=True),
    Leaf("domain", "NetBIOS domain so the user name can be mapped", type=String(max_len=127)),
])
SHARED = Container("shared", "Shared configuration", children=[CERTIFICATE_PROFILE])

ROOT = Container("config", "Configuration", children=[NETWORK, ZONE, ADDRESS, ADDRESS_GROUP,
                                                      SERVICE, SERVICE_GROUP, RULEBASE,
                                                      DEVICECONFIG, SHARED])
