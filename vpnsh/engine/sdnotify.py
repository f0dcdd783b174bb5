"""systemd's readiness protocol (sd_notify), without libsystemd.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET``: a Unix datagram socket
(a path, or ``@name`` for the abstract namespace).  One datagram of
newline-separated ``KEY=VALUE`` lines per state: ``READY=1`` once the daemon
serves, ``RELOADING=1`` / ``READY=1`` around a reload, ``STOPPING=1`` when it
stops, ``STATUS=...`` free text for ``systemctl status``.  Without the variable
every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("vpnshd")

ENV = "NOTIFY_SOCKET"


def notify(*lines: str) -> bool:
    """Send one notification; True if it was sent (False: not under systemd, or failed)."""
    address = os.environ.get(ENV)
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.warning("%s=%r is neither a path nor @abstract: not notifying", ENV, address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify systemd on %s: %s", address.lstrip("\0"), exc)
        return False
    return True


def ready(status: str) -> bool:
    return notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")


def reloading(status: str) -> bool:
    return notify("RELOADING=1", f"STATUS={status}")


def stopping() -> bool:
    return notify("STOPPING=1", "STATUS=stopping")
