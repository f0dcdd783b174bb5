"""Both gateways initiate the IKE SA to each other at once (``test vpn ike-sa`` on both
sides, or the tunnel monitor of each): they converge to one IKE SA and one CHILD SA pair,
and traffic passes. vpnsh <-> vpnsh, user-space data plane, in namespaces.

The first IKE_SA_INIT of each side is dropped (an nftables drop on both hosts' output)
until both have sent theirs, so the two negotiations surely overlap; retransmission
then carries both through at the same moment.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.netns import NetLab, netlab, wait_until  # noqa: F401
from tests.helpers.strongswan import requires_strongswan
from tests.interop.test_esp_traffic import vpnsh_pair
from tests.interop.test_ikev2_strongswan import SUITES, make_pair

pytestmark = [pytest.mark.interop, pytest.mark.netns]


def _ike(d: Daemon) -> list[dict[str, Any]]:
    return list(d.request("engine.op", name="vpn.ike-sa.show", args={})["ikev2"])


def _children(d: Daemon) -> list[dict[str, Any]]:
    return list(d.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"])


def _log(d: Daemon) -> str:
    path = d.log_dir / "ikemgr.log"
    return path.read_text(errors="replace") if path.exists() else ""


def test_simultaneous_test_vpn_ike_sa_converges_vpnsh_vpnsh(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites, a, b = vpnsh_pair(netlab, tmp_path)
    left, right = sites.left, sites.right
    try:
        for site in (left, right):
            site.ns.set_loss(100, hook="output")
        results: dict[str, Any] = {}

        def test(name: str, d: Daemon) -> None:
            results[name] = d.request("engine.op", name="vpn.ike-sa.test", args={"gateway": "GW"})

        threads = [threading.Thread(target=test, args=(n, d)) for n, d in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        wait_until(lambda: all("IKE_SA_INIT request sent" in _log(d) for d in (a, b)),
                   timeout=15, what="both sides to initiate")
        for site in (left, right):
            site.ns.set_loss(0, hook="output")
        for t in threads:
            t.join(timeout=60)
        assert results["a"]["errors"] == [] and results["b"]["errors"] == [], results
        # the second IKE SA comes up after the first answered ``test``. A side finds the
        # collision when the peer's IKE_SA_INIT came before its own SA was up (one side at
        # least, often both); one Delete removes the redundant SA on both
        wait_until(lambda: any("IKE SA collision" in _log(d) for d in (a, b)), timeout=20,
                   what="a side to see the collision")
        wait_until(lambda: "redundant after IKE SA collision" in _log(a) + _log(b), timeout=20,
                   what="the Delete of the redundant IKE SA")

        def converged() -> bool:
            ia, ib = _ike(a), _ike(b)
            ca, cb = _children(a), _children(b)
            return (len(ia) == 1 and len(ib) == 1 and len(ca) == 1 and len(cb) == 1
                    and ca[0]["spi_in"] == cb[0]["spi_out"] and ca[0]["spi_out"] == cb[0]["spi_in"])

        wait_until(converged, timeout=30, what="one IKE SA and one CHILD SA pair on each side")
        assert left.ns.ping(right.inner, source=left.inner, count=5, wait=2)
        assert right.ns.ping(left.inner, source=right.inner, count=5, wait=2)
        # still one of each: the traffic brought up nothing new
        assert len(_ike(a)) == 1 and len(_ike(b)) == 1 and len(_children(a)) == 1
    finally:
        a.stop()
        b.stop()


@requires_strongswan
def test_simultaneous_initiation_converges_vpnsh_strongswan(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    """strongSwan keeps both IKE SAs of a collision (its ``uniqueids`` replaces only on
    INITIAL_CONTACT); vpnsh deletes the redundant one, and strongSwan follows the Delete."""
    p = make_pair(netlab, tmp_path, SUITES[0])
    left, right = p.sites.left, p.sites.right
    try:
        for site in (left, right):
            site.ns.set_loss(100, hook="output")
        results: dict[str, Any] = {}

        def vpnsh_test() -> None:
            results["vpnsh"] = p.op("vpn.ike-sa.test", gateway="GW")

        def sw_initiate() -> None:
            with p.sw.session() as vici:
                results["sw"] = vici.command("initiate", {"child": "net", "timeout": 30000,
                                                          "init-limits": "no"})

        threads = [threading.Thread(target=f) for f in (vpnsh_test, sw_initiate)]
        for t in threads:
            t.start()
        wait_until(lambda: "IKE_SA_INIT request sent" in _log(p.vpnsh)
                   and any(s.state == "CONNECTING" for s in p.sw.list_sas()),
                   timeout=15, what="both sides to initiate")
        for site in (left, right):
            site.ns.set_loss(0, hook="output")
        for t in threads:
            t.join(timeout=60)
        assert results["vpnsh"]["errors"] == [], results

        def converged() -> bool:
            sw = [s for s in p.sw.list_sas() if s.state == "ESTABLISHED"]
            mine = p.vpnsh_children()
            if len(sw) != 1 or len(_ike(p.vpnsh)) != 1 or len(mine) != 1:
                return False
            theirs = [c for c in sw[0].children if c.state == "INSTALLED"]
            return (len(theirs) == 1 and int(theirs[0].spi_in, 16) == mine[0]["spi_out"]
                    and int(theirs[0].spi_out, 16) == mine[0]["spi_in"])

        wait_until(lambda: "IKE SA collision" in _log(p.vpnsh), timeout=20,
                   what="vpnsh to see the collision")
        wait_until(converged, timeout=60, what="one IKE SA and one CHILD SA pair" + p.debug())
        assert p.ping(count=5), p.debug()
    finally:
        p.vpnsh.stop()
        p.sw.stop()
