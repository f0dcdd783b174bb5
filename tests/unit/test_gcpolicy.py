"""The daemon's GC rhythm (issue 17): a commit freezes what is alive (full collections then
skip the config and SAs), and the hourly sweep still reclaims cycles that died while frozen."""

import gc
import weakref

from vpnsh.engine import gcpolicy


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_settle_freezes_and_sweep_reclaims_frozen_cycles(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gcpolicy, "_enabled", True)
    try:
        gc.unfreeze()
        obj = Node()
        ref = weakref.ref(obj)
        gcpolicy.settle()
        assert gc.get_freeze_count() > 0
        del obj
        gc.collect()
        assert ref() is not None  # frozen: the collections leave it alone
        gcpolicy.sweep()
        assert ref() is None  # the sweep collects frozen garbage too
        assert gc.get_freeze_count() > 0  # and freezes the survivors again
    finally:
        gc.unfreeze()


def test_a_commit_freezes_the_heap_in_the_daemon_only(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from vpnsh.engine.configd import ConfigService
    from vpnsh.engine.service import Engine

    try:
        gc.unfreeze()
        svc = ConfigService(str(tmp_path), Engine(dataplane="none", state_dir=str(tmp_path)),
                            hostname="h")
        svc.set(["network", "interface", "tunnel", "units", "tunnel.1"])
        svc.commit("x")
        assert gc.get_freeze_count() == 0  # a library user keeps CPython's GC
        monkeypatch.setattr(gcpolicy, "_enabled", True)  # as vpnshd enables it
        svc.set(["network", "interface", "tunnel", "units", "tunnel.2"])
        svc.commit("y")
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_trim_returns_memory_where_glibc_does() -> None:
    gcpolicy.trim()  # no error either way; looked up once
    assert gcpolicy._malloc_trim is not None


def test_settle_collects_young_garbage_before_freezing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gcpolicy, "_enabled", True)
    try:
        gc.unfreeze()
        obj = Node()
        ref = weakref.ref(obj)
        del obj  # garbage not yet collected
        gcpolicy.settle()
        assert ref() is None  # collected, not frozen
    finally:
        gc.unfreeze()
