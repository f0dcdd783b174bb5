"""The shell's parser cache: a private per-user dir, never a shared one, and a cached parser
that parses as the built one does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vpnsh.shell import parser

PARSE = ("from vpnsh.shell import parser; c = parser.parse('show vpn ike-sa gateway GW1', "
         "'operational'); print(c.name, sorted(c.args.items()))")


def test_cache_lives_in_a_private_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = parser.parser_cache_path()
    assert path is not None and Path(path).parent == tmp_path / "vpnsh"
    assert (tmp_path / "vpnsh").stat().st_mode & 0o777 == 0o700
    os.chmod(tmp_path / "vpnsh", 0o777)  # anyone could plant a pickle there: not used
    assert parser.parser_cache_path() is None
    monkeypatch.setenv("VPNSH_PARSER_CACHE", "0")
    os.chmod(tmp_path / "vpnsh", 0o700)
    assert parser.parser_cache_path() is None


def test_a_cached_parser_parses_as_a_built_one(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("VPNSH_PARSER_CACHE", None)
    built = subprocess.run([sys.executable, "-c", PARSE], env=env, capture_output=True, text=True,
                           check=True).stdout
    files = list((tmp_path / "vpnsh").glob("lark-*.pickle"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    cached = subprocess.run([sys.executable, "-c", PARSE], env=env, capture_output=True, text=True,
                            check=True).stdout
    assert cached == built and "show vpn ike-sa" in built
    assert files[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
    files[0].write_bytes(b"not a pickle\n")  # a broken file is rebuilt, never fatal
    again = subprocess.run([sys.executable, "-c", PARSE], env=env, capture_output=True, text=True,
                           check=True).stdout
    assert again == built
