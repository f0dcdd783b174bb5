"""The config schema: one definition of every node of the config tree.

Everything about a config node is said here once: its keyword, its help text,
its value type, its default, and where it may point to.  The shell derives
``set`` parsing, TAB completion and ``?`` help from it; the daemon derives
commit-time type checks, defaults and every output format from it.

The tree itself (see :mod:`vpnsh.config.tree`) is plain JSON-compatible data:

* :class:`Container` -> ``dict`` of child keyword -> child value
* :class:`Entries`   -> ``dict`` of entry name -> ``dict`` (insertion ordered;
  for ordered collections such as security rules the order is meaningful)
* :class:`Leaf`      -> ``str`` or ``int``
* :class:`LeafList`  -> ``list[str]`` (PAN-OS "member" lists, ``[ a b ]``)
* :class:`Flag`      -> ``{}`` (a keyword with no value, e.g. ``peer-address dynamic``)

A :class:`Container` with ``choice=True`` holds at most one of its children
(``lifetime seconds|minutes|hours|days``): setting one removes its siblings.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from . import ifnames


class SchemaError(ValueError):
    """A value or path that the schema does not accept.

    ``path`` is the list of keywords/names leading to the offending node; the
    message says in plain words what was wrong.
    """

    def __init__(self, path: Sequence[str], message: str) -> None:
        super().__init__(message)
        self.path = list(path)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class ValueType:
    """How one leaf value is written, checked and completed."""

    hint: str = "<value>"  # shown by ``?`` help, e.g. "<1-65535>"

    def parse(self, text: str) -> str | int:
        """Return the canonical stored value or raise ``ValueError`` with a reason."""
        return text

    def choices(self) -> Sequence[str]:
        """Fixed keywords this type accepts (for completion); empty if free-form."""
        return ()


@dataclass(frozen=True)
class String(ValueType):
    hint: str = "<value>"
    max_len: int = 1023
    pattern: str | None = None

    def parse(self, text: str) -> str:
        if not text:
            raise ValueError("must not be empty")
        if text in ("[", "]"):
            raise ValueError(f"'{text}' is not a valid value")
        if len(text) > self.max_len:
            raise ValueError(f"is longer than {self.max_len} characters")
        if self.pattern and not re.fullmatch(self.pattern, text):
            raise ValueError(f"'{text}' is not a valid value")
        return text


@dataclass(frozen=True)
class Name(String):
    """An object name: letters, digits, '.', '_', '-', ':' and spaces, max 63."""

    hint: str = "<name>"
    max_len: int = 63
    pattern: str | None = r"[A-Za-z0-9][A-Za-z0-9._:/ -]*"


@dataclass(frozen=True)
class Int(ValueType):
    lo: int = 0
    hi: int = 2**32 - 1
    hint: str = ""

    def parse(self, text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if not self.lo <= value <= self.hi:
            raise ValueError(f"{value} is out of range {self.lo}-{self.hi}")
        return value

    def hint_text(self) -> str:
        return self.hint or f"<{self.lo}-{self.hi}>"


@dataclass(frozen=True)
class Enum(ValueType):
    values: tuple[str, ...] = ()
    hint: str = ""

    def parse(self, text: str) -> str:
        if text not in self.values:
            raise ValueError(f"'{text}' is not one of: {', '.join(self.values)}")
        return text

    def choices(self) -> Sequence[str]:
        return self.values


YES_NO = Enum(values=("yes", "no"))


@dataclass(frozen=True)
class IPAddress(ValueType):
    hint: str = "<ip>"

    def parse(self, text: str) -> str:
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise ValueError(f"'{text}' is not a valid IP address") from None


@dataclass(frozen=True)
class IPInterface(ValueType):
    """An address with its prefix length, as an interface has it: ``10.0.2.2/30``."""

    hint: str = "<ip/netmask>"

    def parse(self, text: str) -> str:
        try:
            return str(ipaddress.ip_interface(text))
        except ValueError:
            raise ValueError(f"'{text}' is not a valid IP address with netmask") from None


@dataclass(frozen=True)
class IPPrefix(ValueType):
    """A network or host: ``10.1.0.0/24``, ``10.1.0.5`` (taken as /32)."""

    hint: str = "<ip/netmask>"

    def parse(self, text: str) -> str:
        try:
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"'{text}' is not a valid IP network") from None


@dataclass(frozen=True)
class Secret(String):
    """A secret (pre-shared key).  Stored encrypted; shown only as ``-AQ==...``."""

    hint: str = "<value>"
    max_len: int = 255


@dataclass(frozen=True)
class Ref(ValueType):
    """A reference to a named entry elsewhere in the tree.

    ``target`` is the keyword path of the :class:`Entries` node whose entry names
    are valid values, e.g. ``("network", "ike", "gateway")``.  ``extra`` lists
    values that are valid without an entry (``None`` for a bfd profile).
    Checked at commit time (a dangling reference is a validation error), and
    completed from the candidate's existing names.
    """

    target: tuple[str, ...] = ()
    hint: str = "<name>"
    extra: tuple[str, ...] = ()
    also: tuple[tuple[str, ...], ...] = ()  # further Entries paths whose names are valid

    def parse(self, text: str) -> str:
        if text in self.extra:
            return text
        return Name().parse(text)

    @property
    def targets(self) -> tuple[tuple[str, ...], ...]:
        """Every Entries path whose entry names this reference accepts."""
        return (self.target, *self.also)


@dataclass(frozen=True)
class IfName(String):
    """A Linux interface name (``eth0``, ``veth-a``, ``enp0s3.100``): at most 15 characters."""

    hint: str = "<ifname>"
    max_len: int = 15
    pattern: str | None = r"[A-Za-z0-9][A-Za-z0-9._@-]*"

    def parse(self, text: str) -> str:
        if text.startswith("tunnel."):
            raise ValueError(f"'{text}' is a tunnel interface, not an ethernet interface")
        if text in (".", ".."):
            raise ValueError(f"'{text}' is not a valid interface name")
        return super().parse(text)


@dataclass(frozen=True)
class EthernetName(IfName):
    """An ethernet port: PAN-OS ``ethernet1/N`` (bound to a Linux device by the host's
    interface map, see vpnsh.engine.ifmap) or a Linux device name used as it is."""

    hint: str = "<ethernet1/N|ifname>"

    def parse(self, text: str) -> str:
        if ifnames.ETHERNET_RE.fullmatch(text):
            return text
        if text.startswith("ethernet") and "/" in text:
            if ifnames.kind(text) == "subinterface" or ifnames.SUBIF_RE.fullmatch(text):
                raise ValueError(f"'{text}' is a subinterface: set it under "
                                 f"{text.rsplit('.', 1)[0]} layer3 units")
            raise ValueError(f"'{text}' is not a valid ethernet interface name "
                             "(ethernet1/1-ethernet1/999)")
        if text.startswith("loopback."):
            raise ValueError(f"'{text}' is a loopback interface, not an ethernet interface")
        return super().parse(text)


@dataclass(frozen=True)
class SubinterfaceName(ValueType):
    """A layer3 subinterface: ``<port>.<unit>``, unit 1-9999 (``ethernet1/2.110``)."""

    hint: str = "<ethernet1/N.U>"

    def parse(self, text: str) -> str:
        sub = ifnames.split_subinterface(text)
        if sub is None or ("/" in sub[0] and not ifnames.ETHERNET_RE.fullmatch(sub[0])):
            raise ValueError(f"'{text}' is not a valid subinterface name (<port>.<1-9999>)")
        if len(text) > 31:
            raise ValueError(f"'{text}' is longer than 31 characters")
        return text


@dataclass(frozen=True)
class LoopbackName(ValueType):
    """A loopback interface name: ``loopback.N`` with N in 1-9999."""

    hint: str = "<loopback.N>"

    def parse(self, text: str) -> str:
        if not ifnames.LOOPBACK_RE.fullmatch(text):
            raise ValueError(f"'{text}' is not a valid loopback interface name "
                             "(loopback.1-loopback.9999)")
        return text


@dataclass(frozen=True)
class TunnelName(ValueType):
    """A tunnel interface name: ``tunnel.N`` with N in 1-9999."""

    hint: str = "<tunnel.N>"

    def parse(self, text: str) -> str:
        m = re.fullmatch(r"tunnel\.([1-9][0-9]{0,3})", text)
        if not m:
            raise ValueError(f"'{text}' is not a valid tunnel interface name (tunnel.1-tunnel.9999)")
        return text


@dataclass(frozen=True)
class Hostname(String):
    hint: str = "<fqdn>"
    max_len: int = 255
    pattern: str | None = r"(?=.*[A-Za-z])[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?"


@dataclass(frozen=True)
class AddressOrAny(ValueType):
    """A security-rule address: ``any``, a network (``10.1.0.0/24``) or a range ``a-b``."""

    hint: str = "<address>"

    def parse(self, text: str) -> str:
        if text == "any":
            return text
        if "-" in text:
            return parse_range(text)
        return IPPrefix().parse(text)


def parse_range(text: str) -> str:
    """A canonical ``first-last`` IP range (same family, first <= last) or ValueError."""
    lo, sep, hi = text.partition("-")
    try:
        a, b = ipaddress.ip_address(lo), ipaddress.ip_address(hi)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid address range") from None
    if not sep or a.version != b.version or int(a) > int(b):
        raise ValueError(f"'{text}' is not a valid address range")
    return f"{a}-{b}"


@dataclass(frozen=True)
class IPRange(ValueType):
    """An address range object value: ``10.1.0.10-10.1.0.20``."""

    hint: str = "<ip-range>"

    def parse(self, text: str) -> str:
        return parse_range(text)


_LITERAL_RE = re.compile(r"[0-9][0-9./-]*|[0-9A-Fa-f:]*:[0-9A-Fa-f:./-]*")


def looks_literal(text: str) -> bool:
    """Whether ``text`` is written as an IP literal (so it is never taken as an object name)."""
    return bool(_LITERAL_RE.fullmatch(text))


@dataclass(frozen=True)
class AddressMember(ValueType):
    """A rule's address member: ``any``, a network, a range ``a-b``, or an address object or
    group name (checked at commit: see :mod:`vpnsh.config.objects`)."""

    hint: str = "<address>"

    def parse(self, text: str) -> str:
        if text == "any":
            return text
        if looks_literal(text):
            return AddressOrAny().parse(text)
        return Name().parse(text)


@dataclass(frozen=True)
class PrefixOrAddress(ValueType):
    """One network: a prefix or host (``10.1.0.0/24``), or the name of an ``ip-netmask``
    address object (static-route destination, proxy-id local/remote; checked at commit)."""

    hint: str = "<ip/netmask|address>"

    def parse(self, text: str) -> str:
        if looks_literal(text):
            return IPPrefix().parse(text)
        return Name().parse(text)


@dataclass(frozen=True)
class PortList(ValueType):
    """PAN-OS service ports: ``22``, ``80,8080``, ``1024-65535``, comma separated."""

    hint: str = "<0-65535>"

    def parse(self, text: str) -> str:
        parts = text.split(",")
        if not text or len(text) > 1023:
            raise ValueError(f"'{text}' is not a valid port list")
        for part in parts:
            lo, sep, hi = part.partition("-")
            try:
                a, b = int(lo, 10), int(hi, 10) if sep else int(lo, 10)
            except ValueError:
                raise ValueError(f"'{part}' is not a valid port or port range") from None
            if not (0 <= a <= 65535 and 0 <= b <= 65535) or a > b:
                raise ValueError(f"'{part}' is not a valid port or port range (0-65535)")
        return text


_PARSED: dict[tuple[ValueType, str], tuple[bool, str | int]] = {}
_PARSED_MAX = 200_000  # entries; the memo is dropped whole when full


def parse_cached(vtype: ValueType, text: str) -> str | int:
    """``vtype.parse(text)``, memoized per (type, text): the same result or ValueError.

    Value types are frozen and their ``parse`` pure, so a value parsed by ``set`` is not
    parsed again at commit.  A string result is interned: trees built from parsed values
    (and their marshal copies) share their strings, which makes comparing trees ~3x faster.
    Secrets are never memoized (no plain text kept in memory).
    """
    if isinstance(vtype, Secret):
        return vtype.parse(text)
    key = (vtype, text)
    hit = _PARSED.get(key)
    if hit is None:
        try:
            value = vtype.parse(text)
            hit = (True, sys.intern(value) if type(value) is str else value)
        except ValueError as exc:
            hit = (False, str(exc))
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = hit
    if hit[0]:
        return hit[1]
    raise ValueError(hit[1])


def hint_of(vt: ValueType) -> str:
    """The ``<...>`` hint ``?`` shows for a free value of this type."""
    if isinstance(vt, Int):
        return vt.hint_text()
    return vt.hint


# --------------------------------------------------------------------------- nodes


@dataclass
class Node:
    name: str
    help: str = ""

    def __post_init__(self) -> None:
        # the name is the key in every tree: interned, trees and their copies share it
        self.name = sys.intern(self.name)

    def describe(self) -> str:
        return self.help or self.name


@dataclass
class Leaf(Node):
    type: ValueType = field(default_factory=String)
    default: str | int | None = None
    required: bool = False


@dataclass
class LeafList(Node):
    """A PAN-OS member list; ``set`` appends, ``[ a b ]`` sets several."""

    type: ValueType = field(default_factory=String)
    default: tuple[str, ...] | None = None
    # how each value is written in XML: ``<member>V</member>``, or ``<entry name="V"/>`` where
    # PAN-OS's XML has entries although its CLI has a list (an interface's ``ip``)
    xml: str = "member"


@dataclass
class Flag(Node):
    """A keyword with no value (``peer-address dynamic``, ``nexthop discard``)."""


@dataclass
class Container(Node):
    children: list[Node] = field(default_factory=list)
    choice: bool = False  # at most one child present
    # groups of children of which at most one may be present (``ip`` | ``floating-ip``)
    exclusive: tuple[tuple[str, ...], ...] = ()
    # value assumed when absent (a choice container's default: ``{"hours": 8}``)
    default: dict | None = None

    def rivals(self, name: str) -> tuple[str, ...]:
        """Children that setting ``name`` removes (its siblings in a choice or group)."""
        if self.choice:
            return tuple(c.name for c in self.children if c.name != name)
        return _rivals(self.exclusive, name)

    def child(self, name: str) -> Node | None:
        return _child(self, name)


@dataclass
class Entries(Node):
    """A collection of named entries (``gateway GW1``, ``rules R1``)."""

    children: list[Node] = field(default_factory=list)
    key: ValueType = field(default_factory=Name)
    ordered: bool = False  # security rules: order matters, ``move`` applies

    def child(self, name: str) -> Node | None:
        return _child(self, name)

    # groups of an entry's children of which at most one may be present (``esp`` | ``ah``)
    exclusive: tuple[tuple[str, ...], ...] = ()

    def rivals(self, name: str) -> tuple[str, ...]:
        """An entry's children that setting ``name`` removes."""
        return _rivals(self.exclusive, name)

    @property
    def entry(self) -> Container:
        """The schema of one entry, as a container."""
        return Container(self.name, self.help, self.children, exclusive=self.exclusive)


def _child(node: Container | Entries, name: str) -> Node | None:
    """The first child called ``name``, from an index built on first use (rebuilt if the
    children list is replaced or grows: the schema is meant to be immutable)."""
    index = node.__dict__.get("_child_index")
    if index is None or index[0] is not node.children or index[1] != len(node.children):
        by_name: dict[str, Node] = {}
        for c in node.children:
            by_name.setdefault(c.name, c)
        index = (node.children, len(node.children), by_name)
        node.__dict__["_child_index"] = index
    return index[2].get(name)


def _rivals(groups: tuple[tuple[str, ...], ...], name: str) -> tuple[str, ...]:
    out: list[str] = []
    for group in groups:
        if name in group:
            out.extend(n for n in group if n != name)
    return tuple(out)


Validator = Callable[[dict], Iterator["Problem"]]


@dataclass(frozen=True)
class Problem:
    """One commit-time validation failure: where, and what is wrong."""

    path: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return " -> ".join(self.path) + " " + self.message
