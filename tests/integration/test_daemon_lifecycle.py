"""vpnshd as a process: start, socket permissions, signals, refusals, bad frames."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import subprocess
from collections.abc import Callable

import pytest

from tests.helpers.daemon import Daemon, wait_for
from vpnsh.control.client import Client, ControlError


def test_socket_is_root_only_and_answers(vpnshd: Daemon) -> None:
    assert stat.S_ISSOCK(os.stat(vpnshd.socket).st_mode)
    assert stat.S_IMODE(os.stat(vpnshd.socket).st_mode) == 0o600
    info = vpnshd.request("system.info")
    assert info["hostname"] == "vpnsh-test"
    assert info["dataplane"] == "none"
    assert info["uptime"].endswith(tuple("0123456789")) and "days" in info["uptime"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero_and_removes_socket(daemon_factory: Callable[..., Daemon], sig: int) -> None:
    d = daemon_factory().start()
    c = d.client()
    assert c.request("system.info")["pid"] == d.proc_pid()
    assert d.stop(sig=sig) == 0
    assert not d.socket.exists()
    log = d.log_text()
    assert "engine shut down" in log and "vpnshd stopped" in log


def test_second_daemon_on_same_socket_refuses(daemon_factory: Callable[..., Daemon]) -> None:
    first = daemon_factory("first").start()
    second = daemon_factory("second")
    second.socket = first.socket
    proc = second.spawn()
    assert proc.wait(20) == 1
    assert "already serving" in second.output()
    assert first.request("system.info")["pid"] == first.proc_pid()  # untouched


def test_second_daemon_on_same_state_dir_refuses(daemon_factory: Callable[..., Daemon]) -> None:
    first = daemon_factory("first").start()
    second = daemon_factory("second")
    second.state_dir = first.state_dir
    proc = second.spawn()
    assert proc.wait(20) == 1
    assert "using the state dir" in second.output()


def test_stale_socket_after_kill9_is_replaced(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory().start()
    d.kill9()
    assert d.socket.exists()  # nobody cleaned up
    d.start()
    assert d.request("system.info")["pid"] == d.proc_pid()


def test_garbage_frame_does_not_stop_the_daemon(vpnshd: Daemon) -> None:
    for garbage in (b"\x00\x00\x00\x05hello", b"\xff\xff\xff\xff", b"\x00\x00\x00\x02[]"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(vpnshd.socket))
        s.sendall(garbage)
        header = s.recv(4, socket.MSG_WAITALL)
        reply = json.loads(s.recv(struct.unpack(">I", header)[0], socket.MSG_WAITALL))
        assert reply["ok"] is False and reply["error"].startswith("bad frame")
        assert s.recv(1) == b""
        s.close()
    # Half a frame then hang up.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(vpnshd.socket))
    s.sendall(b"\x00\x00")
    s.close()
    assert vpnshd.request("system.info")["pid"] == vpnshd.proc_pid()
    assert vpnshd.proc is not None and vpnshd.proc.poll() is None


def test_unknown_op_and_bad_args(vpnshd: Daemon) -> None:
    with Client(str(vpnshd.socket)) as c:
        with pytest.raises(Exception, match="unknown op 'config.frobnicate'"):
            c.request("config.frobnicate")
        with pytest.raises(Exception, match="bad arguments for config.set"):
            c.request("config.set", path=["x"])
        assert c.request("system.info")["version"]


def test_env_socket_is_used_by_the_daemon(daemon_factory: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch) -> None:
    d = daemon_factory()
    cmd = d.command()
    i = cmd.index("--socket")
    del cmd[i : i + 2]
    env = dict(os.environ, VPNSH_SOCKET=str(d.socket))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        monkeypatch.setenv("VPNSH_SOCKET", str(d.socket))

        def info() -> dict | None:
            # the socket file exists a moment before the daemon listens on it
            try:
                return Client().request("system.info")
            except ControlError:
                return None

        assert wait_for(info, 20, "an answer on the socket from $VPNSH_SOCKET")["pid"] == proc.pid
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_unreadable_running_config_refuses_to_start_clearly(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory().start()
    assert d.stop() == 0
    (d.state_dir / "running.json").write_text("{ half a file")
    proc = d.spawn()
    assert proc.wait(20) == 1
    out = d.output()
    assert "running.json is unreadable" in out and "history" in out
    assert not d.socket.exists()
