"""The XML API's pure parts: xpaths, the PAN-OS config document, element -> set commands,
op command words, API keys."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vpnsh.api import document, keys, replies
from vpnsh.api import xpath as xp
from vpnsh.api.handlers import cmd_words, job_element
from vpnsh.api.replies import ApiError
from vpnsh.config import formats, tree
from vpnsh.ssh.passwords import set_password

D = "/config/devices/entry[@name='localhost.localdomain']"
V = D + "/vsys/entry[@name='vsys1']"


def test_xpaths_map_to_tree_paths() -> None:
    def tokens(text: str) -> tuple[str, ...]:
        return xp.target(xp.parse_one(text)).tokens

    assert tokens(D + "/network/ike/gateway/entry[@name='GW1']") == ("network", "ike", "gateway", "GW1")
    assert tokens(D + '/network/interface/ethernet/entry[@name="eth0"]/layer3') == \
        ("network", "interface", "ethernet", "eth0", "layer3")
    assert tokens(V + "/zone/entry[@name='trust']") == ("zone", "trust")
    assert tokens("/config/devices/entry/vsys/entry/rulebase/security/rules") == ("rulebase", "security", "rules")
    assert xp.target(xp.parse_one(V + "/import/network/interface")).kind == xp.IMPORT
    names = xp.parse_one(D + "/network/ike/gateway/entry/@name")
    assert names.names_only and names.steps[-1].tag == "entry"
    union = xp.parse(D + "/network/ike/gateway/entry[@name='a|b']/protocol|" + D + "/network/ike/gateway/entry[@name='a|b']/comment")
    assert [p.steps[-1].tag for p in union] == ["protocol", "comment"]
    assert union[0].steps[-2].name == "a|b"


@pytest.mark.parametrize("bad", ["", "config/devices", "/config/devices/entry[@name=", "/config//x",
                                 "/config/devices/entry[@name='x']]", "/foo/bar"])
def test_malformed_xpaths_are_code_6(bad: str) -> None:
    with pytest.raises(ApiError) as exc:
        xp.parse(bad)
    assert (exc.value.code, exc.value.message) == (replies.BAD_XPATH, "Malformed Xpath")


@pytest.mark.parametrize("bad", [D + "/network/ike/nothing", D + "/zone/entry[@name='z']",
                                 V + "/network/ike", "/config/devices/entry[@name='other']/network",
                                 D + "/network/ike/gateway/entry"])
def test_locations_vpnsh_lacks_are_code_12(bad: str) -> None:
    with pytest.raises(ApiError) as exc:
        xp.target(xp.parse_one(bad))
    assert exc.value.code == replies.INVALID_OBJECT


def test_document_layout_and_select() -> None:
    cfg = formats.parse("\n".join([
        "set network interface ethernet eth1 layer3 ip 192.0.2.1/24",
        "set network interface tunnel units tunnel.1 ip 169.254.1.1/30",
        "set network ike gateway GW1 peer-address ip 192.0.2.2",
        "set network tunnel ipsec T1 auto-key ike-gateway GW1",
        "set zone vpn network layer3 tunnel.1",
    ]), "set")
    doc = document.config_document(cfg)
    gw = document.select(doc, xp.parse_one(D + "/network/ike/gateway/entry[@name='GW1']"))
    assert [ET.tostring(e, encoding="unicode") for e in gw] == \
        ['<entry name="GW1"><peer-address><ip>192.0.2.2</ip></peer-address></entry>']
    # PAN-OS's XML: an interface's ip and a tunnel's ike-gateway are entries, zone members members
    assert document.select(doc, xp.parse_one(D + "/network/interface/ethernet/entry/layer3/ip/entry"))[0].get("name") == "192.0.2.1/24"
    assert document.select(doc, xp.parse_one(D + "/network/tunnel/ipsec/entry/auto-key/ike-gateway/entry"))[0].get("name") == "GW1"
    assert document.select(doc, xp.parse_one(V + "/zone/entry/network/layer3/member"))[0].text == "tunnel.1"
    imports = document.select(doc, xp.parse_one(V + "/import/network/interface/member"))
    assert [m.text for m in imports] == ["eth1", "tunnel.1"]
    assert [e.get("name") for e in document.select(doc, xp.parse_one(D + "/network/ike/gateway/entry/@name"))] == ["GW1"]
    # and back: the same tree from the same XML
    assert formats.parse(formats.render(cfg, "xml"), "xml") == cfg


def test_element_to_set_commands() -> None:
    tokens = ("network", "ike", "gateway")
    value = document.parse_element(
        "<entry name='GW1'><authentication><pre-shared-key><key>s3cret</key></pre-shared-key></authentication>"
        "<peer-address><dynamic/></peer-address><protocol><version>ikev2</version></protocol></entry>",
        tokens, wrap=True)
    assert document.set_commands(tokens, value) == [
        ["network", "ike", "gateway", "GW1", "authentication", "pre-shared-key", "key", "s3cret"],
        ["network", "ike", "gateway", "GW1", "protocol", "version", "ikev2"],
        ["network", "ike", "gateway", "GW1", "peer-address", "dynamic"],
    ]
    leaf = ("network", "interface", "tunnel", "units", "tunnel.1")
    value = document.parse_element("<entry name='tunnel.1'><ip><entry name='10.0.0.1/30'/></ip></entry>",
                                   leaf, wrap=False)
    assert document.set_commands(leaf, value) == [[*leaf, "ip", "[", "10.0.0.1/30", "]"]]
    with pytest.raises(tree.ConfigError, match="'member' is unexpected"):
        document.parse_element("<ip><member>10.0.0.1/30</member></ip>", leaf, wrap=True)


def test_op_command_words() -> None:
    assert cmd_words(ET.fromstring("<show><jobs><id>5</id></jobs></show>")) == ["show", "jobs", "id", "5"]
    assert cmd_words(ET.fromstring("<test><vpn><ike-sa><gateway>GW 1</gateway></ike-sa></vpn></test>")) == \
        ["test", "vpn", "ike-sa", "gateway", '"GW 1"']
    assert cmd_words(ET.fromstring("<show><system><info></info></system></show>")) == ["show", "system", "info"]


def test_job_fields_pan_os_python_reads() -> None:
    job = job_element({"id": 4, "type": "Commit", "status": "FIN", "result": "OK", "enqueued": 0.0,
                       "completed": 1.0, "details": [], "description": ""}, "admin")
    for field in ("id", "user", "tenq", "tfin", "status", "result", "progress"):
        assert job.findtext(field), field
    assert job.findtext("details/line") == "Configuration committed successfully"
    running = job_element({"id": 5, "status": "ACT", "enqueued": 0.0}, "admin")
    assert (running.findtext("status"), running.findtext("result"), running.findtext("tfin")) == \
        ("ACT", "PEND", "Still Active")


def test_keys_hashed_revocable_and_tied_to_the_admin(tmp_path: Path) -> None:
    set_password(tmp_path / "ssh" / "passwords", "ops", "pw")
    store = keys.KeyStore(tmp_path)
    assert store.keygen("ops", "wrong") is None and store.keygen("nobody", "pw") is None
    k1, k2 = store.keygen("ops", "pw"), store.keygen("ops", "pw")
    assert k1 and k2 and k1 != k2
    assert store.user_of(k1) == "ops" and store.user_of("x" + k1) is None
    assert k1 not in store.path.read_text()
    assert store.revoke("ops") == 2
    assert store.user_of(k1) is None and store.user_of(k2) is None
    k3 = store.keygen("ops", "pw")
    assert k3 is not None
    (tmp_path / "ssh" / "passwords").write_text("")  # the admin removed: their keys stop working
    assert store.user_of(k3) is None
