"""The API's one way into the daemon: the control ops the shell sends, through the same
dispatcher (:class:`vpnsh.control.server.Dispatcher`), in process.

Everything the API does to the config, commits, jobs and the VPN is one of these calls, with
the same arguments the shell gives (docs/control-protocol.md).  So the API edits the same
candidate with the same validation as the shell, and follows the shell when the ops change
(per-admin changes, locks): this class is the one place to adapt, e.g. to name the admin.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Protocol

from vpnsh.control.protocol import ControlError


class DispatcherLike(Protocol):
    async def dispatch(self, message: dict[str, Any]) -> dict[str, Any]: ...


class ControlPort:
    def __init__(self, dispatcher: DispatcherLike) -> None:
        self.dispatcher = dispatcher
        self._ids = itertools.count(1)

    async def request(self, op: str, user: str = "", **args: Any) -> Any:
        """One op's result; ControlError(message, kind) when it fails.

        ``user`` is the API admin the request comes from: recorded nowhere yet, as the
        shell's ops do not take an admin today.
        """
        reply = await self.dispatcher.dispatch({"v": 1, "id": f"api-{next(self._ids)}", "op": op,
                                                "args": args})
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

    async def commit(self, description: str = "", force: bool = False, user: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.request("config.commit", user, description=description,
                                                    force=force)
        return result

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
