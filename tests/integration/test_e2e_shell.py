"""End to end: the `vpnsh` shell as a process against a real vpnshd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from tests.helpers.daemon import SHELL_MAIN, Daemon

SECRET = "Shell-Secret-77"


def running_set(d: Daemon) -> str:
    return d.request("config.show", which="running", format="set", path=[])["text"]


def candidate_set(d: Daemon) -> str:
    return d.request("config.show", which="candidate", format="set", path=[])["text"]


def test_configure_set_commit_with_repeated_c(vpnshd: Daemon) -> None:
    r = vpnshd.shell("-c", "configure",
                     "-c", "set network interface tunnel units tunnel.1 ip 169.254.1.1/30",
                     "-c", 'commit description "from the shell"')
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "Entering configuration mode" in out
    assert "Commit job 1 is in progress. Use Ctrl+C to return to command prompt" in out
    assert "Configuration committed successfully" in out
    assert "set network interface tunnel units tunnel.1 ip 169.254.1.1/30" in running_set(vpnshd)
    jobs = vpnshd.request("jobs.show")["jobs"]
    assert jobs[-1]["description"] == "from the shell" and jobs[-1]["result"] == "OK"


def test_script_stops_at_first_bad_line_with_status_1(vpnshd: Daemon) -> None:
    script = vpnshd.base / "bad.txt"
    script.write_text(
        "configure\n"
        "set network interface tunnel units tunnel.2 comment applied\n"
        "set network bogus thing\n"
        "set network interface tunnel units tunnel.3 comment never\n"
    )
    r = vpnshd.shell("-f", str(script))
    assert r.returncode == 1
    assert "line 3" in r.stderr and "Invalid syntax." in r.stderr
    # the failed script takes back what it set (issue 13); --keep-candidate keeps it
    assert "Reverted 1 candidate change(s) made by this script" in r.stderr
    cand = candidate_set(vpnshd)
    assert "tunnel.2" not in cand and "tunnel.3" not in cand
    r = vpnshd.shell("--keep-candidate", "-f", str(script))
    assert r.returncode == 1
    cand = candidate_set(vpnshd)
    assert "tunnel.2 comment applied" in cand
    assert "tunnel.3" not in cand


def test_keep_going_runs_every_line_and_still_fails(vpnshd: Daemon) -> None:
    script = vpnshd.base / "bad.txt"
    script.write_text("configure\nset network bogus\nset network interface tunnel units tunnel.3 comment after\n")
    r = vpnshd.shell("--keep-going", "--keep-candidate", "-f", str(script))
    assert r.returncode == 1
    assert "line 2" in r.stderr
    assert "tunnel.3 comment after" in candidate_set(vpnshd)


def test_commands_on_stdin(vpnshd: Daemon) -> None:
    r = vpnshd.shell(input="configure\nset network interface tunnel units tunnel.4 comment stdin\ncommit\n")
    assert r.returncode == 0, r.stderr
    assert "Configuration committed successfully" in r.stdout
    assert "tunnel.4 comment stdin" in running_set(vpnshd)


def test_invalid_commit_from_the_shell(vpnshd: Daemon) -> None:
    before = (vpnshd.state_dir / "running.json").read_bytes()
    r = vpnshd.shell("-c", "configure",
                     "-c", "set network tunnel ipsec T1 auto-key ike-gateway NOPE",
                     "-c", "commit")
    assert r.returncode == 1
    assert "Validation Error:" in r.stderr
    assert "network -> tunnel -> ipsec -> T1 -> auto-key -> ike-gateway" in r.stderr
    assert (vpnshd.state_dir / "running.json").read_bytes() == before


def test_output_json_for_show_commands(vpnshd: Daemon) -> None:
    r = vpnshd.shell("--output", "json", "-c", "show vpn ike-sa")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["ikev2"] == [] and "gateways_configured" in data
    r = vpnshd.shell("--output", "json", "-c", "show system info")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hostname"] == "vpnsh-test"


def test_two_shells_share_the_candidate(vpnshd: Daemon) -> None:
    first = vpnshd.shell("-c", "configure", "-c", "set network interface tunnel units tunnel.8 comment shared")
    assert first.returncode == 0, first.stderr
    second = vpnshd.shell("-c", "configure", "-c", "show network interface tunnel",
                          "-c", "exit", "-c", "set cli config-output-format set", "-c", "show config diff")
    assert second.returncode == 0, second.stderr
    assert "tunnel.8" in second.stdout and "shared" in second.stdout
    assert "tunnel.8" not in running_set(vpnshd)


def test_secret_is_never_printed(vpnshd: Daemon) -> None:
    lines = ["configure", f"set network ike gateway GW1 authentication pre-shared-key key {SECRET}"]
    for fmt in ("default", "set", "xml", "json"):
        lines += ["exit", f"set cli config-output-format {fmt}", "configure", "show network ike gateway GW1"]
    args = [a for line in lines for a in ("-c", line)]
    r = vpnshd.shell(*args)
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert r.stdout.count("-AQ==") >= 4
    assert SECRET not in vpnshd.log_text()


def test_shell_without_a_daemon_says_how_to_start_one(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory()  # never started
    r = d.shell("-c", "show system info")
    assert r.returncode != 0
    assert "vpnshd" in r.stderr and str(d.socket) in r.stderr


def test_vpnsh_socket_env_picks_the_daemon(vpnshd: Daemon) -> None:
    env = dict(os.environ, VPNSH_SOCKET=str(vpnshd.socket))
    r = subprocess.run([sys.executable, "-c", SHELL_MAIN, "--output", "json", "-c", "show system info"],
                       capture_output=True, text=True, env=env, timeout=60, input="")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == vpnshd.proc_pid()


def test_operational_views_of_the_daemon(vpnshd: Daemon) -> None:
    r = vpnshd.shell("-c", "configure", "-c", "set network interface tunnel units tunnel.1 ip 169.254.1.1/30",
                     "-c", "commit", "-c", "run show jobs all", "-c", "exit",
                     "-c", "show log system", "-c", "less mp-log vpnshd.log",
                     "-c", "show config running | match tunnel.1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert any(line.split()[3:7] == ["1", "Commit", "FIN", "OK"] for line in out.splitlines()
               if line.startswith("20"))
    assert "Commit job 1 succeeded" in out
    assert "control socket listening on" in out
    assert "tunnel.1 {" in out
