"""Network namespaces for tests: hosts, links, a NAT router, processes inside.

Everything made here is torn down when the `NetLab` closes, even when a test
fails; namespaces left by a crashed run are swept by the next one.

Names: every namespace is ``vt-<pid>-<n>-<role>`` where ``pid`` is the process
that made it, so a sweep removes only namespaces whose creator is gone and
never those of a test run going on beside it.

    with NetLab() as lab:
        a = lab.add_host("a")
        b = lab.add_host("b")
        lab.connect(a, "198.51.100.1/24", b, "198.51.100.2/24")
        a.run("ping", "-c1", "-W1", "198.51.100.2")

Pytest users import the fixtures (``from tests.helpers.netns import netlab``) or
call `NetLab` themselves.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

PREFIX = "vt-"
NETNS_DIR = Path("/run/netns")
_NAME_RE = re.compile(r"^vt-(\d+)-")
_counter = itertools.count(1)


class NetnsError(RuntimeError):
    """A command that sets up or drives a namespace failed."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res


# --- capability probe -------------------------------------------------------


@functools.lru_cache(maxsize=1)
def netns_missing() -> str | None:
    """Why namespace tests cannot run here, or None if they can.

    Probes for real: creates and deletes a namespace, so a container without
    CAP_SYS_ADMIN is told apart from a root shell on a full host.
    """
    if os.geteuid() != 0:
        return "not root: network namespaces need uid 0 (run the tests as root)"
    if shutil.which("ip") is None:
        return "no `ip` command (install iproute2)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    res = _ip("netns", "add", probe, check=False)
    if res.returncode != 0:
        return f"`ip netns add` fails: {res.stderr.strip() or 'unknown error'}"
    try:
        res = _ip("-n", probe, "link", "add", "vtprobe0", "type", "veth", "peer", "name",
                  "vtprobe1", check=False)
        if res.returncode != 0:
            return f"cannot create a veth pair in a namespace: {res.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
        os.close(fd)
    except OSError as exc:
        return f"no usable /dev/net/tun ({exc.strerror})"
    return None


def tool_missing(*tools: str) -> str | None:
    """Which of the named programs is not on PATH, as a skip reason."""
    absent = [t for t in tools if shutil.which(t) is None]
    return f"missing program(s): {', '.join(absent)}" if absent else None


requires_netns = pytest.mark.skipif(
    netns_missing() is not None, reason=str(netns_missing())
)


# --- stale sweep ------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces() -> list[str]:
    res = _ip("netns", "list", check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def kill_namespace_pids(name: str) -> None:
    """SIGKILL every process that lives in namespace `name`."""
    res = _ip("netns", "pids", name, check=False)
    for tok in res.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(tok), signal.SIGKILL)


def sweep_stale() -> list[str]:
    """Delete `vt-` namespaces whose creating process is gone; return their names."""
    removed = []
    for name in list_namespaces():
        m = _NAME_RE.match(name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        kill_namespace_pids(name)
        _ip("netns", "del", name, check=False)
        removed.append(name)
    return removed


# --- processes --------------------------------------------------------------


@dataclass
class BackgroundProcess:
    """A process started inside a namespace, in its own process group."""

    args: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after `timeout`; return the exit code."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        else:
            # the leader is gone; children it left in its group go too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.popen.returncode

    def output(self) -> str:
        """The captured stdout+stderr so far (when started with a log file)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
               what: str = "condition") -> object:
    """Poll `predicate` until it returns something truthy; raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


# --- namespaces -------------------------------------------------------------


@dataclass
class Namespace:
    """One network namespace: a host or a router."""

    name: str
    role: str
    processes: list[BackgroundProcess] = field(default_factory=list)

    def exec_args(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 60.0,
            input: str | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run a command inside and wait for it; output is captured as text."""
        full_env = None if env is None else {**os.environ, **env}
        res = subprocess.run(self.exec_args(args), capture_output=True, text=True,
                             timeout=timeout, input=input, env=full_env)
        if check and res.returncode != 0:
            raise NetnsError(f"[{self.name}] {' '.join(args)} -> {res.returncode}: "
                             f"{(res.stderr or res.stdout).strip()}")
        return res

    def sh(self, script: str, check: bool = True, timeout: float = 60.0
           ) -> subprocess.CompletedProcess[str]:
        return self.run("sh", "-c", script, check=check, timeout=timeout)

    def spawn(self, args: Sequence[str], *, log_path: Path | None = None,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> BackgroundProcess:
        """Start a background process inside; it is stopped when the lab closes.

        stdout and stderr go to `log_path` (or are discarded); stdin is /dev/null.
        """
        log = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
        full_env = None if env is None else {**os.environ, **env}
        popen = subprocess.Popen(
            self.exec_args(args), stdin=subprocess.DEVNULL,
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT, env=full_env, cwd=cwd, start_new_session=True)
        proc = BackgroundProcess(list(args), popen, log_path, log)
        self.processes.append(proc)
        return proc

    # network setup shorthands
    def ip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _ip("-n", self.name, *args)

    def add_address(self, ifname: str, cidr: str) -> None:
        self.ip("addr", "add", cidr, "dev", ifname)

    def add_loopback_address(self, addr: str) -> None:
        """An inner (LAN) address of this site: a /32 on `lo` (no dummy module here)."""
        self.ip("addr", "add", f"{addr.split('/')[0]}/32", "dev", "lo")

    def add_loopback_addresses(self, addrs: Sequence[str]) -> None:
        """Many /32 inner addresses on `lo` at once (one `ip -batch`)."""
        batch = "".join(f"addr replace {a.split('/')[0]}/32 dev lo\n" for a in addrs)
        res = subprocess.run(["ip", "-n", self.name, "-batch", "-"], input=batch, text=True,
                             capture_output=True, timeout=60)
        if res.returncode != 0:
            raise NetnsError(f"[{self.name}] ip -batch: {res.stderr.strip()}")

    def add_route(self, dest: str, via: str | None = None, dev: str | None = None) -> None:
        args = ["route", "replace", dest]
        if via:
            args += ["via", via]
        if dev:
            args += ["dev", dev]
        self.ip(*args)

    def sysctl(self, key: str, value: str | int) -> None:
        self.run("sysctl", "-q", "-w", f"{key}={value}")

    def nft(self, ruleset: str) -> None:
        """Load an nftables ruleset (text, `nft -f -` syntax) into this namespace."""
        self.run("nft", "-f", "-", input=ruleset)

    def set_loss(self, percent: int, hook: str = "forward") -> None:
        """Drop `percent`% of packets at `hook` (forward on a router, output on a host).

        No `tc netem` in this kernel, so the loss is an nftables random drop.
        Calling again replaces the previous rule; 0 removes it.
        """
        self.run("nft", "delete", "table", "inet", "vtloss", check=False)
        if percent <= 0:
            return
        rule = "drop" if percent >= 100 else f"numgen random mod 100 < {int(percent)} drop"
        self.nft(f"""table inet vtloss {{
  chain c {{ type filter hook {hook} priority -10; policy accept;
    {rule}
  }}
}}
""")

    def ping(self, dest: str, *, source: str | None = None, count: int = 1,
             wait: float = 1.0, check: bool = False) -> bool:
        args = ["ping", "-n", "-q", "-c", str(count), "-W", str(wait)]
        if source:
            args += ["-I", source]
        res = self.run(*args, dest, check=check, timeout=count * (wait + 1) + 5)
        return res.returncode == 0

    def send_udp_raw(self, src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
        """Send one IPv4/UDP datagram with any source address and port (raw socket), e.g.
        to replay captured ESP-in-UDP while the real endpoint holds port 4500."""
        self.run(sys.executable, "-c", _RAW_UDP_SENDER, src, str(sport), dst, str(dport),
                 payload.hex())

    def capture(self, ifname: str, path: Path, bpf: str = "", timeout: float = 20.0
                ) -> Capture:
        """Capture on `ifname` into `path` (pcapng, dumpcap); returns once it really captures.

        The kernel hands packets to dumpcap in blocks, late, and drops what is pending
        when it stops; and dumpcap opens the interface a while after it says so. So
        the capture is bracketed by marker datagrams (UDP broadcast to port 9, sent
        out of `ifname`): start returns when a marker is in the file, `stop()` when a
        second one is, so everything in between is in the file. Markers are left out of
        `fields()` and `count()`.
        """
        if bpf:
            bpf = f"({bpf}) or (udp dst port {MARK_PORT} and dst host 255.255.255.255)"
        args = ["dumpcap", "-q", "-i", ifname, "-w", str(path)]
        if bpf:
            args += ["-f", bpf]
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        proc = self.spawn(args, log_path=path.with_suffix(".log"))
        cap = Capture(self, proc, path, ifname)
        cap.mark(timeout)
        return cap

    def stop_processes(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


MARK_PORT = 9
_RAW_UDP_SENDER = """
import socket, struct, sys
src, sport, dst, dport, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), bytes.fromhex(sys.argv[5])
udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, (dst, 0))
"""
_MARK_SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())
s.sendto(sys.argv[2].encode(), ("255.255.255.255", int(sys.argv[3])))
"""


@dataclass
class Capture:
    """A running packet capture (see `Namespace.capture`)."""

    ns: Namespace
    proc: BackgroundProcess
    path: Path
    ifname: str
    marks: int = 0

    def mark(self, timeout: float = 20.0) -> None:
        """Send marker datagrams until one is in the file (all before it is there too)."""
        self.marks += 1
        marker = f"vt-capture-mark-{os.getpid()}-{id(self)}-{self.marks}"
        deadline = time.monotonic() + timeout
        while True:
            if not self.proc.running():
                raise NetnsError(f"dumpcap exited: {self.proc.output()[-1000:]}")
            self.ns.run(sys.executable, "-c", _MARK_SENDER, self.ifname, marker, str(MARK_PORT))
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: self.path.exists() and marker.encode() in self.path.read_bytes(),
                           timeout=min(1.0, max(0.0, deadline - time.monotonic())),
                           what="capture marker")
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"capture on {self.ifname} never saw its marker")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop capturing once everything sent so far is in the file."""
        if self.proc.running():
            self.mark()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.popen.wait(timeout)
        self.proc.stop()

    def fields(self, *names: str, display_filter: str = "") -> list[list[str]]:
        """One row per packet with the named tshark fields (e.g. `ip.src`, `esp.spi`)."""
        self.stop()
        args = ["tshark", "-n", "-r", str(self.path), "-T", "fields"]
        for name in names:
            args += ["-e", name]
        no_marks = f"!(udp.dstport == {MARK_PORT} && ip.dst == 255.255.255.255)"
        args += ["-Y", f"({display_filter}) && {no_marks}" if display_filter else no_marks]
        res = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise NetnsError(f"tshark -r: {res.stderr.strip()}")
        return [line.split("\t") for line in res.stdout.splitlines() if line]

    def count(self, display_filter: str) -> int:
        return len(self.fields("frame.number", display_filter=display_filter))

    def udp_datagrams(self, display_filter: str = "udp") -> list[Datagram]:
        """The UDP datagrams in the capture, payload as bytes (e.g. to replay ESP-in-UDP)."""
        rows = self.fields("ip.src", "udp.srcport", "ip.dst", "udp.dstport", "udp.payload",
                           display_filter=display_filter)
        return [Datagram(r[0], int(r[1]), r[2], int(r[3]), bytes.fromhex(r[4].replace(":", "")))
                for r in rows if len(r) == 5 and r[1]]


@dataclass(frozen=True)
class Datagram:
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


@dataclass
class Link:
    """A veth pair: `left_if` lives in `left`, `right_if` in `right`."""

    left: Namespace
    left_if: str
    left_addr: str | None
    right: Namespace
    right_if: str
    right_addr: str | None


class NetLab:
    """Owner of a set of namespaces; closing it removes all of them."""

    def __init__(self, tag: str = "") -> None:
        self.id = f"{os.getpid()}-{next(_counter)}"
        self.tag = re.sub(r"[^a-z0-9]", "", tag.lower())[:8]
        self.namespaces: list[Namespace] = []
        self.links: list[Link] = []
        self._veths = itertools.count(0)
        self.closed = False

    def __enter__(self) -> NetLab:
        missing = netns_missing()
        if missing:
            raise NetnsError(missing)
        sweep_stale()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, role: str) -> Namespace:
        """A namespace with `lo` up."""
        role = re.sub(r"[^a-zA-Z0-9_.-]", "", role) or "ns"
        name = f"{PREFIX}{self.id}-{role}"
        _ip("netns", "add", name)
        ns = Namespace(name, role)
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def add_router(self, role: str = "router") -> Namespace:
        """A namespace that forwards IPv4."""
        ns = self.add_host(role)
        ns.sysctl("net.ipv4.ip_forward", 1)
        return ns

    def connect(self, left: Namespace, left_addr: str | None, right: Namespace,
                right_addr: str | None, *, left_if: str | None = None,
                right_if: str | None = None, mtu: int | None = None) -> Link:
        """A veth pair between two namespaces, addressed and up."""
        n = next(self._veths)
        left_if = left_if or f"veth{n}{right.role[:1]}"
        right_if = right_if or f"veth{n}{left.role[:1]}"
        k = next(_counter)  # process-wide: temporary names in the root namespace never clash
        tmp_l, tmp_r = f"vt{os.getpid() % 100000}x{k}l", f"vt{os.getpid() % 100000}x{k}r"
        _ip("link", "add", tmp_l, "type", "veth", "peer", "name", tmp_r)
        _ip("link", "set", tmp_l, "netns", left.name)
        _ip("link", "set", tmp_r, "netns", right.name)
        for ns, tmp, ifname, addr in ((left, tmp_l, left_if, left_addr),
                                      (right, tmp_r, right_if, right_addr)):
            ns.ip("link", "set", tmp, "name", ifname)
            if mtu:
                ns.ip("link", "set", ifname, "mtu", str(mtu))
            if addr:
                ns.add_address(ifname, addr)
            ns.ip("link", "set", ifname, "up")
        link = Link(left, left_if, left_addr, right, right_if, right_addr)
        self.links.append(link)
        return link

    def masquerade(self, router: Namespace, out_if: str) -> None:
        """Source-NAT everything the router sends out of `out_if` (nftables masquerade)."""
        router.nft(f"""table ip vtnat {{
  chain post {{ type nat hook postrouting priority 100; policy accept;
    oifname "{out_if}" masquerade
  }}
}}
""")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for ns in reversed(self.namespaces):
            with contextlib.suppress(Exception):
                ns.stop_processes()
        for ns in reversed(self.namespaces):
            kill_namespace_pids(ns.name)
            _ip("netns", "del", ns.name, check=False)


# --- ready-made topologies ---------------------------------------------------


@dataclass
class Site:
    """One end of a site-to-site test: a host namespace with an outer and an inner address."""

    ns: Namespace
    outer: str  # address on the link towards the other site (or the router)
    inner: str  # LAN address behind the gateway, on lo
    inner_net: str
    outer_if: str


@dataclass
class TwoSites:
    left: Site
    right: Site
    router: Namespace | None = None


def two_sites(lab: NetLab, *, nat: bool = False, loss_percent: int = 0) -> TwoSites:
    """Two gateways `left` (198.51.100.1) and `right`, each with a LAN address on lo.

    Without `nat`: one veth, left 198.51.100.1/24 <-> right 198.51.100.2/24.
    With `nat`: left 198.51.100.1/24 -> router (198.51.100.254 | 203.0.113.254, masquerading
    out of its right side) -> right 203.0.113.2/24; right sees left as 203.0.113.254.
    `loss_percent` drops that share of forwarded packets in the router (implies a router).
    Inner addresses: left 10.1.0.1 (net 10.1.0.0/24), right 10.2.0.1 (net 10.2.0.0/24).
    """
    left = lab.add_host("left")
    right = lab.add_host("right")
    router = None
    if nat or loss_percent:
        router = lab.add_router("router")
        l1 = lab.connect(left, "198.51.100.1/24", router, "198.51.100.254/24")
        l2 = lab.connect(router, "203.0.113.254/24", right, "203.0.113.2/24")
        left.add_route("default", via="198.51.100.254")
        right.add_route("default", via="203.0.113.254")
        if nat:
            lab.masquerade(router, l2.left_if)
        if loss_percent:
            router.set_loss(loss_percent)
        lo, ro, lif, rif = "198.51.100.1", "203.0.113.2", l1.left_if, l2.right_if
    else:
        link = lab.connect(left, "198.51.100.1/24", right, "198.51.100.2/24")
        lo, ro, lif, rif = "198.51.100.1", "198.51.100.2", link.left_if, link.right_if
    left.add_loopback_address("10.1.0.1")
    right.add_loopback_address("10.2.0.1")
    return TwoSites(Site(left, lo, "10.1.0.1", "10.1.0.0/24", lif),
                    Site(right, ro, "10.2.0.1", "10.2.0.0/24", rif), router)


# --- pytest fixtures (import them into a test module or conftest) -----------


@pytest.fixture
def netlab(request: pytest.FixtureRequest) -> Iterator[NetLab]:
    """A `NetLab` for one test; skips with the reason when namespaces are unavailable."""
    missing = netns_missing()
    if missing:
        pytest.skip(missing)
    with NetLab(request.node.name) as lab:
        yield lab


@pytest.fixture
def sites(netlab: NetLab) -> TwoSites:
    """Two directly linked sites (see `two_sites`)."""
    return two_sites(netlab)


@pytest.fixture
def nat_sites(netlab: NetLab) -> TwoSites:
    """Two sites with a masquerading router between them (see `two_sites`)."""
    return two_sites(netlab, nat=True)
