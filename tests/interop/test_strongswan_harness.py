"""The harness proves itself: strongSwan <-> strongSwan in two namespaces.

If these fail, interop failures of vpnsh mean nothing; run them first.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import netns as netns_mod
from tests.helpers.netns import (  # noqa: F401  (netlab is a fixture)
    NetLab,
    TwoSites,
    list_namespaces,
    netlab,
    requires_netns,
    sweep_stale,
    tool_missing,
    two_sites,
    wait_until,
)
from tests.helpers.strongswan import (
    StrongSwan,
    ViciError,
    decode_message,
    encode_message,
    psk_site_pair,
    requires_strongswan,
)

# --- the namespace helpers --------------------------------------------------------


def test_netns_probe_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    netns_mod.netns_missing.cache_clear()
    try:
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
        assert netns_mod.netns_missing() is not None
        assert "not root" in str(netns_mod.netns_missing())
    finally:
        monkeypatch.undo()
        netns_mod.netns_missing.cache_clear()


@pytest.mark.netns
@requires_netns
def test_netlab_cleans_up_when_the_test_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), NetLab() as lab:
        ns = lab.add_host("x")
        proc = ns.spawn(["sleep", "300"])
        assert ns.name in list_namespaces()
        raise RuntimeError("boom")
    assert ns.name not in list_namespaces()
    assert proc.popen.poll() is not None


@pytest.mark.netns
@requires_netns
def test_sweep_removes_only_namespaces_of_dead_creators() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, alive = f"vt-{dead.pid}-1-stale", f"vt-{os.getpid()}-999-alive"
    for name in (stale, alive):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        removed = sweep_stale()
        assert stale in removed and stale not in list_namespaces()
        assert alive in list_namespaces()
    finally:
        for name in (stale, alive):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.mark.netns
@requires_netns
def test_nat_router_masquerades_and_loss_rule_drops(netlab: NetLab) -> None:  # noqa: F811
    sites = two_sites(netlab, nat=True)
    assert sites.router is not None
    sites.right.ns.nft("""table inet cnt {
  chain in { type filter hook input priority 0; policy accept;
    ip saddr 203.0.113.254 icmp type echo-request counter
  }
}
""")
    assert sites.left.ns.ping(sites.right.outer, count=2)
    rules = sites.right.ns.run("nft", "list", "table", "inet", "cnt").stdout
    assert "counter packets 2 " in rules, rules
    sites.router.set_loss(100)
    assert not sites.left.ns.ping(sites.right.outer, wait=1)
    sites.router.set_loss(0)
    assert sites.left.ns.ping(sites.right.outer)


# --- strongSwan <-> strongSwan --------------------------------------------------------


def _pair(lab: NetLab, tmp_path: Path, sites: TwoSites, *, aggressive_psk: bool = False,
          **kw: object) -> tuple[StrongSwan, StrongSwan]:
    right_remote = sites.left.outer
    if sites.router is not None:  # right sees left from behind the NAT
        right_remote = "%any"
    lconn, rconn = psk_site_pair(sites.left.outer, sites.right.outer, sites.left.inner_net,
                                 sites.right.inner_net, **kw)  # type: ignore[arg-type]
    rconn.remote_addrs = [right_remote]
    left = StrongSwan(sites.left.ns, tmp_path / "left", aggressive_psk=aggressive_psk,
                      connections=[lconn])
    right = StrongSwan(sites.right.ns, tmp_path / "right", aggressive_psk=aggressive_psk,
                       connections=[rconn])
    for sw in (left, right):
        sw.start()
        sw.load_all()
    return left, right


def _ping_across(sites: TwoSites) -> bool:
    return sites.left.ns.ping(sites.right.inner, source=sites.left.inner, count=3, wait=2)


def test_vici_codec_round_trips() -> None:
    msg = {"a": "1", "sec": {"b": "x y", "l": ["p", "q"], "inner": {}}, "empty": []}
    assert decode_message(encode_message(msg)) == msg


@pytest.mark.interop
@pytest.mark.netns
@requires_strongswan
def test_ikev2_psk_esp_in_udp_carries_ping(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites = two_sites(netlab)
    left, right = _pair(netlab, tmp_path, sites)
    # No tunnel yet: the inner addresses are not routed.
    assert not sites.left.ns.ping(sites.right.inner, source=sites.left.inner, wait=1)
    left.initiate("net")
    sa = right.wait_for_sa(ike="s2s", child="net")
    assert sa.version == 2 and not sa.initiator
    child = sa.child("net")
    assert child is not None and child.encap, "kernel-libipsec needs ESP in UDP"
    assert child.local_ts == ["10.2.0.0/24"] and child.remote_ts == ["10.1.0.0/24"]
    cap = sites.right.ns.capture(sites.right.outer_if, tmp_path / "outer.pcapng", "udp")
    assert _ping_across(sites), left.log_tail() + right.log_tail()
    # on the wire: ESP in UDP 4500 (RFC 3948), never the inner ICMP in clear
    assert cap.count("udp.port == 4500 && esp") >= 6
    assert cap.count("icmp") == 0
    after = right.list_sas()[0].child("net")
    assert after is not None and after.counter("packets-in") >= 3
    # a replayed ESP packet reaches the peer and is not accepted again
    esp = [d for d in cap.udp_datagrams("esp") if d.src == sites.left.outer]
    assert esp and esp[0].payload[:4] == bytes.fromhex(after.spi_in)
    cap2 = sites.right.ns.capture(sites.right.outer_if, tmp_path / "replay.pcapng", "udp")
    sites.left.ns.send_udp_raw(esp[0].src, esp[0].sport, esp[0].dst, esp[0].dport,
                               esp[0].payload)
    assert cap2.count("esp") == 1
    replayed = right.list_sas()[0].child("net")
    assert replayed is not None
    assert replayed.counter("packets-in") == after.counter("packets-in")
    wait_until(lambda: "ESP sequence number verification failed" in right.log_text(),
               timeout=5, what="libipsec to log the replay")
    left.terminate(ike="s2s")
    right.wait_for_no_sa("s2s")
    assert "IKE_SA_INIT" in left.log_text()


@pytest.mark.interop
@pytest.mark.netns
@requires_strongswan
def test_ikev1_main_mode_carries_ping(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites = two_sites(netlab)
    left, right = _pair(netlab, tmp_path, sites, version=1,
                        proposals=("aes128-sha256-modp2048",),
                        esp_proposals=("aes128-sha256-modp2048",))
    left.initiate("net")
    sa = right.wait_for_sa(ike="s2s", child="net")
    assert sa.version == 1
    assert _ping_across(sites), left.log_tail() + right.log_tail()
    assert "main mode" in left.log_text().lower() or "ID_PROT" in left.log_text()


@pytest.mark.interop
@pytest.mark.netns
@requires_strongswan
@pytest.mark.slow
def test_ikev1_aggressive_mode_through_nat(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites = two_sites(netlab, nat=True)
    left, right = _pair(netlab, tmp_path, sites, version=1, aggressive=True,
                        aggressive_psk=True, left_id="left.example", right_id="right.example",
                        proposals=("aes256-sha256-modp2048",), esp_proposals=("aes256-sha256",))
    left.initiate("net")
    sa = right.wait_for_sa(ike="s2s", child="net")
    # the responder sees the initiator as the router's masqueraded address
    assert sa.raw.get("remote-host") == "203.0.113.254"
    assert sa.raw.get("remote-id") == "left.example"
    assert _ping_across(sites), left.log_tail() + right.log_tail()


@pytest.mark.interop
@pytest.mark.netns
@requires_strongswan
def test_wrong_psk_fails_and_says_so(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites = two_sites(netlab)
    left, right = _pair(netlab, tmp_path, sites)
    right.connections[0].psk = "a-different-secret-456"
    right.load_all()
    with pytest.raises(ViciError):
        left.initiate("net", timeout=8)
    assert "MAC mismatch" in right.log_text() or "AUTHENTICATION_FAILED" in left.log_text()
    # secrets never reach the logs
    assert "vt-test-psk" not in left.log_text() + right.log_text()


@pytest.mark.interop
@pytest.mark.netns
@requires_strongswan
@pytest.mark.slow
def test_child_rekey_with_short_lifetimes_keeps_traffic(netlab: NetLab, tmp_path: Path  # noqa: F811
                                                        ) -> None:
    sites = two_sites(netlab)
    left, right = _pair(netlab, tmp_path, sites)
    for sw in (left, right):
        child = sw.connections[0].children[0]
        child.rekey_time, child.life_time, child.rand_time = "3s", "8s", "0s"
        sw.load_all()
    left.initiate("net")
    first = left.wait_for_sa(ike="s2s", child="net").child("net")
    assert first is not None

    def rekeyed() -> bool:
        sa = left.list_sas("s2s")
        return bool(sa) and any(c.state == "INSTALLED" and c.spi_in != first.spi_in
                                for c in sa[0].children)

    wait_until(rekeyed, timeout=15, what="a CHILD_SA rekey")
    assert _ping_across(sites), left.log_tail() + right.log_tail()
    assert "rekeying" in left.log_text().lower() or "CREATE_CHILD_SA" in left.log_text()


SUITES = [
    # (IKE proposal, ESP proposal): what vpnsh's interop tests will need strongSwan to do
    ("aes256gcm16-prfsha384-ecp384", "aes256gcm16"),
    ("aes256-sha256-modp2048", "aes256-sha256"),
    ("3des-sha1-modp1024", "3des-sha1"),  # PAN-OS `default` IKE/IPsec crypto profiles
    ("aes128-sha1-modp2048", "aes128-sha256-modp2048"),  # PFS on the CHILD SA
]


@pytest.mark.interop
@pytest.mark.netns
@requires_strongswan
@pytest.mark.parametrize(("ike", "esp"), SUITES, ids=[s[0] for s in SUITES])
def test_proposal_suites_negotiate_and_carry_ping(netlab: NetLab, tmp_path: Path,  # noqa: F811
                                                  ike: str, esp: str) -> None:
    sites = two_sites(netlab)
    left, right = _pair(netlab, tmp_path, sites, proposals=(ike,), esp_proposals=(esp,))
    left.initiate("net")
    sa = right.wait_for_sa(ike="s2s", child="net")
    assert sa.raw.get("dh-group"), sa.raw
    child = sa.child("net")
    assert child is not None
    if "modp" in esp:  # PFS shows on a CREATE_CHILD_SA (the IKE_AUTH child has no KE)
        left.rekey(child="net")
        wait_until(lambda: any(c.raw.get("dh-group") == "MODP_2048" and c.state == "INSTALLED"
                               for sa in right.list_sas() for c in sa.children),
                   timeout=10, what="a CHILD_SA rekeyed with MODP_2048")
    assert _ping_across(sites), left.log_tail() + right.log_tail()
