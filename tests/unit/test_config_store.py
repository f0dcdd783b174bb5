import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.test_config_helpers import site_a
from vpnsh.config.factory import factory_config
from vpnsh.config.store import ConfigStore


def test_fresh_store_runs_factory_config(tmp_path):
    store = ConfigStore(tmp_path)
    assert store.running() == factory_config()
    assert store.history() == []


def test_commit_numbers_history_and_survives_reopen(tmp_path):
    store = ConfigStore(tmp_path)
    tree = site_a()
    assert store.commit(tree, "first") == 1
    tree = {**tree, "zone": {**tree["zone"], "extra": {}}}  # a committed tree is never edited
    assert store.commit(tree, "second") == 2
    again = ConfigStore(tmp_path)
    assert again.running() == tree
    hist = again.history()
    assert [(h["n"], h["description"]) for h in hist] == [(1, "first"), (2, "second")]
    assert hist[0]["time"] <= hist[1]["time"]
    assert "extra" not in again.version(1)["zone"]
    with pytest.raises(KeyError):
        again.version(9)


def test_files_are_private(tmp_path):
    store = ConfigStore(tmp_path)
    store.commit(site_a(), "x")
    mode = stat.S_IMODE(os.stat(tmp_path / "running.json").st_mode)
    assert mode == 0o600


def test_named_snapshots(tmp_path):
    store = ConfigStore(tmp_path)
    tree = site_a()
    store.save_named("before-change", tree)
    assert store.load_named("before-change") == tree
    assert store.list_named() == ["before-change"]
    for bad in ("../etc/passwd", "a/b", ".hidden", "", "x" * 80):
        with pytest.raises(ValueError):
            store.save_named(bad, tree)
    with pytest.raises(FileNotFoundError):
        store.load_named("missing")


def test_candidate_persistence(tmp_path):
    store = ConfigStore(tmp_path)
    assert store.load_candidate() is None
    store.save_candidate({"zone": {"a": {}}})
    assert ConfigStore(tmp_path).load_candidate() == {"zone": {"a": {}}}


WRITER = """
import sys
from vpnsh.config.store import ConfigStore
store = ConfigStore(sys.argv[1])
i = 0
while True:
    i += 1
    store.commit({"zone": {f"z{j}": {} for j in range(i % 50)}, "n": i}, f"c{i}")
"""


def test_running_config_survives_kill_9_mid_commit(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 20
        while len(list((tmp_path / "history").glob("*.json"))) < 30:
            assert time.monotonic() < deadline, "writer made no progress"
            assert proc.poll() is None
            time.sleep(0.01)  # polling a deadline, not synchronising
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = ConfigStore(tmp_path)
    running = store.running()  # parses: never a half-written file
    hist = store.history()
    newest = hist[-1]["n"]
    assert running["n"] in (newest, newest - 1)
    assert store.version(running["n"]) == running
    for h in hist:
        json.loads((tmp_path / "history" / f"{h['n']}.json").read_text())


def test_commit_keeps_the_newest_versions(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path)
    for i in range(6):
        store.commit({"n": i}, f"c{i}", keep=4 if i < 5 else 2)
    assert [h["n"] for h in store.history()] == [5, 6]
    assert store.version(6) == {"n": 5}
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["5.json", "6.json"]
    store.commit({"n": 6}, "c6", keep=2)
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["6.json", "7.json"]
    assert store.version(6) == {"n": 5} and store.version(7) == {"n": 6}
