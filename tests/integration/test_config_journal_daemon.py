"""The commit journal through a real vpnshd: a commit survives kill -9, a clean stop writes
the running config whole, and the journal holds no secret in clear."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers.daemon import Daemon
from tests.integration.test_daemon_config import SECRET, load_site
from vpnsh.control.client import ControlError


def running_export(d: Daemon) -> tuple[str, str]:
    return tuple(d.request("config.show", which="running", format=fmt, path=[])["text"]  # type: ignore[return-value]
                 for fmt in ("json", "xml"))


def test_commits_survive_kill_9_byte_identical(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory().start()
    load_site(d)
    d.request("config.commit", description="site")
    d.set("network ike gateway GW-SiteB comment first-change")
    d.set("network virtual-router default routing-table ip static-route r2 destination 10.21.0.0/24 "
          "interface tunnel.1")
    d.request("config.commit", description="two")
    d.delete("network virtual-router default routing-table ip static-route to-SiteB")
    d.set("network ike gateway GW-SiteB authentication pre-shared-key key Zq-journal-secret7")
    d.request("config.commit", description="three")
    exported, history = running_export(d), d.request("config.history")["history"]
    journal = (d.state_dir / "running.journal").read_bytes()
    snapshot = (d.state_dir / "running.json").read_bytes()
    assert b"first-change" in journal and b"first-change" not in snapshot  # journaled only
    assert SECRET.encode() not in journal and b"Zq-journal-secret7" not in journal
    d.kill9()
    d.start()
    assert running_export(d) == exported
    assert d.request("config.history")["history"] == history
    assert d.request("config.status")["changed"] is False
    # a clean stop writes the running config whole; the next start reads the snapshot alone
    d.stop()
    assert b"first-change" in (d.state_dir / "running.json").read_bytes()
    assert len((d.state_dir / "running.journal").read_bytes()) < 200  # its head only
    assert "running config written whole" in d.log_text()
    d.start()
    assert running_export(d) == exported
    assert d.request("config.history")["history"] == history


def test_a_failed_commit_writes_nothing(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory().start()
    load_site(d)
    d.request("config.commit", description="site")
    d.set("network ike gateway GW-SiteB comment ok")
    d.request("config.commit", description="journaled")
    files = {p.name: p.read_bytes() for p in (d.state_dir / "history").iterdir()}
    journal, snapshot = ((d.state_dir / n).read_bytes() for n in ("running.journal", "running.json"))
    d.delete("network tunnel ipsec T-SiteB tunnel-interface")  # a tunnel needs one
    with pytest.raises(ControlError, match="Commit failed"):
        d.request("config.commit", description="bad")
    assert (d.state_dir / "running.journal").read_bytes() == journal
    assert (d.state_dir / "running.json").read_bytes() == snapshot
    assert {p.name: p.read_bytes() for p in (d.state_dir / "history").iterdir()} == files
