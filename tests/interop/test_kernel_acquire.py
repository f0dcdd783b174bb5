"""--dataplane kernel: an XFRM ACQUIRE (interesting traffic) starts IKE with strongSwan.

This kernel has XFRM policies and sends ACQUIREs but has no ESP, so the negotiated
CHILD SA cannot be installed: the test checks the negotiation that the ACQUIRE
started (strongSwan shows the SAs) and that the daemon says clearly why the SA is
not in the kernel. Where the kernel has ESP, the SA install itself is covered by
tests/integration/test_kernel_dataplane.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon
from tests.helpers.netns import NetLab, netlab, two_sites, wait_until  # noqa: F401
from tests.helpers.strongswan import Child, Connection, StrongSwan, requires_strongswan
from tests.interop.test_ikev2_strongswan import PSK, SUITES, vpnsh_config

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan]


def test_acquire_from_kernel_policy_starts_negotiation(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites = two_sites(netlab)
    left, right = sites.left, sites.right
    suite = SUITES[0]
    daemon = Daemon(tmp_path / "vpnsh", dataplane="kernel", netns=left.ns.name)
    daemon.start()
    try:
        # proxy-ids: the kernel plane installs no any<->any trap (it would capture everything)
        daemon.configure(vpnsh_config(sites, suite, proxy_ids=True))
        conn = Connection("s2s", [right.outer], [left.outer], PSK,
                          [Child("net", [right.inner_net], [left.inner_net], [suite.sw_esp])],
                          version=2, proposals=[suite.sw_ike], local_id=right.outer,
                          remote_id=left.outer)
        sw = StrongSwan(right.ns, tmp_path / "sw", connections=[conn])
        sw.start()
        sw.load_all()
        try:
            # no XFRM interfaces here: route the remote LAN towards the peer so the
            # packet reaches the XFRM policy lookup
            left.ns.add_route(right.inner_net, via=right.outer)
            wait_until(lambda: "dir out" in left.ns.run("ip", "xfrm", "policy").stdout,
                       timeout=10, what="the trap policy")
            left.ns.ping(right.inner, source=left.inner, count=1, wait=1)
            sa = sw.wait_for_sa(ike="s2s", child="net")
            assert not sa.initiator, "vpnsh initiated, on the kernel's ACQUIRE"
            flow = daemon.request("engine.op", name="vpn.flow.show", args={"name": "T"})["flows"][0]
            assert flow["key_acquires"] >= 1
            log = (daemon.log_dir / "ikemgr.log").read_text()
            assert "key acquire" in log
            assert "CONFIG_INET_ESP" in log or "install" in log
        finally:
            sw.stop()
    finally:
        daemon.stop()
