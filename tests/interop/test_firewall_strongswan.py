"""vpnsh's security policy against a strongSwan peer: the same rules, a different far end.

    [host] 10.1.0.10 --lan0-- [vpnsh] ==== [strongSwan, 10.2.0.1 on lo]

vpnsh allows ping and TCP/22 from 10.2.0.0/24 to its LAN and denies (and logs) the rest from
the tunnel; strongSwan's LAN address opens connections to vpnsh's LAN host.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.helpers.daemon import wait_for
from tests.helpers.netns import NetLab, netlab  # noqa: F401
from tests.helpers.strongswan import requires_strongswan
from tests.integration.test_firewall_tunnel import CONNECT, SERVER
from tests.interop.test_ikev2_strongswan import SUITES, make_pair

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan,
              pytest.mark.skipif(not shutil.which("nft"), reason="nftables not installed"),
              pytest.mark.skipif(not shutil.which("conntrack"), reason="conntrack not installed")]

RULES = [
    "set network interface ethernet lan0 layer3 ip 10.1.0.254/24",
    "set zone trust network layer3 lan0",
    "set zone vpn network layer3 tunnel.1",
    "set address far-lan ip-netmask 10.2.0.0/24",
    "set rulebase security rules far-ssh from vpn to trust source far-lan destination any "
    "application [ ssh ping ] service application-default action allow",
    "set rulebase security rules far-deny from vpn to trust source any destination any "
    "application any service any action deny log-end yes",
    "set rulebase security rules to-far from trust to vpn source any destination far-lan "
    "application any service any action allow",
]


def test_allowed_passes_denied_is_logged_vpnsh_strongswan(netlab: NetLab,  # noqa: F811
                                                           tmp_path: Path) -> None:
    p = make_pair(netlab, tmp_path, SUITES[0])
    try:
        left, right = p.sites.left, p.sites.right
        host = netlab.add_host("host")
        netlab.connect(left.ns, "10.1.0.254/24", host, "10.1.0.10/24", left_if="lan0",
                       right_if="eth0")
        host.add_route("default", via="10.1.0.254")
        left.ns.sysctl("net.ipv4.ip_forward", 1)
        p.vpnsh.configure(RULES)
        host.spawn([sys.executable, "-c", SERVER, str(tmp_path / "count"), "22", "2000"],
                   log_path=tmp_path / "server.log")
        wait_for(lambda: "listening" in (tmp_path / "server.log").read_text(), 10, "the server")
        p.shell("test vpn ike-sa gateway GW")
        p.sw.wait_for_sa(ike="s2s", child="net")

        def connect(port: int) -> bool:
            out = right.ns.run(sys.executable, "-c", CONNECT, "10.1.0.10", str(port), "3",
                               right.inner, check=False).stdout
            return out.startswith("open")

        assert connect(22), p.debug()
        assert not connect(2000)
        assert right.ns.ping("10.1.0.10", source=right.inner, count=1, wait=2)
        match = p.op("security-policy-match.show", **{"from": "vpn", "to": "trust",
                                                "source": right.inner,
                                                "destination": "10.1.0.10", "protocol": 6,
                                                "destination_port": 2000})
        assert match["rules"][0]["name"] == "far-deny"
        wait_for(lambda: p.op("log.traffic.show", filter=["rule", "equal", "far-deny"])["logs"], 10,
                 "the deny log")
        hits = {r["name"]: r["hit-count"] for r in p.op("rule-hit-count.show")["rules"]}
        assert hits["far-ssh"] >= 2 and hits["far-deny"] >= 1
    finally:
        p.vpnsh.stop()
        p.sw.stop()
