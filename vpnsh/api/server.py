"""``vpnshd --api-listen ADDR:PORT``: the PAN-OS XML API over HTTPS, on aiohttp.

aiohttp's server runs on the daemon's own asyncio loop (no thread, no second loop), is
maintained by the aio-libs project with regular releases, and parses both GET query strings
and ``application/x-www-form-urlencoded`` POST bodies, which is all the XML API needs.  The
handler reaches the daemon through the control dispatcher, as the shell does.

Only ``/api/`` (and ``/api``) answer; any other path is 404.  Request bodies are limited to
16 MiB (an exported-and-reloaded config fits; larger is refused with 413).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from vpnsh.api.control import ControlPort, DispatcherLike
from vpnsh.api.handlers import Api
from vpnsh.api.keys import KeyStore
from vpnsh.api.tls import ensure_certificate, server_context

log = logging.getLogger("vpnshd.api")

MAX_BODY = 16 * 1024 * 1024


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--api-listen wants ADDR:PORT, not {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class ApiServer:
    def __init__(self, listen: str, state_dir: str, dispatcher: DispatcherLike, *, hostname: str) -> None:
        self.host, self.port = parse_listen(listen)
        self.state_dir = state_dir
        self.api = Api(ControlPort(dispatcher), KeyStore(state_dir), state_dir=state_dir, hostname=hostname)
        self.hostname = hostname
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        for path in ("/api/", "/api"):
            app.router.add_route("GET", path, self._handle)
            app.router.add_route("POST", path, self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        status, content_type, body = await self.api.handle(params, request.headers.get("X-PAN-KEY"))
        return web.Response(status=status, text=body, content_type=content_type.split(";")[0],
                            charset="utf-8")

    async def start(self) -> None:
        cert, key = ensure_certificate(Path(self.state_dir) / "api", self.hostname, self.host)
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=server_context(cert, key))
        await site.start()
        log.info("XML API listening on https://%s:%d/api/", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
