"""SSH password logins (issue 11, item 5): per-source backoff, the same timing for unknown
and known users, every failure logged once with a rate-limited summary.

Driven through the server's own auth object (``_Auth.validate_password``) with real scrypt
hashes; only the connection (its peer address) is a stand-in.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from vpnsh.ssh import login_guard, passwords
from vpnsh.ssh.login_guard import LoginGuard
from vpnsh.ssh.server import _Auth


class Conn:
    def __init__(self, ip: str) -> None:
        self.ip = ip

    def get_extra_info(self, name: str) -> Any:
        return (self.ip, 40000) if name == "peername" else None


@pytest.fixture
def state_dir(tmp_path: Path) -> str:
    passwords.set_password(tmp_path / "ssh" / passwords.FILE_NAME, "admin", "right-password")
    return str(tmp_path)


def attempt(state_dir: str, guard: LoginGuard, ip: str, user: str, pw: str) -> tuple[bool, float]:
    auth = _Auth(state_dir)
    auth.guard = guard  # the server hands every connection its one guard
    auth.connection_made(Conn(ip))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    ok = asyncio.run(auth.validate_password(user, pw))
    return ok, time.perf_counter() - t0


def test_unknown_and_known_users_take_the_same_time(state_dir: str) -> None:
    guard = LoginGuard()
    known, unknown = [], []
    for i in range(4):  # a fresh source each time: no backoff in the figures
        known.append(attempt(state_dir, guard, f"192.0.2.{i}", "admin", "wrong")[1])
        unknown.append(attempt(state_dir, guard, f"192.0.2.{100 + i}", "nobody", "wrong")[1])
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"refusal: known user {k * 1000:.1f} ms, unknown user {u * 1000:.1f} ms")
    assert 0.6 < u / k < 1.6, (k, u)
    assert attempt(state_dir, guard, "192.0.2.200", "admin", "right-password")[0]


def test_failures_back_off_per_source(state_dir: str) -> None:
    guard = LoginGuard(base=0.3)
    for _ in range(3):
        assert not attempt(state_dir, guard, "198.51.100.7", "admin", "guess")[0]
    assert guard.delay("198.51.100.7") == pytest.approx(1.2)  # 0.3 * 2**2
    ok, took = attempt(state_dir, guard, "198.51.100.7", "admin", "guess")
    assert not ok and took >= 1.2
    # another source is not slowed down by the first one's failures
    ok, took = attempt(state_dir, guard, "198.51.100.8", "admin", "right-password")
    assert ok and took < 1.0
    # a success forgets the source's failures
    ok, _ = attempt(state_dir, guard, "198.51.100.7", "admin", "right-password")
    assert ok and guard.delay("198.51.100.7") == 0


def test_every_failure_is_logged_once_then_summed_up(
        state_dir: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    guard = LoginGuard(base=0.0, clock=lambda: now[0])
    monkeypatch.setattr(passwords, "verify_password", lambda pw, stored: False)  # fast here
    caplog.set_level(logging.INFO, logger="vpnshd.ssh")

    async def flood() -> None:
        auth = _Auth(state_dir)
        auth.guard = guard
        auth.connection_made(Conn("203.0.113.5"))  # type: ignore[arg-type]
        for i in range(40):
            await auth.validate_password("ghost" if i % 2 else "admin", "x")
        now[0] += login_guard.LOG_WINDOW  # the window ends: the summary is written
        await auth.validate_password("admin", "x")
        guard.close()

    asyncio.run(flood())
    lines = [r.getMessage() for r in caplog.records if "203.0.113.5" in r.getMessage()]
    refused = [m for m in lines if "refused" in m and "suppressed" not in m]
    assert len(refused) == login_guard.LOG_BURST + 1
    assert any("ghost from 203.0.113.5: refused (unknown user)" in m for m in refused)
    assert any(f"{40 - login_guard.LOG_BURST} similar messages suppressed" in m for m in lines)
