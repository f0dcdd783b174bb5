"""The PAN-OS XML API (vpnshd --api-listen) driven by the real clients, pan-os-python and
pan-python (test dependencies from PyPI), over HTTPS on a loopback port.

pan-os-python builds a site-to-site VPN through its object API (create, apply, delete),
commits and waits for the job, and reads ``show vpn ike-sa``; pan-python does keygen, op and
commit.  Wrong key, malformed xpath and invalid element each answer PAN-OS's error code and
message and leave the candidate as it was.
"""

from __future__ import annotations

import socket
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import Daemon, wait_for
from vpnsh.ssh.passwords import set_password

panos = pytest.importorskip("panos")
pan_xapi = pytest.importorskip("pan.xapi")

from panos import network  # noqa: E402
from panos.errors import PanDeviceXapiError  # noqa: E402
from panos.firewall import Firewall  # noqa: E402

USER = "api-admin"
PASSWORD = "Api-Pw-42"
D = "/config/devices/entry[@name='localhost.localdomain']"
V = D + "/vsys/entry[@name='vsys1']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class ApiDaemon(Daemon):
    def __init__(self, base: Path) -> None:
        self.port = free_port()
        super().__init__(base, extra_args=["--api-listen", f"127.0.0.1:{self.port}"])

    def start(self, timeout: float = 20.0) -> ApiDaemon:
        super().start(timeout)
        wait_for(lambda: port_open(self.port), timeout, f"the XML API on port {self.port}")
        return self

    def candidate(self) -> str:
        return str(self.request("config.show", which="candidate", format="set", path=[])["text"])

    def running(self) -> str:
        return str(self.request("config.show", which="running", format="set", path=[])["text"])


def insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def call(d: ApiDaemon, params: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, ET.Element]:
    """A raw POST to /api/: (HTTP status, parsed reply)."""
    req = urllib.request.Request(f"https://127.0.0.1:{d.port}/api/", data=urllib.parse.urlencode(params).encode(),
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=insecure(), timeout=30) as resp:
            return resp.status, ET.fromstring(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, ET.fromstring(exc.read())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiDaemon]:
    d = ApiDaemon(tmp_path / "d")
    set_password(d.state_dir / "ssh" / "passwords", USER, PASSWORD)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def firewall(d: ApiDaemon) -> Any:
    return Firewall("127.0.0.1", USER, PASSWORD, port=d.port)


def xapi(d: ApiDaemon, **kw: Any) -> Any:
    return pan_xapi.PanXapi(hostname="127.0.0.1", port=d.port, ssl_context=insecure(), **kw)


# ---------------------------------------------------------------------------- transport, keys


def test_tls_certificate_made_on_first_start_and_tls12_minimum(api: ApiDaemon) -> None:
    key = api.state_dir / "api" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (api.state_dir / "api" / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    old = insecure()
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", api.port), timeout=5) as raw:
        old.wrap_socket(raw)
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as raw, \
            insecure().wrap_socket(raw) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_keygen_wrong_password_and_wrong_key_answer_403(api: ApiDaemon) -> None:
    status, reply = call(api, {"type": "keygen", "user": USER, "password": "not-it"})
    assert status == 403
    assert reply.get("status") == "error" and reply.get("code") == "403"
    assert reply.findtext("result/msg") == "Invalid credentials."
    status, reply = call(api, {"type": "op", "cmd": "<show><system><info/></system></show>", "key": "bogus"})
    assert (status, reply.get("code"), reply.findtext("result/msg")) == (403, "403", "Invalid credentials.")
    # the library sees the HTTP 403 as PAN-OS's clients do
    x = xapi(api, api_key="bogus")
    with pytest.raises(pan_xapi.PanXapiError, match="403"):
        x.op(cmd="show system info", cmd_xml=True)


def test_key_in_header_hashed_on_disk_and_revocable(api: ApiDaemon) -> None:
    status, reply = call(api, {"type": "keygen", "user": USER, "password": PASSWORD})
    key = reply.findtext("result/key")
    assert status == 200 and key and len(key) >= 40 and "+" not in key and "/" not in key
    keys_file = api.state_dir / "api" / "keys"
    assert key not in keys_file.read_text()
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    status, reply = call(api, {"type": "op", "cmd": "<show><system><info/></system></show>"},
                         headers={"X-PAN-KEY": key})
    assert status == 200 and reply.findtext("result/system/hostname") == "vpnsh-test"
    res = subprocess.run([sys.executable, "-m", "vpnsh.api.keys", str(api.state_dir), "revoke", USER],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "1 key(s)" in res.stdout, res.stderr
    status, reply = call(api, {"type": "op", "cmd": "<show><system><info/></system></show>", "key": key})
    assert status == 403 and reply.get("code") == "403"


# ---------------------------------------------------------------------------- pan-python


def test_panxapi_keygen_op_commit_and_job(api: ApiDaemon) -> None:
    x = xapi(api, api_username=USER, api_password=PASSWORD)
    key = x.keygen()
    assert key
    x.op(cmd="show system info", cmd_xml=True)
    info = ET.fromstring(x.xml_result())
    assert info.findtext("sw-version") == "10.1.0" and info.findtext("model") == "vpnsh"
    assert info.findtext("serial", "").isdigit() and info.findtext("multi-vsys") == "off"
    x.set(xpath=D + "/network/interface/tunnel/units",
          element="<entry name='tunnel.7'><ip><entry name='169.254.7.1/30'/></ip><comment>xapi</comment></entry>")
    assert x.status == "success" and x.status_code == "20"
    x.commit(cmd="<commit><description>from pan-python</description></commit>")
    job = ET.fromstring(x.xml_document).findtext("result/job")
    assert job and job.isdigit()
    x.op(cmd=f'show jobs id "{job}"', cmd_xml=True)
    j = ET.fromstring(x.xml_document).find("result/job")
    assert j is not None
    assert [j.findtext(k) for k in ("id", "type", "status", "result", "progress", "user")] == \
        [job, "Commit", "FIN", "OK", "100", USER]
    assert j.findtext("details/line") == "Configuration committed successfully"
    assert "set network interface tunnel units tunnel.7 comment xapi" in api.running()
    x.commit(cmd="<commit></commit>")
    assert ET.fromstring(x.xml_document).findtext("msg") == "There are no changes to commit."


# ---------------------------------------------------------------------------- errors change nothing


def test_errors_answer_panos_codes_and_change_nothing(api: ApiDaemon) -> None:
    x = xapi(api, api_username=USER, api_password=PASSWORD)
    x.keygen()
    x.set(xpath=D + "/network/ike/crypto-profiles/ike-crypto-profiles",
          element="<entry name='keep'><encryption><member>aes-256-cbc</member></encryption></entry>")
    before = api.candidate()

    with pytest.raises(pan_xapi.PanXapiError, match="Malformed Xpath"):
        x.set(xpath=D + "/network/ike/gateway/entry[@name=", element="<entry name='g'/>")
    assert x.status_code == "6"
    with pytest.raises(pan_xapi.PanXapiError, match="bogus unexpected here"):
        x.set(xpath=D + "/network/ike/crypto-profiles/ike-crypto-profiles",
              element="<entry name='new'><encryption><member>aes-128-cbc</member></encryption><bogus/></entry>")
    assert x.status_code == "12"
    # edit replaces: a bad value half-way through puts the old entry back
    with pytest.raises(pan_xapi.PanXapiError, match="not one of"):
        x.edit(xpath=D + "/network/ike/crypto-profiles/ike-crypto-profiles/entry[@name='keep']",
               element="<entry name='keep'><encryption><member>rot13</member></encryption></entry>")
    assert x.status_code == "12"
    with pytest.raises(pan_xapi.PanXapiError, match="No such node"):
        x.show(xpath=D + "/network/ike/gateway/entry[@name='absent']")
    assert x.status_code == "7"
    x.get(xpath=D + "/network/ike/gateway/entry[@name='absent']")
    assert ET.fromstring(x.xml_document).find("result").get("total-count") == "0"
    with pytest.raises(pan_xapi.PanXapiError, match="Malformed"):
        x.set(xpath=D + "/network/ike/gateway", element="<entry name='g'><unclosed></entry>")
    assert x.status_code == "18"
    bad = xapi(api, api_key="wrong-key")
    with pytest.raises(pan_xapi.PanXapiError, match="403"):
        bad.set(xpath=D + "/network/ike/gateway", element="<entry name='g'/>")
    assert api.candidate() == before


def test_commit_that_fails_validation_has_a_failed_job(api: ApiDaemon) -> None:
    x = xapi(api, api_username=USER, api_password=PASSWORD)
    x.keygen()
    x.set(xpath=D + "/network/tunnel/ipsec",
          element="<entry name='T9'><auto-key><ike-gateway><entry name='nowhere'/></ike-gateway></auto-key></entry>")
    running = api.running()
    x.commit(cmd="<commit></commit>")
    job = ET.fromstring(x.xml_document).findtext("result/job")
    x.op(cmd=f"<show><jobs><id>{job}</id></jobs></show>")
    j = ET.fromstring(x.xml_document).find("result/job")
    assert j is not None and (j.findtext("status"), j.findtext("result")) == ("FIN", "FAIL")
    assert any("nowhere" in (line.text or "") for line in j.findall("details/line"))
    assert api.running() == running


# ---------------------------------------------------------------------------- pan-os-python


def test_pan_os_python_builds_a_vpn_commits_and_reads_ike_sa(api: ApiDaemon) -> None:
    fw = firewall(api)
    info = fw.refresh_system_info()
    assert (info.version, info.platform) == ("10.1.0", "vpnsh")
    ike = network.IkeCryptoProfile("ike-p", dh_group=["group14"], authentication=["sha256"],
                                   encryption=["aes-256-cbc"], lifetime_hours=8)
    ipsec = network.IpsecCryptoProfile("ipsec-p", esp_encryption=["aes-256-gcm"], esp_authentication=["none"],
                                       dh_group="group14", lifetime_hours=1)
    eth = network.EthernetInterface("eth9", mode="layer3", ip=["192.0.2.1/24"])
    tun = network.TunnelInterface("tunnel.1", ip=["169.254.1.1/30"])
    gw = network.IkeGateway("GW1", version="ikev2", peer_ip_value="192.0.2.2", interface="eth9",
                            local_ip_address_type="ip", local_ip_address="192.0.2.1/24",
                            auth_type="pre-shared-key", pre_shared_key="psk-from-panos",
                            ikev2_crypto_profile="ike-p")
    tunnel = network.IpsecTunnel("T1", tunnel_interface="tunnel.1", type="auto-key", ak_ike_gateway="GW1",
                                 ak_ipsec_crypto_profile="ipsec-p")
    proxy = network.IpsecTunnelIpv4ProxyId("P1", local="10.1.0.0/24", remote="10.2.0.0/24")
    zone = network.Zone("vpn", mode="layer3", interface=["tunnel.1"])
    vr = network.VirtualRouter("default", interface=["eth9", "tunnel.1"])
    route = network.StaticRoute("to-b", destination="10.2.0.0/24", interface="tunnel.1", nexthop_type=None)
    for obj in (ike, ipsec, eth, tun, gw, tunnel, zone, vr):
        fw.add(obj)
    tunnel.add(proxy)
    vr.add(route)
    for obj in (ike, ipsec, eth, tun, gw, tunnel, proxy, zone, vr, route):
        obj.create()
    gw.dead_peer_detection_interval = None
    gw.enable_passive_mode = True
    gw.apply()
    cand = api.candidate()
    assert "set network ike gateway GW1 protocol-common passive-mode yes" in cand
    assert "psk-from-panos" not in cand  # encrypted as the shell's set does
    result = fw.commit(sync=True)
    assert result["success"] and result["result"] == "OK", result
    running = api.running()
    for line in ("set network ike crypto-profiles ike-crypto-profiles ike-p dh-group group14",
                 "set network ike gateway GW1 protocol ikev2 ike-crypto-profile ike-p",
                 "set network tunnel ipsec T1 auto-key proxy-id P1 remote 10.2.0.0/24",
                 "set network interface tunnel units tunnel.1 ip 169.254.1.1/30",
                 "set zone vpn network layer3 tunnel.1",
                 "set network virtual-router default routing-table ip static-route to-b destination 10.2.0.0/24"):
        assert line in running, line
    ike_sa = ET.fromstring(fw.op("show vpn ike-sa", xml=True))
    assert ike_sa.get("status") == "success" and ike_sa.findtext("result/gateways-configured") == "1"
    # read back as pan-os-python reads: refresh, refreshall, names only, running config
    again = network.IkeGateway("GW1")
    fw.add(again)
    again.refresh()
    assert (again.peer_ip_value, again.ikev2_crypto_profile, again.enable_passive_mode) == ("192.0.2.2", "ike-p", True)
    assert again.pre_shared_key.startswith("-AQ==")
    assert [g.name for g in network.IkeGateway.refreshall(fw, name_only=True)] == ["GW1"]
    routes = network.StaticRoute.refreshall(vr, running_config=True, add=False)
    assert [(r.name, r.destination, r.interface) for r in routes] == [("to-b", "10.2.0.0/24", "tunnel.1")]
    # delete, and a second delete finds nothing
    route.delete()
    assert "static-route to-b" not in api.candidate()
    bad = network.IkeGateway("bad", peer_ip_value="not-an-ip", interface="eth9")
    fw.add(bad)
    with pytest.raises(PanDeviceXapiError, match="not a valid IP address"):
        bad.create()
    assert "gateway bad" not in api.candidate()
    assert fw.commit(sync=True)["result"] == "OK"
    assert "static-route to-b" not in api.running()


def test_export_configuration_is_the_running_config(api: ApiDaemon) -> None:
    x = xapi(api, api_username=USER, api_password=PASSWORD)
    x.keygen()
    x.export(category="configuration")
    doc = ET.fromstring(x.xml_document)
    assert doc.tag == "config"
    names = [e.get("name") for e in doc.findall(D.replace("/config/", "./") + "/network/ike/crypto-profiles/"
                                                "ike-crypto-profiles/entry")]
    assert "default" in names
    # the running config, not the candidate
    x.set(xpath=D + "/network/ike/crypto-profiles/ike-crypto-profiles", element="<entry name='uncommitted'/>")
    x.export(category="configuration")
    assert "uncommitted" not in x.xml_document


def test_rename_and_move_security_rules(api: ApiDaemon) -> None:
    x = xapi(api, api_username=USER, api_password=PASSWORD)
    x.keygen()
    rules = V + "/rulebase/security/rules"
    for name in ("A", "B", "C"):
        x.set(xpath=rules, element=f"<entry name='{name}'><from><member>any</member></from><to><member>any</member>"
                                   "</to><action>allow</action></entry>")
    x.move(xpath=rules + "/entry[@name='C']", where="top")
    x.rename(xpath=rules + "/entry[@name='A']", newname="A2")
    x.get(xpath=rules + "/entry/@name")
    names = [e.get("name") for e in ET.fromstring(x.xml_document).findall("result/entry")]
    assert names == ["C", "A2", "B"]
    with pytest.raises(pan_xapi.PanXapiError, match="No such node"):
        x.rename(xpath=rules + "/entry[@name='absent']", newname="Z")
    assert x.status_code == "7"
    with pytest.raises(pan_xapi.PanXapiError, match="already exists"):
        x.rename(xpath=rules + "/entry[@name='B']", newname="C")
    x.get(xpath=rules + "/entry/@name")
    assert [e.get("name") for e in ET.fromstring(x.xml_document).findall("result/entry")] == names


# ---------------------------------------------------------------------------- admins: changes, partial commit, locks

USER2 = "api-admin2"
PASSWORD2 = "Api-Pw-43"
TUNNELS = D + "/network/interface/tunnel/units"


def changes(d: ApiDaemon) -> list[tuple[str, str]]:
    """``show config list changes`` as (admin, xpath) rows."""
    return [(c["admin"], c["xpath"]) for c in d.request("config.changes")["changes"]]


def test_partial_commit_of_one_api_admin_keeps_the_others_changes(api: ApiDaemon) -> None:
    set_password(api.state_dir / "ssh" / "passwords", USER2, PASSWORD2)
    fw_a, fw_b = firewall(api), Firewall("127.0.0.1", USER2, PASSWORD2, port=api.port)
    fw_a.add(network.TunnelInterface("tunnel.11", comment="from-a")).create()
    fw_b.add(network.TunnelInterface("tunnel.12", comment="from-b")).create()
    rows = changes(api)
    assert {admin for admin, _ in rows} == {USER, USER2}  # each edit credited to its API admin
    assert any(a == USER and "tunnel.11" in xp for a, xp in rows)
    assert any(a == USER2 and "tunnel.12" in xp for a, xp in rows)

    # pan-os-python's commit(admins=[A]) sends <commit><partial><admin><member>A</member>...
    result = fw_a.commit(sync=True, admins=[USER])
    assert result is not None and result["success"] and result["result"] == "OK", result
    running, candidate = api.running(), api.candidate()
    assert "tunnel.11 comment from-a" in running and "tunnel.12" not in running
    assert "tunnel.12 comment from-b" in candidate  # B's change stays in the candidate
    assert {admin for admin, _ in changes(api)} == {USER2}
    # nothing of A's is left: a partial commit for A has nothing to do
    x = xapi(api, api_username=USER, api_password=PASSWORD)
    x.keygen()
    x.commit(cmd=f"<commit><partial><admin><member>{USER}</member></admin></partial></commit>",
             action="partial")
    assert ET.fromstring(x.xml_document).findtext("msg") == "There are no changes to commit."
    # a partial scope vpnsh has no notion of is refused, not widened to a full commit
    with pytest.raises(pan_xapi.PanXapiError, match="unexpected"):
        x.commit(cmd="<commit><partial><device-and-network>excluded</device-and-network>"
                     "</partial></commit>", action="partial")
    assert "tunnel.12" not in api.running()


def test_shell_admins_locks_refuse_api_writes_and_commits(api: ApiDaemon) -> None:
    from vpnsh.control.client import Client
    from vpnsh.shell.session import Session

    x = xapi(api, api_username=USER, api_password=PASSWORD)
    x.keygen()
    x.set(xpath=TUNNELS, element="<entry name='tunnel.21'><comment>before</comment></entry>")
    with Client(str(api.socket)) as client:
        ops1 = Session(client, user="ops1")
        ops1.hello("CLI", "local")
        assert ops1.execute("request config-lock add").ok
        before = api.candidate()
        with pytest.raises(pan_xapi.PanXapiError,
                           match="Config for scope shared is currently locked by ops1"):
            x.set(xpath=TUNNELS, element="<entry name='tunnel.22'><comment>locked</comment></entry>")
        assert x.status_code == "13"
        with pytest.raises(pan_xapi.PanXapiError, match="currently locked by ops1"):
            x.edit(xpath=TUNNELS + "/entry[@name='tunnel.21']",
                   element="<entry name='tunnel.21'><comment>edited</comment></entry>")
        with pytest.raises(pan_xapi.PanXapiError, match="currently locked by ops1"):
            x.delete(xpath=TUNNELS + "/entry[@name='tunnel.21']")
        assert api.candidate() == before
        assert ops1.execute("request config-lock remove").ok

        assert ops1.execute("request commit-lock add").ok
        running = api.running()
        with pytest.raises(pan_xapi.PanXapiError, match="Commit lock is already held by ops1"):
            x.commit(cmd="<commit></commit>")
        assert x.status_code == "13"
        assert api.running() == running
        assert ops1.execute("request commit-lock remove").ok
    x.commit(cmd="<commit></commit>")
    assert ET.fromstring(x.xml_document).findtext("result/job")
    wait_for(lambda: "tunnel.21 comment before" in api.running(), 30, "the API's commit")


def test_delete_of_a_referenced_object_answers_code_10_and_changes_nothing(api: ApiDaemon) -> None:
    api.set("network ike crypto-profiles ike-crypto-profiles ike-p dh-group group14")
    api.set("network ike crypto-profiles ike-crypto-profiles spare dh-group group14")
    api.set("network ike gateway GW1 protocol ikev2 ike-crypto-profile ike-p")
    before = api.candidate()
    x = xapi(api, api_username=USER, api_password=PASSWORD)
    x.keygen()
    profiles = D + "/network/ike/crypto-profiles/ike-crypto-profiles"
    with pytest.raises(pan_xapi.PanXapiError, match="ike-p cannot be deleted because of references from"):
        x.delete(xpath=profiles + "/entry[@name='ike-p']")
    assert x.status_code == "10"
    lines = [line.text for line in ET.fromstring(x.xml_document).findall("msg/line")]
    assert lines == ["ike-p cannot be deleted because of references from:",
                     "network -> ike -> gateway -> GW1 -> protocol -> ikev2 -> ike-crypto-profile"]
    # pan-os-python's delete() sees the same refusal
    fw = firewall(api)
    profile = fw.add(network.IkeCryptoProfile("ike-p"))
    with pytest.raises(PanDeviceXapiError, match="cannot be deleted"):
        profile.delete()
    assert api.candidate() == before
    # an object nothing names is deleted; so is the referrer, and then the object
    x.delete(xpath=profiles + "/entry[@name='spare']")
    x.delete(xpath=D + "/network/ike/gateway/entry[@name='GW1']")
    x.delete(xpath=profiles + "/entry[@name='ike-p']")
    assert x.status_code == "20"
    assert "ike-crypto-profiles ike-p" not in api.candidate()
    assert "ike-crypto-profiles spare" not in api.candidate()
