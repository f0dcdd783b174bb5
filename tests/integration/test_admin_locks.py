"""Two admins on one daemon, each with a shell of their own: per-admin change tracking,
partial commit and revert, config and commit locks, show admins, and a failed script that
takes back only its own changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.daemon import Daemon
from vpnsh.control.client import Client
from vpnsh.shell.session import Session

TUN = "set network interface tunnel units "


@pytest.fixture
def shells(vpnshd: Daemon) -> Iterator[tuple[Session, Session]]:
    clients = [Client(str(vpnshd.socket)), Client(str(vpnshd.socket))]
    ops1, ops2 = Session(clients[0], user="ops1"), Session(clients[1], user="ops2")
    for s in (ops1, ops2):
        s.hello("CLI", "local")
        assert s.execute("configure").ok
    try:
        yield ops1, ops2
    finally:
        for c in clients:
            c.close()


def ok(s: Session, line: str) -> str:
    out = s.execute(line)
    assert out.ok, (line, out.error)
    return out.output


def running(d: Daemon) -> str:
    return d.request("config.show", which="running", format="set", path=[])["text"]


def test_two_admins_changes_partial_commit_and_locks(vpnshd: Daemon,
                                                     shells: tuple[Session, Session]) -> None:
    ops1, ops2 = shells
    ok(ops1, TUN + "tunnel.1 comment by-ops1")
    ok(ops2, TUN + "tunnel.2 comment by-ops2")
    changes = ok(ops1, "run show config list changes").splitlines()
    dev = "/config/devices/entry[@name='localhost.localdomain']/network/interface/tunnel/units"
    assert changes == [f"ops1   add     {dev}/entry[@name='tunnel.1']/comment",
                       f"ops2   add     {dev}/entry[@name='tunnel.2']/comment"]
    assert ok(ops1, "run show config list changes admin ops2").splitlines() == changes[1:]
    # ops2 commits only what ops2 did: ops1's line stays in the candidate, uncommitted
    out = ok(ops2, "commit partial admin ops2")
    assert "Configuration committed successfully" in out
    assert "tunnel.2 comment by-ops2" in running(vpnshd)
    assert "tunnel.1" not in running(vpnshd)
    assert ok(ops2, "show network interface tunnel units tunnel.1 comment").strip()
    assert ok(ops1, "run show config list changes").splitlines() == changes[:1]
    # ops1 takes the config lock: ops2 can no longer edit, nor take it
    assert ok(ops1, 'run request config-lock add comment "change 4711"') == \
        "Successfully acquired config lock\n"
    refused = ops2.execute(TUN + "tunnel.3 comment x")
    assert not refused.ok
    assert refused.error == "Server error : Config for scope shared is currently locked by ops1"
    assert ops2.execute("run request config-lock add").error == \
        "Server error : Config for scope shared is currently locked by ops1"
    assert ops1.execute("run request config-lock add").error == \
        "Server error : You already own a config lock for scope shared"
    locks = ok(ops2, "run show config-locks").splitlines()
    assert locks[:2] == ["Config locks:", "Admin        Location  Type    Created              Comment"]
    assert locks[3].split()[:3] == ["ops1", "shared", "config"] and locks[3].endswith("change 4711")
    # ops1 takes the commit lock: ops2 cannot commit
    ok(ops1, "run request commit-lock add")
    assert ops2.execute("commit").error == "Server error : Commit lock is already held by ops1"
    assert ops2.execute("run request commit-lock remove admin ops1").error.startswith(
        "Server error : Commit lock is held by ops1")
    # show admins: both
    admins = ok(ops1, "run show admins").splitlines()
    assert [line.split()[0] for line in admins[2:]] == ["ops1", "ops2"]
    assert all(line.split()[2] == "CLI" for line in admins[2:])
    # ops1's commit releases both of ops1's locks
    assert "Configuration committed successfully" in ok(ops1, "commit")
    assert "tunnel.1 comment by-ops1" in running(vpnshd)
    assert ok(ops2, "run show config-locks").splitlines()[3:] == []
    assert ok(ops2, "run show commit-locks").splitlines()[3:] == []
    ok(ops2, TUN + "tunnel.3 comment after-the-lock")
    # revert config partial: only that admin's changes go
    ok(ops1, TUN + "tunnel.4 comment ops1-again")
    assert ok(ops2, "revert config partial admin ops2") == "Reverted 1 change(s) by ops2\n"
    cand = vpnshd.request("config.show", which="candidate", format="set", path=[])["text"]
    assert "tunnel.4" in cand and "tunnel.3" not in cand


def test_failed_script_reverts_only_its_own_changes(vpnshd: Daemon,
                                                    shells: tuple[Session, Session]) -> None:
    ops1, _ = shells
    ok(ops1, TUN + "tunnel.9 comment keep-me")  # another admin's pending change
    r = vpnshd.shell("-c", "configure", "-c", TUN + "tunnel.5 comment from-script",
                     "-c", "set network bogus 1")
    assert r.returncode == 1
    assert "Reverted 1 candidate change(s) made by this script (--keep-candidate keeps them)" \
        in r.stderr
    cand = vpnshd.request("config.show", which="candidate", format="set", path=[])["text"]
    assert "tunnel.5" not in cand and "tunnel.9 comment keep-me" in cand
    r = vpnshd.shell("--keep-candidate", "-c", "configure", "-c", TUN + "tunnel.5 comment kept",
                     "-c", "set network bogus 1")
    assert r.returncode == 1 and "Reverted" not in r.stderr
    cand = vpnshd.request("config.show", which="candidate", format="set", path=[])["text"]
    assert "tunnel.5 comment kept" in cand


def test_changes_are_attributed_after_a_daemon_restart(vpnshd: Daemon,
                                                       shells: tuple[Session, Session]) -> None:
    ops1, ops2 = shells
    ok(ops1, TUN + "tunnel.1 comment by-ops1")
    ok(ops2, "set network ike gateway GW authentication pre-shared-key key Sup3rSecret-9")
    vpnshd.restart()
    changes = vpnshd.request("config.changes")["changes"]
    assert [(c["admin"], c["action"]) for c in changes] == [("ops1", "add"), ("ops2", "add")]
    on_disk = (vpnshd.state_dir / "candidate-changes.json").read_text()
    assert "Sup3rSecret-9" not in on_disk and "-AQ==" in on_disk
    vpnshd.request("config.commit", admins=["ops1"])
    running = vpnshd.request("config.show", which="running", format="set", path=[])["text"]
    assert "tunnel.1 comment by-ops1" in running and "gateway GW" not in running
