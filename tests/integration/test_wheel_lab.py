"""The built wheel works alone: a fresh venv with only the wheel runs the two-site lab.

Builds the wheel of this checkout, checks it carries its data (grammar, sample configs,
systemd unit), installs it into a new venv (no system site packages, no checkout on
sys.path: the daemons run from an empty directory), and runs ``vpnsh lab up``, a ping
from site A's LAN host to site B's through the tunnel, and ``vpnsh lab down``.
About a minute, most of it pip.
"""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers.netns import netns_missing
from vpnsh import lab

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.netns]


def _run(*cmd: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"{' '.join(cmd)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def test_wheel_in_a_fresh_venv_runs_the_lab(tmp_path: Path) -> None:
    missing = netns_missing()
    if missing:
        pytest.skip(missing)
    if any(lab._netns_exists(s.netns) for s in lab.SITES) or lab.LAB_RUN.exists():
        pytest.skip("a vpnsh lab is up on this machine (vpnsh lab down first): not touching it")

    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPO), cwd=tmp_path)
    (wheel,) = dist.glob("vpnsh-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("vpnsh/sample_configs/site-a.set", "vpnsh/sample_configs/site-b.set",
                 "vpnsh/systemd/vpnshd.service", "vpnsh/grammar/vpnsh.lark"):
        assert data in names, data

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path)
    _run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), cwd=tmp_path)
    vpnsh = str(venv / "bin" / "vpnsh")
    where = _run(str(venv / "bin" / "python"), "-c", "import vpnsh; print(vpnsh.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel's code, not the checkout's

    try:
        up = _run(vpnsh, "lab", "up", cwd=tmp_path, timeout=120)
        assert "Lab is up" in up.stdout
        # the daemons are the venv's
        pid = int(lab.SITES[0].pidfile.read_text())
        assert str(venv) in Path(f"/proc/{pid}/cmdline").read_text()
        # interesting traffic from LAN host A brings the tunnel up; poll, then three pings
        deadline = time.monotonic() + 30
        while True:
            res = subprocess.run(["ip", "netns", "exec", lab.SITES[0].host_netns, "ping", "-c", "1", "-W", "1",
                                  "10.2.0.10"], capture_output=True, text=True)
            if res.returncode == 0 or time.monotonic() > deadline:
                break
        res = _run("ip", "netns", "exec", lab.SITES[0].host_netns, "ping", "-c", "3", "-W", "2", "10.2.0.10",
                   cwd=tmp_path)
        assert "3 received" in res.stdout
        flow = _run(vpnsh, "--socket", str(lab.SITES[0].socket), "-c", "show vpn flow", cwd=tmp_path)
        assert "active" in flow.stdout, flow.stdout
    finally:
        down = subprocess.run([vpnsh, "lab", "down"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(lab._netns_exists(s.netns) for s in lab.SITES)
