"""Zones and security rules enforced by nftables, through a real tunnel between two vpnshd.

    [host-a] 10.1.0.10 --lan0-- [site-a] wan0 ==== wan0 [site-b] --lan0-- 10.2.0.10 [host-b]

Site A runs sample-configs/site-a.set: site B's LAN may ping and reach TCP/22; the rest from
the tunnel is denied with log-end.  Site B allows everything (site-b.set).  Packets decide;
``test security-policy-match`` must agree with them, hit counts must move, and a commit made
while a TCP session runs keeps it when still allowed and cuts it when not.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import BackgroundProcess, Namespace, NetLab, netlab  # noqa: F401

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not shutil.which("nft"), reason="nftables not installed"),
              pytest.mark.skipif(not shutil.which("conntrack"), reason="conntrack not installed")]

SAMPLES = Path(__file__).resolve().parents[2] / "sample-configs"

# a TCP server on every port given: echoes, and keeps the total it received in a file
SERVER = r"""
import socket, sys, threading
total = [0]
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()
def echo(c):
    while True:
        try:
            d = c.recv(65536)
        except OSError:
            return
        if not d:
            c.close()
            return
        total[0] += len(d)
        open(sys.argv[1] + ".tmp", "w").write(str(total[0]))
        import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
        try:
            c.sendall(d)
        except OSError:
            return
for p in sys.argv[2:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("listening", flush=True)
threading.Event().wait()
"""

CONNECT = r"""
import socket, sys
try:
    src = (sys.argv[4], 0) if len(sys.argv) > 4 else None
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]),
                             source_address=src).close()
    print("open")
except OSError as e:
    print("closed", e)
"""

# a long TCP session: sends 200 bytes every 20 ms for ever, reads the echo, ignores stalls
STREAM = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.settimeout(0.05)
print("connected", flush=True)
while True:
    try:
        s.send(b"x" * 200)
        s.recv(65536)
    except (socket.timeout, BlockingIOError):
        pass
    time.sleep(0.02)
"""


@dataclass
class Lab:
    a: Daemon
    b: Daemon
    host_a: Namespace
    host_b: Namespace
    counter: Path
    gw_a: Namespace


def _config(name: str) -> str:
    return (SAMPLES / f"{name}.set").read_text()


@pytest.fixture
def lab(netlab: NetLab, tmp_path: Path) -> Iterator[Lab]:  # noqa: F811
    ga, gb = netlab.add_router("sitea"), netlab.add_router("siteb")
    ha, hb = netlab.add_host("hosta"), netlab.add_host("hostb")
    netlab.connect(ga, "198.51.100.1/24", gb, "198.51.100.2/24", left_if="wan0", right_if="wan0")
    netlab.connect(ga, "10.1.0.1/24", ha, "10.1.0.10/24", left_if="lan0", right_if="eth0")
    netlab.connect(gb, "10.2.0.1/24", hb, "10.2.0.10/24", left_if="lan0", right_if="eth0")
    # session ends come from conntrack DESTROY events: let a closed TCP session go in 1 s
    ga.sysctl("net.netfilter.nf_conntrack_tcp_timeout_time_wait", 1)
    ha.add_route("default", via="10.1.0.1")
    hb.add_route("default", via="10.2.0.1")
    daemons = []
    for name, ns in (("site-a", ga), ("site-b", gb)):
        d = Daemon(tmp_path / name, hostname=name, netns=ns.name, dataplane="userspace").start()
        d.request("config.load", text=_config(name), format="set")
        d.request("config.commit", description="lab")
        daemons.append(d)
    counter = tmp_path / "received"
    ha.spawn([sys.executable, "-c", SERVER, str(counter), "22", "2000", "443"],
             log_path=tmp_path / "server.log")
    wait_for(lambda: "listening" in (tmp_path / "server.log").read_text(), 10, "the TCP server")
    # the first packets bring the tunnel up (interesting traffic)
    wait_for(lambda: hb.run("ping", "-c1", "-W1", "10.1.0.10", check=False).returncode == 0, 40,
             "ping from host B to host A through the tunnel")
    try:
        yield Lab(daemons[0], daemons[1], ha, hb, counter, ga)
    finally:
        for d in daemons:
            d.stop()


def tcp_open(lab: Lab, port: int, timeout: float = 2.0, source: str = "10.2.0.10") -> bool:
    out = lab.host_b.run(sys.executable, "-c", CONNECT, "10.1.0.10", str(port), str(timeout),
                         source, check=False).stdout
    return out.startswith("open")


def op(d: Daemon, name: str, **args: object) -> dict:
    result: dict = d.request("engine.op", name=name, args=args)
    return result


def policy_match(lab: Lab, proto: int, port: int | None = None, frm: str = "vpn",
                 to: str = "trust", src: str = "10.2.0.10", dst: str = "10.1.0.10") -> str:
    args: dict[str, object] = {"from": frm, "to": to, "source": src, "destination": dst,
                               "protocol": proto}
    if port is not None:
        args["destination_port"] = port
    rules = op(lab.a, "security-policy-match.show", **args)["rules"]
    return rules[0]["name"] if rules else "(default)"


def hits(lab: Lab) -> dict[str, int]:
    rows = op(lab.a, "rule-hit-count.show")["rules"]
    return {r["name"]: r["hit-count"] for r in rows}


def test_allowed_passes_denied_does_not_and_policy_match_agrees(lab: Lab) -> None:
    before = hits(lab)
    # a table of cases: what the packets do, and what test security-policy-match says
    cases = [(22, True, "b-ssh"), (2000, False, "vpn-deny"), (443, False, "vpn-deny")]
    for port, allowed, rule in cases:
        assert tcp_open(lab, port) is allowed, port
        assert policy_match(lab, 6, port) == rule
    # from outside site B's LAN (a second address of host B): the prefix does not match
    lab.host_b.add_loopback_address("10.9.0.10")
    assert not tcp_open(lab, 22, source="10.9.0.10")
    assert policy_match(lab, 6, 22, src="10.9.0.10") == "vpn-deny"
    assert lab.host_b.run("ping", "-c1", "-W2", "10.1.0.10", check=False).returncode == 0
    assert policy_match(lab, 1) == "b-ping"
    # the other way (trust -> vpn at site A) is allowed by trust-to-vpn, for any port
    assert policy_match(lab, 6, 2000, frm="trust", to="vpn", src="10.1.0.10",
                        dst="10.2.0.10") == "trust-to-vpn"
    after = hits(lab)
    assert after["b-ssh"] > before.get("b-ssh", 0)
    assert after["b-ping"] > before.get("b-ping", 0)
    assert after["vpn-deny"] >= before.get("vpn-deny", 0) + 2
    # traffic log: the denied attempts (deny) and the ended ssh session (end, with bytes)
    def logs(*words: str) -> list[dict]:
        result: list[dict] = op(lab.a, "log.traffic.show", filter=list(words))["logs"]
        return result

    wait_for(lambda: logs("rule", "equal", "vpn-deny", "dport", "equal", "2000"), 10,
             "the deny log of TCP/2000")
    denied = logs("rule", "equal", "vpn-deny", "dport", "equal", "2000")
    assert len(denied) == 1  # one log per attempt, not per retransmitted SYN
    assert denied[0]["action"] == "deny" and denied[0]["src"] == "10.2.0.10"
    assert (denied[0]["from"], denied[0]["to"]) == ("vpn", "trust")
    assert abs(denied[0]["time"] - time.time()) < 120  # wall-clock time, as the log shows it
    wait_for(lambda: logs("rule", "equal", "b-ssh"), 20, "the session-end log of TCP/22")
    ended = logs("rule", "equal", "b-ssh")[0]
    assert ended["subtype"] == "end" and ended["dport"] == 22 and ended["bytes"] > 0
    # log-start: the start of a session, logged at once
    lab.a.request("config.set", tokens=["rulebase", "security", "rules", "b-ssh", "log-start", "yes"])
    lab.a.request("config.commit")
    assert tcp_open(lab, 22)
    wait_for(lambda: logs("rule", "equal", "b-ssh", "subtype", "equal", "start"), 10,
             "the session-start log")
    out = lab.a.shell("-c", "show log traffic action equal deny direction equal backward").stdout
    assert "vpn-deny" in out and "10.2.0.10" in out and "b-ssh" not in out
    # the shell renders both, PAN-OS style
    out = lab.a.shell("-c", "test security-policy-match from vpn to trust source 10.2.0.10 "
                      "destination 10.1.0.10 protocol 6 destination-port 22").stdout
    assert '"b-ssh; index: 3" {' in out and "application/service [ 0:ssh/tcp/any/22 ];" in out
    out = lab.a.shell("-c", "show rule-hit-count vsys vsys-name vsys1 rule-base security "
                      "rules all").stdout
    assert any(line.startswith("b-ssh") for line in out.splitlines())


def test_one_table_touching_no_other(lab: Lab) -> None:
    lab_ns = lab.gw_a
    lab_ns.nft("table ip other {\n  chain c { type filter hook forward priority 10; }\n}\n")
    lab.a.request("config.commit", force=True)
    out = lab_ns.run("nft", "list", "tables").stdout.split()
    assert "vpnsh" in out and "other" in out
    # a restart keeps enforcing, and keeps the hit counts of the table it replaces
    assert tcp_open(lab, 22)
    lab.a.restart()
    assert hits(lab)["b-ssh"] >= 1
    assert not tcp_open(lab, 2000)


def test_session_kept_when_still_allowed_and_cut_when_not(lab: Lab) -> None:
    stream = lab.host_b.spawn([sys.executable, "-c", STREAM, "10.1.0.10", "22"])

    def received() -> int:
        try:
            return int(lab.counter.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def grows(by: int = 4000, timeout: float = 10.0) -> None:
        start = received()
        wait_for(lambda: received() >= start + by, timeout, "the TCP session to carry data")

    grows()
    sessions = op(lab.a, "session.show", filter=["destination-port", "22"])["sessions"]
    assert sessions and sessions[0]["rule"] == "b-ssh"
    sid = sessions[0]["id"]
    detail = op(lab.a, "session.detail", session_id=sid)["session"]
    assert (detail["src"], detail["dst"], detail["from"], detail["to"]) == \
        ("10.2.0.10", "10.1.0.10", "vpn", "trust")
    out = lab.a.shell("-c", f"show session id {sid}").stdout
    assert "rule                                 : b-ssh" in out
    out = lab.a.shell("-c", "show session all filter rule b-ssh").stdout
    assert f"{sid}" in out and "10.2.0.10[" in out
    hits_before = hits(lab)["b-ssh"]
    assert hits_before >= 1
    # a commit that still allows it: the session goes on
    lab.a.request("config.set", tokens=["rulebase", "security", "rules", "b-web", "from", "vpn", "to", "trust", "source", "site-b-lan", "destination", "site-a-lan", "application", "web-browsing", "service", "application-default", "action", "allow"])
    lab.a.request("config.commit")
    grows()
    assert hits(lab)["b-ssh"] >= hits_before  # counts survive the table's replacement
    # a commit that no longer allows it: the session stops carrying data
    lab.a.request("config.delete", tokens=["rulebase", "security", "rules", "b-ssh"])
    lab.a.request("config.commit")

    def stalled() -> bool:
        a = received()
        try:
            wait_for(lambda: received() > a, 1.5, "more data")
        except TimeoutError:
            return True
        return False

    wait_for(stalled, 15, "the session to be cut")
    assert not tcp_open(lab, 22)
    # clear session: the entry goes
    assert op(lab.a, "session.clear", session_id=sid)["cleared"] == 1
    assert all(s["id"] != sid for s in op(lab.a, "session.show")["sessions"])
    assert isinstance(stream, BackgroundProcess)


# the far end writes the source address of each TCP connection it gets
PEER_LOGGER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(16)
print("listening", flush=True)
while True:
    c, peer = s.accept()
    with open(sys.argv[1], "a") as f:
        f.write(peer[0] + "\n")
    c.close()
"""


def test_nat_exempt_above_masquerade(lab: Lab, tmp_path: Path) -> None:
    peers = tmp_path / "peers"
    log = tmp_path / "peer.log"
    lab.host_b.spawn([sys.executable, "-c", PEER_LOGGER, str(peers), "8080"], log_path=log)
    wait_for(lambda: "listening" in log.read_text(), 10, "the peer logger")

    def source_seen_by_b() -> str:
        before = peers.read_text().splitlines() if peers.exists() else []
        res = lab.host_a.run(sys.executable, "-c", CONNECT, "10.2.0.10", "8080", "3",
                             check=False)
        assert res.stdout.startswith("open"), res.stdout
        wait_for(lambda: peers.exists() and len(peers.read_text().splitlines()) > len(before),
                 10, "the far end to see the connection")
        return peers.read_text().splitlines()[-1]

    nat = "set rulebase nat rules "
    lab.a.configure([
        nat + "no-nat-vpn from trust to vpn source site-a-lan destination site-b-lan",
        nat + "masquerade from trust to any source site-a-lan destination any "
        "source-translation dynamic-ip-and-port interface-address interface tunnel.1",
    ])
    assert source_seen_by_b() == "10.1.0.10"  # the exemption above wins: no translation
    lab.a.configure(["delete rulebase nat rules no-nat-vpn"])
    assert source_seen_by_b() == "169.254.10.1"  # masqueraded to tunnel.1's address
    lab.a.configure(["set rulebase nat rules masquerade disabled yes"])
    assert source_seen_by_b() == "10.1.0.10"


def test_destination_nat_with_port_translation(lab: Lab) -> None:
    # PAN-OS: the security rule names the pre-NAT address and port, and the post-NAT zone
    lab.a.configure([
        "set service tcp-2222 protocol tcp port 2222",
        "set rulebase nat rules ssh-in from vpn to trust source any destination 10.1.0.99 "
        "service tcp-2222 destination-translation translated-address 10.1.0.10 "
        "translated-port 22",
        "set rulebase security rules b-dnat from vpn to trust source site-b-lan "
        "destination 10.1.0.99 application any service tcp-2222 action allow",
        "move rulebase security rules b-dnat top",
    ])
    assert policy_match(lab, 6, 2222, dst="10.1.0.99") == "b-dnat"
    before = int(lab.counter.read_text()) if lab.counter.exists() else 0
    out = lab.host_b.run(sys.executable, "-c", STREAM_ONCE, "10.1.0.99", "2222",
                         check=False).stdout
    assert out.strip() == "echo ok", out  # the server on 10.1.0.10:22 answered
    assert int(lab.counter.read_text()) > before
    sessions = op(lab.a, "session.show", filter=["destination-port", "2222"])["sessions"]
    assert sessions and sessions[0]["rule"] == "b-dnat"
    assert (sessions[0]["reply_src"], sessions[0]["reply_sport"]) == ("10.1.0.10", 22)
    # without the NAT rule, 10.1.0.99 is nobody
    lab.a.configure(["delete rulebase nat rules ssh-in"])
    out = lab.host_b.run(sys.executable, "-c", CONNECT, "10.1.0.99", "2222", "2",
                         check=False).stdout
    assert out.startswith("closed")


STREAM_ONCE = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"ping-through-dnat")
print("echo ok" if s.recv(100) == b"ping-through-dnat" else "wrong echo")
"""
