"""A commit costs what it changes (issue 17): copy on write between candidate and running,
and a one-tunnel commit that maps, validates and hands the engine one tunnel.

Counted, not timed: which objects each step touched, and that running is never modified.
"""

from __future__ import annotations

import contextlib
import copy
import random

import orjson
import pytest

from vpnsh.config import cow, validate
from vpnsh.config.store import TreeEncoder
from vpnsh.control.protocol import ControlError
from vpnsh.engine import config_map
from vpnsh.engine.configd import ConfigService
from vpnsh.engine.ids import IdMap
from vpnsh.engine.service import Engine

N = 40
PSK = "bench-secret-1"


def tunnel_lines(n: int) -> list[str]:
    gw, t = f"network ike gateway g{n}", f"network tunnel ipsec t{n}"
    return [f"{gw} protocol version ikev2", f"{gw} protocol ikev2 ike-crypto-profile B",
            f"{gw} local-address interface ethernet1/1", f"{gw} local-address ip 192.0.2.1/24",
            f"{gw} peer-address ip 198.51.{n // 250}.{n % 250 + 1}",
            f"{gw} authentication pre-shared-key key {PSK}",
            f"{t} tunnel-interface tunnel.1", f"{t} auto-key ike-gateway g{n}",
            f"{t} auto-key ipsec-crypto-profile B",
            f"{t} auto-key proxy-id p local 10.{n // 250}.{n % 250}.0/24 remote 10.200.{n % 250}.0/24"]


BASE = ["network interface ethernet ethernet1/1 layer3 ip 192.0.2.1/24",
        "network interface tunnel units tunnel.1",
        "network ike crypto-profiles ike-crypto-profiles B encryption aes-128-gcm",
        "network ike crypto-profiles ike-crypto-profiles B hash non-auth",
        "network ike crypto-profiles ike-crypto-profiles B dh-group group19",
        "network ike crypto-profiles ipsec-crypto-profiles B esp encryption aes-128-gcm",
        "network ike crypto-profiles ipsec-crypto-profiles B esp authentication none",
        "network ike crypto-profiles ipsec-crypto-profiles B dh-group no-pfs"]


@pytest.fixture
def service(tmp_path):  # type: ignore[no-untyped-def]
    svc = ConfigService(str(tmp_path), Engine(dataplane="none", state_dir=str(tmp_path)), hostname="h")
    svc.apply_lines("".join(f"set {line}\n" for line in BASE + [x for n in range(N)
                                                              for x in tunnel_lines(n)]))
    assert svc.commit("all")["result"] == "OK"
    return svc


GATEWAYS = ("network", "ike", "gateway")
TUNNELS = ("network", "tunnel", "ipsec")


def at(tree, path):  # type: ignore[no-untyped-def]
    for key in path:
        tree = tree[key]
    return tree


def test_an_edit_copies_only_its_path_and_never_running(service) -> None:  # type: ignore[no-untyped-def]
    running = service.running
    before = copy.deepcopy(running)
    service.set(["network", "tunnel", "ipsec", "t3", "anti-replay", "no"])
    service.set(["network", "ike", "gateway", "g5", "peer-address", "ip", "203.0.113.9"])
    service.delete(["network", "tunnel", "ipsec", "t7", "auto-key", "proxy-id", "p"])
    cand = service.candidate
    assert running == before  # running untouched
    assert cand is not running
    # the edited entries are the candidate's own; every other entry is running's very object
    assert at(cand, TUNNELS)["t3"] is not at(running, TUNNELS)["t3"]
    assert at(cand, GATEWAYS)["g5"] is not at(running, GATEWAYS)["g5"]
    assert at(cand, TUNNELS)["t7"] is not at(running, TUNNELS)["t7"]
    shared = [n for n in at(running, TUNNELS) if at(cand, TUNNELS)[n] is at(running, TUNNELS)[n]]
    assert len(shared) == N - 2
    assert at(cand, GATEWAYS)["g6"] is at(running, GATEWAYS)["g6"]
    assert cand["network"]["interface"] is running["network"]["interface"]


def test_random_edits_never_modify_running(service) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(17)
    running = service.running
    before = copy.deepcopy(running)
    lines = []
    for _ in range(60):
        n = rng.randrange(N + 3)
        kind = rng.randrange(5)
        if kind == 0:
            lines.append(("set", f"network tunnel ipsec t{n} anti-replay no"))
        elif kind == 1:
            lines.append(("delete", f"network tunnel ipsec t{n} auto-key proxy-id p"))
        elif kind == 2:
            lines.append(("set", rng.choice(tunnel_lines(n))))
        elif kind == 3:
            lines.append(("set", f"network interface ethernet ethernet1/1 layer3 ip 192.0.2.{n}/24"))
        else:
            lines.append(("delete", f"network ike gateway g{n} peer-address"))
    for verb, line in lines:
        with contextlib.suppress(ControlError):
            getattr(service, verb)(line.split())
    assert running == before
    assert service.running is running


def test_a_failed_commit_leaves_running_and_its_objects_as_they_were(service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    running = service.running
    before = copy.deepcopy(running)
    on_disk = {p.name: p.read_bytes() for p in [tmp_path / "running.json", tmp_path / "running.journal",
                                                *(tmp_path / "history").iterdir()]}
    service.delete(["network", "tunnel", "ipsec", "t4", "tunnel-interface"])  # a tunnel needs one
    with pytest.raises(ControlError):
        service.commit("bad")
    assert service.running is running and running == before
    assert {p.name: p.read_bytes() for p in [tmp_path / "running.json", tmp_path / "running.journal",
                                             *(tmp_path / "history").iterdir()]} == on_disk


def test_a_one_tunnel_commit_maps_and_hands_the_engine_one_tunnel(service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    mapped: list[str] = []
    real_gw, real_tun = config_map.gateway_policy, config_map.tunnel_children

    def gateway_policy(tree, name, *a, **kw):  # type: ignore[no-untyped-def]
        mapped.append(f"gateway {name}")
        return real_gw(tree, name, *a, **kw)

    def tunnel_children(tree, name, *a, **kw):  # type: ignore[no-untyped-def]
        mapped.append(f"tunnel {name}")
        return real_tun(tree, name, *a, **kw)

    monkeypatch.setattr(config_map, "gateway_policy", gateway_policy)
    monkeypatch.setattr(config_map, "tunnel_children", tunnel_children)
    added: list[tuple[list[str], list[str]]] = []
    ike = service.engine.ike
    real_add = ike.add_policies

    def add_policies(gws, children, *, now):  # type: ignore[no-untyped-def]
        gws, children = list(gws), list(children)
        added.append(([g.name for g in gws], [c.name for c in children]))
        return real_add(gws, children, now=now)

    monkeypatch.setattr(ike, "add_policies", add_policies)
    old_cfg = service.engine.cfg
    for line in tunnel_lines(N):
        service.set(line.split())
    assert service.commit("one more")["result"] == "OK"
    assert mapped == [f"gateway g{N}", f"tunnel t{N}"]
    assert added == [([f"g{N}"], [f"t{N}:p"])]
    cfg = service.engine.cfg
    assert len(cfg.gateways) == N + 1 and len(cfg.children) == N + 1
    assert all(cfg.gateways[f"g{n}"] is old_cfg.gateways[f"g{n}"] for n in range(N))
    assert list(cfg.gateways) == [f"g{n}" for n in range(N + 1)]  # the config's order
    # a change to one existing tunnel: that tunnel only
    mapped.clear()
    added.clear()
    service.set(["network", "tunnel", "ipsec", "t2", "anti-replay", "no"])
    assert service.commit("t2")["result"] == "OK"
    assert mapped == ["tunnel t2"]
    assert added == [([], ["t2:p"])]
    assert list(service.engine.cfg.children)[:4] == ["t0:p", "t1:p", "t2:p", "t3:p"]
    assert service.engine.cfg.children["t2:p"].anti_replay is False


def test_the_incremental_engine_view_equals_a_full_mapping(service) -> None:  # type: ignore[no-untyped-def]
    for line in tunnel_lines(N) + ["network tunnel ipsec t1 anti-replay no",
                                   "network tunnel ipsec t2 auto-key proxy-id q local 10.7.0.0/24 "
                                   "remote 10.8.0.0/24"]:
        service.set(line.split())
    service.delete(["network", "tunnel", "ipsec", "t9"])
    service.delete(["network", "ike", "gateway", "g9"])
    assert service.commit("mixed")["result"] == "OK"
    got = service.engine.cfg
    full = config_map.engine_config(service.running, service.engine._decrypt, service.engine.ids)
    assert got.gateways == full.gateways and list(got.gateways) == list(full.gateways)
    assert got.children == full.children and list(got.children) == list(full.children)
    assert got.placement == full.placement and got.problems == full.problems
    assert list(got.placement) == list(full.placement) and got.child_names == full.child_names
    assert "t2:q" in got.children and "t9:p" not in got.children


def _same_view(service) -> None:  # type: ignore[no-untyped-def]
    got, ids = service.engine.cfg, service.engine.ids
    before = {k: dict(v) for k, v in ids.ids.items()}
    full = config_map.engine_config(service.running, service.engine._decrypt, ids)
    assert ids.ids == before  # the incremental mapping forgot what a full one forgets
    assert got.tunnel_monitors == full.tunnel_monitors and got.problems == full.problems
    assert got.cert_gateways == full.cert_gateways
    assert IdMap(service.state_dir).ids == before  # ids.json + ids.log say the same


def test_incremental_monitors_and_ids_equal_a_full_mapping(service) -> None:  # type: ignore[no-untyped-def]
    service.set(["network", "interface", "tunnel", "units", "tunnel.1", "ip", "169.254.0.1/24"])
    assert service.commit("address")["result"] == "OK"
    mon = "network tunnel ipsec {} tunnel-monitor {}"
    for t in ("t3", "t30", "t1"):
        service.set(mon.format(t, "enable yes").split())
        service.set(mon.format(t, "destination-ip 169.254.0.2").split())
    assert service.commit("monitors")["result"] == "OK"
    assert [m.tunnel for m in service.engine.cfg.tunnel_monitors] == ["t1", "t3", "t30"]
    _same_view(service)
    service.set(mon.format("t3", "enable no").split())
    service.delete(["network", "tunnel", "ipsec", "t30"])
    service.delete(["network", "ike", "gateway", "g30"])
    for line in tunnel_lines(N):
        service.set(line.split())
    service.set(mon.format(f"t{N}", "enable yes").split())
    service.set(mon.format(f"t{N}", "destination-ip 169.254.0.3").split())
    assert service.commit("more")["result"] == "OK"
    assert [m.tunnel for m in service.engine.cfg.tunnel_monitors] == ["t1", f"t{N}"]
    _same_view(service)
    assert "t30:p" not in service.engine.ids.ids["tunnel"] and "g30" not in service.engine.ids.ids["gateway"]


def test_id_map_log_survives_a_torn_line_and_is_compacted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = IdMap(tmp_path)
    for i in range(5):
        ids.get("tunnel", f"t{i}")
    ids.save()  # the first lines of the log
    ids.drop("tunnel", ["t0"])
    ids.save()
    assert (tmp_path / "ids.log").read_text().count("\n") == 6
    with open(tmp_path / "ids.log", "ab") as f:
        f.write(b'["+","tunnel","t9"')  # a torn last line: ignored
    again = IdMap(tmp_path)
    assert again.ids["tunnel"] == {f"t{i}": i + 1 for i in range(1, 5)}
    assert again.get("tunnel", "new") == 6
    again.save()  # after a torn line the map is written whole, the log emptied
    assert not (tmp_path / "ids.log").exists()
    assert IdMap(tmp_path).ids["tunnel"] == {**{f"t{i}": i + 1 for i in range(1, 5)}, "new": 6}


def test_a_new_gateway_clashing_with_an_unchanged_one_is_still_refused(service) -> None:  # type: ignore[no-untyped-def]
    for line in tunnel_lines(N):
        service.set(line.split())
    # the same endpoints as g3 (no peer IDs tell them apart)
    service.set(f"network ike gateway g{N} peer-address ip 198.51.0.4".split())
    problems = service._problems()
    assert problems == [str(p) for p in validate.validate(service.candidate)]
    assert any("same local-address, peer-address and peer-id as gateway 'g3'" in p
               for p in problems)


class Counted(dict):
    """A gateway entry that notes when validation reads it."""

    touched: set[str] = set()

    def __init__(self, name: str, entry: dict) -> None:
        super().__init__(entry)
        self.name = name

    def get(self, *args):  # type: ignore[no-untyped-def]
        Counted.touched.add(self.name)
        return super().get(*args)

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        Counted.touched.add(self.name)
        return super().__getitem__(key)


def _gateway_reads(service) -> set[str]:  # type: ignore[no-untyped-def]
    """Running's gateway entries made Counted (in place: equal entries), reads cleared."""
    gateways = at(service.running, GATEWAYS)
    for name in gateways:
        if not isinstance(gateways[name], Counted):
            gateways[name] = Counted(name, gateways[name])
    Counted.touched = set()
    return Counted.touched


def test_a_one_gateway_change_reads_no_other_gateway(service) -> None:  # type: ignore[no-untyped-def]
    """The endpoint check of a small commit looks up running's gateways by peer address
    (the service's index) instead of reading each: none is read for a new gateway, and only
    the one sharing its peer address for a gateway that may clash."""
    touched = _gateway_reads(service)
    for line in tunnel_lines(N):
        service.set(line.split())
    assert service._problems() == [] and touched == set()
    service.set(["network", "ike", "gateway", "g5", "peer-address", "ip", "203.0.113.9"])
    assert service._problems() == [] and touched <= {"g5"}
    assert service.commit("g40 and g5")["result"] == "OK"
    # a peer address g7 has too, told apart by a peer ID: g7 is read, and it commits
    touched.clear()
    service.set(["network", "ike", "gateway", "g5", "peer-address", "ip", "198.51.0.8"])
    service.set(["network", "ike", "gateway", "g5", "peer-id", "type", "ipaddr"])
    service.set(["network", "ike", "gateway", "g5", "peer-id", "id", "198.51.0.8"])
    assert service._problems() == [] and "g7" in touched
    assert service.commit("g5 next to g7")["result"] == "OK"


def test_the_peer_index_follows_each_commit(service) -> None:  # type: ignore[no-untyped-def]
    """Clashes with gateways of earlier commits are found; removed and re-addressed
    gateways clash no more."""
    def gateway(n: int, peer: str) -> None:
        for line in tunnel_lines(n)[:6]:
            service.set(line.split())
        service.set(f"network ike gateway g{n} peer-address ip {peer}".split())

    def clash(name: str) -> list[str]:
        problems = service._problems()
        assert problems == [str(p) for p in validate.validate(service.candidate)]
        return [p for p in problems if f"peer-id as gateway '{name}'" in p]

    gateway(N, "203.0.113.1")
    assert service.commit("new")["result"] == "OK"
    gateway(N + 1, "203.0.113.1")
    assert clash(f"g{N}")
    service.delete(f"network ike gateway g{N + 1}".split())
    service.set(["network", "ike", "gateway", "g3", "peer-address", "ip", "203.0.113.3"])
    assert service.commit("g3 moved")["result"] == "OK"
    gateway(N + 1, "203.0.113.3")
    assert clash("g3")
    service.set(f"network ike gateway g{N + 1} peer-address ip 198.51.0.4".split())  # g3's old
    assert service._problems() == []
    service.delete(f"network ike gateway g{N + 1}".split())
    service.delete(f"network ike gateway g{N}".split())
    assert service.commit("g40 gone")["result"] == "OK"
    gateway(N + 1, "203.0.113.1")  # g40's address
    assert service._problems() == []
    assert service.commit("g41")["result"] == "OK"
    index = service._peers
    assert index is not None and index.gateways is at(service.running, GATEWAYS)
    assert set(index.named("203.0.113.1")) >= {f"g{N + 1}"}


def test_problems_of_a_few_changed_entries_come_in_config_order(service) -> None:  # type: ignore[no-untyped-def]
    """Entries checked one by one (no pass over them all) still report in the order a full
    validation does."""
    for n in (30, 2, 17):
        service.delete(f"network tunnel ipsec t{n} tunnel-interface".split())
        service.set(f"network tunnel ipsec t{n} auto-key proxy-id p local nosuch{n}".split())
    problems = service._problems()
    assert problems == [str(p) for p in validate.validate(service.candidate)]
    order = [next(n for n in (2, 17, 30) if f"t{n} " in p) for p in problems]
    assert order[:3] == [2, 17, 30]  # each check's problems, tunnel by tunnel


def test_a_new_tunnel_naming_a_missing_address_object_is_refused(service) -> None:  # type: ignore[no-untyped-def]
    for line in tunnel_lines(N)[:-1]:
        service.set(line.split())
    service.set(f"network tunnel ipsec t{N} auto-key proxy-id p local nosuch remote 10.9.9.0/24".split())
    problems = service._problems()
    assert problems == [str(p) for p in validate.validate(service.candidate)]
    assert any("'nosuch' is not a valid reference" in p for p in problems)


def test_tree_encoder_bytes_are_orjsons_and_follow_new_entries(service) -> None:  # type: ignore[no-untyped-def]
    enc = TreeEncoder()
    enc.BIG = 8  # the test's collections count as large
    assert enc.encode(service.running) == orjson.dumps(service.running)
    service.set(["network", "tunnel", "ipsec", "t3", "anti-replay", "no"])
    service.delete(["network", "ike", "gateway", "g1"])
    assert enc.encode(service.candidate) == orjson.dumps(service.candidate)
    assert enc.encode(service.running) == orjson.dumps(service.running)
    # an entry under another name (same object) is written under its new name
    tree = {"x": {f"e{i}": {"v": i} for i in range(10)}}
    enc.encode(tree)
    tree2 = {"x": {("n" + k if k == "e2" else k): v for k, v in tree["x"].items()}}
    assert enc.encode(tree2) == orjson.dumps(tree2)


def test_unshare_copies_only_what_is_shared() -> None:
    base = {"a": {"b": {"c": [1]}, "d": {}}}
    tree = dict(base)
    cow.unshare(tree, base, ["a", "b", "c"])
    assert tree["a"] is not base["a"] and tree["a"]["b"] is not base["a"]["b"]
    assert tree["a"]["b"]["c"] is not base["a"]["b"]["c"]
    assert tree["a"]["d"] is base["a"]["d"]
    own = tree["a"]
    cow.unshare(tree, base, ["a", "d"])
    assert tree["a"] is own  # already its own: not copied again
    tree["a"]["b"]["c"].append(2)
    assert base == {"a": {"b": {"c": [1]}, "d": {}}}


def test_id_map_gives_the_next_id_without_a_scan(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = IdMap(tmp_path)
    assert [ids.get("tunnel", f"t{i}") for i in range(3)] == [1, 2, 3]
    ids.keep_only("tunnel", {"t0", "t1"})
    assert ids.get("tunnel", "new") == 3  # the highest in use + 1, as before
    ids.save()
    again = IdMap(tmp_path)
    assert again.get("tunnel", "t1") == 2 and again.get("tunnel", "other") == 4


def test_a_one_tunnel_commit_appends_its_delta_only(service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The store's share of a one-tunnel commit: one journal record and one history record
    of the tunnel's size; running.json (the whole config) is not written."""
    snapshot = (tmp_path / "running.json").stat()
    journal = (tmp_path / "running.journal").stat().st_size
    for line in tunnel_lines(N):
        service.set(line.split())
    n = service.commit("one more")["job"]
    assert n is not None
    after = (tmp_path / "running.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (snapshot.st_ino, snapshot.st_mtime_ns)
    grew = (tmp_path / "running.journal").stat().st_size - journal
    newest = max((tmp_path / "history").glob("*.json"), key=lambda p: int(p.stem))
    entry = len(orjson.dumps(service.running["network"]["ike"]["gateway"][f"g{N}"])) + \
        len(orjson.dumps(service.running["network"]["tunnel"]["ipsec"][f"t{N}"]))
    assert entry < grew < entry + 300, (entry, grew)
    assert newest.stat().st_size < 300  # the undo: two deletes
    assert service.store.version(int(newest.stem)) == ConfigService(
        str(tmp_path), Engine(dataplane="none", state_dir=str(tmp_path)), hostname="h").running


def test_moved_keys_remembered_in_a_commit_equal_a_fresh_pass() -> None:
    rng = random.Random(9)
    base = {f"k{i}": {"v": i} for i in range(200)}
    for _ in range(30):
        new = dict(base)
        for _ in range(rng.randrange(4)):
            new.pop(rng.choice(list(new)), None)
        for i in range(rng.randrange(4)):
            new[rng.choice([f"k{rng.randrange(200)}", f"n{i}"])] = {"v": -1}
        fresh = (cow.moved(base, new), cow.moved(new, base))
        with cow.remembering():
            assert cow.moved(base, new) == fresh[0]
            assert cow.moved(base, new) is cow.moved(base, new)  # asked once
            back = cow.moved(new, base)  # made from the forward answer
            assert set(back) == set(fresh[1])
            only = [k for k in back if k not in new]
            assert only == [k for k in base if k not in new]  # in base's order
