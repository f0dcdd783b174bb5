"""Admin roles on the control socket and over SSH: real Unix users and groups, made here.

A superreader (member of the reader group) runs every show and nothing else, refused
the way PAN-OS refuses a command outside a role (``Unknown command: configure``); a
superuser's name is in jobs and in vpnshd.log; an account in neither group is refused
at connect.  The groups have names of their own per test (vpnshd --admin-group /
--reader-group), so a daemon of another test never sees them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.daemon import SHELL_MAIN, Daemon

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("useradd", "groupadd", "gpasswd")),
    reason="needs root and useradd/groupadd/gpasswd (creates users and groups)")


@dataclass
class Accounts:
    admin_group: str
    reader_group: str
    admin: str  # in admin_group
    reader: str  # in reader_group
    outsider: str  # in neither


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    tag = secrets.token_hex(3)
    acc = Accounts(f"vsh-adm-{tag}", f"vsh-rdr-{tag}", f"vsha{tag}", f"vshr{tag}", f"vsho{tag}")
    made_groups: list[str] = []
    made_users: list[str] = []
    try:
        for g in (acc.admin_group, acc.reader_group):
            _run("groupadd", g)
            made_groups.append(g)
        for user, group in ((acc.admin, acc.admin_group), (acc.reader, acc.reader_group),
                            (acc.outsider, None)):
            extra = ["-G", group] if group else []
            _run("useradd", "-M", "-s", "/usr/sbin/nologin", *extra, user)
            made_users.append(user)
        yield acc
    finally:
        for user in made_users:
            subprocess.run(["userdel", user], capture_output=True)
        for g in made_groups:
            subprocess.run(["groupdel", g], capture_output=True)


@pytest.fixture
def daemon(daemon_factory: Callable[..., Daemon], accounts: Accounts) -> Iterator[Daemon]:
    d = daemon_factory(extra_args=["--admin-group", accounts.admin_group,
                                   "--reader-group", accounts.reader_group])
    run_dir = Path(tempfile.mkdtemp(prefix="vpnsh-roles-"))
    run_dir.chmod(0o755)  # the test users must reach the socket (pytest's tmp is root-only)
    d.socket = run_dir / "vpnsh.sock"
    d.start()
    try:
        yield d
    finally:
        d.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


# A child that imports what it needs as root (this Python may live under /root), then
# becomes USER (argv[1]) for good, groups included, before it connects.
_BECOME = r"""
import os, pwd, sys
import vpnsh.control.client, vpnsh.shell.main, vpnsh.shell.session, vpnsh.shell.find  # noqa
# and what the shell imports where it is used (the stdlib here is root's alone)
import orjson, vpnsh.control.roles, vpnsh.shell.editpath, vpnsh.render.host, vpnsh.render.system  # noqa
user = sys.argv.pop(1)
pw = pwd.getpwnam(user)
os.initgroups(user, pw.pw_gid)
os.setgid(pw.pw_gid)
os.setuid(pw.pw_uid)
os.environ.update(HOME="/", USER=user, LOGNAME=user)
"""

# Each request's result or error as one JSON line.
_CLIENT = _BECOME + r"""
import json
from vpnsh.control.client import Client, ControlError
c = Client(sys.argv[1], timeout=30)
for op, args in json.loads(sys.argv[2]):
    try:
        print(json.dumps({"ok": True, "result": c.request(op, **args)}))
    except ControlError as exc:
        print(json.dumps({"ok": False, "kind": exc.kind, "error": exc.message}))
"""


def as_user(user: str, d: Daemon, requests: list[tuple[str, dict[str, object]]]) -> list[dict[str, object]]:
    res = subprocess.run([sys.executable, "-c", _CLIENT, user, str(d.socket), json.dumps(requests)],
                         capture_output=True, text=True, timeout=60, cwd="/")
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def shell_as(user: str, d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BECOME + SHELL_MAIN, user, "--socket", str(d.socket), *args],
                          capture_output=True, text=True, timeout=60, cwd="/")


SET_COMMENT = ("config.set", {"tokens": ["network", "interface", "tunnel", "units", "tunnel.7", "comment", "x"]})


def test_socket_reachable_by_the_groups(daemon: Daemon) -> None:
    # 0666 once a role group exists: the daemon admits each connection by SO_PEERCRED
    assert stat.S_IMODE(os.stat(daemon.socket).st_mode) == 0o666


def test_superreader_shows_but_changes_nothing(daemon: Daemon, accounts: Accounts) -> None:
    reads = [
        ("admin.whoami", {}),
        ("system.info", {}),
        ("config.show", {"which": "running", "path": [], "format": "set"}),
        ("engine.op", {"name": "vpn.ike-sa.show", "args": {}}),
        ("jobs.show", {}),
        ("log.read", {"file": "vpnshd.log", "lines": 5}),
    ]
    got = as_user(accounts.reader, daemon, reads)
    assert all(r["ok"] for r in got), got
    assert got[0]["result"]["user"] == accounts.reader
    assert got[0]["result"]["role"] == "superreader"

    writes = [
        SET_COMMENT,
        ("config.delete", {"tokens": ["network"]}),
        ("config.commit", {}),
        ("config.validate", {}),
        ("config.revert", {}),
        ("engine.op", {"name": "vpn.ike-sa.test", "args": {"gateway": "GW1"}}),
        ("engine.op", {"name": "vpn.ike-sa.clear", "args": {}}),
        ("debug.ike", {"scope": "global", "level": "debug"}),
        ("admin.login", {"user": "root"}),
    ]
    got = as_user(accounts.reader, daemon, writes)
    assert [r.get("kind") for r in got] == ["denied"] * len(writes), got
    assert "superreader" in str(got[0]["error"])
    assert "tunnel.7" not in daemon.request("config.show", which="candidate", path=[], format="set")["text"]

    # through the shell: show works; configure, clear, test, debug are refused as PAN-OS does
    res = shell_as(accounts.reader, daemon, "-c", "show system info")
    assert res.returncode == 0 and "hostname: vpnsh-test" in res.stdout, res.stdout + res.stderr
    res = shell_as(accounts.reader, daemon, "-c", "show vpn ike-sa")
    assert res.returncode == 0, res.stdout + res.stderr
    for line, word in (("configure", "configure"), ("clear vpn ike-sa", "clear"),
                       ("test vpn ike-sa gateway GW1", "test"), ("debug ike global on debug", "debug")):
        res = shell_as(accounts.reader, daemon, "-c", line)
        assert res.returncode == 1, (line, res.stdout, res.stderr)
        assert f"Unknown command: {word}" in res.stdout + res.stderr, (line, res.stdout, res.stderr)
    # a script that would set and commit stops at configure and changes nothing
    res = shell_as(accounts.reader, daemon, "-c", "configure", "-c",
                   "set network interface tunnel units tunnel.7 comment x", "-c", "commit")
    assert res.returncode == 1 and "Unknown command: configure" in res.stdout + res.stderr
    assert daemon.request("jobs.show")["jobs"] == []


def test_superuser_name_in_jobs_and_log(daemon: Daemon, accounts: Accounts) -> None:
    got = as_user(accounts.admin, daemon, [("admin.whoami", {}), SET_COMMENT, ("config.commit", {}),
                                           ("engine.op", {"name": "vpn.ike-sa.clear", "args": {}})])
    assert all(r["ok"] for r in got), got
    assert got[0]["result"] == {"user": accounts.admin, "role": "superuser", "uid": got[0]["result"]["uid"],
                                "via": "socket"}
    jobs = daemon.request("jobs.show")["jobs"]
    assert [j["user"] for j in jobs] == [accounts.admin]
    log = daemon.log_text()
    assert f"{accounts.admin}: config.set network interface tunnel units tunnel.7 comment x" in log
    assert f"{accounts.admin}: config.commit" in log
    assert f"{accounts.admin}: engine.op vpn.ike-sa.clear" in log
    # root is a superuser, named root
    assert daemon.request("admin.whoami")["user"] == "root"


def test_non_member_refused_at_connect(daemon: Daemon, accounts: Accounts) -> None:
    got = as_user(accounts.outsider, daemon, [("system.info", {})])
    assert got[0]["ok"] is False and got[0]["kind"] == "connect"
    assert "not a vpnsh administrator" in str(got[0]["error"])
    res = shell_as(accounts.outsider, daemon, "-c", "show system info")
    assert res.returncode != 0 and "not a vpnsh administrator" in res.stdout + res.stderr
    assert f"control connection from {accounts.outsider}" in daemon.log_text()


def test_a_member_removed_from_the_group_is_refused_at_next_connect(daemon: Daemon, accounts: Accounts) -> None:
    assert as_user(accounts.reader, daemon, [("system.info", {})])[0]["ok"] is True
    _run("gpasswd", "-d", accounts.reader, accounts.reader_group)
    assert as_user(accounts.reader, daemon, [("system.info", {})])[0]["kind"] == "connect"


@pytest.mark.skipif(not shutil.which("ssh") or not shutil.which("ssh-keygen"), reason="OpenSSH client not installed")
def test_ssh_users_get_the_same_roles(tmp_path: Path, accounts: Accounts) -> None:
    from tests.integration.test_ssh_shell import SshDaemon

    d = SshDaemon(tmp_path / "ssh")
    d.extra_args += ["--admin-group", accounts.admin_group, "--reader-group", accounts.reader_group]
    d.start()
    try:
        res = d.ssh("--", "show system info", user=accounts.reader)
        assert res.returncode == 0 and "hostname:" in res.stdout, res.stdout + res.stderr
        res = d.ssh("--", "configure", user=accounts.reader)
        assert res.returncode == 1 and "Unknown command: configure" in res.stdout, res.stdout + res.stderr
        res = d.ssh("--", "clear vpn ike-sa", user=accounts.reader)
        assert res.returncode == 1 and "Unknown command: clear" in res.stdout, res.stdout + res.stderr
        # an account in neither group is refused, whatever key it holds
        res = d.ssh("--", "show system info", user=accounts.outsider)
        assert res.returncode == 1 and "neither" in res.stdout, res.stdout + res.stderr
        # a group member is a superuser; so is a name with no Unix account (root's key grant)
        for user in (accounts.admin, "vpnsh-no-such-account"):
            res = d.ssh("--", "configure", user=user)
            assert res.returncode == 0 and "Entering configuration mode" in res.stdout, res.stdout + res.stderr
        log = d.log_text()
        assert f"ssh: {accounts.outsider} refused" in log
    finally:
        d.stop()
