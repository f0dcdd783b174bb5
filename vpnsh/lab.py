"""``vpnsh lab up|down|status|shell SITE|break LINK|repair``: the two-site lab on this machine.

Two sites, each a network namespace with its own vpnshd, joined by two WAN links:

    [host-a] 10.1.0.10 --lan0-- [site-a] wan0 198.51.100.1 ==veth== 198.51.100.2 wan0 [site-b] --lan0-- 10.2.0.10 [host-b]
                                         wan1 192.0.2.1    ==veth== 192.0.2.2    wan1

A tunnel runs over each link (tunnel.1 over wan0 is the primary, tunnel.2 over wan1 the
backup: static route metric 10 and 20), each with a tunnel monitor; the primary's monitor
profile fails over. ``vpnsh lab break wan0`` drops every packet on site A's wan0 (an
nftables rule: both daemons stay up), so the primary's probes go unanswered and traffic
moves to tunnel.2; ``vpnsh lab repair`` removes the rule and traffic comes back.

The WAN link uses a documentation range; each LAN is a veth into a host namespace
(a machine behind the gateway, default route via the gateway's 10.x.0.1). Each vpnshd gets its own state dir, log dir and control socket,
then loads the sample configs ``site-a.set`` / ``site-b.set`` (package data,
:mod:`vpnsh.sample_configs`, so an installed wheel has them) through the shell and
commits (and ``site-a-backup.set`` / ``site-b-backup.set``: the second path).
``vpnsh lab shell site-a`` opens the shell of site A, where
``ping source 10.1.0.1 host 10.2.0.1`` brings the tunnel up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vpnsh import sample_configs

LAB_RUN = Path("/run/vpnsh-lab")
LAB_STATE = Path("/var/lib/vpnsh-lab")
LAB_LOG = Path("/var/log/vpnsh-lab")
WAN_LINKS = (("wan0", "vpnsh-lab-a", "vpnsh-lab-b"), ("wan1", "vpnsh-lab-a1", "vpnsh-lab-b1"))
BREAK_TABLE = "vpnsh_lab_break"


@dataclass(frozen=True)
class Site:
    name: str
    wan: str
    lan: str
    host: str  # the LAN host's address

    @property
    def netns(self) -> str:
        return f"vpnsh-{self.name}"

    @property
    def host_netns(self) -> str:
        return f"vpnsh-{self.name}-host"

    @property
    def socket(self) -> Path:
        return LAB_RUN / f"{self.name}.sock"

    @property
    def pidfile(self) -> Path:
        return LAB_RUN / f"{self.name}.pid"

    def config_text(self) -> str:
        return sample_configs.read(self.name)

    def backup_config_text(self) -> str:
        """The second WAN link, tunnel and backup route (fail-over lab)."""
        return sample_configs.read(f"{self.name}-backup")


SITES = (
    Site("site-a", wan="198.51.100.1/24", lan="10.1.0.1/24", host="10.1.0.10/24"),
    Site("site-b", wan="198.51.100.2/24", lan="10.2.0.1/24", host="10.2.0.10/24"),
)


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True)


def _netns_exists(name: str) -> bool:
    return name in _run("ip", "netns", "list", check=False).stdout.split()


def _site(name: str) -> Site:
    for site in SITES:
        if site.name == name:
            return site
    raise SystemExit(f"vpnsh lab: unknown site '{name}' (sites: {', '.join(s.name for s in SITES)})")


def _daemon_alive(site: Site) -> int | None:
    try:
        pid = int(site.pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _wait_for_socket(site: Site, proc: subprocess.Popen[bytes], deadline: float) -> None:
    from vpnsh.control.client import Client

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = LAB_LOG / site.name / "vpnshd.out"
            raise SystemExit(f"vpnsh lab: vpnshd for {site.name} exited; see {log}")
        if site.socket.exists():
            try:
                Client(str(site.socket)).request("system.info")
                return
            except Exception:  # noqa: BLE001 - not ready yet
                pass
        time.sleep(0.1)
    raise SystemExit(f"vpnsh lab: vpnshd for {site.name} did not answer on {site.socket}")


def _build_network() -> None:
    a, b = SITES
    for site in SITES:
        for ns in (site.netns, site.host_netns):
            if not _netns_exists(ns):
                _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "netns", "exec", site.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for wan, tmp_a, tmp_b in WAN_LINKS:
        if f": {wan}@" in _run("ip", "-n", a.netns, "-o", "link", "show").stdout:
            continue
        _run("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        _run("ip", "link", "set", tmp_a, "netns", a.netns)
        _run("ip", "link", "set", tmp_b, "netns", b.netns)
        _run("ip", "-n", a.netns, "link", "set", tmp_a, "name", wan)
        _run("ip", "-n", b.netns, "link", "set", tmp_b, "name", wan)
    for site in SITES:
        for wan, _, _ in WAN_LINKS:
            _run("ip", "-n", site.netns, "link", "set", wan, "up")
        if "lan0" not in _run("ip", "-n", site.netns, "-o", "link", "show").stdout:
            _run("ip", "-n", site.netns, "link", "add", "lan0", "type", "veth",
                 "peer", "name", "eth0", "netns", site.host_netns)
            _run("ip", "-n", site.host_netns, "addr", "add", site.host, "dev", "eth0")
        _run("ip", "-n", site.netns, "link", "set", "lan0", "up")
        _run("ip", "-n", site.host_netns, "link", "set", "eth0", "up")
        gw = site.lan.split("/")[0]
        _run("ip", "-n", site.host_netns, "route", "replace", "default", "via", gw, "dev", "eth0",
             "onlink")


def _start_daemon(site: Site, dataplane: str) -> None:
    if _daemon_alive(site):
        return
    state, logs = LAB_STATE / site.name, LAB_LOG / site.name
    for d in (state, logs, LAB_RUN):
        d.mkdir(parents=True, exist_ok=True)
    out = open(logs / "vpnshd.out", "ab")  # noqa: SIM115 - handed to the child
    cmd = [
        "ip", "netns", "exec", site.netns, sys.executable, "-m", "vpnsh.engine.daemon",
        "--state-dir", str(state), "--log-dir", str(logs), "--socket", str(site.socket),
        "--hostname", site.name, "--dataplane", dataplane,
    ]
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    site.pidfile.write_text(str(proc.pid))
    _wait_for_socket(site, proc, time.monotonic() + 20)


def _load_config(site: Site) -> None:
    script = ("configure\n" + site.config_text() + "\n" + site.backup_config_text()
              + "\ncommit\n")
    with tempfile.NamedTemporaryFile("w", suffix=".vpnsh", delete=False) as f:
        f.write(script)
    try:
        res = subprocess.run([sys.executable, "-m", "vpnsh.shell.main", "--socket", str(site.socket),
                              "-f", f.name], text=True, capture_output=True)
    finally:
        os.unlink(f.name)
    if res.returncode != 0:
        raise SystemExit(f"vpnsh lab: loading sample config {site.name}.set into {site.name} failed:\n"
                         f"{res.stdout}{res.stderr}")


def up(dataplane: str) -> int:
    _build_network()
    for site in SITES:
        _start_daemon(site, dataplane)
        _load_config(site)
    print("Lab is up: two sites, each with a vpnshd and its committed config.")
    for site in SITES:
        print(f"  {site.name}: netns {site.netns}, WAN {site.wan}, LAN {site.lan}, "
              f"LAN host {site.host} (netns {site.host_netns}), socket {site.socket}")
    print("Next: vpnsh lab shell site-a, then: ping source 10.1.0.1 host 10.2.0.1")
    print("Fail-over: vpnsh lab break wan0 (show vpn flow: T-SiteB monitor down, traffic on "
          "tunnel.2), vpnsh lab repair (back on tunnel.1)")
    return 0


def break_link(wan: str) -> int:
    """Drop every packet in and out of site A's ``wan`` (nftables; the daemons stay up)."""
    a = SITES[0]
    if wan not in {w for w, _, _ in WAN_LINKS}:
        raise SystemExit(f"vpnsh lab: no link '{wan}' (links: {', '.join(w for w, _, _ in WAN_LINKS)})")
    ruleset = (f"table inet {BREAK_TABLE} {{\n"
               f"  chain in {{ type filter hook input priority -5; policy accept; iifname \"{wan}\" drop; }}\n"
               f"  chain out {{ type filter hook output priority -5; policy accept; oifname \"{wan}\" drop; }}\n"
               "}\n")
    subprocess.run(["ip", "netns", "exec", a.netns, "nft", "-f", "-"], input=ruleset, text=True,
                   check=True)
    print(f"{wan} of {a.name} now drops every packet. Watch: vpnsh lab status, or in the shell "
          "show vpn flow / show log system subtype equal vpn. Undo: vpnsh lab repair")
    return 0


def repair() -> int:
    a = SITES[0]
    _run("ip", "netns", "exec", a.netns, "nft", "delete", "table", "inet", BREAK_TABLE, check=False)
    print(f"{a.name}: links repaired (the tunnel monitor brings the primary back)")
    return 0


def down() -> int:
    for site in SITES:
        pid = _daemon_alive(site)
        if pid:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _daemon_alive(site) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _daemon_alive(site):
                os.killpg(pid, signal.SIGKILL)
        site.pidfile.unlink(missing_ok=True)
        site.socket.unlink(missing_ok=True)
        for ns in (site.netns, site.host_netns):
            if _netns_exists(ns):
                _run("ip", "netns", "del", ns, check=False)
    for d in (LAB_STATE, LAB_RUN, LAB_LOG):
        shutil.rmtree(d, ignore_errors=True)
    print("Lab is down: namespaces, daemons and lab state removed.")
    return 0


def status() -> int:
    for site in SITES:
        pid = _daemon_alive(site)
        ns = "present" if _netns_exists(site.netns) else "absent"
        print(f"{site.name}: netns {ns}, vpnshd {'pid ' + str(pid) if pid else 'not running'}")
        if pid:
            subprocess.run([sys.executable, "-m", "vpnsh.shell.main", "--socket", str(site.socket),
                            "-c", "show vpn flow"], check=False)
    return 0


def shell(name: str) -> int:
    site = _site(name)
    if not _daemon_alive(site):
        raise SystemExit(f"vpnsh lab: {site.name} is not running; run 'vpnsh lab up' first")
    os.execvp(sys.executable, [sys.executable, "-m", "vpnsh.shell.main", "--socket", str(site.socket)])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vpnsh lab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build the two sites and start their daemons")
    p_up.add_argument("--dataplane", default="userspace", choices=("userspace", "kernel", "none"))
    sub.add_parser("down", help="remove everything the lab made")
    sub.add_parser("status", help="show the sites and their tunnels")
    p_sh = sub.add_parser("shell", help="open the shell of one site")
    p_sh.add_argument("site", choices=[s.name for s in SITES])
    p_br = sub.add_parser("break", help="drop every packet on one WAN link of site A")
    p_br.add_argument("link", choices=[w for w, _, _ in WAN_LINKS])
    sub.add_parser("repair", help="undo 'break'")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("vpnsh lab: needs root (it creates network namespaces)")
    if args.cmd == "up":
        return up(args.dataplane)
    if args.cmd == "down":
        return down()
    if args.cmd == "status":
        return status()
    if args.cmd == "break":
        return break_link(args.link)
    if args.cmd == "repair":
        return repair()
    return shell(args.site)
