"""The daemon side of the control socket: an asyncio Unix server and a dispatcher.

Handlers are registered by op name and called with the request's args as
keyword arguments.  A handler returns a JSON-compatible result (or an
awaitable of one) and raises :class:`ControlError` to fail with a kind; any
other exception becomes a ``server`` error and is logged with its traceback.

Requests on one connection are answered in order; connections are served
concurrently.  A frame that cannot be decoded gets an error response (id
``null``) and closes that connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from vpnsh.control import connection, protocol
from vpnsh.control.protocol import SERVER, ControlError, FrameError

log = logging.getLogger("vpnshd.control")

Handler = Callable[..., Any | Awaitable[Any]]
# Turns (op, args) into what may be logged: no secrets in clear.
Redactor = Callable[[str, dict[str, Any]], str]


def _default_redactor(op: str, args: dict[str, Any]) -> str:
    return op


class Dispatcher:
    """Op name -> handler."""

    def __init__(self, redactor: Redactor = _default_redactor) -> None:
        self._handlers: dict[str, Handler] = {}
        self.redactor = redactor

    def register(self, op: str, handler: Handler) -> None:
        if op in self._handlers:
            raise ValueError(f"op {op!r} registered twice")
        self._handlers[op] = handler

    def ops(self) -> list[str]:
        return sorted(self._handlers)

    async def dispatch(self, message: dict[str, Any]) -> dict[str, Any]:
        """One decoded request object -> its response object.  Never raises."""
        rid = message.get("id")
        try:
            req = protocol.parse_request(message)
        except ControlError as exc:
            return protocol.error(rid if isinstance(rid, int | str) else None, exc.message, exc.kind)
        handler = self._handlers.get(req.op)
        if handler is None:
            return protocol.error(req.id, f"unknown op {req.op!r}", SERVER)
        try:
            result = handler(**req.args)
            if inspect.isawaitable(result):
                result = await result
        except ControlError as exc:
            log.info("%s failed (%s)", self.redactor(req.op, req.args), exc.kind)
            return protocol.error(req.id, exc.message, exc.kind)
        except TypeError as exc:
            if _is_signature_error(handler, req.args):
                return protocol.error(req.id, f"bad arguments for {req.op}: {exc}", SERVER)
            log.exception("%s raised", self.redactor(req.op, req.args))
            return protocol.error(req.id, f"internal error in {req.op}: {exc}", SERVER)
        except Exception as exc:  # noqa: BLE001 - the daemon must keep serving
            log.exception("%s raised", self.redactor(req.op, req.args))
            return protocol.error(req.id, f"internal error in {req.op}: {exc}", SERVER)
        return protocol.ok(req.id, result)


def _is_signature_error(handler: Handler, args: dict[str, Any]) -> bool:
    try:
        inspect.signature(handler).bind(**args)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


class ControlServer:
    """Serves a :class:`Dispatcher` on a Unix socket with mode 0600."""

    def __init__(self, path: str, dispatcher: Dispatcher, max_frame: int = protocol.MAX_FRAME) -> None:
        self.path = path
        self.dispatcher = dispatcher
        self.max_frame = max_frame
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind the socket (replacing a stale one) and start serving.

        Raises :class:`RuntimeError` if another daemon already answers on the path.
        """
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if socket_answers(self.path):
            raise RuntimeError(f"another vpnshd is already serving on {self.path}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=self.path, limit=1 << 20
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        log.info("control socket listening on %s", self.path)

    async def stop(self) -> None:
        """Stop accepting, end open connections, remove the socket file."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = connection.Connection()
        connection.CURRENT.set(conn)  # this connection's task: handlers see who asks
        connection.OPEN[conn.id] = conn
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            connection.OPEN.pop(conn.id, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                header = await reader.readexactly(protocol.HEADER.size)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    log.warning("connection closed inside a frame header")
                return
            try:
                length = protocol.frame_length(header, self.max_frame)
                body = await reader.readexactly(length)
                message = protocol.decode_body(body)
            except FrameError as exc:
                log.warning("bad frame from a client, closing its connection: %s", exc.message)
                writer.write(protocol.encode(protocol.error(None, f"bad frame: {exc.message}")))
                await writer.drain()
                return
            conn = connection.CURRENT.get()
            if conn is not None:
                conn.last = time.time()
            response = await self.dispatcher.dispatch(message)
            try:
                data = protocol.encode(response, self.max_frame)
            except FrameError as exc:
                data = protocol.encode(protocol.error(response.get("id"), exc.message))
            except (TypeError, ValueError) as exc:
                log.error("result of %s is not JSON: %s", message.get("op"), exc)
                data = protocol.encode(protocol.error(response.get("id"), "internal error: result is not JSON"))
            writer.write(data)
            await writer.drain()


def socket_answers(path: str) -> bool:
    """True if something accepts connections on the Unix socket at ``path``."""
    if not os.path.exists(path):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True
