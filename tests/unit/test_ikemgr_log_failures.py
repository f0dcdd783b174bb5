"""ikemgr.log that cannot be written (no descriptor left, a full disk, a path taken):
the daemon keeps serving, the lines stay in memory, writing resumes when it can."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vpnsh.engine.ikemgr_log import IkemgrLog


def test_a_failing_write_is_reported_once_and_retried(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    log = IkemgrLog(tmp_path)
    (tmp_path / "ikemgr.log").mkdir()  # opening it for append fails (IsADirectoryError)
    with caplog.at_level(logging.ERROR, logger="vpnsh.ikemgr"):
        log.write("first")
        log.write("second")
    assert [r.message for r in caplog.records].count(
        f"cannot write {tmp_path / 'ikemgr.log'}: "
        f"[Errno 21] Is a directory: '{tmp_path / 'ikemgr.log'}' (kept in memory; will retry)") == 1
    assert [line.rsplit(" ", 1)[-1] for line in log.recent] == ["first", "second"]
    (tmp_path / "ikemgr.log").rmdir()
    log.write("third")
    log.close()
    assert (tmp_path / "ikemgr.log").read_text().splitlines()[-1].endswith("third")
