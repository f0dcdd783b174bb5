"""The daemon's log files rotate by size and keep a number of old ones.

``vpnshd.log`` and ``ikemgr.log`` grow to ``max_bytes``, then become ``NAME.1``
(``NAME.1`` becomes ``NAME.2`` ... up to ``NAME.KEEP``; the oldest is removed), the
naming of logrotate and of Python's ``RotatingFileHandler``.  ``vpnshd
--log-max-size SIZE --log-keep N`` set the policy (default 10 MiB, 5 kept).

:func:`tail_lines` reads the last lines of a log *across* its rotated files, so
``less mp-log F`` and ``tail follow yes mp-log F`` show a continuous log right after a
rotation, when the current file holds only a line or two.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import logging.handlers
import os
import re
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_KEEP = 5


@dataclass(frozen=True)
class Rotation:
    max_bytes: int = DEFAULT_MAX_BYTES  # rotate when a file would grow past this
    keep: int = DEFAULT_KEEP  # rotated files kept (NAME.1 .. NAME.keep)


_default = Rotation()


def default_rotation() -> Rotation:
    """The policy of this process (set once by ``vpnshd`` from its options)."""
    return _default


def set_default_rotation(rotation: Rotation) -> None:
    global _default
    _default = rotation


_SIZE = re.compile(r"(\d+)\s*([kKmMgG]?)(i?[bB])?")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """``10M``, ``512k``, ``1G``, ``4096`` -> bytes (binary units); at least 1 KiB."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 10M, 512k, 4096)")
    size = int(m.group(1)) * _UNITS[m.group(2).lower()]
    if size < 1024:
        raise ValueError(f"log size {text!r} is below 1k")
    return size


def rotated_name(path: str, n: int) -> str:
    return f"{path}.{n}"


def rotate(path: str, keep: int) -> None:
    """``path`` -> ``path.1``, ``path.1`` -> ``path.2`` ...; ``path.keep`` is dropped.
    With ``keep`` 0 the file is simply removed (a fresh one starts)."""
    if keep <= 0:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(rotated_name(path, keep))
    for n in range(keep - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            os.replace(rotated_name(path, n), rotated_name(path, n + 1))
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, rotated_name(path, 1))


def log_files(path: str, keep: int | None = None) -> list[str]:
    """The files of one log, oldest first: ``path.N`` .. ``path.1``, ``path`` (those that exist)."""
    keep = default_rotation().keep if keep is None else keep
    older = [rotated_name(path, n) for n in range(max(keep, 0), 0, -1)]
    return [p for p in [*older, path] if os.path.exists(p)]


def tail_lines(path: str, lines: int, keep: int | None = None) -> list[str]:
    """The last ``lines`` lines of a log and its rotated files, in order.

    Reads the newest file first and goes back only as far as needed.  Raises
    FileNotFoundError when neither the log nor any rotated file exists."""
    files = log_files(path, keep)
    if not files:
        raise FileNotFoundError(path)
    want = max(1, int(lines))
    out: collections.deque[str] = collections.deque(maxlen=want)
    chunks: list[list[str]] = []
    have = 0
    for name in reversed(files):
        try:
            with open(name, encoding="utf-8", errors="replace") as f:
                chunk = list(collections.deque(f, maxlen=want))
        except FileNotFoundError:  # rotated away between listing and opening
            continue
        chunks.append(chunk)
        have += len(chunk)
        if have >= want:
            break
    for chunk in reversed(chunks):
        out.extend(chunk)
    return list(out)


class _RotatingHandler(logging.handlers.RotatingFileHandler):
    """Python's size rotation, with each new file private to root and the admin group (0640)."""

    def _open(self):  # type: ignore[no-untyped-def,unused-ignore]
        stream = super()._open()
        with contextlib.suppress(OSError):
            os.fchmod(stream.fileno(), LOG_MODE)
        return stream


LOG_MODE = 0o640


def file_handler(path: str, rotation: Rotation | None = None) -> logging.Handler:
    """The handler of ``vpnshd.log``: rotates by size with the given policy."""
    rotation = rotation or default_rotation()
    return _RotatingHandler(path, maxBytes=rotation.max_bytes, backupCount=max(1, rotation.keep),
                            encoding="utf-8")
