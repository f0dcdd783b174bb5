"""The API's one way into the daemon: the control ops the shell sends, through the same
dispatcher (:class:`vpnsh.control.server.Dispatcher`), in process.

Everything the API does to the config, commits, jobs and the VPN is one of these calls, with
the same arguments the shell gives (docs/control-protocol.md).  So the API edits the same
candidate with the same validation as the shell, and follows the shell when the ops change
(per-admin changes, locks): this class is the one place to adapt.

Each op runs as the API user's own control connection (:mod:`vpnsh.control.connection`, one
per API admin, client ``XML API``), as a shell's ``session.hello`` names its admin: so the
daemon credits the user's edits to that admin in the change record (``show config list
changes``), refuses them under another admin's config or commit lock, and ``commit partial``
picks them out by that name.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Protocol

from vpnsh.control import connection
from vpnsh.control.protocol import ControlError

API_CLIENT = "XML API"  # the client column of this admin's changes and jobs


class DispatcherLike(Protocol):
    async def dispatch(self, message: dict[str, Any]) -> dict[str, Any]: ...


class ControlPort:
    def __init__(self, dispatcher: DispatcherLike) -> None:
        self.dispatcher = dispatcher
        self._ids = itertools.count(1)
        self._sessions: dict[str, connection.Connection] = {}  # API admin -> their connection

    def _session(self, user: str) -> connection.Connection | None:
        """The API admin's control connection (made on their first request), None for the
        daemon's own requests (no user)."""
        if not user:
            return None
        conn = self._sessions.get(user)
        if conn is None:
            conn = connection.Connection(admin=user, client=API_CLIENT, peer="xml-api",
                                         said_hello=True)
            self._sessions[user] = conn
        return conn

    async def request(self, op: str, user: str = "", **args: Any) -> Any:
        """One op's result; ControlError(message, kind) when it fails.

        ``user`` is the API admin the request comes from: the op runs as that admin's
        connection, so changes, locks and jobs are theirs.
        """
        conn = self._session(user)
        token = connection.CURRENT.set(conn) if conn is not None else None
        try:
            reply = await self.dispatcher.dispatch({"v": 1, "id": f"api-{next(self._ids)}",
                                                    "op": op, "args": args})
        finally:
            if token is not None:
                connection.CURRENT.reset(token)
        if not reply.get("ok"):
            raise ControlError(str(reply.get("error", "")), str(reply.get("kind", "server")))
        return reply.get("result")

    # -- the ops the API uses (names as in vpnsh/shell/session.py)

    async def tree(self, which: str, user: str = "") -> dict[str, Any]:
        result = await self.request("config.show", user, which=which, path=[], format="json")
        data = json.loads(result.get("text") or "{}")
        return data if isinstance(data, dict) else {}

    async def value(self, which: str, tokens: list[str], user: str = "") -> Any:
        """The stored value at ``tokens`` (None if absent): only that subtree is rendered."""
        if not tokens:
            return await self.tree(which, user)
        result = await self.request("config.show", user, which=which, path=tokens, format="json")
        text = result.get("text") or ""
        return json.loads(text)[tokens[-1]] if text.strip() else None

    async def set(self, tokens: list[str], user: str = "") -> None:
        await self.request("config.set", user, tokens=tokens)

    async def delete(self, tokens: list[str], user: str = "") -> None:
        await self.request("config.delete", user, tokens=tokens)

    async def rename(self, tokens: list[str], new: str, user: str = "") -> None:
        await self.request("config.rename", user, tokens=tokens, new=new)

    async def move(self, tokens: list[str], where: str, ref: str | None, user: str = "") -> None:
        await self.request("config.move", user, tokens=tokens, where=where, ref=ref)

    async def commit(self, description: str = "", force: bool = False, user: str = "",
                     admins: list[str] | None = None) -> dict[str, Any]:
        """A full commit, or with ``admins`` ``commit partial admin [ ... ]``: running plus only
        those admins' changes (the others' stay in the candidate)."""
        args: dict[str, Any] = {"description": description, "force": force}
        if admins is not None:
            args["admins"] = admins
        result: dict[str, Any] = await self.request("config.commit", user, **args)
        return result

    async def lock_holder(self, kind: str, user: str = "") -> str | None:
        """Another admin holding the ``config`` or ``commit`` lock (None if none, or only
        ``user``): the daemon refuses ``user``'s edit (config) or commit (either) then."""
        result = await self.request("lock.show", user, kind=kind)
        others = [str(lock.get("admin")) for lock in result.get("locks", [])
                  if lock.get("admin") != user]
        return others[0] if others else None

    async def validate(self, user: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.request("config.validate", user)
        return result

    async def jobs(self, job_id: int | None = None, user: str = "") -> list[dict[str, Any]]:
        args = {} if job_id is None else {"id": job_id}
        result = await self.request("jobs.show", user, **args)
        return list(result.get("jobs", []))

    async def system_info(self, user: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.request("system.info", user)
        return result

    async def engine(self, name: str, args: dict[str, Any], user: str = "") -> Any:
        return await self.request("engine.op", user, name=name, args=args)
