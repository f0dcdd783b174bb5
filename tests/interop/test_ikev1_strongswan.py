"""vpnsh <-> strongSwan over IKEv1 (main and aggressive mode), in two namespaces.

Left is a real vpnshd with the user-space data plane, configured through the vpnsh
shell with PAN-OS set commands (``protocol version ikev1``, ``protocol ikev1
exchange-mode ...``); right is strongSwan (``version = 1``) with kernel-libipsec.
The config, the pair and its helpers are the IKEv2 interop tests' (test_ikev2_strongswan).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
from tests.helpers.strongswan import (
    Child,
    Connection,
    StrongSwan,
    ViciError,
    requires_strongswan,
)
from tests.interop.test_esp_traffic import SIZE, transfer, vpnsh_site
from tests.interop.test_ikev2_strongswan import PSK, Suite
from tests.interop.test_ikev2_strongswan import Pair as Ikev2Pair
from tests.interop.test_ikev2_strongswan import vpnsh_config as ikev2_config

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan]

SUITES = [
    Suite("aes128-sha1", "aes-128-cbc", "sha1", "group14", "aes-128-cbc", "sha1", "no-pfs",
          "aes128-sha1-modp2048", "aes128-sha1"),
    Suite("aes256-sha256-pfs", "aes-256-cbc", "sha256", "group14", "aes-256-cbc", "sha256",
          "group14", "aes256-sha256-modp2048", "aes256-sha256-modp2048"),
    Suite("panos-default", "3des", "sha1", "group2", "3des", "sha1", "group2",
          "3des-sha1-modp1024", "3des-sha1-modp1024"),
]


def vpnsh_config(sites: TwoSites, suite: Suite, *, mode: str, version: str = "ikev1",
                 **kw: Any) -> list[str]:
    """The IKEv2 tests' config (ikev2_config) with the gateway on IKEv1 (or ``version``),
    in ``mode``, with DPD; the same crypto profile serves both versions."""
    gw = "set network ike gateway GW"
    lines = [ln for ln in ikev2_config(sites, suite, **kw) if ln != f"{gw} protocol version ikev2"]
    return [*lines, f"{gw} protocol version {version}", f"{gw} protocol ikev1 exchange-mode {mode}",
            f"{gw} protocol ikev1 ike-crypto-profile IKE", f"{gw} protocol ikev1 dpd enable yes"]


class Pair(Ikev2Pair):
    """The IKEv2 interop tests' pair, with the whole ikemgr log at hand."""

    def ikemgr(self) -> str:
        log = self.vpnsh.log_dir / "ikemgr.log"
        return log.read_text() if log.exists() else ""


def make_pair(lab: NetLab, tmp_path: Path, suite: Suite, *, mode: str = "main",
              sw_psk: str = PSK, sw_child: Child | None = None, nat: bool = False,
              sw_conn: dict[str, Any] | None = None, **config: Any) -> Pair:
    sites = two_sites(lab, nat=nat)
    left, right = sites.left, sites.right
    daemon = Daemon(tmp_path / "vpnsh", dataplane="userspace", netns=left.ns.name)
    daemon.start()
    daemon.configure(vpnsh_config(sites, suite, mode=mode, **config))
    child = sw_child or Child("net", [right.inner_net], [left.inner_net], [suite.sw_esp])
    conn = Connection("s2s", [right.outer], ["%any" if nat else left.outer], sw_psk, [child],
                      version=1, proposals=[suite.sw_ike], local_id=right.outer,
                      remote_id=left.outer, aggressive=mode == "aggressive", **(sw_conn or {}))
    sw = StrongSwan(right.ns, tmp_path / "sw", connections=[conn],
                    aggressive_psk=mode == "aggressive")
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


@pytest.mark.parametrize("mode", ["main", "aggressive"])
@pytest.mark.parametrize("suite", SUITES, ids=[s.name for s in SUITES])
def test_vpnsh_initiates_ikev1_and_traffic_flows(pair_factory: Any, suite: Suite,
                                                 mode: str) -> None:
    p: Pair = pair_factory(suite, mode=mode)
    out = p.shell("test vpn ike-sa gateway GW")
    assert "Initiate 1 IKE SA." in out, out + p.debug()
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.version == 1 and not sa.initiator, p.debug()
    # no NAT between the sites, but vpnsh's user-space data plane faked one in NAT-D
    # (RFC 3947) so that ESP goes in UDP: strongSwan takes it for a NAT in front of vpnsh
    assert sa.raw.get("nat-remote") == "yes" and sa.raw.get("remote-port") == "4500", sa.raw
    assert p.ping(), p.debug()
    words = "main mode" if mode == "main" else "aggressive mode"
    text = p.ikemgr()
    assert f"IKE phase-1 negotiation is succeeded as initiator, {words}" in text
    assert "IKE phase-2 negotiation is succeeded as initiator, quick mode" in text
    child = p.sw.list_sas()[0].child("net")
    assert child is not None and child.counter("packets-in") >= 3
    # strongSwan narrowed vpnsh's 0.0.0.0/0 proxy IDs to its configured subnets
    assert child.local_ts == [p.sites.right.inner_net]
    flow = p.op("vpn.flow.show", name="T")["flows"][0]
    assert flow["decap_packets"] >= 3 and flow["encap_packets"] >= 3


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_strongswan_initiates_ikev1_and_traffic_flows(pair_factory: Any, mode: str) -> None:
    p: Pair = pair_factory(SUITES[0], mode=mode)
    p.sw.initiate("net")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.initiator and sa.version == 1
    wait_until(lambda: p.vpnsh_children(), timeout=10, what="vpnsh to install the phase 2 SA")
    assert p.ping(), p.debug()
    words = "main mode" if mode == "main" else "aggressive mode"
    assert f"IKE phase-1 negotiation is succeeded as responder, {words}" in p.ikemgr()


def test_proxy_id_with_specific_subnets(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0], proxy_ids=True)
    p.shell("test vpn ipsec-sa tunnel T:lan")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    child = sa.child("net")
    assert child is not None
    assert child.local_ts == [p.sites.right.inner_net]
    assert child.remote_ts == [p.sites.left.inner_net]
    assert p.ping(), p.debug()
    (row,) = p.vpnsh_children()
    assert row["tunnel"] == "T:lan"


def test_strongswan_with_other_proxy_ids_gets_invalid_id(pair_factory: Any) -> None:
    sites_child = Child("net", ["10.2.0.0/24"], ["10.1.99.0/24"], [SUITES[0].sw_esp])
    p: Pair = pair_factory(SUITES[0], proxy_ids=True, sw_child=sites_child)
    with pytest.raises(ViciError):
        p.sw.initiate("net", timeout=10)
    wait_until(lambda: "no matching proxy-id" in p.ikemgr(), timeout=20,
               what="vpnsh to reject strongSwan's proxy IDs")
    text = p.ikemgr()
    assert "10.1.99.0/24" in text and "T:lan: local 10.1.0.0/24 remote 10.2.0.0/24" in text
    assert p.vpnsh_children() == []


@pytest.mark.parametrize("initiator", ["vpnsh", "strongswan"])
@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_wrong_psk_fails_with_a_plain_reason(pair_factory: Any, mode: str,
                                             initiator: str) -> None:
    p: Pair = pair_factory(SUITES[0], mode=mode, sw_psk="not-the-same-psk-000")
    if initiator == "vpnsh":
        out = p.shell("test vpn ike-sa gateway GW")
        assert "Initiate 1 IKE SA." in out, out
    else:
        with pytest.raises(ViciError):
            p.sw.initiate("net", timeout=10)
    wait_until(lambda: "pre-shared key mismatch" in p.ikemgr(), timeout=60,
               what="the pre-shared key mismatch in ikemgr.log")
    assert p.vpnsh_children() == []



def test_20mb_each_way(pair_factory: Any, tmp_path: Path) -> None:
    p: Pair = pair_factory(SUITES[1])
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    left, right = p.sites.left, p.sites.right
    transfer(tmp_path, left.ns, left.inner, right.ns, right.inner)
    transfer(tmp_path, right.ns, right.inner, left.ns, left.inner)
    flow = p.op("vpn.flow.show", name="T")["flows"][0]
    assert flow["encap_bytes"] > SIZE and flow["decap_bytes"] > SIZE
    assert flow["auth_errors"] == 0


@pytest.mark.parametrize("initiator", ["vpnsh", "strongswan"])
def test_phase2_rekey_under_traffic(pair_factory: Any, initiator: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Short phase 2 lifetimes on the side that should rekey; pings keep flowing."""
    if initiator == "vpnsh":
        monkeypatch.setenv("VPNSH_TEST_LIFETIME_SCALE", "0.05")  # 180 s -> 9 s
        extra: dict[str, Any] = {}
    else:
        extra = {"sw_child": None}
    p: Pair = pair_factory(SUITES[0], **extra)
    if initiator == "vpnsh":
        p.shell("configure",
                "set network ike crypto-profiles ipsec-crypto-profiles ESP lifetime seconds 180",
                "commit")
    else:
        p.sw.stop()
        right, left = p.sites.right, p.sites.left
        child = Child("net", [right.inner_net], [left.inner_net], [SUITES[0].sw_esp],
                      rekey_time="6s", life_time="20s", rand_time="0s")
        conn = Connection("s2s", [right.outer], [left.outer], PSK, [child], version=1,
                          proposals=[SUITES[0].sw_ike], local_id=right.outer,
                          remote_id=left.outer)
        p.sw = StrongSwan(right.ns, p.vpnsh.base.parent / "sw2", connections=[conn])
        p.sw.start()
        p.sw.load_all()
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    wait_until(lambda: p.vpnsh_children(), timeout=10, what="the phase 2 SA")
    first = p.vpnsh_children()[0]["spi_in"]
    left, right = p.sites.left, p.sites.right
    pinger = left.ns.spawn(["ping", "-n", "-i", "0.2", "-c", "100", "-W", "1", "-I", left.inner,
                            right.inner], log_path=p.vpnsh.base / "ping.log")

    def rekeyed() -> bool:
        children = p.vpnsh_children()
        return bool(children) and all(c["spi_in"] != first for c in children)

    wait_until(rekeyed, timeout=30, what="a phase 2 rekey" + p.debug())
    wait_until(lambda: not pinger.running(), timeout=40, what="the ping run to end")
    summary = re.search(r"(\d+) packets transmitted, (\d+) received", pinger.output())
    assert summary, pinger.output()
    sent, got = int(summary.group(1)), int(summary.group(2))
    assert sent - got <= 1, f"{sent - got} of {sent} pings lost across rekeys" + p.debug()
    assert "quick mode, rekey" in p.ikemgr()


def test_dpd_notices_a_stopped_peer(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0])
    p.shell("configure", "set network ike gateway GW protocol ikev1 dpd interval 2",
            "set network ike gateway GW protocol ikev1 dpd retry 3", "commit")
    p.shell("test vpn ike-sa gateway GW")
    p.sw.wait_for_sa(ike="s2s", child="net")
    wait_until(lambda: p.vpnsh_children(), timeout=10, what="the phase 2 SA")
    # the peer goes silent (no Delete): drop IKE in its namespace
    p.sites.right.ns.nft("table inet silence {\n  chain input {\n"
                         "    type filter hook input priority 0; policy accept;\n"
                         "    udp dport { 500, 4500 } drop\n  }\n}\n")
    wait_until(lambda: "is dead" in p.ikemgr(), timeout=30, what="DPD to declare the peer dead")
    assert p.vpnsh_children() == []
    assert p.op("vpn.ike-sa.show")["ikev2"] == []


def test_vpnsh_behind_nat(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0], nat=True)
    p.shell("test vpn ike-sa gateway GW")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    assert sa.nat_any
    assert p.ping(), p.debug()
    text = p.ikemgr()
    assert "NAT detected in front of us" in text or "NAT detected on both sides" in text


def test_proxy_id_with_protocol_and_port(pair_factory: Any) -> None:
    left_net, right_net = "10.1.0.0/24", "10.2.0.0/24"
    sw_child = Child("net", [f"{right_net}[tcp/5201]"], [f"{left_net}[tcp]"],
                     [SUITES[0].sw_esp])
    p: Pair = pair_factory(SUITES[0], proxy_ids=True, sw_child=sw_child)
    p.shell("configure", "set network tunnel ipsec T auto-key proxy-id lan protocol tcp "
            "remote-port 5201", "commit")
    p.shell("test vpn ipsec-sa tunnel T:lan")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    child = sa.child("net")
    assert child is not None
    assert child.local_ts == [f"{right_net}[tcp/5201]"], child.local_ts
    assert child.remote_ts == [f"{left_net}[tcp]"], child.remote_ts


def test_ikev2_preferred_falls_back_to_ikev1(pair_factory: Any) -> None:
    p: Pair = pair_factory(SUITES[0], version="ikev2-preferred")
    p.shell("test vpn ike-sa gateway GW")
    sa = p.sw.wait_for_sa(ike="s2s", child="net", timeout=60)
    assert sa.version == 1
    assert "falling back to IKEv1" in p.ikemgr()
    assert p.ping(), p.debug()


@pytest.mark.parametrize("mode", ["main", "aggressive"])
def test_vpnsh_to_vpnsh_ikev1(netlab: NetLab, tmp_path: Path, mode: str) -> None:  # noqa: F811
    sites = two_sites(netlab)
    mirrored = TwoSites(sites.right, sites.left)
    a = vpnsh_site(tmp_path, sites, "a", vpnsh_config(sites, SUITES[1], mode=mode))
    try:
        b = vpnsh_site(tmp_path, mirrored, "b", vpnsh_config(mirrored, SUITES[1], mode=mode))
        try:
            res = a.shell("-c", "test vpn ike-sa gateway GW", timeout=60)
            assert "Initiate 1 IKE SA." in res.stdout, res.stdout + res.stderr

            def children(d: Daemon) -> list[dict[str, Any]]:
                return list(d.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"])

            wait_until(lambda: children(a) and children(b), timeout=20, what="the tunnel")
            assert sites.left.ns.ping(sites.right.inner, source=sites.left.inner, count=3,
                                      wait=2)
            (sa_a,), (sa_b,) = children(a), children(b)
            assert sa_a["spi_in"] == sa_b["spi_out"] and sa_a["spi_out"] == sa_b["spi_in"]
        finally:
            b.stop()
    finally:
        a.stop()



def test_phase1_renegotiated_before_expiry_keeps_phase2(pair_factory: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A new phase 1 replaces the old one before it expires; strongSwan adopts the phase 2
    SAs (IKEv1 reauthentication) and traffic goes on."""
    monkeypatch.setenv("VPNSH_TEST_LIFETIME_SCALE", "0.05")  # 180 s -> 9 s
    p: Pair = pair_factory(SUITES[0])
    p.shell("configure",
            "set network ike crypto-profiles ike-crypto-profiles IKE lifetime seconds 180",
            "commit")
    p.shell("test vpn ike-sa gateway GW")
    sa = p.sw.wait_for_sa(ike="s2s", child="net")
    child = sa.child("net")
    assert child is not None
    spi = child.spi_in
    left, right = p.sites.left, p.sites.right
    pinger = left.ns.spawn(["ping", "-n", "-i", "0.2", "-c", "75", "-W", "1", "-I", left.inner,
                            right.inner], log_path=p.vpnsh.base / "ping.log")
    wait_until(lambda: p.ikemgr().count("replaced by a new phase 1") >= 2, timeout=40,
               what="two phase 1 renegotiations" + p.debug())
    wait_until(lambda: not pinger.running(), timeout=40, what="the ping run to end")
    summary = re.search(r"(\d+) packets transmitted, (\d+) received", pinger.output())
    assert summary, pinger.output()
    sent, got = int(summary.group(1)), int(summary.group(2))
    assert sent - got <= 1, f"{sent - got} of {sent} pings lost" + p.debug()
    (now,) = p.sw.list_sas()
    kept = now.child("net")
    assert kept is not None and kept.spi_in == spi  # the same phase 2 SA, adopted
    # each old ISAKMP SA handed its phase 2 SA over before our Delete reached it
    adopted = p.sw.log_path.read_text().count("detected reauth of existing IKE_SA, adopting 1 ")
    assert adopted >= 2, p.debug()
