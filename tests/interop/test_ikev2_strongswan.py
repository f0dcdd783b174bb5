"""vpnsh <-> strongSwan over IKEv2, in two namespaces, with real packets.

Left is vpnsh (a real vpnshd with the user-space data plane, configured through
the vpnsh shell with PAN-OS set commands); right is strongSwan with
kernel-libipsec. Every test passes traffic between the LAN addresses (10.1.0.1
and 10.2.0.1) through the tunnel, or checks the plain-words failure reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.netns import (  # noqa: F401  (netlab is a fixture)
    NetLab,
    TwoSites,
    netlab,
    two_sites,
    wait_until,
)
from tests.helpers.strongswan import Child, Connection, StrongSwan, requires_strongswan

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan]

PSK = "interop-psk-0123456789"


@dataclass(frozen=True)
class Suite:
    """One proposal suite: vpnsh profile keywords and the strongSwan proposal strings."""

    name: str
    ike_enc: str
    ike_hash: str
    ike_dh: str
    esp_enc: str
    esp_auth: str
    pfs: str
    sw_ike: str
    sw_esp: str


SUITES = [
    Suite("gcm", "aes-128-gcm", "non-auth", "group19", "aes-128-gcm", "none", "no-pfs",
          "aes128gcm16-prfsha256-ecp256", "aes128gcm16"),
    Suite("cbc-sha2", "aes-256-cbc", "sha256", "group14", "aes-256-cbc", "sha256", "no-pfs",
          "aes256-sha256-modp2048", "aes256-sha256"),
    Suite("panos-default", "3des", "sha1", "group2", "3des", "sha1", "no-pfs",
          "3des-sha1-modp1024", "3des-sha1"),
    Suite("pfs", "aes-128-cbc", "sha256", "group14", "aes-128-cbc", "sha1", "group14",
          "aes128-sha256-modp2048", "aes128-sha1-modp2048"),
]


def vpnsh_config(sites: TwoSites, suite: Suite, *, psk: str = PSK, proxy_ids: bool = False,
                 passive: bool = False) -> list[str]:
    left, right = sites.left, sites.right
    p = "set network ike crypto-profiles"
    gw = "set network ike gateway GW"
    lines = [
        f"set network interface ethernet {left.outer_if} layer3 ip {left.outer}/24",
        "set network interface tunnel units tunnel.1 mtu 1400",
        f"{p} ike-crypto-profiles IKE encryption {suite.ike_enc}",
        f"{p} ike-crypto-profiles IKE hash {suite.ike_hash}",
        f"{p} ike-crypto-profiles IKE dh-group {suite.ike_dh}",
        f"{p} ipsec-crypto-profiles ESP esp encryption {suite.esp_enc}",
        f"{p} ipsec-crypto-profiles ESP esp authentication {suite.esp_auth}",
        f"{p} ipsec-crypto-profiles ESP dh-group {suite.pfs}",
        f"{gw} protocol version ikev2",
        f"{gw} protocol ikev2 ike-crypto-profile IKE",
        f"{gw} local-address interface {left.outer_if}",
        f"{gw} local-address ip {left.outer}/24",
        f"{gw} peer-address ip {right.outer}",
        f"{gw} authentication pre-shared-key key {psk}",
        f"{gw} local-id type ipaddr",
        f"{gw} local-id id {left.outer}",
        f"{gw} peer-id type ipaddr",
        f"{gw} peer-id id {right.outer}",
        f"{gw} protocol-common nat-traversal enable yes",
        "set network tunnel ipsec T tunnel-interface tunnel.1",
        "set network tunnel ipsec T auto-key ike-gateway GW",
        "set network tunnel ipsec T auto-key ipsec-crypto-profile ESP",
        f"set network virtual-router default routing-table ip static-route r1 destination {right.inner_net}",
        "set network virtual-router default routing-table ip static-route r1 interface tunnel.1",
    ]
    if passive:
        lines.append(f"{gw} protocol-common passive-mode yes")
    if proxy_ids:
        lines += [
            f"set network tunnel ipsec T auto-key proxy-id lan local {left.inner_net} remote {right.inner_net}",
        ]
    return lines


@dataclass
class Pair:
    sites: TwoSites
    vpnsh: Daemon
    sw: StrongSwan

    def shell(self, *commands: str, ok: bool = True) -> str:
        args = [a for c in commands for a in ("-c", c)]
        res = self.vpnsh.shell(*args, timeout=90)
        if ok:
            assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout + res.stderr

    def op(self, op_name: str, **args: Any) -> Any:
        return self.vpnsh.request("engine.op", name=op_name, args=args)

    def ping(self, count: int = 3) -> bool:
        left, right = self.sites.left, self.sites.right
        return left.ns.ping(right.inner, source=left.inner, count=count, wait=2)

    def vpnsh_children(self) -> list[dict[str, Any]]:
        return list(self.op("vpn.ipsec-sa.show")["sas"])

    def debug(self) -> str:
        log = self.vpnsh.log_dir / "ikemgr.log"
        text = log.read_text()[-4000:] if log.exists() else ""
        return f"\n--- vpnsh ikemgr.log ---\n{text}\n--- strongSwan ---\n{self.sw.log_tail()}"


def make_pair(lab: NetLab, tmp_path: Path, suite: Suite, *, sw_psk: str = PSK,
              sw_child: Child | None = None, sw_conn: dict[str, Any] | None = None,
              daemon_args: tuple[str, ...] = (), **config: Any) -> Pair:
    sites = two_sites(lab)
    left, right = sites.left, sites.right
    # vpnsh's own LAN address lives on lo; strongSwan's on lo too (kernel-libipsec needs one)
    daemon = Daemon(tmp_path / "vpnsh", dataplane="userspace", netns=left.ns.name,
                    extra_args=daemon_args)
    daemon.start()
    daemon.configure(vpnsh_config(sites, suite, **config))
    child = sw_child or Child("net", [right.inner_net], [left.inner_net], [suite.sw_esp])
    conn = Connection("s2s", [right.outer], [left.outer], sw_psk, [child], version=2,
                      proposals=[suite.sw_ike], local_id=right.outer, remote_id=left.outer,
                      **(sw_conn or {}))
    sw = StrongSwan(right.ns, tmp_path / "sw", connections=[conn])
    sw.start()
    sw.load_all()
    return Pair(sites, daemon, sw)


@pytest.fixture
def pair_factory(netlab: NetLab, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    made: list[Pair] = []

    def factory(suite: Suite = SUITES[0], **kw: Any) -> Pair:
        p = make_pair(netlab, tmp_path, suite, **kw)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.vpnsh.stop()
        p.sw.stop()


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_vpnsh_initiates_and_traffic_flows(pair_factory: Any, suite: Suite) -> None:
    p: Pair = pair_factory(suite)
    out = p.shell("test vpn ike-sa gateway GW")
    assert "Initiate 1 IKE SA." in out, out + p.debug()
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.version == 2 and not sa.initiator
    assert p.ping(), p.debug()
    show = p.shell("show vpn ike-sa gateway GW", "show vpn ipsec-sa")
    assert "Established" in show and "Mature" in show, show
    child = p.sw.list_sas()[0].child("net")
    assert child is not None and child.counter("packets-in") >= 3
    # strongSwan narrowed vpnsh's 0.0.0.0/0 proposal to its configured subnets
    assert child.local_ts == [p.sites.right.inner_net]
    flow = p.op("vpn.flow.show", name="T")["flows"][0]
    assert flow["state"] == "active" and flow["decap_packets"] >= 3 and flow["encap_packets"] >= 3


@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_strongswan_initiates_and_traffic_flows(pair_factory: Any, suite: Suite) -> None:
    p: Pair = pair_factory(suite)
    p.sw.initiate("net")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.initiator
    wait_until(lambda: p.vpnsh_children(), timeout=10, what="vpnsh to install the CHILD SA")
    assert p.ping(), p.debug()
    ike = p.op("vpn.ike-sa.show")
    assert ike["ikev2"][0]["role"] == "Resp"
    # vpnsh narrowed to the peer's selectors (proxy-id default 0.0.0.0/0 contains them)
    detail = p.op("vpn.ike-sa.detail", gateway="GW")
    ts = detail["sas"][0]["children"][0]["ts_local"]
    assert ts == ["Proto:any, 10.1.0.0-10.1.0.255, Ports:any"], ts


@pytest.mark.parametrize("raw_esp", [False, True], ids=["default", "raw-esp"])
def test_udp_encapsulation_forced_without_nat(pair_factory: Any, raw_esp: bool) -> None:
    """No NAT between the sites. The user-space data plane still has ESP go in UDP, by a
    random NAT_DETECTION_SOURCE_IP: strongSwan itself reports a NAT in front of vpnsh.
    With --raw-esp vpnsh sends its true hash (strongSwan's kernel-libipsec fakes its own
    NAT either way, so ESP stays in UDP)."""
    p: Pair = pair_factory(daemon_args=("--raw-esp",) if raw_esp else ())
    p.shell("test vpn ike-sa gateway GW")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert (sa.raw.get("nat-remote") == "yes") is not raw_esp, sa.raw
    assert p.ping(), p.debug()
    [ike] = p.op("vpn.ike-sa.detail", gateway="GW")["sas"]
    assert ("UDP encapsulation forced" in ike["nat"]) is not raw_esp, ike["nat"]
    assert (sa.raw.get("local-port"), sa.raw.get("remote-port")) == ("4500", "4500"), sa.raw
    flow = p.op("vpn.flow.show", name="T")["flows"][0]
    assert flow["decap_packets"] >= 3, flow
    assert (flow["outer_if"], flow["tunnel_if"], flow["mtu"]) == (
        p.sites.left.outer_if, "tunnel.1", 1400), flow


def test_proxy_ids_give_specific_selectors(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[1], proxy_ids=True)
    out = p.shell("test vpn ipsec-sa tunnel T:lan")
    assert "Initiate 1 IPsec SA for tunnel T:lan." in out, out + p.debug()
    assert p.ping(), p.debug()
    assert p.vpnsh_children()[0]["tunnel"] == "T:lan"


def test_interesting_traffic_brings_the_tunnel_up(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0])
    assert not p.vpnsh_children()
    # the first packets trigger a key acquire; some are queued, the rest lost while IKE runs
    p.ping(count=3)
    wait_until(lambda: p.vpnsh_children(), timeout=15, what="the tunnel to come up on demand")
    assert p.ping(), p.debug()
    flow = p.op("vpn.flow.show", name="T")["flows"][0]
    assert flow["key_acquires"] >= 1 and flow["initiator"] == "yes"


def test_delete_from_vpnsh_removes_strongswan_sa(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0])
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    out = p.shell("clear vpn ike-sa gateway GW")
    assert "Delete IKEv2 IKE SA" in out, out
    p.sw.wait_for_no_sa("s2s")
    wait_until(lambda: not p.op("vpn.ike-sa.show")["ikev2"], timeout=10, what="vpnsh to drop the SA")


def test_delete_from_strongswan_removes_vpnsh_sa(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0])
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    p.sw.terminate(child="net")
    wait_until(lambda: not p.vpnsh_children(), timeout=10, what="vpnsh to drop the CHILD SA")
    p.sw.terminate(ike="s2s")
    wait_until(lambda: not p.op("vpn.ike-sa.show")["ikev2"], timeout=10, what="vpnsh to drop the IKE SA")


def test_wrong_psk_fails_with_plain_reason(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0], sw_psk="not-the-same-psk-987654")
    out = p.shell("test vpn ike-sa gateway GW")
    assert "pre-shared key" in out.lower(), out + p.debug()
    assert PSK not in out and "not-the-same" not in (p.vpnsh.log_dir / "ikemgr.log").read_text()


def test_proposal_mismatch_fails_with_plain_reason(pair_factory: Any) -> None:
    mismatch = Suite("mismatch", "aes-256-cbc", "sha256", "group14", "aes-256-cbc", "sha256",
                     "no-pfs", "aes128-sha1-modp1024", "aes128-sha1")
    p: Pair = pair_factory(mismatch)
    out = p.shell("test vpn ike-sa gateway GW")
    assert "no IKE proposal chosen by peer" in out, out + p.debug()
    assert "aes-256-cbc/sha256/group14" in out, out


@pytest.mark.parametrize("initiator", ["vpnsh", "strongswan"])
def test_child_and_ike_rekey_keep_traffic(pair_factory: Any, initiator: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Short lifetimes on the side that should rekey first; pings keep flowing."""
    if initiator == "vpnsh":
        # 180 s lifetimes scaled to 9 s: vpnsh rekeys CHILD and IKE SAs after ~7.5 s
        monkeypatch.setenv("VPNSH_TEST_LIFETIME_SCALE", "0.05")
        extra: dict[str, Any] = {}
    else:
        extra = {"sw_child": None, "sw_conn": {"rekey_time": "10s", "rand_time": "0s"}}
    p: Pair = pair_factory(SUITES[1], **extra)
    if initiator == "vpnsh":
        p.shell("configure",
                "set network ike crypto-profiles ike-crypto-profiles IKE lifetime seconds 180",
                "set network ike crypto-profiles ipsec-crypto-profiles ESP lifetime seconds 180",
                "commit")
    else:
        p.sw.stop()
        right, left = p.sites.right, p.sites.left
        child = Child("net", [right.inner_net], [left.inner_net], [SUITES[1].sw_esp],
                      rekey_time="6s", life_time="20s", rand_time="0s")
        conn = Connection("s2s", [right.outer], [left.outer], PSK, [child], version=2,
                          proposals=[SUITES[1].sw_ike], local_id=right.outer,
                          remote_id=left.outer, rekey_time="10s", rand_time="0s")
        p.sw = StrongSwan(right.ns, p.vpnsh.base.parent / "sw2", connections=[conn])
        p.sw.start()
        p.sw.load_all()
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    first_child = p.vpnsh_children()[0]["spi_in"]
    first_sn = p.op("vpn.ike-sa.show")["ikev2"][0]["sn"]
    left, right = p.sites.left, p.sites.right
    # continuous traffic: 5 pings a second for 24 s, across the rekeys
    pinger = left.ns.spawn(["ping", "-n", "-i", "0.2", "-c", "120", "-W", "1", "-I", left.inner,
                            right.inner], log_path=p.vpnsh.base / "ping.log")

    def rekeyed() -> bool:
        children = p.vpnsh_children()
        ike = p.op("vpn.ike-sa.show")["ikev2"]
        return bool(children and all(c["spi_in"] != first_child for c in children)
                    and ike and all(s["sn"] != first_sn for s in ike))

    wait_until(rekeyed, timeout=30, what="a CHILD and an IKE rekey" + p.debug())
    wait_until(lambda: not pinger.running(), timeout=40, what="the ping run to end")
    summary = re.search(r"(\d+) packets transmitted, (\d+) received", pinger.output())
    assert summary, pinger.output()
    sent, got = int(summary.group(1)), int(summary.group(2))
    assert sent - got <= 1, f"{sent - got} of {sent} pings lost across rekeys" + p.debug()


def test_unchanged_tunnel_keeps_its_sas_across_commit(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0])
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    before = p.vpnsh_children()[0]["spi_in"]
    p.shell("configure", "set network interface tunnel units tunnel.2 mtu 1400",
            "set network ike crypto-profiles ike-crypto-profiles OTHER encryption aes-128-cbc",
            "set network ike crypto-profiles ike-crypto-profiles OTHER hash sha1",
            "set network ike crypto-profiles ike-crypto-profiles OTHER dh-group group14", "commit")
    assert p.vpnsh_children()[0]["spi_in"] == before
    assert p.ping(), p.debug()
    # changing the tunnel itself renegotiates it: new SPIs
    p.shell("configure", "set network tunnel ipsec T anti-replay-window 2048", "commit")
    wait_until(lambda: not p.vpnsh_children() or p.vpnsh_children()[0]["spi_in"] != before,
               timeout=10, what="the changed tunnel's SA to go")


def test_sigterm_deletes_sas_politely(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0])
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    assert p.vpnsh.stop() == 0
    # strongSwan drops the SA because vpnsh said so, not after a DPD timeout
    p.sw.wait_for_no_sa("s2s")
    assert "received DELETE for IKE_SA" in p.sw.log_text(), p.sw.log_tail()


def test_tshark_decrypts_a_captured_vpnsh_tunnel(pair_factory: Any, tmp_path: Path) -> None:
    """debug ike wireshark-keys on: tshark reads IKE_AUTH and the ESP payloads of a real capture."""
    import shutil
    import subprocess

    if not shutil.which("tshark"):
        pytest.skip("tshark not installed")
    p: Pair = pair_factory(SUITES[1])
    p.shell("debug ike wireshark-keys on")
    left = p.sites.left
    pcap = tmp_path / "tunnel.pcapng"
    cap = left.ns.capture(left.outer_if, pcap, "udp")
    p.shell("test vpn ike-sa gateway GW")
    assert p.ping(), p.debug()
    cap.stop()

    def fields(config: Path) -> list[list[str]]:
        r = subprocess.run(
            ["tshark", "-n", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
             "-T", "fields", "-E", "separator=;", "-e", "frame.protocols",
             "-e", "isakmp.exchangetype", "-e", "isakmp.id.type"],
            capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(config)})
        assert r.returncode == 0, r.stderr
        return [line.split(";") for line in r.stdout.splitlines()]

    rows = fields(p.vpnsh.log_dir)  # the daemon wrote LOG_DIR/wireshark/<tables>
    ike_auth = [r for r in rows if r[1] == "35"]
    assert len(ike_auth) >= 2 and all(r[2] for r in ike_auth), rows  # IDs read inside SK
    assert sum(":esp:ip:icmp" in r[0] for r in rows) >= 6, rows  # both directions decrypted
    blind = fields(tmp_path / "no-keys")
    assert not any(":esp:ip:icmp" in r[0] for r in blind)


def test_debug_ike_dump_and_pcap(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0])
    p.shell("debug ike global on dump", "debug ike pcap on")
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    log = (p.vpnsh.log_dir / "ikemgr.log").read_text()
    assert "dump: sent" in log and "dump: received" in log
    pcap = p.vpnsh.log_dir / "ikemgr.pcap"
    assert pcap.exists() and pcap.stat().st_size > 24 * 4  # the header and IKE_SA_INIT/AUTH
    p.shell("debug ike global off")
    assert "debug" in p.shell("show debug ike").lower()


@pytest.mark.parametrize("who", ["vpnsh", "strongswan"])
def test_liveness_checks_on_the_short_path(pair_factory: Any, who: str) -> None:
    """vpnsh checks every 2 s; strongSwan every 30 s or every 1 s. Whoever checks more often
    is the only one that checks (the other hears from it: traffic, RFC 7296 2.4). Both
    kinds of empty INFORMATIONAL (our check and its answer, its check and our answer) go
    through ``ikev2/liveness.py``, and a real peer takes them: the message IDs of that
    direction move, nothing is retransmitted, the IKE SA is the same one, traffic flows."""
    p = pair_factory(SUITES[0], sw_conn={"dpd_delay": "1s" if who == "strongswan" else "30s"})
    p.vpnsh.configure(["set network ike gateway GW protocol ikev2 dpd enable yes",
                       "set network ike gateway GW protocol ikev2 dpd interval 2"])
    assert p.ping(count=5), p.debug()
    wait_until(lambda: p.vpnsh_children(), timeout=15, what="the tunnel to come up")
    [first] = p.op("vpn.ike-sa.detail", gateway="GW")["sas"]
    moved = "msgid_tx" if who == "vpnsh" else "msgid_rx"

    def checked() -> bool:
        [sa] = p.op("vpn.ike-sa.detail", gateway="GW")["sas"]
        return bool(sa[moved] >= first[moved] + 3)

    wait_until(checked, timeout=20, what=f"three liveness checks by {who}" + p.debug())
    [sa] = p.op("vpn.ike-sa.show")["ikev2"]
    assert sa["sn"] == first["sn"] and sa["xt"] == 0, sa
    assert "retransmit" not in p.sw.log_text(), p.debug()
    assert p.ping(count=2), p.debug()
