"""Sessions from conntrack (the ``conntrack`` tool, Debian package ``conntrack``).

A session is one conntrack entry that a vpnsh rule allowed: its mark carries the rule id
(low 16 bits, see :mod:`.nft`).  ``conntrack -L -o extended,id`` lists them;
``conntrack -E -e DESTROY`` reports each one's end, with bytes and packets when
``net.netfilter.nf_conntrack_acct`` is 1 (the firewall turns it on).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

CONNTRACK = "conntrack"
_KV = re.compile(r"(\w[\w-]*)=(\S+)")
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 50: "esp", 132: "sctp"}


class ConntrackError(RuntimeError):
    pass


@dataclass
class Session:
    id: int
    proto: int
    state: str
    src: str
    dst: str
    sport: int
    dport: int
    # reply direction (post-NAT view): who answers, and to what
    reply_src: str = ""
    reply_dst: str = ""
    reply_sport: int = 0
    reply_dport: int = 0
    packets: int = 0  # both directions
    bytes: int = 0
    packets_c2s: int = 0
    bytes_c2s: int = 0
    packets_s2c: int = 0
    bytes_s2c: int = 0
    mark: int = 0
    timeout: int = 0
    icmp_type: int | None = None
    flags: list[str] = field(default_factory=list)
    event: str = ""

    @property
    def rule_id(self) -> int:
        return self.mark & 0xFFFF

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_line(line: str) -> Session | None:
    """One line of ``conntrack -L -o extended,id`` (or ``-E``) as a Session, None if not one."""
    words = line.split()
    if not words:
        return None
    event = ""
    if words[0].startswith("[") and words[0].endswith("]"):
        event = words[0].strip("[]").lower()
        words = words[1:]
    if len(words) < 4 or words[0] not in ("ipv4", "ipv6"):
        return None
    try:
        proto = int(words[3])
    except ValueError:
        return None
    rest = words[4:]
    timeout = 0
    if rest and rest[0].isdigit():
        timeout = int(rest[0])
        rest = rest[1:]
    state = ""
    if rest and "=" not in rest[0] and not rest[0].startswith("["):
        state = rest[0]
        rest = rest[1:]
    orig: dict[str, str] = {}
    reply: dict[str, str] = {}
    other: dict[str, str] = {}
    flags: list[str] = []
    side = orig
    for w in rest:
        if w.startswith("[") and w.endswith("]"):
            flags.append(w.strip("[]"))
            continue
        m = _KV.fullmatch(w)
        if not m:
            continue
        k, v = m.groups()
        if k == "src" and "src" in orig:
            side = reply
        if k in ("mark", "id", "use", "zone", "secctx", "labels", "delta-time"):
            other[k] = v
        else:
            side.setdefault(k, v)
    if "src" not in orig or "id" not in other:
        return None
    icmp_type = int(orig["type"]) if "type" in orig else None
    s = Session(
        id=int(other["id"]), proto=proto, state=state, src=orig["src"], dst=orig["dst"],
        sport=int(orig.get("sport", orig.get("id", 0))), dport=int(orig.get("dport", 0)),
        reply_src=reply.get("src", ""), reply_dst=reply.get("dst", ""),
        reply_sport=int(reply.get("sport", reply.get("id", 0))),
        reply_dport=int(reply.get("dport", 0)),
        packets_c2s=int(orig.get("packets", 0)), bytes_c2s=int(orig.get("bytes", 0)),
        packets_s2c=int(reply.get("packets", 0)), bytes_s2c=int(reply.get("bytes", 0)),
        mark=int(other.get("mark", 0)), timeout=timeout, icmp_type=icmp_type, flags=flags,
        event=event)
    s.packets = s.packets_c2s + s.packets_s2c
    s.bytes = s.bytes_c2s + s.bytes_s2c
    return s


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([CONNTRACK, *args], text=True, capture_output=True, timeout=30)
    except FileNotFoundError:
        raise ConntrackError("conntrack is not installed (Debian package conntrack)") from None


def list_sessions() -> list[Session]:
    """Every conntrack entry (of this network namespace) with a vpnsh rule id in its mark."""
    res = _run(["-L", "-o", "extended,id"])
    if res.returncode != 0:
        raise ConntrackError(res.stderr.strip())
    out = []
    for line in res.stdout.splitlines():
        s = parse_line(line)
        if s is not None and s.rule_id:
            out.append(s)
    return out


def delete(session: Session) -> bool:
    """Delete one entry by its original tuple."""
    fam = "ipv6" if ":" in session.src else "ipv4"
    args = ["-D", "-f", fam, "-s", session.src, "-d", session.dst,
            "-p", PROTO_NAMES.get(session.proto, str(session.proto))]
    if session.proto in (6, 17, 132):
        args += ["--sport", str(session.sport), "--dport", str(session.dport)]
    res = _run(args)
    return res.returncode == 0


def events_argv() -> list[str]:
    """The conntrack event listener of session starts (log-start) and ends (log-end)."""
    return [CONNTRACK, "-E", "-e", "NEW,DESTROY", "-o", "extended,id"]
