"""Applications: ``any`` and a port-based stand-in for the App-IDs admins type in VPN rules.

vpnsh has no App-ID (no payload inspection).  An application name here stands for the
protocol and ports PAN-OS lists as that application's defaults, and nothing else: ``ssh``
is TCP/22, not SSH on any port.  ``show`` output and the docs label these as port-based.

How a rule's application and service combine (see :func:`vpnsh.config.objects.rule_l4`):

* ``application any`` with ``service any`` or ``application-default``: every packet.
* applications with ``service any`` or ``application-default``: the applications' ports.
* any application(s) with a service list: the services' ports (the service decides;
  without App-ID the application names are labels).
"""

from __future__ import annotations

from dataclasses import dataclass

ICMP, TCP, UDP, ICMPV6 = 1, 6, 17, 58


@dataclass(frozen=True)
class L4:
    """One protocol/port pattern: ``proto`` None is any protocol, empty port ranges any port.

    ``icmp_type`` narrows ICMP/ICMPv6 to one type (ping: echo request).
    """

    proto: int | None = None
    dports: tuple[tuple[int, int], ...] = ()
    sports: tuple[tuple[int, int], ...] = ()
    icmp_type: int | None = None

    def matches(self, proto: int, dport: int | None = None, sport: int | None = None,
                icmp_type: int | None = None) -> bool:
        if self.proto is not None and proto != self.proto:
            return False
        if self.dports and (dport is None or not any(a <= dport <= b for a, b in self.dports)):
            return False
        if self.sports and (sport is None or not any(a <= sport <= b for a, b in self.sports)):
            return False
        return self.icmp_type is None or icmp_type is None or icmp_type == self.icmp_type

    def tuple_text(self, app: str) -> str:
        """PAN-OS dataplane notation ``app/proto/sport/dport`` (``ssh/tcp/any/22``)."""
        proto = {None: "any", TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMPV6: "icmp6"}.get(
            self.proto, str(self.proto))
        return f"{app}/{proto}/{ports_text(self.sports)}/{ports_text(self.dports)}"


def ports_text(ranges: tuple[tuple[int, int], ...]) -> str:
    if not ranges:
        return "any"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _tcp(*ports: int | tuple[int, int]) -> L4:
    return L4(TCP, tuple(p if isinstance(p, tuple) else (p, p) for p in ports))


def _udp(*ports: int | tuple[int, int]) -> L4:
    return L4(UDP, tuple(p if isinstance(p, tuple) else (p, p) for p in ports))


ANY = L4()

# name -> (help, default tuples)
APPLICATIONS: dict[str, tuple[str, tuple[L4, ...]]] = {
    "ping": ("ICMP echo request (port-based)", (L4(ICMP, icmp_type=8), L4(ICMPV6, icmp_type=128))),
    "icmp": ("any ICMP message (port-based)", (L4(ICMP), L4(ICMPV6))),
    "traceroute": ("UDP/33434-33534 (port-based)", (_udp((33434, 33534)),)),
    "ssh": ("TCP/22 (port-based)", (_tcp(22),)),
    "telnet": ("TCP/23 (port-based)", (_tcp(23),)),
    "ssl": ("TCP/443 (port-based)", (_tcp(443),)),
    "web-browsing": ("TCP/80 (port-based)", (_tcp(80),)),
    "dns": ("TCP and UDP/53 (port-based)", (_udp(53), _tcp(53))),
    "ntp": ("UDP/123 (port-based)", (_udp(123),)),
    "snmp": ("UDP/161-162 (port-based)", (_udp((161, 162)),)),
    "syslog": ("UDP/514 (port-based)", (_udp(514),)),
    "smtp": ("TCP/25 (port-based)", (_tcp(25),)),
    "ftp": ("TCP/21 (port-based)", (_tcp(21),)),
    "ldap": ("TCP and UDP/389 (port-based)", (_tcp(389), _udp(389))),
    "ms-rdp": ("TCP/3389 (port-based)", (_tcp(3389),)),
    "bgp": ("TCP/179 (port-based)", (_tcp(179),)),
    "ospf": ("IP protocol 89 (port-based)", (L4(89),)),
    "ike": ("UDP/500 and 4500 (port-based)", (_udp(500, 4500),)),
    "ipsec-esp": ("IP protocol 50 (port-based)", (L4(50),)),
    "ipsec-esp-udp": ("UDP/4500 (port-based)", (_udp(4500),)),
}

APPLICATION_NAMES = ("any", *APPLICATIONS)


def app_l4(name: str) -> tuple[L4, ...]:
    """The port-based stand-in of one application (``any``: every packet)."""
    if name == "any":
        return (ANY,)
    return APPLICATIONS[name][1]


def classify(proto: int, dport: int | None = None, icmp_type: int | None = None) -> str:
    """The application a packet is labelled with, port-based: the first application whose
    tuple matches, else PAN-OS's ``icmp``/``unknown-tcp``/``unknown-udp``/``unknown-p2p``."""
    for name, (_help, tuples) in APPLICATIONS.items():
        if name == "icmp":
            continue
        if any(t.matches(proto, dport, None, icmp_type) for t in tuples):
            return name
    if proto in (ICMP, ICMPV6):
        return "icmp"
    return {TCP: "unknown-tcp", UDP: "unknown-udp"}.get(proto, "unknown-p2p")
