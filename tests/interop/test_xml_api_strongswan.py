"""A tunnel configured through the XML API by pan-os-python comes up against strongSwan and
carries pings.

vpnshd (user-space data plane, ``--api-listen 127.0.0.1:PORT``) runs in the left namespace;
pan-os-python runs there too (the API is on that namespace's loopback), builds the IKE and
IPsec crypto profiles, the ethernet and tunnel interfaces, the IKE gateway, the IPsec tunnel
with its proxy ID, a zone, the virtual router and a static route through its object API,
commits and waits for the job, brings the tunnel up with ``test vpn ike-sa`` and reads
``show vpn ike-sa`` through ``op()``.  strongSwan (kernel-libipsec) is the right site.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import NetLab, netlab, two_sites  # noqa: F401  (netlab is a fixture)
from tests.helpers.strongswan import Child, Connection, StrongSwan, requires_strongswan
from tests.interop.test_ikev2_strongswan import PSK, SUITES
from vpnsh.ssh.passwords import set_password

pytest.importorskip("panos")

pytestmark = [pytest.mark.interop, pytest.mark.netns, requires_strongswan]

PORT = 18443
USER, PASSWORD = "automation", "Api-Interop-1"

CLIENT = r'''
import json, sys
from panos import network
from panos.firewall import Firewall

a = json.loads(sys.argv[1])
fw = Firewall("127.0.0.1", a["user"], a["password"], port=a["port"])
out = {"system": fw.refresh_system_info()._asdict()}
ike = network.IkeCryptoProfile("IKE", encryption=["aes-256-cbc"], authentication=["sha256"],
                               dh_group=["group14"], lifetime_hours=8)
esp = network.IpsecCryptoProfile("ESP", esp_encryption=["aes-256-cbc"], esp_authentication=["sha256"],
                                 dh_group="no-pfs", lifetime_hours=1)
eth = network.EthernetInterface(a["outer_if"], mode="layer3", ip=[a["outer"] + "/24"])
tun = network.TunnelInterface("tunnel.1", ip=["169.254.10.1/30"], mtu=1400)
gw = network.IkeGateway("GW", version="ikev2", interface=a["outer_if"], local_ip_address_type="ip",
                        local_ip_address=a["outer"] + "/24", peer_ip_type="ip", peer_ip_value=a["peer"],
                        auth_type="pre-shared-key", pre_shared_key=a["psk"],
                        local_id_type="ipaddr", local_id_value=a["outer"],
                        peer_id_type="ipaddr", peer_id_value=a["peer"],
                        ikev2_crypto_profile="IKE", enable_nat_traversal=True)
tunnel = network.IpsecTunnel("T", tunnel_interface="tunnel.1", type="auto-key", ak_ike_gateway="GW",
                             ak_ipsec_crypto_profile="ESP")
proxy = network.IpsecTunnelIpv4ProxyId("lan", local=a["local_net"], remote=a["remote_net"])
zone = network.Zone("vpn", mode="layer3", interface=["tunnel.1"])
vr = network.VirtualRouter("default", interface=[a["outer_if"], "tunnel.1"])
route = network.StaticRoute("to-right", destination=a["remote_net"], interface="tunnel.1", nexthop_type=None)
for obj in (ike, esp, eth, tun, gw, tunnel, zone, vr):
    fw.add(obj)
tunnel.add(proxy)
vr.add(route)
for obj in (ike, esp, eth, tun, gw, tunnel, proxy, zone, vr, route):
    obj.create()
commit = fw.commit(sync=True)
out["commit"] = {k: commit[k] for k in ("success", "result", "jobid", "messages")}
out["test"] = fw.op("test vpn ike-sa gateway GW", xml=True).decode()
out["ike_sa"] = fw.op("show vpn ike-sa", xml=True).decode()
print(json.dumps(out))
'''


def test_pan_os_python_configures_a_tunnel_that_carries_pings(netlab: NetLab, tmp_path: Path) -> None:  # noqa: F811
    sites = two_sites(netlab)
    left, right = sites.left, sites.right
    daemon = Daemon(tmp_path / "vpnsh", dataplane="userspace", netns=left.ns.name,
                    extra_args=["--api-listen", f"127.0.0.1:{PORT}"])
    set_password(daemon.state_dir / "ssh" / "passwords", USER, PASSWORD)
    suite = SUITES[1]  # cbc-sha2: aes-256-cbc, sha256, group14
    child = Child("net", [right.inner_net], [left.inner_net], [suite.sw_esp])
    sw = StrongSwan(right.ns, tmp_path / "sw", connections=[
        Connection("s2s", [right.outer], [left.outer], PSK, [child], version=2, proposals=[suite.sw_ike],
                   local_id=right.outer, remote_id=left.outer)])
    daemon.start()
    try:
        wait_for(lambda: "XML API listening" in daemon.log_text(), 20, "the XML API")
        sw.start()
        sw.load_all()
        args = {"user": USER, "password": PASSWORD, "port": PORT, "outer_if": left.outer_if,
                "outer": left.outer, "peer": right.outer, "psk": PSK,
                "local_net": left.inner_net, "remote_net": right.inner_net}
        res = left.ns.run(sys.executable, "-c", CLIENT, json.dumps(args), timeout=120, check=False)
        assert res.returncode == 0, res.stdout + res.stderr + daemon.log_text()[-3000:]
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out["system"]["platform"] == "vpnsh"
        assert out["commit"]["success"] and out["commit"]["result"] == "OK", out["commit"]
        test = ET.fromstring(out["test"])
        assert test.findtext("result/initiated") == "1" and test.find("result/errors/entry") is None, out["test"]
        sa = sw.wait_for_sa(ike="s2s", child="net")
        assert sa.version == 2 and not sa.initiator
        ike_sa = ET.fromstring(out["ike_sa"])
        established = ike_sa.findall("result/ikev2/entry")
        assert [(e.findtext("gateway"), e.findtext("state")) for e in established] == [("GW", "Established")]
        assert left.ns.ping(right.inner, source=left.inner, count=3, wait=2), sw.log_tail()
        got = sw.list_sas()[0].child("net")
        assert got is not None and got.counter("packets-in") >= 3
        assert got.local_ts == [right.inner_net] and got.remote_ts == [left.inner_net]
    finally:
        daemon.stop()
        sw.stop()
