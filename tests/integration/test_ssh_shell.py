"""The vpnsh shell over SSH (vpnshd --ssh-listen), driven with OpenSSH's ssh client.

Each test has its own daemon on a loopback port it picked, a client key it
generated in STATE_DIR/ssh/authorized_keys, and a throwaway known-hosts setting.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("ssh") or not shutil.which("ssh-keygen"),
                                reason="OpenSSH client not installed")

HOST = "vpnsh-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def make_key(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class SshDaemon(Daemon):
    def __init__(self, base: Path) -> None:
        self.port = free_port()
        super().__init__(base, hostname=HOST, extra_args=["--ssh-listen", f"127.0.0.1:{self.port}"])
        self.base.mkdir(parents=True, exist_ok=True)
        self.key = make_key(self.base / "id_ed25519")
        ssh_dir = self.state_dir / "ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())

    def start(self, timeout: float = 20.0) -> SshDaemon:
        super().start(timeout)
        wait_for(lambda: port_open(self.port), timeout, f"ssh on port {self.port}")
        return self

    def ssh(self, *args: str, input: str = "", key: Path | None = None, user: str = "admin",
            timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``ssh [OPTIONS] user@127.0.0.1 [REMOTE COMMAND]``: args before ``--`` are options."""
        opts, remote = list(args), []
        if "--" in args:
            i = args.index("--")
            opts, remote = list(args[:i]), list(args[i + 1:])
        cmd = ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
               "-i", str(key or self.key), "-p", str(self.port), *opts, f"{user}@127.0.0.1", *remote]
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshDaemon]:
    d = SshDaemon(tmp_path / "d")
    d.start()
    try:
        yield d
    finally:
        d.stop()


SCRIPT = """\
show system info
show vpn ike-sa
configure
set network interface tunnel units tunnel.1 ip 169.254.1.1/30
show network interface tunnel
commit
exit
show jobs all
exit
"""


def test_openssh_login_show_configure_commit(sshd: SshDaemon) -> None:
    r = sshd.ssh("-T", input=SCRIPT)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    lines = out.splitlines()
    assert f"admin@{HOST}> hostname: {HOST}" in lines  # no echo without a terminal
    assert "operational-mode: normal" in lines
    assert "There is no IKEv2 SA found." in lines
    assert f"admin@{HOST}> Entering configuration mode" in lines
    assert f"[edit]\nadmin@{HOST}# " in out
    assert "      ip 169.254.1.1/30;" in out or "169.254.1.1/30" in out
    assert "Configuration committed successfully" in lines
    assert any(line.split()[3:6] == ["1", "Commit", "FIN"] for line in lines if len(line.split()) > 5)
    running = sshd.request("config.show", which="running", format="set", path=[])["text"]
    assert "set network interface tunnel units tunnel.1 ip 169.254.1.1/30" in running


def test_remote_command_runs_once_with_exit_status(sshd: SshDaemon) -> None:
    r = sshd.ssh("--", "show system info")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"hostname: {HOST}"
    r = sshd.ssh("--", "bogus command")
    assert r.returncode == 1
    assert "Unknown command: bogus" in r.stdout


def test_pty_session_echoes_and_uses_panos_prompts(sshd: SshDaemon) -> None:
    r = sshd.ssh("-tt", input="set cli pager off\nconfigure\nedit network ike\ntop\nexit\nexit\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout.replace("\r\n", "\n")
    assert f"admin@{HOST}> set cli pager off\n" in out  # typed text echoed after the prompt
    assert f"[edit]\nadmin@{HOST}# edit network ike\n[edit network ike]\nadmin@{HOST}# top\n[edit]\n" in out
    assert out.rstrip().endswith(f"admin@{HOST}> exit")


def test_sessions_share_the_daemon_candidate(sshd: SshDaemon) -> None:
    r = sshd.ssh("-T", input="configure\nset network interface tunnel units tunnel.7 comment shared\nexit\nexit\n")
    assert r.returncode == 0, r.stderr
    r = sshd.ssh("-T", user="operator",
                 input="set cli config-output-format set\nshow config diff\nexit\n")
    assert f"operator@{HOST}>" in r.stdout
    assert "set network interface tunnel units tunnel.7 comment shared" in r.stdout


def test_logs_and_system_log_over_ssh(sshd: SshDaemon) -> None:
    sshd.ssh("-T", input="configure\nset network interface tunnel units tunnel.2 ip 169.254.2.1/30\n"
                         "commit\nexit\nexit\n")
    r = sshd.ssh("-T", input="less mp-log vpnshd.log | match started\n"
                             "tail follow yes mp-log vpnshd.log | match committed\n"
                             "show log system | match succeeded\nexit\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any("vpnshd" in line and "started" in line for line in lines)
    assert any("Commit job 1 succeeded" in line for line in lines)


def test_unknown_key_is_refused(sshd: SshDaemon, tmp_path: Path) -> None:
    other = make_key(tmp_path / "other")
    r = sshd.ssh("--", "show system info", key=other)
    assert r.returncode == 255
    assert "hostname" not in r.stdout


def test_host_key_made_once_mode_0600(sshd: SshDaemon) -> None:
    path = sshd.state_dir / "ssh" / "host_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = path.read_bytes()
    sshd.stop()
    sshd.start()
    assert path.read_bytes() == before
    assert sshd.ssh("--", "show system info").returncode == 0


def read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 30.0) -> bytes:
    """Bytes from ``proc.stdout`` until ``needle`` shows up (or the deadline passes)."""
    import select
    import time

    got = b""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while needle not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {needle!r} in {got[-500:]!r}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError(f"ssh ended before {needle!r}: {got[-500:]!r}")
            got += chunk
    return got


def test_tail_follow_streams_until_ctrl_c_and_question_mark_help(sshd: SshDaemon) -> None:
    cmd = ["ssh", "-tt", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
           "-i", str(sshd.key), "-p", str(sshd.port), "admin@127.0.0.1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    try:
        read_until(proc, f"admin@{HOST}> ".encode())
        proc.stdin.write(b"show vpn ?")
        proc.stdin.flush()
        out = read_until(proc, b"ike-sa")
        assert b"show IKE SA" in out
        proc.stdin.write(b"\x15tail follow yes mp-log vpnshd.log\r")
        proc.stdin.flush()
        read_until(proc, b"admin logged in")
        sshd.set("network interface tunnel units tunnel.3 comment follow")
        sshd.request("config.commit", description="while following")
        read_until(proc, b"commit job 1")  # written to vpnshd.log after the follow began
        proc.stdin.write(b"\x03")
        proc.stdin.flush()
        read_until(proc, f"admin@{HOST}> ".encode())
        proc.stdin.write(b"exit\r")
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_daemon_stops_cleanly_during_a_tail_follow(sshd: SshDaemon) -> None:
    cmd = ["ssh", "-tt", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
           "-i", str(sshd.key), "-p", str(sshd.port), "admin@127.0.0.1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    try:
        read_until(proc, f"admin@{HOST}> ".encode())
        proc.stdin.write(b"tail follow yes mp-log vpnshd.log\r")
        proc.stdin.flush()
        read_until(proc, b"admin logged in")
        assert sshd.stop(timeout=20) == 0  # SIGTERM ends the follow and the session
        assert proc.wait(20) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_debug_ike_settings_and_pcap_file(sshd: SshDaemon) -> None:
    r = sshd.ssh("-T", input="debug ike global on dump\ndebug ike gateway GW1 on debug\n"
                             "debug ike pcap on\ndebug ike wireshark-keys on\nshow debug ike\nexit\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.endswith("sw.ikedaemon.debug.global: dump") for line in lines)
    assert "sw.ikedaemon.debug.gateway.GW1: debug" in lines
    assert "sw.ikedaemon.debug.pcap: on" in lines
    pcap = sshd.log_dir / "ikemgr.pcap"
    assert pcap.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")  # a pcap header, little-endian
    assert f"wireshark keys: {sshd.log_dir / 'wireshark'} (ikev2_decryption_table, esp_sa)" in lines
    assert (sshd.log_dir / "wireshark").is_dir()
    r = sshd.ssh("-T", input="debug ike global off\ndebug ike pcap off\nshow debug ike\nexit\n")
    lines = r.stdout.splitlines()
    assert any(line.endswith("sw.ikedaemon.debug.global: normal") for line in lines)
    assert "sw.ikedaemon.debug.pcap: off" in lines


def test_port_in_use_is_a_startup_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d = Daemon(tmp_path / "d", extra_args=["--ssh-listen", f"127.0.0.1:{port}"])
        proc = d.spawn()
        assert proc.wait(30) == 1
    assert f"cannot serve SSH on 127.0.0.1:{port}" in d.output()
    assert not d.socket.exists()  # the control socket went away with it
