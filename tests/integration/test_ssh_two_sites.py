"""Troubleshooting commands over SSH on live SAs: two vpnshd in namespaces negotiate IKEv2;
the left one is driven with OpenSSH's ssh inside its namespace."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import NetLab, TwoSites, netlab, sites  # noqa: F401
from tests.integration.test_ssh_shell import make_key

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not shutil.which("ssh"), reason="OpenSSH client not installed")]

PORT = 2222  # on the namespace's own loopback
PSK = "two-sites-secret-42"


def site_config(outer_if: str, outer: str, peer: str, tunnel_ip: str) -> str:
    gw = "set network ike gateway GW"
    return "\n".join([
        f"set network interface ethernet {outer_if} layer3 ip {outer}/24",
        f"set network interface tunnel units tunnel.1 ip {tunnel_ip}/30",
        "set network ike crypto-profiles ike-crypto-profiles IKE encryption aes-128-cbc",
        "set network ike crypto-profiles ike-crypto-profiles IKE hash sha256",
        "set network ike crypto-profiles ike-crypto-profiles IKE dh-group group14",
        "set network ike crypto-profiles ipsec-crypto-profiles ESP esp encryption aes-128-gcm",
        "set network ike crypto-profiles ipsec-crypto-profiles ESP esp authentication none",
        "set network ike crypto-profiles ipsec-crypto-profiles ESP dh-group group14",
        f"{gw} protocol version ikev2",
        f"{gw} protocol ikev2 ike-crypto-profile IKE",
        f"{gw} local-address interface {outer_if}",
        f"{gw} local-address ip {outer}/24",
        f"{gw} peer-address ip {peer}",
        f"{gw} authentication pre-shared-key key {PSK}",
        f"{gw} local-id type ipaddr",
        f"{gw} local-id id {outer}",
        f"{gw} peer-id type ipaddr",
        f"{gw} peer-id id {peer}",
        "set network tunnel ipsec T tunnel-interface tunnel.1",
        "set network tunnel ipsec T auto-key ike-gateway GW",
        "set network tunnel ipsec T auto-key ipsec-crypto-profile ESP",
    ]) + "\n"


@pytest.fixture
def pair(tmp_path: Path, sites: TwoSites) -> Iterator[tuple[TwoSites, Daemon, Daemon, Path]]:  # noqa: F811
    left, right = sites.left, sites.right
    key = make_key(tmp_path / "id_ed25519")
    daemons = []
    for name, site, peer, tip in (("left", left, right, "169.254.10.1"), ("right", right, left, "169.254.10.2")):
        d = Daemon(tmp_path / name, hostname=f"PA-{name}", netns=site.ns.name,
                   extra_args=["--ssh-listen", f"127.0.0.1:{PORT}"])
        (d.state_dir / "ssh").mkdir(parents=True)
        (d.state_dir / "ssh" / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
        d.start()
        daemons.append(d)
        d.request("config.load", text=site_config(site.outer_if, site.outer, peer.outer, tip), format="set")
        d.request("config.commit", description="two sites")
    for d in daemons:
        wait_for(lambda d=d: "ssh: listening on" in d.log_text(), 20, "the SSH listener")
    try:
        yield sites, daemons[0], daemons[1], key
    finally:
        for d in daemons:
            d.stop()


def ssh(lab: TwoSites, key: Path, script: str) -> str:
    cmd = ["ssh", "-T", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
           "-i", str(key), "-p", str(PORT), "admin@127.0.0.1"]
    r = subprocess.run(lab.left.ns.exec_args(cmd), input=script, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_show_detail_flow_and_clear_on_live_sas(pair: tuple[TwoSites, Daemon, Daemon, Path]) -> None:
    two, left, right, key = pair
    out = ssh(two, key, "test vpn ike-sa gateway GW\nexit\n")
    assert "Initiate 1 IKE SA." in out
    wait_for(lambda: left.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"], 30,
             "the child SA")
    out = ssh(two, key, "show vpn ike-sa detail gateway GW\nshow vpn ipsec-sa\nshow vpn flow name T\n"
                          "show vpn ike-sa\nexit\n")
    lines = out.splitlines()
    la, ra = two.left.outer, two.right.outer
    assert f"IKE Gateway GW, ID 1 {la} => {ra}" in lines
    assert any(line.startswith("  SPI:  ") and line.endswith("  Init") for line in lines)
    assert "        State:      Established" in lines
    assert f"        ID local:   ipaddr:{la}" in lines
    assert "        Type:       ESP       Init" in lines and "        State:      Mature" in lines
    assert any(line.startswith("        Expires:    ") and ", rekey in " in line for line in lines)
    assert "Show IPSec SA: Total 1 tunnels found. 1 ipsec sa found." in lines
    assert any(line.endswith("tunnel  T") for line in lines)  # after the prompt: no echo without a PTY
    assert "        initiator:              yes" in lines
    assert "Show IKEv2 SA: Total 1 gateways found. 1 ike sa found." in lines
    out = ssh(two, key, "clear vpn ike-sa\nexit\n")
    assert "admin@PA-left> Clear IKE SA: 0 IKEv1 SA, 1 IKEv2 SA." in out.splitlines()
