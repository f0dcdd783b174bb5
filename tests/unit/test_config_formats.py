import json
import string
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_config_helpers import site_a
from vpnsh.config.factory import factory_config
from vpnsh.config.formats import FORMATS, parse, render, tokenize
from vpnsh.config.schema import (
    AddressMember,
    AddressOrAny,
    Container,
    Entries,
    Enum,
    EthernetName,
    Flag,
    Hostname,
    IfName,
    Int,
    IPAddress,
    IPInterface,
    IPPrefix,
    IPRange,
    Leaf,
    LeafList,
    LoopbackName,
    Name,
    PortList,
    PrefixOrAddress,
    Ref,
    Secret,
    SubinterfaceName,
    TunnelName,
    ValueType,
)
from vpnsh.config.tree import ConfigError, set_path
from vpnsh.config.vpn_schema import ROOT

GW = ("network", "ike", "gateway", "GW-SiteB")


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_site_a(fmt):
    tree = site_a()
    assert parse(render(tree, fmt), fmt) == tree


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_factory(fmt):
    tree = factory_config()
    assert parse(render(tree, fmt), fmt) == tree


def test_brace_shape_matches_reference():
    text = render(site_a(), "default", GW)
    lines = text.splitlines()
    assert lines[0] == "GW-SiteB {"
    assert "  authentication {" in lines
    assert "      key -AQ==" in text
    assert "    version ikev2;" in lines
    assert "    ip 198.51.100.1/24;" in lines
    assert lines[-1] == "}"


def test_brace_lists_and_quoting():
    tree = site_a()
    text = render(tree, "default")
    assert "application [ ike ipsec-esp ];" in text
    assert '"allow ike" {' in text
    assert 'description "IKE and ESP, from the peer";' in text
    assert "encryption [ aes-128-cbc 3des ];" in text


def test_set_format_lines_in_schema_order_with_full_paths():
    lines = render(site_a(), "set", GW).splitlines()
    assert lines[0].startswith("set network ike gateway GW-SiteB authentication pre-shared-key "
                               "key -AQ==")
    assert lines[1] == "set network ike gateway GW-SiteB protocol version ikev2"
    assert "set network ike gateway GW-SiteB peer-address ip 203.0.113.1" in lines
    text = render(site_a(), "set")
    assert "set network virtual-router default interface [ eth1 eth2 tunnel.1 ]" in text
    assert ('set rulebase security rules "allow ike" description "IKE and ESP, from the peer"'
            in text)


def test_xml_shape_entries_and_members():
    root = ET.fromstring(render(site_a(), "xml"))
    assert root.tag == "config"
    gw = root.find("./network/ike/gateway/entry[@name='GW-SiteB']")
    assert gw is not None
    assert gw.findtext("./peer-address/ip") == "203.0.113.1"
    assert gw.findtext("./authentication/pre-shared-key/key").startswith("-AQ==")
    members = root.findall("./network/virtual-router/entry[@name='default']/interface/member")
    assert [m.text for m in members] == ["eth1", "eth2", "tunnel.1"]
    flag = render({"network": {"ike": {"gateway": {"G": {"peer-address": {"dynamic": {}}}}}}},
                  "xml")
    assert "<dynamic />" in flag


def test_json_path_render_wraps_in_last_key():
    data = json.loads(render(site_a(), "json", GW + ("peer-address",)))
    assert data == {"peer-address": {"ip": "203.0.113.1"}}


def test_render_missing_path_is_empty():
    assert render(site_a(), "default", ("network", "ike", "gateway", "nope")) == ""


def test_secret_never_in_clear():
    tree = site_a()
    for fmt in FORMATS:
        assert "MySecret123" not in render(tree, fmt)


@pytest.mark.parametrize("fmt, text, message", [
    ("default", "network { bogus { } }", "'bogus' is unexpected"),
    ("default", "network { interface { tunnel { units { tunnel.1 { mtu 99999; } } } } }",
     "out of range"),
    ("xml", "<config><zone><oops/></zone></config>", "'oops' is unexpected"),
    ("xml", "<config><network>", "invalid XML"),
    ("json", '{"network": {"ike": {"gateway": {"G": {"peer-address": {"ip": "1.2.3"}}}}}}',
     "not a valid IP"),
    ("json", '{"network": {"ike": {"gateway": {"G": {"peer-address": '
             '{"ip": "1.2.3.4", "dynamic": {}}}}}}}', "cannot be used together"),
    ("set", "set network ike gateway G nothing 1", "line 1"),
    ("set", "delete network", "'delete' is unexpected"),
    ("json", '{"network": {"ike": {"gateway": {"G": {"authentication": {"pre-shared-key": '
             '{"key": "clear"}}}}}}}', "cannot be stored without encryption"),
])
def test_parse_errors(fmt, text, message):
    with pytest.raises(ConfigError) as exc:
        parse(text, fmt)
    assert message in str(exc.value)


def test_tokenize_quotes_and_marks():
    assert list(tokenize('set a "b c" [ d e ];{x}')) == [
        "set", "a", "b c", "[", "d", "e", "]", ";", "{", "x", "}"]
    assert list(tokenize(r'"say \"hi\""')) == ['say "hi"']


# --------------------------------------------------------------- generated trees

TEXT = st.text(alphabet=string.ascii_letters + string.digits + " _-./;{}[]\"'\\#:,",
               min_size=1, max_size=12).filter(lambda s: s not in ("[", "]"))
NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._: -]{0,10}", fullmatch=True)


def values(vt: ValueType) -> st.SearchStrategy:
    if isinstance(vt, Enum):
        return st.sampled_from(vt.values)
    if isinstance(vt, Int):
        return st.integers(vt.lo, vt.hi).map(str)
    if isinstance(vt, IPAddress):
        return st.ip_addresses(v=4).map(str)
    if isinstance(vt, PrefixOrAddress):  # a prefix, or an address object's name
        return st.sampled_from(["10.1.0.0/24", "192.0.2.7/32", "SiteB-LAN"])
    if isinstance(vt, IPInterface | IPPrefix):
        return st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}")
    if isinstance(vt, AddressOrAny | AddressMember):
        return st.one_of(st.just("any"), st.ip_addresses(v=4).map(lambda a: f"{a}/32"))
    if isinstance(vt, IPRange):
        return st.ip_addresses(v=4).map(lambda a: f"{a}-{a}")
    if isinstance(vt, PortList):
        return st.integers(0, 65535).map(str)
    if isinstance(vt, TunnelName):
        return st.integers(1, 9999).map(lambda n: f"tunnel.{n}")
    if isinstance(vt, LoopbackName):
        return st.integers(1, 9999).map(lambda n: f"loopback.{n}")
    if isinstance(vt, SubinterfaceName):
        return st.tuples(st.integers(1, 8), st.integers(1, 9999)).map(
            lambda p: f"ethernet1/{p[0]}.{p[1]}")
    if isinstance(vt, EthernetName):
        return st.one_of(st.integers(1, 64).map(lambda n: f"ethernet1/{n}"),
                         st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True).filter(
                             lambda s: not s.startswith(("tunnel.", "loopback.", "ethernet"))))
    if isinstance(vt, IfName):
        return st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True).filter(
            lambda s: not s.startswith("tunnel."))
    if isinstance(vt, Hostname):
        return st.sampled_from(["peer.example.net", "vpn.example.com", "a-b.example"])
    if isinstance(vt, Secret):
        return st.binary(min_size=1, max_size=20).map(lambda b: "-AQ==" + b.hex())
    if isinstance(vt, Ref | Name):
        return NAME
    return TEXT


@st.composite
def set_line(draw, node=ROOT, entry=False):
    if isinstance(node, Entries) and not entry:
        name = draw(values(node.key) if not isinstance(node.key, Name) else NAME)
        return [name, *draw(set_line(node, entry=True))]
    assert isinstance(node, Container | Entries)
    child = draw(st.sampled_from(node.children))
    if isinstance(child, Flag):
        return [child.name]
    if isinstance(child, Leaf):
        return [child.name, draw(values(child.type))]
    if isinstance(child, LeafList):
        members = draw(st.lists(values(child.type), min_size=1, max_size=3))
        return [child.name, "[", *members, "]"]
    return [child.name, *draw(set_line(child))]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(set_line(), min_size=1, max_size=12))
def test_round_trip_generated_trees(lines):
    tree: dict = {}
    for words in lines:
        set_path(tree, words)
    for fmt in FORMATS:
        assert parse(render(tree, fmt), fmt) == tree, fmt


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(set_line())
def test_completion_offers_every_next_word_of_a_valid_line(words):
    from vpnsh.config.complete import complete

    tree: dict = {}
    set_path(tree, words)  # the line is valid ...
    for i, word in enumerate(words):
        if "[" in words[:i] and word in words[words.index("["):i]:
            continue  # a member repeated inside [ ... ]: completion rightly offers it once
        offered = complete(tree, words[:i], "")  # ... so each next word is offered or hinted
        assert word in [c.word for c in offered] or any(
            c.is_hint and c.word != "<Enter>" for c in offered), (words[:i], word)
    assert "<Enter>" in [c.word for c in complete(tree, words, "")]
