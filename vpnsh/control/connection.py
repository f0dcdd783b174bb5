"""Who is on the other end of a control connection: one record per connection.

The control server makes a :class:`Connection` for each client and sets :data:`CURRENT` in that
connection's task, so an op handler knows which admin (and which session) asks.  A client
names its admin with the ``session.hello`` op (the shell does it as it starts, the SSH server
with the SSH login name); a client that never says is ``admin``.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from dataclasses import dataclass, field

DEFAULT_ADMIN = "admin"
_ids = itertools.count(1)


@dataclass
class Connection:
    id: int = field(default_factory=lambda: next(_ids))
    admin: str = DEFAULT_ADMIN
    client: str = "CLI"  # CLI (local shell or script) | SSH
    peer: str = "local"
    started: float = field(default_factory=time.time)
    last: float = field(default_factory=time.time)
    said_hello: bool = False


CURRENT: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
    "vpnsh_connection", default=None)
OPEN: dict[int, Connection] = {}  # the connections being served now


def current() -> Connection:
    """The connection of the request being handled (a fresh one outside any)."""
    conn = CURRENT.get()
    return conn if conn is not None else Connection(id=0)


def admin_name(default: str = DEFAULT_ADMIN) -> str:
    """Who the request being handled acts for: the name a superuser's session named
    (``session.hello``), else the admin the roles gave the request, else ``admin``."""
    from vpnsh.control import roles

    conn = CURRENT.get()
    if conn is not None and conn.said_hello:
        return conn.admin
    return roles.current_name() or (conn.admin if conn is not None else default)
