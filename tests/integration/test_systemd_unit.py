"""The systemd unit: it verifies, and vpnshd speaks sd_notify on a NOTIFY_SOCKET we bind.

READY=1 must come only once the control socket answers and the running config's IKE
socket is bound; SIGHUP (``systemctl reload``) re-reads nothing and says so; SIGTERM
sends STOPPING=1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import NetLab, netlab  # noqa: F401
from vpnsh import systemd
from vpnsh.control.client import Client
from vpnsh.engine import sdnotify


def test_installed_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (Debian package systemd; .ci/run installs it)")
    res = subprocess.run([sys.executable, "-m", "vpnsh.engine.daemon", "--install-unit", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    unit = tmp_path / systemd.UNIT_NAME
    text = unit.read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    program = exec_start.split("=", 1)[1].split()[0]
    assert os.path.isabs(program) and os.access(program, os.X_OK), exec_start
    for line in ("Type=notify", "Restart=on-failure", "StateDirectory=vpnsh", "ExecReload=/bin/kill -HUP $MAINPID",
                 "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"):
        assert line in text.splitlines(), line
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values, but names them: nothing may name our unit
    complaints = [line for line in (res.stdout + res.stderr).splitlines() if systemd.UNIT_NAME in line]
    assert res.returncode == 0 and not complaints, res.stdout + res.stderr


def test_unit_ships_in_the_package() -> None:
    text = systemd.unit_text()
    assert text.startswith("# vpnshd as a systemd service")
    assert "ExecStart=/usr/local/bin/vpnshd " in text
    assert "ExecStart=/opt/v/bin/vpnshd --state-dir" in systemd.unit_text("/opt/v/bin/vpnshd")
    with pytest.raises(ValueError):
        systemd.unit_text("vpnshd")


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(30)
    monkeypatch.setenv(sdnotify.ENV, str(path))
    yield sock
    sock.close()


def _message(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def test_sdnotify_abstract_and_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"vpnsh-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv(sdnotify.ENV, "@" + name)
        assert sdnotify.notify("READY=1")
        assert sock.recv(100) == b"READY=1"
    monkeypatch.delenv(sdnotify.ENV)
    assert sdnotify.notify("READY=1") is False


GATEWAY = [
    "set network interface ethernet lo layer3 ip 127.0.0.1/8",
    "set network ike gateway GW1 protocol version ikev2",
    "set network ike gateway GW1 local-address interface lo",
    "set network ike gateway GW1 local-address ip 127.0.0.1/8",
    "set network ike gateway GW1 peer-address ip 127.0.0.2",
    "set network ike gateway GW1 authentication pre-shared-key key Secret-For-Ready-1",
]


def _udp_500_bound(ns_run: Callable[..., subprocess.CompletedProcess[str]]) -> bool:
    return ":500 " in ns_run("ss", "-Hlun", "sport = :500").stdout + " "


@pytest.mark.netns
def test_ready_after_control_and_ike_sockets_then_reload_and_stop(
        netlab: NetLab, daemon_factory: Callable[..., Daemon],  # noqa: F811
        notify_socket: socket.socket) -> None:
    ns = netlab.add_host("gw")
    d = daemon_factory(netns=ns.name)
    d.start()
    d.configure(GATEWAY)
    wait_for(lambda: _udp_500_bound(ns.run), 20, "IKE on 127.0.0.1:500")
    d.stop()
    assert not _udp_500_bound(ns.run)
    assert [_message(notify_socket) for _ in range(2)][1]["STOPPING"] == "1"  # the first run's

    notify_socket.settimeout(30)
    d.proc = d.spawn()
    msg = _message(notify_socket)
    # at READY=1 both the control socket and the IKE socket are already there
    assert msg["READY"] == "1" and int(msg["MAINPID"]) > 0, msg
    assert msg["STATUS"] == f"serving on {d.socket}; IKE on 127.0.0.1", msg
    ike_bound = _udp_500_bound(ns.run)
    with Client(str(d.socket), timeout=5) as c:
        info = c.request("system.info")
    assert ike_bound and info["pid"] == int(msg["MAINPID"])

    # systemctl reload: SIGHUP re-reads nothing, says so, and the daemon serves on
    running = d.request("config.show", which="running", path=[], format="set")["text"]
    assert d.proc is not None
    os.kill(info["pid"], signal.SIGHUP)
    assert _message(notify_socket)["RELOADING"] == "1"
    assert _message(notify_socket)["READY"] == "1"
    assert "re-reads nothing" in d.log_text() and "only by a commit" in d.log_text()
    assert d.request("config.show", which="running", path=[], format="set")["text"] == running
    assert d.proc.poll() is None

    assert d.stop() == 0
    assert _message(notify_socket)["STOPPING"] == "1"
