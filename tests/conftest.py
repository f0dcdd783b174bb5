"""Shared fixtures: a real vpnshd on a temp state dir and socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import Daemon


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Make (not start) daemons under this test's temp dir; all are stopped at the end."""
    made: list[Daemon] = []

    def make(name: str = "d", **kw: object) -> Daemon:
        d = Daemon(tmp_path / name, **kw)  # type: ignore[arg-type]
        made.append(d)
        return d

    yield make
    for d in made:
        if d.proc is not None:
            d.stop()


@pytest.fixture
def vpnshd(daemon_factory: Callable[..., Daemon]) -> Daemon:
    """A started vpnshd (data plane none) with a fresh state dir."""
    return daemon_factory().start()
