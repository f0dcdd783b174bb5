"""The running config as a snapshot plus a journal of commits (vpnsh/config/journal.py).

A commit is durable once its delta is appended to the journal; reopening replays it, a torn
or damaged last record is ignored with a log line, and compaction changes no content.
"""

from __future__ import annotations

import logging
import random

import orjson
import pytest

from vpnsh.config import journal
from vpnsh.config.store import ConfigStore


def big_tree(n: int) -> dict:
    return {"network": {"ike": {"gateway": {f"g{i}": {"peer": f"198.51.100.{i % 250}",
                                                     "key": "-AQ==encrypted", "ids": [i, i + 1]}
                                            for i in range(n)}}},
            "zone": {"trust": {"layer3": ["eth1"]}}}


def edit(tree: dict, rng: random.Random, i: int) -> dict:
    """A new tree sharing what it does not change (as the candidate shares with running)."""
    gws = dict(tree["network"]["ike"]["gateway"])
    what = rng.choice(["add", "change", "delete", "move", "list", "zone"])
    names = list(gws)
    if what == "add" or not names:
        gws[f"n{i}"] = {"peer": f"203.0.113.{i % 250}", "nested": {"a": {"b": str(i)}}}
    elif what == "change":
        name = rng.choice(names)
        gws[name] = {**gws[name], "peer": f"192.0.2.{i % 250}", f"k{i}": "v"}
    elif what == "delete":
        del gws[rng.choice(names)]
    elif what == "move":  # `move ... top`: the keys reordered
        name = rng.choice(names)
        gws = {name: gws[name], **{k: v for k, v in gws.items() if k != name}}
    elif what == "list":
        name = rng.choice(names)
        gws[name] = {**gws[name], "ids": [*gws[name].get("ids", []), i]}
    else:
        zone = dict(tree["zone"])
        zone[f"z{i}"] = {"layer3": [f"eth{i}"]}
        if len(zone) > 3:
            zone.pop(next(iter(zone)))
        return {**tree, "zone": zone}
    return {**tree, "network": {**tree["network"], "ike": {**tree["network"]["ike"], "gateway": gws}}}


def export(tree: dict) -> bytes:
    return orjson.dumps(tree)


def test_random_commits_reopen_byte_identical_and_every_version_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ConfigStore(tmp_path)
    rng = random.Random(17)
    tree = big_tree(80)
    committed = {store.commit(tree, "base"): export(tree)}
    for i in range(50):
        tree = edit(tree, rng, i)
        committed[store.commit(tree, f"c{i}")] = export(tree)
        if i == 30:
            assert export(ConfigStore(tmp_path).running()) == export(tree)
    assert store.pending() == 50  # one snapshot, fifty deltas: running.json was written once
    # history records are written without an fsync: one lost or empty after a crash is
    # written again from the journal
    (tmp_path / "history" / "40.json").unlink()
    (tmp_path / "history" / "45.json").write_bytes(b"")
    again = ConfigStore(tmp_path)
    assert export(again.running()) == export(tree)
    for n, data in committed.items():
        assert export(again.version(n)) == data, n
    assert [h["n"] for h in again.history()] == sorted(committed)


def test_compaction_keeps_content_identical(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ConfigStore(tmp_path)
    rng = random.Random(5)
    tree = big_tree(70)
    versions = {store.commit(tree, "base"): export(tree)}
    for i in range(10):
        tree = edit(tree, rng, i)
        versions[store.commit(tree, f"c{i}")] = export(tree)
    snapshot = (tmp_path / "running.json").read_bytes()
    store.compact()
    assert store.pending() == 0
    assert (tmp_path / "running.json").read_bytes() != snapshot
    assert (tmp_path / "running.json").read_bytes() == export(tree) + b"\n"
    again = ConfigStore(tmp_path)
    assert export(again.running()) == export(tree)
    assert {n: export(again.version(n)) for n in versions} == versions
    tree = edit(tree, rng, 99)  # and commits go on after it
    n = again.commit(tree, "after")
    assert export(ConfigStore(tmp_path).running()) == export(tree) and again.version(n) == tree


def test_the_journal_compacts_itself_past_its_bound(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("vpnsh.config.store.JOURNAL_RECORDS", 5)
    store = ConfigStore(tmp_path)
    tree = big_tree(3)
    store.commit(tree)
    rng = random.Random(1)
    for i in range(12):
        tree = edit(tree, rng, i)
        store.commit(tree)
    assert store.pending() == 2  # compacted after the 5th and the 10th
    assert export(ConfigStore(tmp_path).running()) == export(tree)


@pytest.mark.parametrize("damage", ["torn", "checksum", "head"])
def test_a_damaged_last_record_is_ignored_with_a_log_line(tmp_path, caplog, damage) -> None:  # type: ignore[no-untyped-def]
    store = ConfigStore(tmp_path)
    tree = big_tree(5)
    store.commit(tree, "one")
    good = edit(tree, random.Random(2), 1)
    store.commit(good, "two")
    intact = (tmp_path / "running.journal").read_bytes()
    lost = {**good, "zone": {"lost": {}}}
    store.commit(lost, "three")  # its record is then damaged, as a crash mid-append leaves it
    data = (tmp_path / "running.journal").read_bytes()
    last = data[len(intact):]
    if damage == "torn":
        data = intact + last[:-3]
    elif damage == "checksum":
        data = intact + last[:-2] + b"xx"
    else:
        data = intact + last[:5]
    (tmp_path / "running.journal").write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="vpnshd"):
        again = ConfigStore(tmp_path)
        assert export(again.running()) == export(good)
    assert any("running.journal" in r.getMessage() and "ignored" in r.getMessage()
               for r in caplog.records), caplog.text
    # the next commit goes where the damaged record was: replayed whole afterwards
    after = {**good, "zone": {"after": {}}}
    again.commit(after, "four")
    assert export(ConfigStore(tmp_path).running()) == export(after)


def test_a_journal_not_continuing_the_snapshot_is_ignored(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A crash between writing the new snapshot and the new journal: the snapshot already
    holds what the old journal says."""
    store = ConfigStore(tmp_path)
    tree = big_tree(4)
    store.commit(tree)
    newer = {**tree, "zone": {}}
    store.commit(newer)
    old_journal = (tmp_path / "running.journal").read_bytes()
    store.compact()
    (tmp_path / "running.journal").write_bytes(old_journal)  # as if the crash came there
    with caplog.at_level(logging.WARNING, logger="vpnshd"):
        again = ConfigStore(tmp_path)
        assert again.running() == newer
    assert "does not continue" in caplog.text
    third = {**newer, "zone": {"z": {}}}
    assert again.commit(third) == 3  # written whole (a fresh journal), with its undo
    assert [again.version(n) for n in (1, 2, 3)] == [tree, newer, third]


def test_a_one_entry_commit_writes_the_same_bytes_at_any_size(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """O(1) store work: the bytes a one-gateway commit writes do not grow with the config."""
    written = {}
    for n in (100, 5000):
        store = ConfigStore(tmp_path / str(n))
        tree = big_tree(n)
        store.commit(tree, "base")
        snapshot = (tmp_path / str(n) / "running.json").stat()
        size = (tmp_path / str(n) / "running.journal").stat().st_size
        gws = {**tree["network"]["ike"]["gateway"], "new": {"peer": "203.0.113.1"}}
        m = store.commit({**tree, "network": {"ike": {"gateway": gws}}}, "one more")
        after = (tmp_path / str(n) / "running.json").stat()
        assert (after.st_ino, after.st_mtime_ns) == (snapshot.st_ino, snapshot.st_mtime_ns)
        written[n] = ((tmp_path / str(n) / "running.journal").stat().st_size - size,
                      (tmp_path / str(n) / "history" / f"{m}.json").stat().st_size)
    # the same but for the digits of the time
    assert all(abs(a - b) <= 4 for a, b in zip(written[100], written[5000], strict=True)), written
    assert written[100][0] < 200


def test_delta_puts_reordered_dicts_whole_and_replays_exactly() -> None:
    old = {"a": {"x": 1, "y": 2, "z": {"k": [1]}}, "b": 1}
    new = {"a": {"y": 2, "x": 1, "z": {"k": [1]}}, "b": 1}
    assert journal.delta(old, new) == [[["a"], new["a"]]]
    new2 = {"b": 2, "a": old["a"]}
    assert journal.delta(old, new2) == [[[], new2]]
    for target in ({"a": {"x": 1, "z": {"k": [2]}, "w": {}}}, {"a": old["a"], "b": 1, "c": None}):
        changes = journal.delta(old, target)
        replayed = orjson.loads(orjson.dumps(old))
        journal.apply(replayed, changes)
        assert orjson.dumps(replayed) == orjson.dumps(target)
    assert journal.delta(old, old) == []


def test_the_candidate_is_written_as_its_changes_to_running(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    store = ConfigStore(tmp_path)
    running = big_tree(3000)
    store.commit(running, "base")
    candidate = edit(edit(running, random.Random(3), 1), random.Random(4), 2)
    store.save_candidate(candidate, running)
    assert (tmp_path / "candidate.json").stat().st_size < 1000  # not the 3,000 gateways
    again = ConfigStore(tmp_path)
    assert export(again.load_candidate()) == export(candidate)
    # changes to another running config (a crash between a commit and the file's removal)
    store.commit(candidate, "committed")
    with caplog.at_level(logging.WARNING, logger="vpnshd"):
        assert ConfigStore(tmp_path).load_candidate() is None
    assert "not to the running config" in caplog.text
    store.save_candidate(candidate)  # without running: whole, as before
    assert ConfigStore(tmp_path).load_candidate() == candidate


def test_undoing_a_delete_in_the_middle_puts_the_entry_back_in_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ConfigStore(tmp_path)
    tree = big_tree(3000)
    first = store.commit(tree, "base")
    gws = {k: v for k, v in tree["network"]["ike"]["gateway"].items() if k != "g1500"}
    n = store.commit({**tree, "network": {"ike": {"gateway": gws}}}, "delete one")
    assert (tmp_path / "history" / f"{n}.json").stat().st_size < 500  # not the 2,999 others
    assert export(ConfigStore(tmp_path).version(first)) == export(tree)
    inserted = {**{k: v for k, v in list(gws.items())[:10]}, "mid": {"peer": "x"},
                **{k: v for k, v in list(gws.items())[10:]}}
    changes = journal.delta(gws, inserted)
    assert changes == [[["mid"], {"peer": "x"}, "g9"]]
    assert export(journal.applied(gws, changes)) == export(inserted)
