"""The config service through a real vpnshd: shared candidate, commit, persistence, secrets."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon, wait_for
from vpnsh.control.client import ControlError

# vt-absent0 exists on no host: commit warns instead of touching the host's interfaces.
SITE = """\
network interface ethernet vt-absent0 layer3 ip 198.51.100.1/24
network interface tunnel units tunnel.1 ip 169.254.10.1/30
network ike crypto-profiles ike-crypto-profiles IKE-AES256 encryption aes-256-cbc
network ike crypto-profiles ike-crypto-profiles IKE-AES256 hash sha256
network ike crypto-profiles ike-crypto-profiles IKE-AES256 dh-group group14
network ike crypto-profiles ipsec-crypto-profiles ESP-AES256 esp encryption aes-256-cbc
network ike crypto-profiles ipsec-crypto-profiles ESP-AES256 esp authentication sha256
network ike gateway GW-SiteB protocol version ikev2
network ike gateway GW-SiteB protocol ikev2 ike-crypto-profile IKE-AES256
network ike gateway GW-SiteB local-address interface vt-absent0
network ike gateway GW-SiteB local-address ip 198.51.100.1/24
network ike gateway GW-SiteB peer-address ip 203.0.113.1
network ike gateway GW-SiteB authentication pre-shared-key key MySecret123
network tunnel ipsec T-SiteB tunnel-interface tunnel.1
network tunnel ipsec T-SiteB auto-key ike-gateway GW-SiteB
network tunnel ipsec T-SiteB auto-key ipsec-crypto-profile ESP-AES256
network virtual-router default interface tunnel.1
network virtual-router default routing-table ip static-route to-SiteB destination 10.20.0.0/24 interface tunnel.1
"""
SECRET = "MySecret123"


def load_site(d: Daemon) -> None:
    for line in SITE.splitlines():
        d.set(line)


def running_bytes(d: Daemon) -> bytes:
    return (d.state_dir / "running.json").read_bytes()


def history_files(d: Daemon) -> list[str]:
    return sorted(os.listdir(d.state_dir / "history"))


def show(d: Daemon, which: str = "candidate", fmt: str = "set", path: list[str] | None = None) -> str:
    return d.request("config.show", which=which, format=fmt, path=path or [])["text"]


def test_fresh_state_dir_starts_from_factory_config(vpnshd: Daemon) -> None:
    running = show(vpnshd, "running")
    assert "ike-crypto-profiles Suite-B-GCM-128" in running
    assert "monitor-profile default" in running
    assert show(vpnshd, "candidate") == running
    assert vpnshd.request("config.status")["changed"] is False


def test_two_clients_share_one_candidate(vpnshd: Daemon) -> None:
    a, b = vpnshd.client(), vpnshd.client()
    a.request("config.set", tokens=["network", "interface", "tunnel", "units", "tunnel.7", "ip", "169.254.7.1/30"])
    seen_by_b = b.request("config.show", which="candidate", format="set", path=[])["text"]
    assert "set network interface tunnel units tunnel.7 ip 169.254.7.1/30" in seen_by_b
    assert "tunnel.7" not in b.request("config.show", which="running", format="set", path=[])["text"]
    assert b.request("config.status")["changed"] is True
    b.request("config.delete", tokens=["network", "interface", "tunnel", "units", "tunnel.7"])
    assert "tunnel.7" not in a.request("config.show", which="candidate", format="set", path=[])["text"]


def test_candidate_survives_leaving_and_restart(vpnshd: Daemon) -> None:
    vpnshd.set("network interface tunnel units tunnel.9 comment kept")
    assert vpnshd.stop() == 0
    vpnshd.start()
    assert "tunnel.9 comment kept" in show(vpnshd)
    assert "tunnel.9" not in show(vpnshd, "running")


def test_candidate_reaches_disk_soon_and_survives_kill9(vpnshd: Daemon) -> None:
    vpnshd.set("network interface tunnel units tunnel.4 comment soon")
    cand = vpnshd.state_dir / "candidate.json"
    wait_for(lambda: cand.exists() and "tunnel.4" in cand.read_text(), 10, "candidate.json to be written")
    vpnshd.kill9()
    vpnshd.start()
    assert "tunnel.4 comment soon" in show(vpnshd)


def test_set_errors_have_kinds_and_change_nothing(vpnshd: Daemon) -> None:
    before = show(vpnshd)
    with pytest.raises(ControlError) as info:
        vpnshd.set("network ike gatewy GW1 peer-address ip 10.0.0.1")
    assert info.value.kind == "syntax" and "'gatewy' is unexpected" in info.value.message
    with pytest.raises(ControlError) as info:
        vpnshd.set("network ike gateway GW1 peer-address ip 10.0.0.999")
    assert info.value.kind == "server" and "10.0.0.999" in info.value.message
    with pytest.raises(ControlError) as info:
        vpnshd.set("network ike gateway GW1 protocol ikev2 dpd interval")
    assert info.value.kind == "syntax"
    assert show(vpnshd) == before


def test_invalid_commit_leaves_running_byte_identical(vpnshd: Daemon) -> None:
    before, hist = running_bytes(vpnshd), history_files(vpnshd)
    vpnshd.set("network interface tunnel units tunnel.1 ip 169.254.10.1/30")
    vpnshd.set("network tunnel ipsec T1 tunnel-interface tunnel.1")
    vpnshd.set("network tunnel ipsec T1 auto-key ike-gateway NO-SUCH-GW")
    vpnshd.set("network tunnel ipsec T1 auto-key ipsec-crypto-profile NO-SUCH-PROFILE")
    with pytest.raises(ControlError) as info:
        vpnshd.request("config.commit", description="bad")
    err = info.value
    assert err.kind == "validation"
    lines = err.message.splitlines()
    job = vpnshd.request("jobs.show")["jobs"][-1]["id"]
    assert lines[:3] == [f"Commit job {job} is in progress. Use Ctrl+C to return to command prompt",
                         "...........98%..............100%", "Validation Error:"]
    assert lines[-1] == "Commit failed"
    assert any("NO-SUCH-GW" in line and " -> " in line for line in lines[1:])
    assert any("NO-SUCH-PROFILE" in line for line in lines[1:])
    assert running_bytes(vpnshd) == before
    assert history_files(vpnshd) == hist
    assert "T1" not in show(vpnshd, "running")
    assert "T1" in show(vpnshd)  # the candidate keeps the edits to fix them
    jobs = vpnshd.request("jobs.show")["jobs"]
    assert jobs[-1]["result"] == "FAIL" and jobs[-1]["type"] == "Commit"
    # validate says the same, without a commit.
    with pytest.raises(ControlError) as info:
        vpnshd.request("config.validate")
    assert info.value.kind == "validation" and "NO-SUCH-GW" in info.value.message


def test_commit_persists_across_restart_and_kill9(vpnshd: Daemon) -> None:
    load_site(vpnshd)
    out = vpnshd.request("config.commit", description="site B")
    assert out["lines"][0] == f"Commit job {out['job']} is in progress. Use Ctrl+C to return to command prompt"
    assert out["lines"][-1] == "Configuration committed successfully"
    assert out["job"] == 1
    assert any("vt-absent0: no such interface" in w for w in out["warnings"])
    assert out["warnings"] == out["lines"][2:-1]
    committed = running_bytes(vpnshd)
    assert "GW-SiteB" in show(vpnshd, "running")
    vpnshd.kill9()
    vpnshd.start()
    assert running_bytes(vpnshd) == committed
    assert "set network ike gateway GW-SiteB peer-address ip 203.0.113.1" in show(vpnshd, "running")
    assert vpnshd.request("config.status")["changed"] is False
    history = vpnshd.request("config.history")["history"]
    assert [h["description"] for h in history] == ["factory default", "site B"]
    # A second commit after a graceful restart: job ids keep counting.
    vpnshd.restart()
    vpnshd.set("network ike gateway GW-SiteB comment second")
    assert vpnshd.request("config.commit")["job"] == 2
    vpnshd.restart()
    jobs = vpnshd.request("jobs.show")["jobs"]
    assert [(j["id"], j["result"]) for j in jobs] == [(1, "OK"), (2, "OK")]
    assert "comment second" in show(vpnshd, "running")


def test_commit_without_changes(vpnshd: Daemon) -> None:
    out = vpnshd.request("config.commit")
    assert out["job"] is None and out["lines"] == ["There are no changes to commit."]
    forced = vpnshd.request("config.commit", force=True)
    assert forced["job"] == 1 and forced["lines"][-1] == "Configuration committed successfully"


def test_secrets_never_in_clear(vpnshd: Daemon) -> None:
    load_site(vpnshd)
    with pytest.raises(ControlError) as info:  # a failing set that carries the secret
        vpnshd.request("config.set", tokens=[*["network", "ike", "gateway", "GW2", "authentication", "pre-shared-key", "key"],
                                             "Other-Secret-9", "bogus"])
    assert "Other-Secret-9" not in info.value.message
    for fmt in ("default", "set", "xml", "json"):
        text = show(vpnshd, fmt=fmt)
        assert SECRET not in text and "-AQ==" in text, fmt
    vpnshd.request("config.commit")
    vpnshd.request("config.save", name="snap")
    assert SECRET not in vpnshd.request("config.diff", format="set")["text"]
    vpnshd.stop()
    for path in Path(vpnshd.base).rglob("*"):
        if path.is_file() and path.name != "master.key":
            data = path.read_bytes()
            assert SECRET.encode() not in data and b"Other-Secret-9" not in data, path
    assert (vpnshd.state_dir / "master.key").stat().st_mode & 0o077 == 0


def test_revert_diff_save_load(vpnshd: Daemon) -> None:
    vpnshd.set("network interface tunnel units tunnel.3 ip 169.254.3.1/30")
    diff = vpnshd.request("config.diff", format="set")["text"]
    assert "tunnel.3" in diff
    vpnshd.request("config.save", name="with-t3")
    vpnshd.request("config.revert")
    assert "tunnel.3" not in show(vpnshd)
    assert vpnshd.request("config.status")["changed"] is False
    vpnshd.request("config.load", name="with-t3")
    assert "tunnel.3" in show(vpnshd)
    with pytest.raises(ControlError, match="does not exist"):
        vpnshd.request("config.load", name="nothing-here")
    with pytest.raises(ControlError, match="invalid snapshot name"):
        vpnshd.request("config.save", name="../escape")
    text = show(vpnshd, fmt="set")
    vpnshd.request("config.revert")
    vpnshd.request("config.load", text=text, format="set")
    assert show(vpnshd, fmt="set") == text


def test_show_with_path_and_rename_move(vpnshd: Daemon) -> None:
    for r in ("A", "B", "C"):
        vpnshd.set(f"rulebase security rules {r} action allow")
    vpnshd.request("config.move", tokens=["rulebase", "security", "rules", "C"], where="top")
    vpnshd.request("config.rename", tokens=["rulebase", "security", "rules", "A"], new="A2")
    text = show(vpnshd, path=["rulebase", "security", "rules"])
    order = [line.split()[4] for line in text.splitlines() if line.startswith("set rulebase")]
    assert order == ["C", "A2", "B"]
    with pytest.raises(ControlError) as info:
        vpnshd.request("config.move", tokens=["rulebase", "security", "rules", "C"], where="sideways")
    assert info.value.kind == "syntax"


def test_engine_ops_are_forwarded(vpnshd: Daemon) -> None:
    load_site(vpnshd)
    vpnshd.request("config.commit")
    ike = vpnshd.request("engine.op", name="vpn.ike-sa.show", args={})
    assert ike["gateways_configured"] == 1 and ike["ikev2"] == []
    assert vpnshd.request("engine.op", name="vpn.ipsec-sa.show", args={})["sas"] == []
    with pytest.raises(ControlError, match="unknown operational request"):
        vpnshd.request("engine.op", name="vpn.nothing", args={})


def test_daemon_factory_gives_separate_daemons(daemon_factory: Callable[..., Daemon]) -> None:
    a, b = daemon_factory("a").start(), daemon_factory("b").start()
    a.set("network interface tunnel units tunnel.5 comment only-a")
    assert "tunnel.5" not in show(b)


def test_system_log_and_log_files(vpnshd: Daemon) -> None:
    vpnshd.set("network interface tunnel units tunnel.2 comment x")
    vpnshd.request("config.commit", description="first")
    out = vpnshd.request("log.system", filter=[])
    assert "Commit job 1 succeeded: first" in out["text"]
    assert out["text"].splitlines()[1].startswith("====")
    assert vpnshd.request("log.system", filter=["( subtype eq vpn )"])["events"] == []
    assert len(vpnshd.request("log.system", filter=["subtype", "equal", "general"])["events"]) == 1
    text = vpnshd.request("log.read", file="vpnshd.log")["text"]
    assert "vpnshd 0.1.0 started" in text
    with pytest.raises(ControlError) as info:
        vpnshd.request("log.read", file="../state/master.key")
    assert info.value.kind == "syntax"
    with pytest.raises(ControlError, match="no such log file"):
        vpnshd.request("log.read", file="nothing.log")


def test_edits_after_commit_and_revert_never_touch_running(vpnshd: Daemon) -> None:
    vpnshd.set("network interface tunnel units tunnel.6 ip 169.254.6.1/30")
    vpnshd.request("config.commit")
    committed = show(vpnshd, "running")
    vpnshd.set("network interface tunnel units tunnel.6 ip 169.254.66.1/30")  # appends to the same list
    vpnshd.delete("network interface tunnel units tunnel.6 ip 169.254.6.1/30")
    assert show(vpnshd, "running") == committed
    vpnshd.request("config.revert")
    assert show(vpnshd) == committed
    vpnshd.delete("network interface tunnel units tunnel.6")
    assert show(vpnshd, "running") == committed
    assert "tunnel.6" not in show(vpnshd)


def test_concurrent_clients_commit_one_at_a_time(vpnshd: Daemon) -> None:
    results: list[dict] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            c = vpnshd.client()
            for k in range(3):
                c.request("config.set", tokens=f"network interface tunnel units tunnel.{10 + i} comment c{k}".split())
                results.append(c.request("config.commit", description=f"w{i}-{k}"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    jobs = [r["job"] for r in results if r["job"] is not None]
    assert len(jobs) == len(set(jobs)) and jobs  # every commit got its own job id
    running = show(vpnshd, "running")
    for i in range(4):
        assert f"tunnel.{10 + i} comment c2" in running
    assert vpnshd.request("config.status")["changed"] is False


def test_history_keeps_max_rollback_version_commits(vpnshd: Daemon) -> None:
    """Issue 11 item 7: the commit history is bounded, as PAN-OS's Number of Versions for
    Config Backups (deviceconfig setting management max-rollback-version, default 100)."""
    vpnshd.set("deviceconfig setting management max-rollback-version 3")
    vpnshd.request("config.commit")
    for i in range(5):
        vpnshd.set(f"network interface tunnel units tunnel.1 comment c{i}")
        vpnshd.request("config.commit", description=f"c{i}")
    history = vpnshd.request("config.history")["history"]
    assert [h["description"] for h in history] == ["c2", "c3", "c4"]
    assert len(history_files(vpnshd)) == 3
    assert "c4" in show(vpnshd, "running")
