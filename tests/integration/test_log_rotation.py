"""vpnshd.log and ikemgr.log rotate by size and keep N files; less/tail mp-log read across."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from tests.helpers.netns import NetLab, netlab  # noqa: F401
from vpnsh.control.client import Client, ControlError
from vpnsh.engine import logfiles
from vpnsh.engine.ikemgr_log import IkemgrLog
from vpnsh.shell.session import TAIL_LINES, new_lines


def _numbers(lines: list[str], pattern: str) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.search(pattern, line))]


def test_ikemgr_log_rotates_keeps_n_and_tails_across(tmp_path: Path) -> None:
    log = IkemgrLog(tmp_path, rotation=logfiles.Rotation(max_bytes=2048, keep=2))
    for i in range(300):  # ~70 bytes a line: ~20 KB, ten times the limit
        log.write(f"line {i:04d} of the rotation test", gateway="GW1")
    log.close()
    path = tmp_path / "ikemgr.log"
    assert path.exists() and (tmp_path / "ikemgr.log.1").exists() and (tmp_path / "ikemgr.log.2").exists()
    assert not (tmp_path / "ikemgr.log.3").exists()  # only two kept
    for p in (path, tmp_path / "ikemgr.log.1", tmp_path / "ikemgr.log.2"):
        assert os.path.getsize(p) <= 2048 + 100, p
        assert oct(os.stat(p).st_mode & 0o777) == oct(logfiles.LOG_MODE)
    # the tail spans the files: consecutive numbers ending at the last line written
    got = _numbers(log.tail(40), r"line (\d{4})")
    assert got == list(range(260, 300))


def test_tail_lines_right_after_a_rotation(tmp_path: Path) -> None:
    path = str(tmp_path / "x.log")
    Path(path + ".1").write_text("".join(f"old {i}\n" for i in range(50)))
    Path(path).write_text("new 0\n")
    assert logfiles.tail_lines(path, 3, keep=2) == ["old 48\n", "old 49\n", "new 0\n"]
    os.unlink(path)  # between rotation and the first new line: still readable
    assert logfiles.tail_lines(path, 2, keep=2) == ["old 48\n", "old 49\n"]
    os.unlink(path + ".1")
    with pytest.raises(FileNotFoundError):
        logfiles.tail_lines(path, 2, keep=2)


def test_parse_size() -> None:
    assert logfiles.parse_size("10M") == 10 * 1024 * 1024
    assert logfiles.parse_size("512k") == 512 * 1024
    assert logfiles.parse_size("4096") == 4096
    for bad in ("10 parsecs", "", "12"):
        with pytest.raises(ValueError):
            logfiles.parse_size(bad)


def _log_marker(c: Client, i: int) -> None:
    """One vpnshd.log line: a refused set is logged with its (harmless) tokens."""
    with pytest.raises(ControlError):
        c.request("config.set", tokens=["no-such-node", f"marker-{i:05d}"])


def test_vpnshd_log_rotates_and_mp_log_reads_across(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory(extra_args=["--log-max-size", "4k", "--log-keep", "2"]).start()
    c = d.client()
    for i in range(200):  # ~90 bytes a line: ~18 KB through a 4 KB limit
        _log_marker(c, i)
    log = d.log_dir / "vpnshd.log"
    rotated = [d.log_dir / f"vpnshd.log.{n}" for n in (1, 2)]
    assert all(p.exists() for p in rotated), sorted(os.listdir(d.log_dir))
    assert not (d.log_dir / "vpnshd.log.3").exists()
    for p in (log, *rotated):
        assert p.stat().st_size <= 4096 + 200

    # tail mp-log: the last ten lines, the newest marker last
    res = d.shell("-c", "tail mp-log vpnshd.log")
    assert res.returncode == 0, res.stdout + res.stderr
    tail = res.stdout.splitlines()
    assert len(tail) == TAIL_LINES
    assert _numbers(tail, r"marker-(\d{5})")[-1] == 199

    # write until the log has just rotated (the current file holds a line or two):
    # less mp-log still shows a long continuous tail, from the rotated file
    before = c.request("log.read", file="vpnshd.log", lines=200)["text"].splitlines()
    ino = log.stat().st_ino
    i = 200
    while log.stat().st_ino == ino:
        _log_marker(c, i)
        i += 1
    res = d.shell("-c", "less mp-log vpnshd.log")
    assert res.returncode == 0, res.stdout + res.stderr
    seen = _numbers(res.stdout.splitlines(), r"marker-(\d{5})")
    assert len(seen) > 30 and seen == list(range(seen[0], i))

    # tail follow's step (new lines between two reads) is exact across the rotation
    after = c.request("log.read", file="vpnshd.log", lines=200)["text"].splitlines()
    fresh = _numbers(new_lines(before, after), r"marker-(\d{5})")
    assert fresh == list(range(200, i))


def _gateways(n: int) -> list[str]:
    lines = ["set network interface ethernet lo layer3 ip 127.0.0.1/8"]
    for i in range(1, n + 1):
        gw = f"set network ike gateway GW{i}"
        lines += [f"{gw} protocol version ikev2", f"{gw} local-address interface lo",
                  f"{gw} local-address ip 127.0.0.1/8", f"{gw} peer-address ip 127.0.1.{i}",
                  f"{gw} authentication pre-shared-key key Secret-For-Logs-{i}"]
    return lines


@pytest.mark.netns
def test_daemon_ikemgr_log_rotates_with_the_options(netlab: NetLab,  # noqa: F811
                                                    daemon_factory: Callable[..., Daemon]) -> None:
    ns = netlab.add_host("gw")
    d = daemon_factory(netns=ns.name, extra_args=["--log-max-size", "1k", "--log-keep", "1"])
    d.start()
    d.configure(_gateways(12))
    # one test initiates all twelve (no peer answers): ~24 ikemgr lines, ~3.5 KB through 1k;
    # the request waits for outcomes that never come, so the client gives up at once
    with Client(str(d.socket), timeout=1) as c, pytest.raises(ControlError):
        c.request("engine.op", name="vpn.ike-sa.test", args={})
    rotated = d.log_dir / "ikemgr.log.1"
    wait_for(rotated.exists, 20, "ikemgr.log to rotate at 1k")
    assert not (d.log_dir / "ikemgr.log.2").exists()  # --log-keep 1
    assert rotated.stat().st_size <= 1024 + 300
    res = d.shell("-c", "less mp-log ikemgr.log")
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(re.findall(r"NEGOTIATION STARTED", res.stdout)) >= 2, res.stdout
