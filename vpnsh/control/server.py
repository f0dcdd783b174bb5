"""The daemon side of the control socket: an asyncio Unix server and a dispatcher.

Handlers are registered by op name and called with the request's args as
keyword arguments.  A handler returns a JSON-compatible result (or an
awaitable of one) and raises :class:`ControlError` to fail with a kind; any
other exception becomes a ``server`` error and is logged with its traceback.

Each connection is admitted by its peer's credentials (``SO_PEERCRED``) and
served with that admin's role (:mod:`vpnsh.control.roles`): a superreader's
request that would change something is refused with kind ``denied``.

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

from vpnsh.control import connection, protocol, roles
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
        self._handlers: dict[str, Handler] = {"admin.whoami": _whoami, "admin.login": _login}
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
        admin = roles.current.get()
        if not roles.may_run(admin, req.op, req.args):
            assert admin is not None
            log.warning("%s: refused %s", admin.name, self.redactor(req.op, req.args))
            return protocol.error(req.id, roles.refusal(admin, req.op), roles.DENIED)
        who = f"{admin.name}: " if admin is not None else ""
        try:
            result = handler(**req.args)
            if inspect.isawaitable(result):
                result = await result
        except ControlError as exc:
            log.info("%s%s failed (%s)", who, self.redactor(req.op, req.args), exc.kind)
            return protocol.error(req.id, exc.message, exc.kind)
        except TypeError as exc:
            if _is_signature_error(handler, req.args):
                return protocol.error(req.id, f"bad arguments for {req.op}: {exc}", SERVER)
            log.exception("%s raised", self.redactor(req.op, req.args))
            return protocol.error(req.id, f"internal error in {req.op}: {exc}", SERVER)
        except Exception as exc:  # noqa: BLE001 - the daemon must keep serving
            log.exception("%s raised", self.redactor(req.op, req.args))
            return protocol.error(req.id, f"internal error in {req.op}: {exc}", SERVER)
        if admin is not None and admin.role == roles.SUPERUSER and not roles.may_run(
                roles.Admin("", roles.SUPERREADER), req.op, req.args):
            what = self.redactor(req.op, req.args)
            if req.op == "engine.op":
                what += f" {req.args.get('name')}"
            log.info("%s%s", who, what)  # who changed what
        return protocol.ok(req.id, result)


def _whoami() -> dict[str, Any]:
    """``admin.whoami``: this connection's admin (the shell shows and checks its role)."""
    admin = roles.current.get()
    return admin.as_data() if admin is not None else {"user": "", "role": roles.SUPERUSER}


def _login(user: str) -> dict[str, Any]:
    """``admin.login``: the daemon's SSH server serves this connection as SSH user ``user``."""
    admin = roles.current.get()
    if admin is None:
        raise ControlError("admin.login needs a socket connection", roles.DENIED)
    try:
        new = roles.login_as(admin, str(user))
    except PermissionError as exc:
        raise ControlError(str(exc), roles.DENIED) from None
    roles.current.set(new)
    conn = connection.CURRENT.get()
    if conn is not None:
        conn.admin, conn.client = new.name, "SSH"
    return new.as_data()


def _is_signature_error(handler: Handler, args: dict[str, Any]) -> bool:
    try:
        inspect.signature(handler).bind(**args)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


class ControlServer:
    """Serves a :class:`Dispatcher` on a Unix socket (mode: :func:`roles.socket_mode`)."""

    def __init__(self, path: str, dispatcher: Dispatcher, max_frame: int = protocol.MAX_FRAME,
                 idle_timeout: float = protocol.IDLE_TIMEOUT,
                 frame_timeout: float = protocol.FRAME_TIMEOUT) -> None:
        self.path = path
        self.dispatcher = dispatcher
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout  # no request for so long: the connection is closed
        self.frame_timeout = frame_timeout  # a frame's body must follow its header within
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
                self._accept, path=self.path, limit=1 << 20
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, roles.socket_mode())
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

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Start serving a new connection, tracked from the start so that `stop` ends it.

        A connection accepted just before `stop` must be cancelled too: tracked only once its
        coroutine ran, it was left unstarted ("coroutine '_serve' was never awaited").
        """
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = connection.Connection()
        connection.CURRENT.set(conn)  # this connection's task: handlers see who asks
        connection.OPEN[conn.id] = conn
        try:
            if not await self._admit(writer):
                return
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            connection.OPEN.pop(conn.id, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _admit(self, writer: asyncio.StreamWriter) -> bool:
        """Who is connecting (SO_PEERCRED): set this connection's admin, or refuse it."""
        try:
            pid, uid = roles.peer_credentials(writer.get_extra_info("socket"))
        except (OSError, AttributeError) as exc:
            log.warning("control connection without peer credentials (%s): refused", exc)
            return False
        admin = roles.admin_for_peer(pid, uid)
        if admin is None:
            name = roles.user_name(uid)
            groups = f"{roles.group_of(roles.SUPERUSER)} or {roles.group_of(roles.SUPERREADER)}"
            log.warning("control connection from %s (uid %d, pid %d) refused: not in %s",
                        name, uid, pid, groups)
            writer.write(protocol.encode(protocol.error(
                None, f"{name} is not a vpnsh administrator: add the account to group {groups}",
                protocol.CONNECT)))
            await writer.drain()
            return False
        roles.current.set(admin)
        conn = connection.CURRENT.get()
        if conn is not None:  # who this connection acts for: locks, changes, show admins
            conn.admin = admin.name or conn.admin
        return True

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                header = await asyncio.wait_for(reader.readexactly(protocol.HEADER.size),
                                                self.idle_timeout)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    log.warning("connection closed inside a frame header")
                return
            except TimeoutError:
                log.info("closing a control connection idle for %.0f s", self.idle_timeout)
                return  # the client reconnects on its next request
            try:
                length = protocol.frame_length(header, self.max_frame)
                try:
                    body = await asyncio.wait_for(reader.readexactly(length), self.frame_timeout)
                except TimeoutError:
                    raise FrameError(f"frame body not received within {self.frame_timeout:.0f} s"
                                     ) from None
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
                data = protocol.encode(response, self.max_frame, large=True)
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
