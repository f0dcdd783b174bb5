"""``--dataplane kernel``: ESP in the kernel, driven through XFRM netlink.

The engine negotiates; this module tells the kernel: two ESP states per CHILD SA
(XFRM_MSG_NEWSA) and the tunnel-mode policies out/in/fwd that point at them through a
reqid (one reqid per CHILD name, kept across rekeys so make-before-break is a matter of
adding the new pair before removing the old). Policies are reconciled as a set: the
wanted set is the union of the *traps* (:meth:`KernelDataPlane.set_traps`, policies
installed before any SA so that traffic makes the kernel send an ACQUIRE) and the
installed CHILD SAs; what the kernel holds is made equal to it.

Kernel messages come back on a listener socket bound to XFRMNLGRP_ACQUIRE and
XFRMNLGRP_EXPIRE: an ACQUIRE becomes ``events.acquire(tunnel_if, src, dst, proto, dport)``
(the tunnel found from the policy's selector and if_id), an EXPIRE becomes
``events.expire(inbound_spi, "soft"|"hard")`` (once per SA pair and kind). With
``hold_packets`` (the default), ``net.core.xfrm_larval_drop`` is 0 while the plane runs:
the first packets of a flow wait (bounded, in the kernel) for the SA instead of being dropped.

Route-based tunnels use XFRM interfaces (``tunnel.N`` is an ``xfrm`` link with if_id N)
where the kernel has them (:mod:`.kernel_probe`). Without them, only selector-based
(proxy-id) traffic is carried, and a CHILD whose selectors are any <-> any gets no
policies (it would capture all of the host's traffic): ``info().notes`` says so.

Where the kernel has no ESP, :meth:`KernelDataPlane.install_child` raises
:class:`KernelDataPlaneError` ("this kernel has no ESP ...: use --dataplane userspace")
after logging it, and leaves the policies as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import itertools
import logging
import re
import socket
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyroute2.netlink import nlmsg
from pyroute2.netlink.exceptions import NetlinkError

from . import routes as rt
from . import xfrm_netlink as xn
from .base import (
    ChildSaSpec,
    DataPlaneEvents,
    DataPlaneInfo,
    EspKeys,
    Route,
    SaCounters,
    TrafficSelector,
    TunnelInterface,
    ts_contains,
)
from .kernel_probe import ESP_MISSING, KernelCapabilities, in_thread, probe_kernel

log = logging.getLogger("vpnsh.dataplane.kernel")

# --- algorithms: IANA transform ids (RFC 7296 / IKEv2 registry) -> kernel names ----

# ENCR id -> (kernel name, ICV bits) for AEADs
AEAD_ALGORITHMS: dict[int, tuple[str, int]] = {
    20: ("rfc4106(gcm(aes))", 128),  # ENCR_AES_GCM_16
    19: ("rfc4106(gcm(aes))", 96),  # ENCR_AES_GCM_12
    18: ("rfc4106(gcm(aes))", 64),  # ENCR_AES_GCM_8
    16: ("rfc4309(ccm(aes))", 128),  # ENCR_AES_CCM_16
    15: ("rfc4309(ccm(aes))", 96),  # ENCR_AES_CCM_12
    14: ("rfc4309(ccm(aes))", 64),  # ENCR_AES_CCM_8
    28: ("rfc7539esp(chacha20,poly1305)", 128),  # ENCR_CHACHA20_POLY1305
}
# ENCR id -> kernel name for ciphers used with a separate integrity algorithm
CIPHER_ALGORITHMS: dict[int, str] = {
    12: "cbc(aes)",  # ENCR_AES_CBC
    13: "rfc3686(ctr(aes))",  # ENCR_AES_CTR
    3: "cbc(des3_ede)",  # ENCR_3DES
    2: "cbc(des)",  # ENCR_DES
    11: "ecb(cipher_null)",  # ENCR_NULL
}
# INTEG id -> (kernel name, truncation bits)
INTEG_ALGORITHMS: dict[int, tuple[str, int]] = {
    1: ("hmac(md5)", 96),  # AUTH_HMAC_MD5_96
    2: ("hmac(sha1)", 96),  # AUTH_HMAC_SHA1_96
    5: ("xcbc(aes)", 96),  # AUTH_AES_XCBC_96
    8: ("cmac(aes)", 96),  # AUTH_AES_CMAC_96
    12: ("hmac(sha256)", 128),  # AUTH_HMAC_SHA2_256_128
    13: ("hmac(sha384)", 192),  # AUTH_HMAC_SHA2_384_192
    14: ("hmac(sha512)", 256),  # AUTH_HMAC_SHA2_512_256
}

ALL_ALGOS = 0xFFFFFFFF
PRIORITY_BASE = 200000  # lower is preferred; more specific selectors get lower values
XFRMI_BARE_TUNNEL_ID = 10000  # if_id of a bare "tunnel" interface (no unit number)
# 0: while an ACQUIRE is pending, the kernel holds a bounded queue of the flow's packets
# (and sends them once the SA is in) instead of dropping them
LARVAL_DROP = "/proc/sys/net/core/xfrm_larval_drop"
# Every SA and policy this plane makes carries a reqid from this range: it marks them as
# vpnsh's, so a daemon started after a crash (kill -9, no stop()) removes what the dead one
# left in the kernel and nothing of anyone else's (strongSwan's reqids count from 1).
REQID_BASE = 0x76500000
REQID_SPAN = 0x00100000


def owned_reqid(reqid: int) -> bool:
    return REQID_BASE <= reqid < REQID_BASE + REQID_SPAN


class KernelDataPlaneError(RuntimeError):
    """The kernel refused an operation; the message says why and what to do."""


def algorithm_attrs(keys: EspKeys) -> list[tuple[str, dict[str, Any]]]:
    """The XFRMA_ALG_* attributes of one direction's keys."""
    if keys.encr in AEAD_ALGORITHMS:
        name, icv = AEAD_ALGORITHMS[keys.encr]
        return [("XFRMA_ALG_AEAD", {"alg_name": name, "alg_key_len": len(keys.encr_key) * 8,
                                    "alg_icv_len": icv, "alg_key": keys.encr_key})]
    if keys.encr not in CIPHER_ALGORITHMS:
        raise KernelDataPlaneError(f"encryption algorithm {keys.encr} has no kernel name")
    attrs: list[tuple[str, dict[str, Any]]] = [
        ("XFRMA_ALG_CRYPT", {"alg_name": CIPHER_ALGORITHMS[keys.encr],
                             "alg_key_len": len(keys.encr_key) * 8, "alg_key": keys.encr_key})]
    if keys.integ:
        if keys.integ not in INTEG_ALGORITHMS:
            raise KernelDataPlaneError(f"integrity algorithm {keys.integ} has no kernel name")
        name, trunc = INTEG_ALGORITHMS[keys.integ]
        attrs.append(("XFRMA_ALG_AUTH_TRUNC", {
            "alg_name": name, "alg_key_len": len(keys.integ_key) * 8,
            "alg_trunc_len": trunc, "alg_key": keys.integ_key}))
    return attrs


# --- selectors ------------------------------------------------------------------


@dataclass(frozen=True)
class SelectorPart:
    """One side of an XFRM selector: a prefix, and a port (0 with mask 0 = any)."""

    network: str  # "10.1.0.0/24"
    port: int = 0
    port_mask: int = 0


def selector_parts(ts: TrafficSelector) -> list[SelectorPart]:
    """The prefixes covering a traffic selector range, with its port when it is one port.

    XFRM selectors hold a prefix and a masked port; a port range other than any or one
    port is widened to any (and logged).
    """
    nets = list(ipaddress.summarize_address_range(ts.start_addr, ts.end_addr))  # type: ignore[type-var,unused-ignore]
    if (ts.start_port, ts.end_port) == (0, 65535):
        port, mask = 0, 0
    elif ts.start_port == ts.end_port:
        port, mask = ts.start_port, 0xFFFF
    else:
        log.warning("port range %d-%d cannot be an XFRM selector: using any port",
                    ts.start_port, ts.end_port)
        port, mask = 0, 0
    return [SelectorPart(str(n), port, mask) for n in nets]


def selector_fields(src: SelectorPart, dst: SelectorPart, proto: int) -> dict[str, Any]:
    """An ``xfrm_selector`` dict for traffic from `src` to `dst`."""
    s, d = ipaddress.ip_network(src.network), ipaddress.ip_network(dst.network)
    return {
        "saddr": xn.addr_bytes(str(s.network_address)), "daddr": xn.addr_bytes(str(d.network_address)),
        "prefixlen_s": s.prefixlen, "prefixlen_d": d.prefixlen,
        "sport": src.port, "sport_mask": src.port_mask,
        "dport": dst.port, "dport_mask": dst.port_mask,
        "family": socket.AF_INET6 if s.version == 6 else socket.AF_INET, "proto": proto,
    }


@dataclass(frozen=True)
class PolicyKey:
    """What identifies a policy in the kernel: direction, selector, if_id."""

    dir: int
    src: SelectorPart
    dst: SelectorPart
    proto: int
    if_id: int = 0


@dataclass(frozen=True)
class PolicyEntry:
    """A wanted policy: key, template and who wants it."""

    key: PolicyKey
    tmpl_src: str  # outer addresses of the template
    tmpl_dst: str
    reqid: int
    owner: str  # CHILD name
    tunnel_if: str

    @property
    def priority(self) -> int:
        s, d = ipaddress.ip_network(self.key.src.network), ipaddress.ip_network(self.key.dst.network)
        specific = (s.prefixlen + d.prefixlen) * 4 + (2 if self.key.proto else 0)
        specific += (1 if self.key.src.port_mask else 0) + (1 if self.key.dst.port_mask else 0)
        return PRIORITY_BASE - specific


def _is_any(part: SelectorPart) -> bool:
    return ipaddress.ip_network(part.network).prefixlen == 0


@dataclass(frozen=True)
class TrapSpec:
    """Policies to install before any SA, so that matching traffic triggers an ACQUIRE.

    One per CHILD (tunnel or tunnel:proxy-id) of a gateway that may initiate.
    """

    name: str  # "T-SiteB" or "T-SiteB:PID1", as ChildSaSpec.name
    tunnel_if: str
    local_addr: str  # outer addresses
    peer_addr: str
    local_ts: tuple[TrafficSelector, ...]
    remote_ts: tuple[TrafficSelector, ...]


@dataclass
class _Child:
    spec: ChildSaSpec
    reqid: int
    if_id: int
    expired: set[str] = field(default_factory=set)


def tunnel_if_id(name: str) -> int:
    """The XFRM if_id of ``tunnel.N`` (N; bare ``tunnel`` gets a fixed id)."""
    m = re.fullmatch(r"tunnel(?:\.(\d+))?", name)
    if not m:
        raise ValueError(f"not a tunnel interface name: {name}")
    return int(m.group(1)) if m.group(1) else XFRMI_BARE_TUNNEL_ID


# --- sockets of the IKE daemon --------------------------------------------------

IP_XFRM_POLICY = 17
IPV6_XFRM_POLICY = 35
SOL_UDP = 17
UDP_ENCAP = 100


def bypass_ipsec(sock: socket.socket) -> None:
    """Exempt an IKE socket from IPsec policies (per-socket ALLOW policies, in and out).

    Without it, IKE packets whose addresses fall inside a CHILD's selectors would be
    sent into the tunnel they are negotiating.
    """
    family = sock.family
    level, opt = ((socket.IPPROTO_IPV6, IPV6_XFRM_POLICY) if family == socket.AF_INET6
                  else (socket.IPPROTO_IP, IP_XFRM_POLICY))
    for direction in (xn.XFRM_POLICY_IN, xn.XFRM_POLICY_OUT):
        pol = xn.XfrmUserpolicyInfoStruct.pack({
            "sel": {"family": family}, "lft": xn.XfrmLifetimeCfg.infinite(),
            "dir": direction, "action": xn.XFRM_POLICY_ALLOW})
        sock.setsockopt(level, opt, pol)


def enable_esp_in_udp(sock: socket.socket) -> None:
    """Let the kernel take ESP-in-UDP (RFC 3948) off this port-4500 socket; IKE (non-ESP
    marker) still reaches the application."""
    sock.setsockopt(SOL_UDP, UDP_ENCAP, struct.pack("i", xn.UDP_ENCAP_ESPINUDP))


# --- the data plane -------------------------------------------------------------


class KernelDataPlane:
    """The kernel XFRM data plane, optionally in a named network namespace (tests)."""

    forces_udp_encap = False  # the kernel takes raw ESP as well

    def __init__(self, netns: str | None = None, hold_packets: bool = True) -> None:
        self.events = DataPlaneEvents()
        self.netns = netns
        self.hold_packets = hold_packets
        self._larval_drop_before: str | None = None
        self._caps: KernelCapabilities | None = None
        self._cmd: xn.XfrmChannel | None = None
        self._listener: xn.XfrmChannel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._children: dict[int, _Child] = {}  # inbound spi -> child
        self._out_to_in: dict[int, int] = {}
        self._reqids: dict[str, int] = {}
        self._next_reqid = itertools.count(REQID_BASE)
        self._traps: dict[str, TrapSpec] = {}
        self._installed: dict[PolicyKey, PolicyEntry] = {}
        self._xfrmi: dict[str, int] = {}  # links this plane made: name -> if_id
        self._skipped: set[str] = set()  # names whose policies were not installed
        self.acquires = 0
        self.problems: list[str] = []

    # -- life cycle

    def open(self) -> None:
        """Probe the kernel and open the command socket (done by :meth:`start`, or lazily)."""
        if self._cmd is not None:
            return
        self._caps = probe_kernel(self.netns)
        for note in self._caps.notes():
            log.warning("kernel data plane: %s", note)
        self._cmd = xn.XfrmChannel(self.netns)
        self.remove_leftovers()
        if self.hold_packets:
            self._larval_drop_before = self._sysctl(LARVAL_DROP, "0")

    def remove_leftovers(self) -> tuple[int, int]:
        """Remove the SAs and policies a previous vpnsh left in the kernel (their reqid says
        so: :data:`REQID_BASE`); returns (SAs, policies) removed."""
        sas = policies = 0
        try:
            for msg in self._request(xn.build(xn.xfrm_userpolicy_id, {}), xn.XFRM_MSG_GETPOLICY,
                                     dump=True):
                if not any(owned_reqid(t["reqid"]) for t in msg.get_attr("XFRMA_TMPL") or []):
                    continue
                if_id = msg.get_attr("XFRMA_IF_ID") or 0
                req = xn.build(xn.xfrm_userpolicy_id, {"sel": msg["sel"], "dir": msg["dir"]},
                               [("XFRMA_IF_ID", if_id)] if if_id else [])
                with contextlib.suppress(NetlinkError):
                    self._request(req, xn.XFRM_MSG_DELPOLICY)
                    policies += 1
            for msg in self._request(xn.build(xn.xfrm_usersa_id, {}), xn.XFRM_MSG_GETSA,
                                     dump=True):
                if not owned_reqid(msg["reqid"]):
                    continue
                sa_id = msg["id"]
                req = xn.build(xn.xfrm_usersa_id, {"daddr": sa_id["daddr"], "spi": sa_id["spi"],
                                                   "family": msg["family"], "proto": sa_id["proto"]},
                               [("XFRMA_SRCADDR", msg["saddr"])])
                with contextlib.suppress(NetlinkError):
                    self._request(req, xn.XFRM_MSG_DELSA)
                    sas += 1
        except (NetlinkError, KernelDataPlaneError) as exc:
            log.warning("kernel data plane: cannot clean what a previous run left: %s", exc)
        if sas or policies:
            log.warning("kernel data plane: removed %d SA(s) and %d policy(ies) a previous run "
                        "left (it did not stop cleanly)", sas, policies)
        return sas, policies

    def _sysctl(self, path: str, value: str) -> str | None:
        """Set a /proc/sys value in this plane's namespace; return the previous one."""
        try:
            if self.netns is None:
                with open(path) as f:
                    before = f.read().strip()
                with open(path, "w") as f:
                    f.write(value)
                return before
            key = path.removeprefix("/proc/sys/").replace("/", ".")
            res = subprocess.run(["ip", "netns", "exec", self.netns, "sysctl", "-n", key],
                                 capture_output=True, text=True, timeout=10, check=True)
            subprocess.run(["ip", "netns", "exec", self.netns, "sysctl", "-q", "-w",
                            f"{key}={value}"], capture_output=True, timeout=10, check=True)
            return res.stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("cannot set %s to %s: %s", path, value, exc)
            return None

    @property
    def caps(self) -> KernelCapabilities:
        if self._caps is None:
            self._caps = probe_kernel(self.netns)
        return self._caps

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.open)
        self._listener = xn.XfrmChannel(
            self.netns, groups=xn.group_mask(xn.XFRMNLGRP_ACQUIRE, xn.XFRMNLGRP_EXPIRE))
        self._loop = loop
        loop.add_reader(self._listener.fileno(), self._on_readable)

    async def stop(self) -> None:
        if self._loop is not None and self._listener is not None:
            self._loop.remove_reader(self._listener.fileno())
        for spi in list(self._children):
            self.remove_child(spi)
        self._traps.clear()
        with contextlib.suppress(Exception):
            self._sync_policies()
        self._remove_links(set(self._xfrmi))
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._cmd is not None:
            self._cmd.close()
            self._cmd = None
        if self._larval_drop_before is not None:
            self._sysctl(LARVAL_DROP, self._larval_drop_before)
            self._larval_drop_before = None

    def info(self) -> DataPlaneInfo:
        notes = list(self.caps.notes())
        if not self.caps.esp:
            notes.append("kernel data plane: CHILD SAs cannot be installed; "
                         "use --dataplane userspace")
        notes.extend(f"{name}: selectors any <-> any need XFRM interfaces; no policies installed"
                     for name in sorted(self._skipped))
        notes.extend(self.problems)
        return DataPlaneInfo("kernel", notes)

    # -- netlink

    def _channel(self) -> xn.XfrmChannel:
        if self._cmd is None:
            self.open()
        assert self._cmd is not None
        return self._cmd

    def _request(self, msg: nlmsg, msg_type: int, *, dump: bool = False) -> list[nlmsg]:
        """One netlink request; a kernel refusal is a ``NetlinkError``, a broken or
        silent socket a :class:`KernelDataPlaneError`."""
        try:
            return self._channel().request(msg, msg_type, dump=dump)
        except OSError as exc:
            raise KernelDataPlaneError(f"XFRM netlink socket: {exc}") from exc

    # -- interfaces and routes

    def set_interfaces(self, interfaces: list[TunnelInterface], routes: list[Route]) -> None:
        self.problems = []
        if not self.caps.xfrmi:
            if interfaces:
                log.warning("kernel data plane: %s: %s", ", ".join(i.name for i in interfaces),
                            self.caps.xfrmi_reason)
                self.problems.append(
                    f"{', '.join(i.name for i in interfaces)}: not created ({self.caps.xfrmi_reason})")
            wanted: dict[str, TunnelInterface] = {}
        else:
            wanted = {i.name: i for i in interfaces}
        self._remove_links(set(self._xfrmi) - set(wanted))
        kwargs = {"netns": self.netns} if self.netns else {}

        def work() -> list[str]:
            from pyroute2 import IPRoute

            problems: list[str] = []
            with IPRoute(**kwargs) as ipr:
                for name, iface in wanted.items():
                    if_id = tunnel_if_id(name)
                    try:
                        if rt.link_index(ipr, name) is None:
                            ipr.link("add", ifname=name, kind="xfrm", xfrm_if_id=if_id)
                        self._xfrmi[name] = if_id
                        rt.configure_link(ipr, name, iface.addresses, iface.mtu)
                    except Exception as exc:  # noqa: BLE001 - reported
                        problems.append(f"{name}: cannot create XFRM interface: {exc}")
                problems.extend(rt.sync_routes(ipr, routes))
            return problems

        for problem in in_thread(work):
            log.warning("kernel data plane: %s", problem)
            self.problems.append(problem)
        try:  # policies of route-based tunnels carry the if_id of their interface
            self._sync_policies()
        except KernelDataPlaneError as exc:
            self.problems.append(str(exc))

    def _remove_links(self, names: set[str]) -> None:
        if not names:
            return
        kwargs = {"netns": self.netns} if self.netns else {}

        def work() -> None:
            from pyroute2 import IPRoute

            with IPRoute(**kwargs) as ipr:
                for name in names:
                    with contextlib.suppress(Exception):
                        ipr.link("del", ifname=name)

        with contextlib.suppress(Exception):
            in_thread(work)
        for name in names:
            self._xfrmi.pop(name, None)

    def _if_id(self, tunnel_if: str) -> int:
        return self._xfrmi.get(tunnel_if, 0)

    # -- traps and policies

    def set_traps(self, traps: Iterable[TrapSpec]) -> None:
        """Make the trap policies exactly these (on-demand negotiation: see module doc)."""
        self._traps = {t.name: t for t in traps}
        self._sync_policies()

    def _reqid(self, name: str) -> int:
        if name not in self._reqids:
            self._reqids[name] = next(self._next_reqid)
        return self._reqids[name]

    def _entries(self, name: str, tunnel_if: str, local_addr: str, peer_addr: str,
                 local_ts: Iterable[TrafficSelector], remote_ts: Iterable[TrafficSelector]
                 ) -> list[PolicyEntry]:
        if_id = self._if_id(tunnel_if)
        reqid = self._reqid(name)
        out: list[PolicyEntry] = []
        for lts in local_ts:
            for rts in remote_ts:
                if lts.version != rts.version:
                    continue
                proto = lts.ip_proto or rts.ip_proto
                for lp in selector_parts(lts):
                    for rp in selector_parts(rts):
                        if not if_id and _is_any(lp) and _is_any(rp):
                            self._skipped.add(name)
                            continue
                        out.append(PolicyEntry(PolicyKey(xn.XFRM_POLICY_OUT, lp, rp, proto, if_id),
                                               local_addr, peer_addr, reqid, name, tunnel_if))
                        for direction in (xn.XFRM_POLICY_IN, xn.XFRM_POLICY_FWD):
                            out.append(PolicyEntry(PolicyKey(direction, rp, lp, proto, if_id),
                                                   peer_addr, local_addr, reqid, name, tunnel_if))
        return out

    def _wanted_policies(self) -> dict[PolicyKey, PolicyEntry]:
        self._skipped = set()
        wanted: dict[PolicyKey, PolicyEntry] = {}
        sources: list[tuple[str, str, str, str, Any, Any]] = []
        for child in self._children.values():  # SAs first: their addresses win over traps
            s = child.spec
            sources.append((s.name, s.tunnel_if, s.local_addr, s.peer_addr, s.local_ts, s.remote_ts))
        for t in self._traps.values():
            sources.append((t.name, t.tunnel_if, t.local_addr, t.peer_addr, t.local_ts, t.remote_ts))
        for src in sources:
            for entry in self._entries(*src):
                other = wanted.get(entry.key)
                if other is not None and other.owner != entry.owner:
                    log.warning("policy %s of %s is already used by %s", entry.key, entry.owner,
                                other.owner)
                    continue
                wanted.setdefault(entry.key, entry)
        return wanted

    def _policy_msg(self, key: PolicyKey, entry: PolicyEntry | None) -> nlmsg:
        sel = selector_fields(key.src, key.dst, key.proto)
        attrs: list[tuple[str, Any]] = [("XFRMA_IF_ID", key.if_id)] if key.if_id else []
        if entry is None:
            return xn.build(xn.xfrm_userpolicy_id, {"sel": sel, "dir": key.dir}, attrs)
        family = xn.addr_family(entry.tmpl_dst)
        tmpl = {"id": {"daddr": xn.addr_bytes(entry.tmpl_dst), "proto": xn.IPPROTO_ESP},
                "family": family, "saddr": xn.addr_bytes(entry.tmpl_src), "reqid": entry.reqid,
                "mode": xn.XFRM_MODE_TUNNEL, "aalgos": ALL_ALGOS, "ealgos": ALL_ALGOS,
                "calgos": ALL_ALGOS}
        pol = {"sel": sel, "lft": xn.XfrmLifetimeCfg.infinite(), "priority": entry.priority,
               "dir": key.dir, "action": xn.XFRM_POLICY_ALLOW}
        return xn.build(xn.xfrm_userpolicy_info, pol, [("XFRMA_TMPL", [tmpl]), *attrs])

    def _sync_policies(self) -> None:
        """Make the kernel's policies (those this plane made) equal the wanted set."""
        wanted = self._wanted_policies()
        for key in [k for k in self._installed if k not in wanted]:
            try:
                self._request(self._policy_msg(key, None), xn.XFRM_MSG_DELPOLICY)
            except NetlinkError as exc:
                if exc.code != errno.ENOENT:
                    log.error("cannot remove policy %s: %s", key, xn.error_text(exc))
                    continue
            del self._installed[key]
        for key, entry in wanted.items():
            if self._installed.get(key) == entry:
                continue
            try:
                self._request(self._policy_msg(key, entry), xn.XFRM_MSG_UPDPOLICY)
            except NetlinkError as exc:
                msg = f"{entry.owner}: cannot install policy: {xn.error_text(exc)}"
                log.error("%s", msg)
                raise KernelDataPlaneError(msg) from exc
            self._installed[key] = entry

    def policies(self) -> list[dict[str, Any]]:
        """The kernel's policies (all of them, not only ours), decoded (XFRM_MSG_GETPOLICY)."""
        out = []
        for msg in self._request(xn.build(xn.xfrm_userpolicy_id, {}), xn.XFRM_MSG_GETPOLICY,
                                 dump=True):
            sel = msg["sel"]
            fam = sel["family"]
            tmpls = msg.get_attr("XFRMA_TMPL") or []
            out.append({
                "dir": msg["dir"], "index": msg["index"], "priority": msg["priority"],
                "src": f"{xn.addr_text(sel['saddr'], fam)}/{sel['prefixlen_s']}",
                "dst": f"{xn.addr_text(sel['daddr'], fam)}/{sel['prefixlen_d']}",
                "proto": sel["proto"], "if_id": msg.get_attr("XFRMA_IF_ID") or 0,
                "tmpl": [{"src": xn.addr_text(t["saddr"], t["family"]),
                          "dst": xn.addr_text(t["id"]["daddr"], t["family"]),
                          "reqid": t["reqid"], "mode": t["mode"]} for t in tmpls],
            })
        return out

    # -- CHILD SAs

    def _sa_msg(self, spec: ChildSaSpec, keys: EspKeys, src: str, dst: str, inbound: bool,
                reqid: int, if_id: int) -> nlmsg:
        family = xn.addr_family(dst)
        inner = spec.local_ts[0] if spec.local_ts else None
        inner_family = (xn.addr_family(str(inner.start_addr)) if inner is not None else family)
        flags = 0
        if inner_family != family:
            flags |= xn.XFRM_STATE_AF_UNSPEC
        if inbound and spec.copy_tos:
            flags |= xn.XFRM_STATE_DECAP_DSCP
        window = spec.replay_window if spec.anti_replay else 0
        attrs: list[tuple[str, Any]] = list(algorithm_attrs(keys))
        replay_field = 0
        if spec.esn or window > 32:
            if spec.esn:
                flags |= xn.XFRM_STATE_ESN
            bmp_len = (window + 31) // 32
            attrs.append(("XFRMA_REPLAY_ESN_VAL", {"bmp_len": bmp_len, "replay_window": window,
                                                   "bmp": bytes(4 * bmp_len)}))
        else:
            replay_field = window
        if spec.encap:
            lport, pport = spec.encap
            sport, dport = (pport, lport) if inbound else (lport, pport)
            attrs.append(("XFRMA_ENCAP", {"encap_type": xn.UDP_ENCAP_ESPINUDP,
                                          "encap_sport": sport, "encap_dport": dport}))
        if not inbound and not spec.copy_tos:
            attrs.append(("XFRMA_SA_EXTRA_FLAGS", xn.XFRM_SA_XFLAG_DONT_ENCAP_DSCP))
        if if_id:
            attrs.append(("XFRMA_IF_ID", if_id))
        lft = xn.XfrmLifetimeCfg.infinite(
            soft_byte_limit=spec.lifesize_soft_kb * 1024, hard_byte_limit=spec.lifesize_hard_kb * 1024,
            soft_add_expires_seconds=spec.lifetime_soft, hard_add_expires_seconds=spec.lifetime_hard)
        sa = {"sel": {"family": inner_family},
              "id": {"daddr": xn.addr_bytes(dst), "spi": keys.spi, "proto": xn.IPPROTO_ESP},
              "saddr": xn.addr_bytes(src), "lft": lft, "family": family,
              "mode": xn.XFRM_MODE_TUNNEL, "reqid": reqid, "replay_window": replay_field,
              "flags": flags}
        return xn.build(xn.xfrm_usersa_info, sa, attrs)

    def _sa_id_msg(self, dst: str, src: str, spi: int) -> nlmsg:
        return xn.build(xn.xfrm_usersa_id, {"daddr": xn.addr_bytes(dst), "spi": spi,
                                            "family": xn.addr_family(dst),
                                            "proto": xn.IPPROTO_ESP},
                        [("XFRMA_SRCADDR", xn.addr_bytes(src))])

    def _delete_sa(self, dst: str, src: str, spi: int) -> None:
        try:
            self._request(self._sa_id_msg(dst, src, spi), xn.XFRM_MSG_DELSA)
        except NetlinkError as exc:
            if exc.code not in (errno.ENOENT, errno.ESRCH):
                log.error("cannot delete SA 0x%08x: %s", spi, xn.error_text(exc))
        except KernelDataPlaneError as exc:
            log.error("cannot delete SA 0x%08x: %s", spi, exc)

    def sa_messages(self, spec: ChildSaSpec) -> list[tuple[EspKeys, str, str, bool, nlmsg]]:
        """The XFRM_MSG_NEWSA messages of a CHILD: (keys, src, dst, inbound, message)."""
        reqid = self._reqid(spec.name)
        if_id = self._if_id(spec.tunnel_if)
        return [(keys, src, dst, inbound,
                 self._sa_msg(spec, keys, src, dst, inbound, reqid, if_id))
                for keys, src, dst, inbound in (
                    (spec.inbound, spec.peer_addr, spec.local_addr, True),
                    (spec.outbound, spec.local_addr, spec.peer_addr, False))]

    def install_child(self, spec: ChildSaSpec) -> None:
        if not self.caps.esp:
            text = f"{spec.name}: cannot install SA 0x{spec.inbound.spi:08x}: {self.caps.esp_reason}"
            log.error("%s", text)
            raise KernelDataPlaneError(text)
        reqid = self._reqid(spec.name)
        if_id = self._if_id(spec.tunnel_if)
        done: list[tuple[str, str, int]] = []
        for keys, src, dst, inbound, msg in self.sa_messages(spec):
            try:
                self._request(msg, xn.XFRM_MSG_NEWSA)
            except (NetlinkError, KernelDataPlaneError) as exc:
                for d, s, spi in done:
                    self._delete_sa(d, s, spi)
                raise self._install_error(spec, keys, inbound, exc) from exc
            done.append((dst, src, keys.spi))
        self._children[spec.inbound.spi] = _Child(spec, reqid, if_id)
        self._out_to_in[spec.outbound.spi] = spec.inbound.spi
        try:
            self._sync_policies()
        except KernelDataPlaneError:
            self.remove_child(spec.inbound.spi)
            raise
        log.info("%s: installed SA pair in 0x%08x out 0x%08x reqid %d",
                 spec.name, spec.inbound.spi, spec.outbound.spi, reqid)

    def _install_error(self, spec: ChildSaSpec, keys: EspKeys, inbound: bool,
                       exc: BaseException) -> KernelDataPlaneError:
        way = "inbound" if inbound else "outbound"
        if isinstance(exc, NetlinkError) and exc.code == errno.EPROTONOSUPPORT:
            text = f"{spec.name}: cannot install {way} SA 0x{keys.spi:08x}: {ESP_MISSING}"
        elif isinstance(exc, NetlinkError) and exc.code == errno.ENOSYS:
            text = (f"{spec.name}: cannot install {way} SA 0x{keys.spi:08x}: the kernel lacks "
                    f"an algorithm ({xn.error_text(exc)}): {algorithm_attrs(keys)[0][1]['alg_name']}")
        elif isinstance(exc, NetlinkError):
            text = f"{spec.name}: cannot install {way} SA 0x{keys.spi:08x}: {xn.error_text(exc)}"
        else:
            text = f"{spec.name}: cannot install {way} SA 0x{keys.spi:08x}: {exc}"
        log.error("%s", text)
        return KernelDataPlaneError(text)

    def remove_child(self, inbound_spi: int) -> None:
        child = self._children.pop(inbound_spi, None)
        if child is None:
            return
        spec = child.spec
        self._out_to_in.pop(spec.outbound.spi, None)
        self._delete_sa(spec.local_addr, spec.peer_addr, spec.inbound.spi)
        self._delete_sa(spec.peer_addr, spec.local_addr, spec.outbound.spi)
        try:
            self._sync_policies()
        except KernelDataPlaneError as exc:
            log.error("%s", exc)

    def _get_sa(self, dst: str, src: str, spi: int) -> nlmsg | None:
        try:
            replies = self._request(self._sa_id_msg(dst, src, spi), xn.XFRM_MSG_GETSA)
        except NetlinkError as exc:
            if exc.code not in (errno.ENOENT, errno.ESRCH):
                log.error("cannot read SA 0x%08x: %s", spi, xn.error_text(exc))
            return None
        except KernelDataPlaneError as exc:
            log.error("cannot read SA 0x%08x: %s", spi, exc)
            return None
        return replies[0] if replies else None

    def global_counters(self) -> dict[str, int]:
        """The kernel's XFRM drop counters (this namespace's /proc/net/xfrm_stat) under the
        names of ``show counter global`` (vpnsh.engine.counters)."""
        return xfrm_stat_counters()

    def counters(self, inbound_spi: int) -> SaCounters | None:
        child = self._children.get(inbound_spi)
        if child is None:
            return None
        spec = child.spec
        c = SaCounters()
        sa_in = self._get_sa(spec.local_addr, spec.peer_addr, spec.inbound.spi)
        sa_out = self._get_sa(spec.peer_addr, spec.local_addr, spec.outbound.spi)
        if sa_in is not None:
            c.decap_packets = sa_in["curlft"]["packets"]
            c.decap_bytes = sa_in["curlft"]["bytes"]
            c.replay_packets = sa_in["stats"]["replay"]
            c.auth_errors = sa_in["stats"]["integrity_failed"]
            c.recv_seq = _replay_seq(sa_in, outbound=False)
        if sa_out is not None:
            c.encap_packets = sa_out["curlft"]["packets"]
            c.encap_bytes = sa_out["curlft"]["bytes"]
            c.send_seq = _replay_seq(sa_out, outbound=True)
        return c

    def esp_in_udp(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        """The kernel decapsulates ESP-in-UDP itself (see :func:`enable_esp_in_udp`)."""
        return None

    # -- kernel messages

    def _on_readable(self) -> None:
        if self._listener is None:
            return
        try:
            msgs = self._listener.read_events()
        except OSError as exc:
            log.error("XFRM listener: %s", exc)
            return
        self.dispatch(msgs)

    def dispatch(self, msgs: Iterable[nlmsg]) -> None:
        """Turn kernel ACQUIRE / EXPIRE messages into engine events."""
        for msg in msgs:
            mtype = msg["header"].get("type")
            try:
                if mtype == xn.XFRM_MSG_ACQUIRE:
                    self._on_acquire(msg)
                elif mtype == xn.XFRM_MSG_EXPIRE:
                    self._on_expire(msg)
                elif mtype == -1:
                    log.warning("XFRM listener overrun: kernel messages were lost")
            except Exception:  # a bad message or callback must not stop the listener
                log.exception("XFRM message %s", mtype)

    def _on_acquire(self, msg: nlmsg) -> None:
        sel = msg["sel"]
        fam = sel["family"]
        src, dst = xn.addr_text(sel["saddr"], fam), xn.addr_text(sel["daddr"], fam)
        proto = sel["proto"]
        dport = sel["dport"] if proto in (6, 17, 132) else 0
        tunnel_if = self._tunnel_of_acquire(msg, src, dst)
        if tunnel_if is None:
            log.debug("ACQUIRE %s -> %s matches no policy of ours", src, dst)
            return
        self.acquires += 1
        log.info("ACQUIRE %s -> %s proto %d on %s", src, dst, proto, tunnel_if)
        self.events.acquire(tunnel_if, src, dst, proto, dport)

    def _tunnel_of_acquire(self, msg: nlmsg, src: str, dst: str) -> str | None:
        pol = msg["policy"]
        psel = pol["sel"]
        fam = psel["family"]
        if_id = msg.get_attr("XFRMA_IF_ID") or 0
        try:
            key = PolicyKey(
                pol["dir"],
                SelectorPart(f"{xn.addr_text(psel['saddr'], fam)}/{psel['prefixlen_s']}",
                             psel["sport"], psel["sport_mask"]),
                SelectorPart(f"{xn.addr_text(psel['daddr'], fam)}/{psel['prefixlen_d']}",
                             psel["dport"], psel["dport_mask"]),
                psel["proto"], if_id)
        except ValueError:
            key = None
        entry = self._installed.get(key) if key is not None else None
        if entry is not None:
            return entry.tunnel_if
        for name, link_if_id in self._xfrmi.items():  # route-based: the interface's if_id
            if if_id and link_if_id == if_id:
                return name
        for t in self._traps.values():  # last resort: the selectors
            if (any(ts_contains(ts, src) for ts in t.local_ts)
                    and any(ts_contains(ts, dst) for ts in t.remote_ts)):
                return t.tunnel_if
        return None

    def _on_expire(self, msg: nlmsg) -> None:
        state = msg["state"]
        spi = state["id"]["spi"]
        kind = "hard" if msg["hard"] else "soft"
        inbound = self._out_to_in.get(spi, spi)
        child = self._children.get(inbound)
        if child is not None:
            if kind in child.expired:
                return
            child.expired.add(kind)
        log.info("EXPIRE (%s) SA 0x%08x", kind, spi)
        self.events.expire(inbound, kind)


def _replay_seq(sa: nlmsg, outbound: bool) -> int:
    esn = sa.get_attr("XFRMA_REPLAY_ESN_VAL")
    if esn:
        lo, hi = (esn["oseq"], esn["oseq_hi"]) if outbound else (esn["seq"], esn["seq_hi"])
        return int((hi << 32) | lo)
    rs = sa.get_attr("XFRMA_REPLAY_VAL")
    if rs:
        return int(rs["oseq"] if outbound else rs["seq"])
    return 0


# /proc/net/xfrm_stat -> counter names of ``show counter global``
_XFRM_STAT = {
    "XfrmInNoStates": "esp_drop_unknown_spi",
    "XfrmInStateProtoError": "esp_drop_auth_fail",
    "XfrmInStateSeqError": "esp_drop_replay",
    "XfrmInStateExpired": "esp_drop_expired_sa",
    "XfrmInTmplMismatch": "esp_drop_selector",
    "XfrmInHdrError": "esp_drop_malformed",
    "XfrmInNoPols": "esp_drop_no_policy",
    "XfrmOutNoStates": "tun_drop_no_sa",
    "XfrmAcquireError": "key_acquire_error",
}


def xfrm_stat_counters(path: str = "/proc/net/xfrm_stat") -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] in _XFRM_STAT and parts[1].isdigit():
                    name = _XFRM_STAT[parts[0]]
                    out[name] = out.get(name, 0) + int(parts[1])
    except OSError:
        pass
    return out
