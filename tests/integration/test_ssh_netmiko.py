"""netmiko's PAN-OS driver (``paloalto_panos``), unchanged, against vpnshd --ssh-listen.

It logs in with a password (keyboard-interactive, as that driver does) from
STATE_DIR/ssh/passwords, and with a key; then session preparation (scripting
mode, terminal width, pager off, show system info), send_command,
send_config_set and commit must all work as on a PAN-OS box.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_ssh_shell import HOST, SshDaemon
from vpnsh.ssh.passwords import set_password

netmiko = pytest.importorskip("netmiko")

PASSWORD = "Netmiko-Pw-42"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshDaemon]:
    d = SshDaemon(tmp_path / "d")
    set_password(d.state_dir / "ssh" / "passwords", "admin", PASSWORD)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def connect(d: SshDaemon, **auth: object) -> object:
    return netmiko.ConnectHandler(device_type="paloalto_panos", host="127.0.0.1", port=d.port,
                                  username="admin", conn_timeout=20, auth_timeout=20,
                                  banner_timeout=20, **auth)


def test_netmiko_show_config_commit_with_password(sshd: SshDaemon) -> None:
    conn = connect(sshd, password=PASSWORD)
    try:
        assert conn.find_prompt() == f"admin@{HOST}>"
        out = conn.send_command("show vpn ike-sa")
        assert out.strip().splitlines() == [
            "There is no IKEv1 phase-1 SA found.", "",
            "There is no IKEv1 phase-2 SA found.", "",
            "There is no IKEv2 SA found."]
        out = conn.send_config_set([
            "set network interface tunnel units tunnel.1 ip 169.254.1.1/30",
            "set network interface tunnel units tunnel.1 comment netmiko",
        ])
        assert "Invalid syntax" not in out and "Server error" not in out
        out = conn.commit()  # raises unless its output has "configuration committed successfully"
        lines = out.splitlines()
        start = lines.index("Commit job 1 is in progress. Use Ctrl+C to return to command prompt")
        assert lines[start + 1:start + 3] == ["...........98%..............100%",
                                              "Configuration committed successfully"]
        assert lines[-1] == f"admin@{HOST}>"  # netmiko left configure mode again
        assert conn.send_command("show jobs all").splitlines()[2].split()[3:7] == ["1", "Commit", "FIN", "OK"]
    finally:
        conn.disconnect()
    running = sshd.request("config.show", which="running", format="set", path=[])["text"]
    assert "set network interface tunnel units tunnel.1 comment netmiko" in running


def test_netmiko_with_key_and_config_error(sshd: SshDaemon) -> None:
    conn = connect(sshd, use_keys=True, key_file=str(sshd.key), allow_agent=False)
    try:
        out = conn.send_config_set(["set network ike gateway"])
        assert "Invalid syntax." in out or "Server error" in out
        out = conn.send_command("show system info")
        assert f"hostname: {HOST}" in out.splitlines()
        rows = [line.split() for line in conn.send_command("show admins").splitlines()[2:]]
        assert ["admin", "127.0.0.1", "SSH"] in [r[:3] for r in rows]  # the SSH login, from where
    finally:
        conn.disconnect()


def test_wrong_password_is_refused(sshd: SshDaemon) -> None:
    with pytest.raises(netmiko.NetmikoAuthenticationException):
        connect(sshd, password="not-it")


def test_password_file_tool(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "vpnsh.ssh.passwords", str(tmp_path), "ops"], input="pw1\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    line = (tmp_path / "ssh" / "passwords").read_text()
    assert line.startswith("ops:scrypt$") and "pw1" not in line
    assert oct((tmp_path / "ssh" / "passwords").stat().st_mode & 0o777) == "0o600"


def test_netmiko_commit_failure_raises_with_the_reasons(sshd: SshDaemon) -> None:
    conn = connect(sshd, password=PASSWORD)
    try:
        out = conn.send_config_set(["set zone z network layer3 tunnel.7"])
        assert "Invalid syntax" not in out and "Server error" not in out
        with pytest.raises(ValueError) as failed:
            conn.commit(read_timeout=30)  # returns only on success: waits for 100%, then checks
        text = str(failed.value)
        assert text.startswith("Commit failed with the following errors:")
        lines = text.splitlines()
        assert "Commit job 1 is in progress. Use Ctrl+C to return to command prompt" in lines
        assert "Validation Error:" in lines and "Commit failed" in lines
        assert " zone -> z -> network -> layer3 'tunnel.7' is not a valid reference" in lines
        # job ids run on without a gap: the next commit is job 2
        conn.send_config_set(["delete zone z", "set network interface tunnel units tunnel.7"])
        out = conn.commit()
        assert "Commit job 2 is in progress. Use Ctrl+C to return to command prompt" in out.splitlines()
    finally:
        conn.disconnect()
    running = sshd.request("config.show", which="running", format="set", path=[])["text"]
    assert "zone z" not in running and "tunnel.7" in running
