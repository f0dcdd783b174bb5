"""scripts/ci_deps.py: every Debian package the tests use is in .ci/run's install list."""

from __future__ import annotations

import ast
import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ci_deps", ROOT / "scripts" / "ci_deps.py")
assert _spec is not None and _spec.loader is not None
ci_deps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ci_deps)

needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg") is None or shutil.which("apt-cache") is None
    or not Path("/usr/lib/ipsec/plugins/libstrongswan-openssl.so").exists(),
    reason="needs a Debian system with .ci/run's packages installed (dpkg, apt-cache, strongSwan)")


def test_install_list_read_across_continuation_lines() -> None:
    text = ("apt-get update -q\n"
            "apt-get install -y -q --no-install-recommends \\\n"
            "    git python3 \\\n    nftables \\\n    < /dev/null\n"
            "echo apt-get is not install here\n")
    assert ci_deps.ci_packages(text) == ["git", "python3", "nftables"]


def test_programs_found_where_processes_start() -> None:
    tree = ast.parse('ns.run("ping", "-c1")\n'
                     'subprocess.run(["nft", "-j", "list"])\n'
                     'tool_missing("tshark", "iperf3")\n'
                     'print("less is not started")\n'
                     'CHARON = "/usr/lib/ipsec/charon"\n')
    assert set(ci_deps.program_words(tree)) == {
        "ping", "nft", "tshark", "iperf3", "/usr/lib/ipsec/charon"}


def test_plugin_lists_found() -> None:
    tree = ast.parse('PLUGINS = "random openssl"\nStrongSwan(ns, d, plugins="gcm x509")\n')
    assert sorted(ci_deps.plugin_lists(tree)) == ["gcm x509", "random openssl"]


@needs_dpkg
def test_the_check_passes_on_ci_run_and_fails_without_a_package(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert ci_deps.main([str(ROOT / ".ci" / "run")]) == 0
    # The package that once was missing: taken out, the check names it and what it ships.
    assert "libstrongswan-standard-plugins" in ci_run
    minus = tmp_path / "run"
    minus.write_text(ci_run.replace("libstrongswan-standard-plugins", ""))
    capsys.readouterr()
    assert ci_deps.main([str(minus)]) == 1
    out = capsys.readouterr().out
    assert ("strongSwan plugin openssl comes from Debian package libstrongswan-standard-plugins, "
            "which .ci/run does not install") in out
