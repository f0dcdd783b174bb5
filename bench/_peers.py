"""Shared plumbing for bench/ike_setup and bench/throughput.

Both benchmarks build one topology (two sites in network namespaces, see
tests/helpers/netns.py), run strongSwan <-> strongSwan in it, then vpnsh <-> vpnsh
in the same namespaces, and print the two side by side.

The vpnsh side runs real vpnshd processes configured with PAN-OS set commands
(`vpnsh_ike_setup`, `vpnsh_throughput`); topology, timing, CPU accounting and
tables are shared with the strongSwan side.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.helpers.daemon import Daemon  # noqa: E402
from tests.helpers.netns import (  # noqa: E402
    Namespace,
    NetLab,
    TwoSites,
    netns_missing,
    two_sites,
    wait_until,
)
from tests.helpers.strongswan import (  # noqa: E402
    Child,
    Connection,
    StrongSwan,
    strongswan_missing,
)

PSK = "bench-psk-0123456789abcdef"
IKE_PROPOSAL = "aes128gcm16-prfsha256-ecp256"
ESP_PROPOSAL = "aes128gcm16"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class NotAvailable(Exception):
    """This side of the comparison cannot run (yet); the message says why."""


@dataclass
class SetupResult:
    tunnels: int
    seconds: float
    cpu_seconds: float  # daemon CPU, both ends together

    @property
    def sas_per_second(self) -> float:
        return self.tunnels / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ThroughputResult:
    bytes: int
    seconds: float
    cpu_seconds: float  # daemon CPU, both ends together (user + system)
    retransmits: int = 0
    udp_rcvbuf_drops: int = 0  # datagrams the kernel dropped at full UDP socket buffers

    @property
    def mbit_s(self) -> float:
        return self.bytes * 8 / self.seconds / 1e6 if self.seconds > 0 else 0.0

    @property
    def cpu_s_per_gb(self) -> float:
        return self.cpu_seconds / (self.bytes / 1e9) if self.bytes else 0.0


# --- environment --------------------------------------------------------------


BENCH_SOCKET_BUFFER = 4 << 20


@contextlib.contextmanager
def socket_buffers(size: int | None = BENCH_SOCKET_BUFFER) -> Iterator[str]:
    """Default socket buffers (net.core.rmem_default and wmem_default, which are not per
    namespace) set to `size` for the run and put back after; None leaves them.

    charon's UDP socket keeps the default (208 KiB here) and drops ESP at full buffers,
    which TCP answers by slowing down; vpnsh sizes its sockets itself (4 MiB). Raised
    defaults let both sides run without those drops. Yields a line saying what was done."""
    keys = ("net.core.rmem_default", "net.core.wmem_default")
    paths = [Path("/proc/sys", *k.split(".")) for k in keys]
    if size is None:
        yield "socket buffers: system defaults (" + ", ".join(
            f"{k} {p.read_text().strip()}" for k, p in zip(keys, paths, strict=True)) + ")"
        return
    old = [p.read_text() for p in paths]
    try:
        for p in paths:
            p.write_text(str(size))
        yield (f"socket buffers: {', '.join(keys)} raised to {size >> 20} MiB for the run "
               "(restored after), so neither side drops ESP at a full UDP buffer")
    finally:
        for p, text in zip(paths, old, strict=True):
            p.write_text(text)


def check_environment(*programs: str) -> None:
    """Exit with the reason when the benchmark cannot run here at all."""
    from tests.helpers.netns import tool_missing

    reason = netns_missing() or strongswan_missing() or tool_missing(*programs)
    if reason:
        sys.exit(f"cannot run: {reason}")


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of the processes and of every live descendant (all their threads:
    vpnshd's data-plane worker processes count as vpnshd), in seconds."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, OSError):
                continue
    wanted = set(pids)
    grew = True
    while grew:  # add children of what is in, until nothing new
        more = {pid for pid, f in stats.items() if int(f[1]) in wanted} - wanted
        wanted |= more
        grew = bool(more)
    total = sum(int(stats[pid][11]) + int(stats[pid][12]) for pid in wanted if pid in stats)
    return total / CLK_TCK  # stat fields 14 and 15


def build_sites(lab: NetLab, tunnels: int = 1) -> TwoSites:
    """The benchmark topology: two sites on one veth (see tests.helpers.netns.two_sites),
    with an inner address (.1) in each tunnel's selectors (kernel-libipsec routes a
    CHILD SA only when a local address lies inside its local selector)."""
    sites = two_sites(lab)
    if tunnels > 1:
        nets = [tunnel_nets(n) for n in range(1, tunnels)]
        sites.left.ns.add_loopback_addresses([ln.replace(".0/24", ".1") for ln, _ in nets])
        sites.right.ns.add_loopback_addresses([rn.replace(".0/24", ".1") for _, rn in nets])
    return sites


# --- strongSwan side ------------------------------------------------------------


def _bench_charon_options() -> dict[str, object]:
    # All tunnels come from one peer address: strongSwan's per-IP half-open limit
    # (block_threshold, default 5) and cookies would otherwise turn the run into a
    # measurement of its 4 s retransmit timer. The vpnsh side should run without DoS
    # limits too, so both sides are timed doing IKE work.
    return {"dos_protection": "no", "cookie_threshold": 100000, "block_threshold": 100000}


def strongswan_ike_setup(lab: NetLab, sites: TwoSites, workdir: Path, tunnels: int
                         ) -> SetupResult:
    """Establish `tunnels` IKE SAs (one CHILD SA each) left -> right; time until all are up.

    Each tunnel is its own connection with its own ids and selectors
    (10.1.N.0/24 <-> 10.2.N.0/24 style, N = 0..tunnels-1 spread over /16s).
    The left side loads its connections with start_action=start and the clock runs
    from that load until charon has reported every CHILD SA up (vici child-updown).
    """
    lconns, rconns = [], []
    for n in range(tunnels):
        lnet, rnet = tunnel_nets(n)
        lid, rid = f"left-{n}.bench.example", f"right-{n}.bench.example"
        lconns.append(Connection(f"t{n}", [sites.left.outer], [sites.right.outer], PSK,
                                 [Child(f"c{n}", [lnet], [rnet], [ESP_PROPOSAL],
                                        start_action="start")],
                                 proposals=[IKE_PROPOSAL], local_id=lid, remote_id=rid))
        rconns.append(Connection(f"t{n}", [sites.right.outer], [sites.left.outer], PSK,
                                 [Child(f"c{n}", [rnet], [lnet], [ESP_PROPOSAL])],
                                 proposals=[IKE_PROPOSAL], local_id=rid, remote_id=lid))
    quiet = {"default": 0, "ike": 1, "cfg": 0, "knl": 0, "net": 0, "enc": 0, "chd": 0}
    if os.environ.get("VT_BENCH_DEBUG"):
        quiet = {"default": 1, "ike": 2, "knl": 2, "chd": 2, "cfg": 2}
    left = StrongSwan(sites.left.ns, workdir / "sw-left", connections=lconns,
                      log_levels=quiet, charon_options=_bench_charon_options())
    right = StrongSwan(sites.right.ns, workdir / "sw-right", connections=rconns,
                       log_levels=quiet, charon_options=_bench_charon_options())
    try:
        left.start()
        right.start()
        right.load_all()
        pids = [left.pid, right.pid]
        with left.session() as events:
            events.subscribe("child-updown")
            cpu0 = cpu_seconds(pids)
            t0 = time.monotonic()
            left.load_all()  # start_action=start: every tunnel initiates now
            up = 0
            deadline = t0 + 120
            while up < tunnels:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"only {up} of {tunnels} tunnels up after 120 s"
                                       f"{left.log_tail()}")
                _, ev = events.next_event(timeout=remaining)
                if ev.get("up") == "yes":
                    up += 1
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(pids) - cpu0
        established = sum(1 for sa in right.list_sas() if sa.state == "ESTABLISHED")
        if established < tunnels:
            raise RuntimeError(f"responder shows {established} of {tunnels} IKE SAs")
        return SetupResult(tunnels, elapsed, cpu)
    finally:
        left.stop()
        right.stop()


def tunnel_nets(n: int) -> tuple[str, str]:
    hi, lo = divmod(n, 256)
    return f"10.{1 + 2 * hi}.{lo}.0/24", f"10.{2 + 2 * hi}.{lo}.0/24"


def start_strongswan_tunnel(sites: TwoSites, workdir: Path) -> tuple[StrongSwan, StrongSwan]:
    """One tunnel 10.1.0.0/24 <-> 10.2.0.0/24 over kernel-libipsec, established."""
    def conn(a: str, b: str, an: str, bn: str) -> Connection:
        return Connection("s2s", [a], [b], PSK, [Child("net", [an], [bn], [ESP_PROPOSAL])],
                          proposals=[IKE_PROPOSAL])

    quiet = {"default": 0, "ike": 1}
    left = StrongSwan(sites.left.ns, workdir / "sw-left", log_levels=quiet, connections=[
        conn(sites.left.outer, sites.right.outer, sites.left.inner_net, sites.right.inner_net)])
    right = StrongSwan(sites.right.ns, workdir / "sw-right", log_levels=quiet, connections=[
        conn(sites.right.outer, sites.left.outer, sites.right.inner_net, sites.left.inner_net)])
    left.start()
    right.start()
    right.load_all()
    left.load_all()
    left.initiate("net")
    right.wait_for_sa(child="net")
    return left, right


def udp_rcvbuf_errors(ns: Namespace) -> int:
    """The namespace's UDP RcvbufErrors counter (/proc/net/snmp)."""
    lines = [ln.split() for ln in ns.run("cat", "/proc/net/snmp").stdout.splitlines()
             if ln.startswith("Udp:")]
    if len(lines) < 2 or "RcvbufErrors" not in lines[0]:
        return 0
    return int(lines[1][lines[0].index("RcvbufErrors")])


def iperf3(client: Namespace, server: Namespace, server_addr: str, client_addr: str,
           seconds: int, workdir: Path, daemon_pids: Sequence[int] = ()) -> ThroughputResult:
    """One iperf3 TCP run client -> server; CPU of `daemon_pids` over the run."""
    workdir.mkdir(parents=True, exist_ok=True)
    srv = server.spawn(["iperf3", "-s", "-1", "-B", server_addr],
                       log_path=workdir / f"iperf3-server-{server.role}.log")
    try:
        wait_until(lambda: server.run("ss", "-Hltn", "sport = :5201").stdout.strip(),
                   timeout=10, what="iperf3 server to listen")
        drops0 = udp_rcvbuf_errors(client) + udp_rcvbuf_errors(server)
        cpu0 = cpu_seconds(daemon_pids)
        res = client.run("iperf3", "-c", server_addr, "-B", client_addr, "-t", str(seconds),
                         "-J", timeout=seconds + 60)
        cpu = cpu_seconds(daemon_pids) - cpu0
        drops = udp_rcvbuf_errors(client) + udp_rcvbuf_errors(server) - drops0
    finally:
        srv.stop()
    data = json.loads(res.stdout)
    recv = data["end"]["sum_received"]
    sent = data["end"].get("sum_sent", {})
    return ThroughputResult(int(recv["bytes"]), float(recv["seconds"]), cpu,
                            int(sent.get("retransmits", 0)), drops)


def strongswan_throughput(lab: NetLab, sites: TwoSites, workdir: Path, seconds: int
                          ) -> ThroughputResult:
    """iperf3 TCP left -> right through a strongSwan (kernel-libipsec) tunnel."""
    left, right = start_strongswan_tunnel(sites, workdir)
    try:
        return iperf3(sites.left.ns, sites.right.ns, sites.right.inner, sites.left.inner,
                      seconds, workdir, [left.pid, right.pid])
    finally:
        left.stop()
        right.stop()


def plain_throughput(lab: NetLab, sites: TwoSites, workdir: Path, seconds: int
                     ) -> ThroughputResult:
    """The same veth with no tunnel: the ceiling of this machine."""
    return iperf3(sites.left.ns, sites.right.ns, sites.right.outer, sites.left.outer,
                  seconds, workdir)


# --- vpnsh side: SLOTS for the integrator ---------------------------------------------


def _vpnsh_site_config(site_outer: str, site_if: str, peer_outer: str, tunnels: int,
                       left: bool, nets: Callable[[int], tuple[str, str]]) -> str:
    """PAN-OS set lines: `tunnels` gateways to one peer, told apart by their IDs."""
    p = "set network ike crypto-profiles"
    lines = [
        f"set network interface ethernet {site_if} layer3 ip {site_outer}/24",
        "set network interface tunnel units tunnel.1 mtu 1400",
        f"{p} ike-crypto-profiles B encryption aes-128-gcm",
        f"{p} ike-crypto-profiles B hash non-auth",
        f"{p} ike-crypto-profiles B dh-group group19",
        f"{p} ipsec-crypto-profiles B esp encryption aes-128-gcm",
        f"{p} ipsec-crypto-profiles B esp authentication none",
        f"{p} ipsec-crypto-profiles B dh-group no-pfs",
    ]
    me, other = ("left", "right") if left else ("right", "left")
    for n in range(tunnels):
        lnet, rnet = nets(n)
        local_net, remote_net = (lnet, rnet) if left else (rnet, lnet)
        gw = f"set network ike gateway g{n}"
        t = f"set network tunnel ipsec t{n}"
        lines += [
            f"{gw} protocol version ikev2", f"{gw} protocol ikev2 ike-crypto-profile B",
            f"{gw} local-address interface {site_if}", f"{gw} local-address ip {site_outer}/24",
            f"{gw} peer-address ip {peer_outer}",
            f"{gw} authentication pre-shared-key key {PSK}",
            f"{gw} local-id type fqdn", f"{gw} local-id id {me}-{n}.bench.example",
            f"{gw} peer-id type fqdn", f"{gw} peer-id id {other}-{n}.bench.example",
            f"{t} tunnel-interface tunnel.1", f"{t} auto-key ike-gateway g{n}",
            f"{t} auto-key ipsec-crypto-profile B",
            f"{t} auto-key proxy-id p local {local_net} remote {remote_net}",
        ]
    return "\n".join(lines) + "\n"


# The vpnsh counterpart of _bench_charon_options: no cookies for the many half-open IKE SAs
# that one peer address opens at once, so both sides are timed doing IKE work.
VPNSH_BENCH_FLAGS = ("--ike-cookie-threshold", "100000")


def _start_vpnsh(ns: Namespace, workdir: Path, config: str, dataplane: str,
                 flags: Sequence[str] = ()) -> Daemon:
    daemon = Daemon(workdir, dataplane=dataplane, netns=ns.name, extra_args=flags)
    daemon.start()
    daemon.request("config.load", text=config, format="set")
    daemon.request("config.commit", description="bench")
    return daemon


def vpnsh_ike_setup(lab: NetLab, sites: TwoSites, workdir: Path, tunnels: int
                    ) -> SetupResult:
    """`tunnels` vpnsh<->vpnsh tunnels (IKE SA + CHILD SA each), left initiating all at once.

    The clock runs from `test vpn ike-sa` (every gateway initiates) until the left daemon
    shows every CHILD SA up. The user-space data plane installs every CHILD SA, as
    kernel-libipsec does on the strongSwan side.
    """
    left_cfg = _vpnsh_site_config(sites.left.outer, sites.left.outer_if, sites.right.outer,
                                  tunnels, True, tunnel_nets)
    right_cfg = _vpnsh_site_config(sites.right.outer, sites.right.outer_if, sites.left.outer,
                                   tunnels, False, tunnel_nets)
    right = _start_vpnsh(sites.right.ns, workdir / "vpnsh-right", right_cfg, "userspace",
                         VPNSH_BENCH_FLAGS)
    left = _start_vpnsh(sites.left.ns, workdir / "vpnsh-left", left_cfg, "userspace",
                        VPNSH_BENCH_FLAGS)
    try:
        pids = [pid for pid in (left.proc_pid(), right.proc_pid()) if pid]

        def children_up() -> int:
            return len(left.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"])

        cpu0 = cpu_seconds(pids)
        t0 = time.monotonic()
        left.request("engine.op", name="vpn.ike-sa.test", args={})
        wait_until(lambda: children_up() >= tunnels, timeout=120, interval=0.05,
                   what=f"{tunnels} vpnsh CHILD SAs")
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(pids) - cpu0
        established = len(right.request("engine.op", name="vpn.ike-sa.show", args={})["ikev2"])
        if established < tunnels:
            raise RuntimeError(f"responder shows {established} of {tunnels} IKE SAs")
        return SetupResult(tunnels, elapsed, cpu)
    finally:
        left.stop()
        right.stop()


def vpnsh_throughput(lab: NetLab, sites: TwoSites, workdir: Path, seconds: int,
                     workers: int = 1) -> ThroughputResult:
    """iperf3 TCP left -> right through one vpnsh (user-space ESP) tunnel; ``workers``:
    each daemon's ``--dataplane-workers``."""
    cfgs = []
    for site, peer, left in ((sites.left, sites.right, True), (sites.right, sites.left, False)):
        text = _vpnsh_site_config(site.outer, site.outer_if, peer.outer, 1, left,
                                  lambda n: (sites.left.inner_net, sites.right.inner_net))
        cfgs.append(text + "set network virtual-router default routing-table ip static-route r "
                    f"destination {peer.inner_net}\nset network virtual-router default "
                    "routing-table ip static-route r interface tunnel.1\n")
    flags = ["--dataplane-workers", str(workers)]
    right = _start_vpnsh(sites.right.ns, workdir / "vpnsh-right", cfgs[1], "userspace", flags)
    left = _start_vpnsh(sites.left.ns, workdir / "vpnsh-left", cfgs[0], "userspace", flags)
    try:
        left.request("engine.op", name="vpn.ike-sa.test", args={})
        wait_until(lambda: left.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"],
                   timeout=30, what="the vpnsh tunnel")
        pids = [pid for pid in (left.proc_pid(), right.proc_pid()) if pid]
        return iperf3(sites.left.ns, sites.right.ns, sites.right.inner, sites.left.inner,
                      seconds, workdir, pids)
    finally:
        left.stop()
        right.stop()


# --- running and printing ---------------------------------------------------------------


@dataclass
class Column:
    label: str
    result: SetupResult | ThroughputResult | None
    note: str = ""


def run_sides(sides: Sequence[tuple[str, Callable[[], SetupResult | ThroughputResult]]],
              repeat: int, key: Callable[[SetupResult | ThroughputResult], float]
              ) -> list[Column]:
    """Run the sides in turn, `repeat` rounds (A B, A B, ...), so that whatever else the
    machine does over the minutes of a run weighs on each side alike; each column keeps
    its median run by `key`. A side that fails once is out of the later rounds."""
    results: dict[str, list[SetupResult | ThroughputResult]] = {label: [] for label, _ in sides}
    failed: dict[str, str] = {}
    for _ in range(max(1, repeat)):
        for label, fn in sides:
            if label in failed:
                continue
            try:
                results[label].append(fn())
            except NotAvailable as exc:
                failed[label] = str(exc)
            except Exception as exc:  # one side failing must not hide the other's figures
                failed[label] = f"{label}: failed: {type(exc).__name__}: {exc}"[:2000]
    columns = []
    for label, _ in sides:
        runs = results[label]
        if not runs:
            columns.append(Column(label, None, failed.get(label, "")))
            continue
        ranked = sorted(runs, key=key)
        note = (f"{label}: median of {len(runs)} runs, in turn with the other side "
                f"({', '.join(f'{key(r):.1f}' for r in runs)})" if len(runs) > 1 else "")
        columns.append(Column(label, ranked[len(ranked) // 2], note))
    return columns


def run_side(label: str, fn: Callable[[], SetupResult | ThroughputResult]) -> Column:
    """One run of one side (a reference figure)."""
    return run_sides([(label, fn)], 1, lambda r: 0.0)[0]


def print_table(title: str, rows: Sequence[tuple[str, Callable[[object], float], str]],
                columns: Sequence[Column], ratio_of: tuple[int, int] | None = None) -> None:
    """rows: (label, getter, format). ratio_of=(i, j) adds a column i/j when both exist."""
    width = 26
    head = f"{'':<{width}}" + "".join(f"{c.label:>26}" for c in columns)
    have_ratio = ratio_of is not None and all(
        columns[k].result is not None for k in ratio_of)
    if ratio_of is not None:
        head += f"{'ratio':>14}"
    print(title)
    if ratio_of is not None:
        print(f"(ratio = {columns[ratio_of[0]].label} / {columns[ratio_of[1]].label})")
    print(head)
    for label, get, fmt in rows:
        line = f"{label:<{width}}"
        for c in columns:
            line += f"{format(get(c.result), fmt) if c.result is not None else 'n/a':>26}"
        if ratio_of is not None:
            if have_ratio:
                a = get(columns[ratio_of[0]].result)
                b = get(columns[ratio_of[1]].result)
                line += f"{a / b:>13.2f}x" if b else f"{'-':>14}"
            else:
                line += f"{'n/a':>14}"
        print(line)
    for c in columns:
        if c.note:
            print(c.note)


def as_json(columns: Sequence[Column]) -> str:
    out = {}
    for c in columns:
        if c.result is None:
            out[c.label] = {"error": c.note}
        else:
            d = dict(vars(c.result))
            for prop in ("sas_per_second", "mbit_s", "cpu_s_per_gb"):
                if hasattr(c.result, prop):
                    d[prop] = getattr(c.result, prop)
            out[c.label] = d
    return json.dumps(out, indent=2)

