"""The commit fast paths give the same answers as the plain ones.

validate(tree, running=...) skips what did not change; these trees change what something
unchanged depends on (a profile, an interface, a deleted or renamed target) and check that
the incremental answer is the full one.  Also: the memoized schema lookups and value
parses, and the store's compact history records.
"""

import copy
import json
import marshal

import pytest

from tests.unit.test_config_helpers import apply_lines, site_a
from vpnsh.config import schema
from vpnsh.config.diff import diff
from vpnsh.config.schema import Int, IPAddress, IPPrefix, Name, Secret, parse_cached
from vpnsh.config.store import ConfigStore
from vpnsh.config.tree import delete_path, node_at, rename_entry, set_path, steps
from vpnsh.config.validate import validate

GW = "set network ike gateway GW-SiteB "
TUN = "set network tunnel ipsec T-SiteB "
IKEP = "set network ike crypto-profiles ike-crypto-profiles "
ETH = "set network interface ethernet "


def _deleted(*path):
    def build():
        tree = site_a()
        delete_path(tree, list(path))
        return tree
    return build


def _renamed(path, new):
    def build():
        tree = site_a()
        rename_entry(tree, list(path), new)
        return tree
    return build


def _lines(text):
    return lambda: apply_lines(site_a(), text)


def _eth1_readdressed():
    tree = site_a()
    delete_path(tree, ["network", "interface", "ethernet", "eth1", "layer3", "ip"])
    return apply_lines(tree, ETH + "eth1 layer3 ip 198.51.100.9/24")


def _ikev1_site():
    return apply_lines(site_a(), GW + "protocol version ikev1\n"
                       + GW + "protocol ikev1 ike-crypto-profile IKE-AES256")


def _ikev1_site_gcm():
    return apply_lines(_ikev1_site(), IKEP + "IKE-AES256 encryption aes-256-gcm\n"
                       + IKEP + "IKE-AES256 hash non-auth")


# Each changes something an unchanged entry depends on, or nothing at all.
CHANGES = [
    _eth1_readdressed,  # the unchanged gateway's ip is no longer one of eth1's
    _ikev1_site_gcm,  # running is site_a: the gateway changes too
    _lines(""),
    _lines(IKEP + "IKE-AES256 encryption aes-128-gcm"),  # ikev2 gateway: ok; hash must be non-auth
    _lines(GW + "protocol version ikev2-preferred\n" + IKEP + "IKE-AES256 encryption aes-256-gcm"),
    _lines(ETH + "eth1 layer3 ip 198.51.100.9/24"),  # the gateway's ip is no longer eth1's ...
    _lines(ETH + "eth1 layer3 ip [ 198.51.100.9/24 ]"),
    _deleted("network", "interface", "ethernet", "eth1", "layer3", "ip"),
    _deleted("network", "ike", "crypto-profiles", "ike-crypto-profiles", "IKE-AES256"),
    _deleted("network", "ike", "crypto-profiles", "ipsec-crypto-profiles", "default"),
    _deleted("network", "interface", "tunnel", "units", "tunnel.1"),
    _deleted("network", "ike", "gateway", "GW-SiteB"),
    _deleted("network", "tunnel", "ipsec", "T-SiteB"),
    _deleted("zone", "vpn"),
    _renamed(("network", "ike", "gateway", "GW-SiteB"), "GW-B"),
    _renamed(("zone", "trust"), "inside"),
    _lines("set zone dmz network layer3 eth1"),  # eth1 now in two zones: unchanged zone clashes
    _lines("set network virtual-router vr2 interface eth2"),
    _lines("set network ike gateway GW-C peer-address ip 203.0.113.1\n"
           "set network ike gateway GW-C local-address interface eth1\n"
           "set network ike gateway GW-C local-address ip 198.51.100.1/24\n"
           "set network ike gateway GW-C authentication pre-shared-key key k"),  # same endpoints
    _lines(TUN + "anti-replay no"),
    _lines(TUN + "tunnel-monitor enable yes"),
]


@pytest.mark.parametrize("build", CHANGES, ids=range(len(CHANGES)))
def test_incremental_validate_agrees_with_full_when_dependencies_change(build):
    running = site_a()
    assert validate(running) == []
    cand = build()
    full = [str(p) for p in validate(cand)]
    assert [str(p) for p in validate(cand, running=running)] == full
    # the daemon's candidate is a marshal copy of running, then edited
    assert [str(p) for p in validate(marshal.loads(marshal.dumps(cand)), running=running)] == full
    # the reverse: the changed tree, when valid, as the running one
    if not full:
        assert [str(p) for p in validate(site_a(), running=cand)] == \
            [str(p) for p in validate(site_a())]


def test_unchanged_gateway_is_checked_again_when_its_profile_changes():
    running = _ikev1_site()
    assert validate(running) == []
    cand = _ikev1_site_gcm()
    full = [str(p) for p in validate(cand)]
    assert any("uses GCM encryption" in p for p in full), full
    assert [str(p) for p in validate(cand, running=running)] == full


def test_unchanged_tunnel_is_checked_again_when_its_default_profile_goes():
    running = apply_lines(site_a(), "set network tunnel ipsec T2 tunnel-interface tunnel.1 "
                          "auto-key ike-gateway GW-SiteB")
    assert validate(running) == []
    cand = copy.deepcopy(running)
    delete_path(cand, ["network", "ike", "crypto-profiles", "ipsec-crypto-profiles", "default"])
    full = [str(p) for p in validate(cand)]
    assert any("T2 -> auto-key -> ipsec-crypto-profile 'default'" in p for p in full), full
    assert [str(p) for p in validate(cand, running=running)] == full


def test_some_changes_above_are_invalid_and_caught_incrementally():
    running = site_a()
    found = [validate(build(), running=running) for build in CHANGES]
    assert sum(1 for f in found if f) >= 8


def test_validate_against_itself_and_against_a_non_tree():
    tree = site_a()
    assert validate(tree, running=tree) == []
    bad = apply_lines(site_a(), TUN + "auto-key ike-gateway X")
    assert validate(bad, running=None) == validate(bad, running="nonsense")  # type: ignore[arg-type]
    assert [str(p) for p in validate([], running=tree)] == [str(p) for p in validate([])]  # type: ignore[arg-type]


def test_shape_problems_are_found_in_changed_subtrees_only_once():
    running = site_a()
    cand = copy.deepcopy(running)
    cand["network"]["tunnel"]["ipsec"]["T-SiteB"]["anti-replay"] = "maybe"
    cand["network"]["ike"]["gateway"]["GW-SiteB"]["bogus"] = 1
    full = [str(p) for p in validate(cand)]
    assert len(full) == 2
    assert [str(p) for p in validate(cand, running=running)] == full


# --------------------------------------------------------------------------- memoized lookups


def test_node_at_memo_agrees_with_steps():
    paths = [(), ("network",), ("network", "ike", "gateway"), ("network", "ike", "gateway", "G"),
             ("network", "ike", "gateway", "G", "protocol", "ikev1", "dpd"),
             ("network", "tunnel", "ipsec", "T", "auto-key", "proxy-id", "p", "protocol")]
    for path in paths:
        for _ in range(2):  # computed, then from the memo
            node, is_entry = node_at(path)
            last = list(steps(path))[-1] if path else None
            assert (node, is_entry) == ((last[2], last[3]) if last else (node, False))
    with pytest.raises(schema.SchemaError):
        node_at(("network", "nope"))
    with pytest.raises(schema.SchemaError):  # errors are not memoized as answers
        node_at(("network", "nope"))


def test_child_index_follows_a_replaced_or_grown_children_list():
    c = schema.Container("c", children=[schema.Leaf("a"), schema.Leaf("b")])
    assert c.child("a").name == "a" and c.child("z") is None
    c.children.append(schema.Leaf("z"))
    assert c.child("z").name == "z"
    c.children = [schema.Leaf("y")]
    assert c.child("a") is None and c.child("y").name == "y"
    dup = schema.Entries("e", children=[schema.Leaf("a", help="1"), schema.Leaf("a", help="2")])
    assert dup.child("a").help == "1"  # the first, as before


@pytest.mark.parametrize("vtype, text", [
    (Int(lo=1, hi=10), "5"), (Int(lo=1, hi=10), "11"), (Int(), "x"), (IPAddress(), "10.0.0.01"),
    (IPAddress(), "2001:DB8::1"), (IPPrefix(), "10.1.0.5"), (Name(), "ok-name"), (Name(), "-bad"),
])
def test_parse_cached_is_parse(vtype, text):
    for _ in range(2):
        try:
            expected = ("ok", vtype.parse(text))
        except ValueError as exc:
            expected = ("error", str(exc))
        try:
            got = ("ok", parse_cached(vtype, text))
        except ValueError as exc:
            got = ("error", str(exc))
        assert got == expected


def test_parse_cached_never_keeps_a_secret():
    before = dict(schema._PARSED)
    assert parse_cached(Secret(), "plain-secret-xyz") == "plain-secret-xyz"
    assert not any("plain-secret-xyz" in str(k) for k in schema._PARSED.keys() - before.keys())


def test_parsed_values_are_shared_strings():
    a, b = {}, {}
    for tree in (a, b):
        set_path(tree, ["network", "interface", "ethernet", "eth" + "7", "layer3", "ip",
                        "10.7.0.1/24"])
    ip_a = a["network"]["interface"]["ethernet"]["eth7"]["layer3"]["ip"][0]
    ip_b = b["network"]["interface"]["ethernet"]["eth7"]["layer3"]["ip"][0]
    assert ip_a is ip_b
    copied = marshal.loads(marshal.dumps(a))
    assert copied["network"]["interface"]["ethernet"]["eth7"]["layer3"]["ip"][0] is ip_a


# --------------------------------------------------------------------------- diff


def test_diff_of_a_tree_with_itself_and_its_copy_is_empty():
    tree = site_a()
    assert diff(tree, tree).empty
    assert diff(tree, marshal.loads(marshal.dumps(tree))).empty


# --------------------------------------------------------------------------- store


@pytest.mark.parametrize("description", ["", "plain", 'quote " and ,"config": inside',
                                         "back\\slash\\\",\"config\":{}", "ünï ✓", "x" * 10000])
def test_history_record_is_compact_and_its_head_is_read_alone(tmp_path, description):
    store = ConfigStore(tmp_path)
    tree = site_a()
    n = store.commit(tree, description)
    data = (tmp_path / "history" / f"{n}.json").read_bytes()
    record = json.loads(data)
    assert list(record) == ["n", "time", "description", "config"]
    assert record["config"] == tree and record["description"] == description
    running = (tmp_path / "running.json").read_bytes()
    assert json.loads(running) == tree
    assert running.rstrip(b"\n") in data  # the one serialisation in both files
    assert store.history() == [{"n": n, "time": record["time"], "description": description}]
    assert store.version(n) == tree


def test_history_reads_records_of_the_indented_format(tmp_path):
    store = ConfigStore(tmp_path)
    (tmp_path / "history").mkdir()
    old = {"n": 1, "time": 5.0, "description": "old", "config": {"zone": {}}}
    (tmp_path / "history" / "1.json").write_text(json.dumps(old, indent=1) + "\n")
    odd = {"config": {"zone": {"a": {}}}, "description": 'x,"config":', "n": 2, "time": 6.0}
    (tmp_path / "history" / "2.json").write_text(json.dumps(odd))
    assert store.history() == [{"n": 1, "time": 5.0, "description": "old"},
                               {"n": 2, "time": 6.0, "description": 'x,"config":'}]
    assert store.version(1) == {"zone": {}}
    assert store.commit({"zone": {"b": {}}}, "new") == 3
    assert [h["n"] for h in store.history()] == [1, 2, 3]


def test_loaded_configs_share_strings_with_built_ones(tmp_path):
    store = ConfigStore(tmp_path)
    tree = site_a()
    store.commit(tree, "x")
    store.save_named("snap", tree)
    store.save_candidate(tree)
    for loaded in (store.running(), store.version(1), store.load_named("snap"),
                   store.load_candidate()):
        assert loaded == tree
        gw = loaded["network"]["ike"]["gateway"]["GW-SiteB"]
        assert gw["peer-address"]["ip"] is tree["network"]["ike"]["gateway"]["GW-SiteB"][
            "peer-address"]["ip"]


# --------------------------------------------------------------------------- with_defaults


def _reference_with_defaults(node, value, *, entry=False):
    """with_defaults as it was written first (the plain recursive definition)."""
    if isinstance(node, schema.Entries) and not entry:
        return {k: _reference_with_defaults(node, v, entry=True) for k, v in (value or {}).items()}
    if isinstance(node, schema.Container | schema.Entries):
        if not value and isinstance(node, schema.Container) and node.default is not None:
            value = node.default
        stored = value or {}
        out = {}
        for child in node.children:
            if isinstance(node, schema.Container) and node.choice and child.name not in stored:
                continue
            v = _reference_with_defaults(child, stored.get(child.name))
            if v is not None and not (isinstance(child, schema.Container) and v == {}
                                      and child.name not in stored):
                out[child.name] = v
        return out
    if isinstance(node, schema.LeafList):
        if value is None and node.default is not None:
            return list(node.default)
        return copy.copy(value)
    if isinstance(node, schema.Leaf):
        return node.default if value is None else value
    return value


def _every_node(node, path=()):
    yield path, node
    for child in getattr(node, "children", ()):
        yield from _every_node(child, path + (child.name,))


def _every_stored(tree, path=()):
    yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _every_stored(value, path + (key,))


def test_with_defaults_is_the_plain_definition():
    from vpnsh.config.factory import factory_config
    from vpnsh.config.tree import with_defaults
    from vpnsh.config.vpn_schema import ROOT

    for _path, node in _every_node(ROOT):
        for entry in (False, True):
            assert with_defaults(node, None, entry=entry) == \
                _reference_with_defaults(node, None, entry=entry)
    trees = [site_a(), factory_config(), apply_lines(site_a(), TUN + "tunnel-monitor enable yes\n"
                                                     "set network ike crypto-profiles "
                                                     "ipsec-crypto-profiles P ah authentication sha1")]
    checked = 0
    for tree in trees:
        for path, value in _every_stored(tree):
            node, is_entry = node_at(path)
            got = with_defaults(node, value, entry=is_entry)
            assert got == _reference_with_defaults(node, value, entry=is_entry), path
            if isinstance(got, dict | list) and value is not None \
                    and not isinstance(node, schema.Flag):
                assert got is not value  # a new value, never the stored one
            checked += 1
    assert checked > 300
