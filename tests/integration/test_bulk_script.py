"""``vpnsh -f FILE --bulk``: set/delete runs go in one request, with a script's semantics."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.daemon import Daemon

SECRET = "Bulk-Secret-77"


def gateway_lines(n: int) -> list[str]:
    # vt-absent0 exists on no host: commit warns instead of touching the host's interfaces
    out = ["set network interface ethernet vt-absent0 layer3 ip 198.51.100.1/24"]
    for i in range(n):
        gw = f"set network ike gateway g{i}"
        out += [f"{gw} protocol version ikev2", f"{gw} local-address interface vt-absent0",
                f"{gw} local-address ip 198.51.100.1/24", f"{gw} peer-address ip 203.0.113.{i % 250 + 1}",
                f"{gw} authentication pre-shared-key key {SECRET}",
                f"{gw} local-id type fqdn", f"{gw} local-id id \"site-{i}.example\""]
    return out


def show_set(d: Daemon, which: str) -> str:
    return d.request("config.show", which=which, format="set")["text"]


def test_bulk_script_commits_what_the_line_by_line_script_does(
        daemon_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = ["configure", "# gateways", *gateway_lines(30), "",
              "delete network ike gateway g3", "set network ike gateway g4 peer-address ip 192.0.2.9",
              "commit", "exit"]
    (tmp_path / "s.txt").write_text("\n".join(script) + "\n")
    bulk, plain = daemon_factory("bulk").start(), daemon_factory("plain").start()
    r = bulk.shell("-f", str(tmp_path / "s.txt"), "--bulk")
    assert r.returncode == 0, r.stderr
    assert "Configuration committed successfully" in r.stdout
    assert plain.shell("-f", str(tmp_path / "s.txt")).returncode == 0
    running = show_set(bulk, "running")
    assert "gateway g3 " not in running and "g4 peer-address ip 192.0.2.9" in running
    assert "site-29.example" in running
    assert SECRET not in running
    # the same running config as the one request a line path, apart from the encrypted keys
    strip = [x for x in running.splitlines() if "pre-shared-key" not in x]
    assert strip == [x for x in show_set(plain, "running").splitlines() if "pre-shared-key" not in x]


def test_a_bad_line_is_named_and_nothing_of_its_run_is_applied(vpnshd: Daemon, tmp_path: Path) -> None:
    lines = gateway_lines(5)
    lines[8] = f"set network ike gateway g1 peer-adress ip 1.2.3.4 key {SECRET}"
    script = ["configure", *lines, "commit"]
    (tmp_path / "s.txt").write_text("\n".join(script) + "\n")
    before = show_set(vpnshd, "candidate")
    r = vpnshd.shell("-f", str(tmp_path / "s.txt"), "--bulk")
    assert r.returncode == 1
    assert "line 10:" in r.stderr and "nothing applied" in r.stderr  # line 10 of the file
    assert "peer-adress" in r.stderr
    assert SECRET not in r.stderr + r.stdout
    assert show_set(vpnshd, "candidate") == before  # the whole run left out, commit not run
    assert "gateway g0" not in show_set(vpnshd, "running")


def test_set_outside_configure_mode_still_goes_through_the_session(vpnshd: Daemon, tmp_path: Path
                                                                   ) -> None:
    (tmp_path / "s.txt").write_text("set network ike gateway g0 protocol version ikev2\n")
    r = vpnshd.shell("-f", str(tmp_path / "s.txt"), "--bulk")
    assert r.returncode == 1 and "line 1:" in r.stderr
    assert "gateway g0" not in show_set(vpnshd, "candidate")
