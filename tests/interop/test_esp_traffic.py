"""Real traffic through vpnsh's user-space ESP: 20 MB each way, hashes compared.

vpnsh <-> strongSwan (kernel-libipsec) and vpnsh <-> vpnsh, in namespaces; the
TCP streams run between the LAN addresses behind the gateways, so every byte is
encrypted by one side and decrypted by the other.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.netns import Namespace, NetLab, TwoSites, netlab, two_sites, wait_until  # noqa: F401
from tests.helpers.strongswan import requires_strongswan
from tests.interop.test_ikev2_strongswan import SUITES, make_pair, vpnsh_config

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan]

SIZE = 20 * 1024 * 1024
PORT = 5555

RECEIVER = """
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    h.update(d); n += len(d)
print(n, h.hexdigest(), flush=True)
"""

SENDER = """
import socket, sys
data = open(sys.argv[3], "rb").read()
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60, source_address=(sys.argv[4], 0))
c.sendall(data); c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
"""


def transfer(tmp: Path, src: Namespace, src_addr: str, dst: Namespace, dst_addr: str) -> None:
    """Send SIZE random bytes src -> dst over TCP; assert count and SHA-256 match."""
    payload = tmp / f"payload-{src.role}.bin"
    payload.write_bytes(os.urandom(SIZE))
    want = hashlib.sha256(payload.read_bytes()).hexdigest()
    log = tmp / f"receiver-{dst.role}.log"
    receiver = dst.spawn(["python3", "-c", RECEIVER, dst_addr, str(PORT)], log_path=log)
    wait_until(lambda: "listening" in log.read_text(), timeout=10, what="the receiver")
    src.run("python3", "-c", SENDER, dst_addr, str(PORT), str(payload), src_addr, timeout=120)
    wait_until(lambda: not receiver.running(), timeout=60, what="the receiver to finish")
    m = re.search(r"^(\d+) ([0-9a-f]{64})$", log.read_text(), re.M)
    assert m, log.read_text()
    assert int(m.group(1)) == SIZE
    assert m.group(2) == want


def test_20mb_each_way_vpnsh_strongswan(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    p = make_pair(netlab, tmp_path, SUITES[0])
    try:
        p.shell("test vpn ike-sa gateway GW")
        p.sw.wait_for_sa(ike="s2s", child="net")
        left, right = p.sites.left, p.sites.right
        transfer(tmp_path, left.ns, left.inner, right.ns, right.inner)
        transfer(tmp_path, right.ns, right.inner, left.ns, left.inner)
        flow = p.op("vpn.flow.show", name="T")["flows"][0]
        assert flow["encap_bytes"] > SIZE and flow["decap_bytes"] > SIZE
        assert flow["auth_errors"] == 0 and flow["replay_packets"] == 0
    finally:
        p.vpnsh.stop()
        p.sw.stop()


def vpnsh_site(tmp: Path, sites: TwoSites, name: str, lines: list[str]) -> Daemon:
    """A vpnshd with the user-space data plane in the left site of ``sites``, configured."""
    daemon = Daemon(tmp / name, dataplane="userspace", netns=sites.left.ns.name)
    daemon.start()
    daemon.configure(lines)
    return daemon


def vpnsh_pair(lab: NetLab, tmp: Path, extra: list[str] = ()) -> tuple[TwoSites, Daemon, Daemon]:  # type: ignore[assignment]
    sites = two_sites(lab)
    mirrored = TwoSites(sites.right, sites.left)
    a = vpnsh_site(tmp, sites, "a", [*vpnsh_config(sites, SUITES[1]), *extra])
    b = vpnsh_site(tmp, mirrored, "b", [*vpnsh_config(mirrored, SUITES[1]), *extra])
    return sites, a, b


def _children(d: Daemon) -> list[dict[str, Any]]:
    return list(d.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"])


def test_20mb_each_way_vpnsh_vpnsh(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites, a, b = vpnsh_pair(netlab, tmp_path)
    try:
        # interesting traffic brings it up: no test command
        sites.left.ns.ping(sites.right.inner, source=sites.left.inner, count=2, wait=2)
        wait_until(lambda: _children(a) and _children(b), timeout=15, what="the tunnel")
        transfer(tmp_path, sites.left.ns, sites.left.inner, sites.right.ns, sites.right.inner)
        transfer(tmp_path, sites.right.ns, sites.right.inner, sites.left.ns, sites.left.inner)
        fa = a.request("engine.op", name="vpn.flow.show", args={"name": "T"})["flows"][0]
        fb = b.request("engine.op", name="vpn.flow.show", args={"name": "T"})["flows"][0]
        assert fa["key_acquires"] >= 1
        assert fa["encap_bytes"] > SIZE and fb["decap_bytes"] > SIZE
        assert fb["encap_bytes"] > SIZE and fa["decap_bytes"] > SIZE
    finally:
        a.stop()
        b.stop()


def test_child_rekey_under_traffic_loses_nothing_vpnsh_vpnsh(netlab: NetLab, tmp_path: Path,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPNSH_TEST_LIFETIME_SCALE", "0.05")  # 180 s -> 9 s
    lifetimes = ["set network ike crypto-profiles ipsec-crypto-profiles ESP lifetime seconds 180"]
    sites, a, b = vpnsh_pair(netlab, tmp_path, lifetimes)
    try:
        a.shell("-c", "test vpn ike-sa gateway GW")
        wait_until(lambda: _children(a), timeout=15, what="the tunnel")
        first = _children(a)[0]["spi_in"]
        left, right = sites.left, sites.right
        pinger = left.ns.spawn(["ping", "-n", "-i", "0.1", "-c", "200", "-W", "1", "-I",
                                left.inner, right.inner], log_path=tmp_path / "ping.log")
        wait_until(lambda: _children(a) and all(c["spi_in"] != first for c in _children(a)),
                   timeout=30, what="a CHILD rekey")
        wait_until(lambda: not pinger.running(), timeout=60, what="the ping run")
        summary = re.search(r"(\d+) packets transmitted, (\d+) received", pinger.output())
        assert summary, pinger.output()
        assert summary.group(1) == summary.group(2), pinger.output()[-300:]
    finally:
        a.stop()
        b.stop()
