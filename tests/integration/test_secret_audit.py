"""Audit: every secret-bearing command typed through every way into the shell, then every
file the daemon and the shell wrote is searched for the secrets (issue 11, item 2).

Ways in: ``vpnsh -c``, ``vpnsh -f FILE``, commands on stdin, the interactive shell on a
terminal (a pty: it keeps ``~/.vpnsh_history``), and SSH (no terminal, and with one).
Each way uses its own secrets, so a leak names the way and the command.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import SHELL_MAIN
from tests.integration.test_ssh_shell import SshDaemon

GW = "network ike gateway"


def commands(tag: str) -> tuple[list[str], list[str]]:
    """(configure-mode lines, the secrets they carry) for one way in."""
    s = [f"Zq{tag}{n}x7" for n in range(8)]
    lines = [
        f"set {GW} {tag}A authentication pre-shared-key key {s[0]}",
        f'set {GW} {tag}B authentication pre-shared-key key "two words {s[1]}"',
        f"edit {GW} {tag}C authentication pre-shared-key",
        f"set key {s[2]}",
        "top",
        f"set {GW} {tag}D authentication pre-shared-key key {s[3]} peer-address ip 203.0.113.4",
        f"set {GW} {tag}E authentication pre-shared-key key [ {s[4]} ]",  # fails
        f"set {GW} {tag}F authentication pre-shared-key key {s[5]} more words",  # fails
        f"set {GW} {tag}G authentication pre-shared-key key {'y' * 300}{s[6]}",  # too long: fails
        f"set {GW} key authentication pre-shared-key key {s[7]}",  # a gateway named key
        "validate",
    ]
    return lines, s


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for n in names:
                p = Path(dirpath) / n
                if p.is_file() and not p.is_symlink():
                    yield p


def leaks(secrets: dict[str, list[str]], roots: list[Path], extra: dict[str, str]) -> list[str]:
    found = []
    texts = {str(p): p.read_bytes().decode("latin-1") for p in files_under(*roots)}
    texts.update(extra)
    for where, text in texts.items():
        for way, values in secrets.items():
            for i, v in enumerate(values):
                if v in text:
                    found.append(f"{way} secret #{i} in {where}")
    return found


def pty_shell(socket: Path, home: Path, lines: list[str], timeout: float = 30.0) -> str:
    """The interactive shell on a pseudo-terminal: type each line once the prompt is back."""
    master, slave = pty.openpty()
    env = {**os.environ, "HOME": str(home), "TERM": "dumb"}
    env.pop("VPNSH_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-c", SHELL_MAIN, "--socket", str(socket)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""

    def read_until(pred, what: str) -> None:  # type: ignore[no-untyped-def]
        nonlocal out
        deadline = time.monotonic() + timeout
        while not pred(out):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"pty shell: no {what}; got {out[-400:]!r}")
            r, _, _ = select.select([master], [], [], left)
            if r:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    return

    try:
        for line in ["set cli pager off", "configure", *lines, "exit", "exit"]:
            mark = len(out)
            read_until(lambda o, m=mark: o[m:].rstrip().endswith((b">", b"#")), "prompt")
            os.write(master, line.encode() + b"\r")
            read_until(lambda o, m=mark: len(o) > m, "echo")
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return out.decode("utf-8", "replace")


@pytest.mark.skipif(not shutil.which("ssh") or not shutil.which("ssh-keygen"),
                    reason="OpenSSH client not installed")
def test_no_secret_in_any_file_the_daemon_or_shell_wrote(tmp_path: Path) -> None:
    d = SshDaemon(tmp_path / "d")
    d.start()
    home = tmp_path / "home"
    home.mkdir()
    secrets: dict[str, list[str]] = {}
    outputs: dict[str, str] = {}
    try:
        # vpnsh -c
        lines, secrets["dashc"] = commands("dashc")
        args = [a for line in ["configure", *lines] for a in ("-c", line)]
        r = d.shell(*args, "--keep-going", "--keep-candidate")
        outputs["-c output"] = r.stdout + r.stderr
        # vpnsh -f FILE (the command file itself is the user's: not searched)
        lines, secrets["file"] = commands("file")
        script = tmp_path / "user-files" / "cmds.vpnsh"
        script.parent.mkdir()
        script.write_text("\n".join(["configure", *lines]) + "\n")
        r = d.shell("-f", str(script), "--keep-going", "--keep-candidate")
        outputs["-f output"] = r.stdout + r.stderr
        # commands on stdin
        lines, secrets["stdin"] = commands("stdin")
        r = d.shell("--keep-going", "--keep-candidate", input="\n".join(["configure", *lines]) + "\n")
        outputs["stdin output"] = r.stdout + r.stderr
        # the interactive shell on a terminal: ~/.vpnsh_history
        lines, secrets["pty"] = commands("pty")
        pty_shell(d.socket, home, lines)
        # SSH without and with a terminal
        lines, secrets["sshT"] = commands("sshT")
        r = d.ssh("-T", input="\n".join(["configure", *lines, "exit", "exit"]) + "\n")
        outputs["ssh -T output"] = r.stdout + r.stderr
        lines, secrets["sshtt"] = commands("sshtt")
        d.ssh("-tt", input="\n".join(["set cli pager off", "configure", *lines, "exit", "exit"]) + "\n")
        d.request("config.save", name="audit")  # the candidate in saved/ too
        d.set(f"{GW} ok authentication pre-shared-key key Zqcommitx7")
        d.set(f"{GW} ok peer-address ip 203.0.113.9")
        d.set(f"{GW} ok local-address interface vt-absent0")
        d.set("network interface ethernet vt-absent0 layer3 ip 198.51.100.1/24")
        for way in secrets:  # only the gateway "ok" may reach running.json and the history
            for g in "ABCDEFG":
                d.request("config.delete", tokens=f"{GW} {way}{g}".split())
        d.request("config.delete", tokens=f"{GW} key".split())
        d.request("config.commit")
        secrets["commit"] = ["Zqcommitx7"]
    finally:
        d.stop()
    found = leaks(secrets, [d.base, home], outputs)
    assert found == [], "\n".join(found)
    history = home / ".vpnsh_history"
    assert history.exists(), "the interactive shell kept no history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    text = history.read_text()
    assert f"set {GW} ptyA authentication pre-shared-key key ******" in text
    assert f"set {GW} ptyD authentication pre-shared-key key ****** peer-address ip 203.0.113.4" in text
    assert "set key ******" in text  # typed in the edit path
    assert f"set {GW} key authentication pre-shared-key key ******" in text  # the name kept
    # the daemon saw every way in (the valid gateways of each are in the candidate)
    saved = (d.state_dir / "saved" / "audit.json").read_text()
    assert all(f"{way}D" in saved for way in secrets if way != "commit"), saved
    assert '"ok"' in (d.state_dir / "running.json").read_text()
