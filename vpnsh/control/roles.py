"""Admin roles: who is on the other end of the control socket, and what they may do.

PAN-OS's two device roles, mapped to Unix accounts:

    superuser    root, the daemon's own user, and members of group ``vpnsh-admin``
                 (another with ``vpnshd --admin-group``)
    superreader  members of group ``vpnsh-reader`` (``--reader-group``): every ``show``, nothing that changes
                 config or state (no configure/set/commit/clear/test/request/debug)

anyone else is refused at connect.  The daemon reads the peer's uid from the socket
(``SO_PEERCRED``, which the peer cannot forge) and the groups from the system's
account database (``getgrouplist``), at each connect: adding a user to a group takes
effect at their next connect, no restart.  The admin's name everywhere (jobs, logs) is
``getpwuid(uid)``.

SSH sessions are served by the daemon itself: its SSH server connects as root and
then *logs in as* the SSH user (op ``admin.login``, accepted only from the daemon's own
process, and only ever to a lesser or equal role), so SSH users get the same roles by
the same groups.

Which ops a superreader may run: :data:`READ_OPS`, and ``engine.op`` requests whose
name ends in ``.show`` or ``.detail`` (the convention for read-only engine requests);
everything else is refused (so a new op is refused until it is declared read-only).
"""

from __future__ import annotations

import contextvars
import grp
import logging
import os
import pwd
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("vpnshd.control")

SUPERUSER = "superuser"
SUPERREADER = "superreader"
ADMIN_GROUP = "vpnsh-admin"  # superuser (vpnshd --admin-group)
READER_GROUP = "vpnsh-reader"  # superreader (vpnshd --reader-group)
RANK = {SUPERREADER: 1, SUPERUSER: 2}

_groups = {SUPERUSER: ADMIN_GROUP, SUPERREADER: READER_GROUP}


def set_groups(admin_group: str, reader_group: str) -> None:
    """The Unix groups of the two roles in this daemon (set once from its options)."""
    _groups[SUPERUSER], _groups[SUPERREADER] = admin_group, reader_group


def group_of(role: str) -> str:
    return _groups[role]


def _role_groups() -> dict[str, str]:
    return {group: role for role, group in _groups.items()}

DENIED = "denied"  # the error kind of a refused request

# Ops that change nothing: a superreader may run them.
READ_OPS = frozenset({
    "admin.whoami",
    "config.show", "config.diff", "config.status", "config.history",
    "system.info", "jobs.show", "log.system", "log.read", "debug.show",
    # issue 13: admins, locks, per-admin changes, config versions (reading only)
    "session.hello", "admins.show", "lock.show", "config.changes", "config.saved",
    "config.version",
})
READ_ENGINE_SUFFIXES = (".show", ".detail")


@dataclass(frozen=True)
class Admin:
    name: str
    role: str
    uid: int = -1
    via: str = "socket"  # socket | ssh
    pid: int = 0  # the peer process (SO_PEERCRED)

    def as_data(self) -> dict[str, Any]:
        return {"user": self.name, "role": self.role, "uid": self.uid, "via": self.via}


# The admin of the connection being served (each connection is its own asyncio task,
# so each sees its own value).  Outside a connection (startup, timers) it is None.
current: contextvars.ContextVar[Admin | None] = contextvars.ContextVar("vpnsh_admin", default=None)


def current_name(default: str = "") -> str:
    admin = current.get()
    return admin.name if admin is not None else default


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def _groups_of(name: str, gid: int) -> set[str]:
    names = set()
    try:
        gids = os.getgrouplist(name, gid)
    except OSError:
        gids = [gid]
    for g in gids:
        try:
            names.add(grp.getgrgid(g).gr_name)
        except KeyError:
            continue
    return names


def role_of_user(name: str) -> str | None:
    """The role of a Unix account by its groups; None if it has none (or does not exist)."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    if pw.pw_uid == 0 or pw.pw_uid == os.geteuid():
        return SUPERUSER
    groups = _groups_of(pw.pw_name, pw.pw_gid)
    role_groups = _role_groups()
    roles = [role_groups[g] for g in groups if g in role_groups]
    return max(roles, key=RANK.__getitem__) if roles else None


def admin_for_peer(pid: int, uid: int) -> Admin | None:
    """The admin behind a peer, or None: not allowed on this daemon."""
    name = user_name(uid)
    if uid == 0 or uid == os.geteuid():
        return Admin(name, SUPERUSER, uid, pid=pid)
    role = role_of_user(name)
    return Admin(name, role, uid, pid=pid) if role else None


def peer_credentials(sock: Any) -> tuple[int, int]:
    """(pid, uid) of the peer of a connected Unix socket, from SO_PEERCRED."""
    import socket
    import struct

    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def may_run(admin: Admin | None, op: str, args: dict[str, Any]) -> bool:
    if admin is None or admin.role == SUPERUSER:
        return True  # None: not served over the socket (in-process callers)
    if op in READ_OPS:
        return True
    if op == "engine.op":
        name = args.get("name")
        return isinstance(name, str) and name.endswith(READ_ENGINE_SUFFIXES)
    return False


def refusal(admin: Admin, op: str) -> str:
    return f"{admin.role} {admin.name} is not allowed to run {op}"


def socket_mode() -> int:
    """The control socket's mode: 0666 (anyone may connect; the daemon admits by peer
    credentials, as the D-Bus system bus does) once one of the role groups exists, so
    members of both groups can reach it; else 0600 (root only)."""
    for group in _groups.values():
        try:
            grp.getgrnam(group)
            return 0o666
        except KeyError:
            continue
    return 0o600


def login_as(connection: Admin, name: str) -> Admin:
    """``admin.login``: the daemon's SSH server hands its connection to an SSH user.

    Only the daemon's own process may do it, only from superuser, and the
    result never outranks the connection.  A name with no Unix account gets superuser
    (a key in STATE_DIR/ssh/authorized_keys is root's grant); an account in neither
    group is refused, as it would be on the socket."""
    if connection.pid != os.getpid() or connection.role != SUPERUSER:
        raise PermissionError("admin.login is for the daemon's own SSH server")
    if not name or len(name) > 64:
        raise PermissionError(f"bad user name {name!r}")
    try:
        pwd.getpwnam(name)
        role = role_of_user(name)
    except KeyError:
        role = SUPERUSER
    if role is None:
        raise PermissionError(f"{name} is in neither {group_of(SUPERUSER)} nor {group_of(SUPERREADER)}")
    return Admin(name, role, connection.uid, via="ssh", pid=connection.pid)
