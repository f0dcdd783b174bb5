"""Run a script of commands (``-f FILE``, ``-c CMD`` ..., stdin) through one session.

The lines run in order in one session, exactly as if typed.  The first
failing line stops the script with exit status 1 and an error that names the
line (``line 3: Invalid syntax.``), unless ``keep_going``; then every line
runs and the status is 1 if any failed.  Blank lines and ``#`` comments are
skipped.

A script that fails takes back the candidate changes it made (``revert config`` of this
session's changes only: other admins' changes stay), unless ``keep_candidate``
(``vpnsh --keep-candidate``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from vpnsh.shell.session import Session


def run_script(
    session: Session,
    lines: Iterable[str],
    out: TextIO,
    err: TextIO,
    *,
    keep_going: bool = False,
    keep_candidate: bool = False,
    first_line: int = 1,
) -> int:
    """Run ``lines``; return the exit status (0 all succeeded, 1 otherwise). Errors name
    lines counted from ``first_line``."""
    status = 0
    for number, raw in enumerate(lines, start=first_line):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        outcome = session.execute(line)
        if outcome.output:
            out.write(outcome.output)
            out.flush()
        if outcome.notice:
            err.write(outcome.notice)
            err.flush()
        if not outcome.ok:
            status = 1
            err.write(f"line {number}: {outcome.error}\n")
            err.flush()
            if not keep_going:
                break
        if session.finished:
            break
    if status and not keep_candidate:
        revert_script_changes(session, err)
    return status


def revert_script_changes(session: Session, err: TextIO) -> None:
    """A failed script takes back the candidate changes this session made (if it made any)."""
    if not session.edited:
        return
    try:
        result = session.client.request("config.revert", session=True)
    except Exception as exc:  # noqa: BLE001 - say it; the exit status is 1 anyway
        err.write(f"could not revert this script's changes: {exc}\n")
    else:
        count = result.get("reverted", 0) if isinstance(result, dict) else 0
        if count:
            err.write(f"Reverted {count} candidate change(s) made by this script "
                      "(--keep-candidate keeps them)\n")
    err.flush()
