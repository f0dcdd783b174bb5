"""The strongSwan test helper names a missing plugin and its package before charon starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import strongswan
from tests.helpers.strongswan import PLUGINS, StrongSwan, ViciError, missing_plugins


def test_every_loaded_plugin_has_a_package() -> None:
    assert set(PLUGINS.split()) <= set(strongswan.PLUGIN_PACKAGES)


def test_missing_plugin_named_with_its_package(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strongswan, "PLUGIN_DIR", tmp_path)
    (tmp_path / "libstrongswan-aes.so").touch()
    line = missing_plugins("aes openssl gcm kernel-libipsec")
    assert line == (f"strongSwan plugin(s) openssl, gcm, kernel-libipsec missing from {tmp_path}: "
                    "apt-get install libcharon-extra-plugins libstrongswan-standard-plugins")
    assert missing_plugins("aes") is None


def test_start_fails_at_once_without_starting_charon(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strongswan, "PLUGIN_DIR", tmp_path / "empty")

    class NoNamespace:  # start() must fail before it touches the namespace
        def spawn(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("charon was started")

    sw = StrongSwan(NoNamespace(), tmp_path, plugins="openssl")  # type: ignore[arg-type]
    with pytest.raises(ViciError, match="apt-get install libstrongswan-standard-plugins"):
        sw.start()
    assert not (tmp_path / "strongswan.conf").exists()
