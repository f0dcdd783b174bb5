"""``vpnshd --ssh-listen ADDR:PORT``: the vpnsh shell over SSH (asyncssh).

Each connection gets its own :class:`vpnsh.shell.session.Session` with its own
control-socket client: it talks to the daemon exactly as a local ``vpnsh``
does, so all sessions share the daemon's one candidate.  Commands run in a
worker thread (the client is synchronous; the daemon keeps serving meanwhile).

Login: public keys listed in ``STATE_DIR/ssh/authorized_keys`` (read at each
login), and passwords from ``STATE_DIR/ssh/passwords`` (:mod:`vpnsh.ssh.passwords`;
also offered as keyboard-interactive, which netmiko's PAN-OS driver uses).  Any
user name may log in with an authorized key; it is the name in the prompt
(``admin@HOST>``), and its admin role is that of the Unix account of that name
(:mod:`vpnsh.control.roles`; a name with no account is a superuser).  The host key is ``STATE_DIR/ssh/host_key``, made on first start.

With a PTY the session is a terminal (echo, editing, TAB, ``?``, pager); without
one, input lines run as typed with prompts and output but no echo; ``ssh host
CMD`` runs one command and exits with 0 or 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncssh

from vpnsh.control.protocol import ControlError
from vpnsh.shell.completion import help_items, question_mark_text
from vpnsh.shell.parser import CONFIGURE, OPERATIONAL, split_for_completion
from vpnsh.shell.session import Session
from vpnsh.ssh import keys, passwords
from vpnsh.ssh.login_guard import LoginGuard
from vpnsh.ssh.terminal import Terminal

log = logging.getLogger("vpnshd.ssh")

BANNER = ""
MAX_WORKERS = 64  # threads running SSH sessions' commands (a tail follow holds one while it runs)


class _Runner:
    """Runs blocking calls (the sessions' sync client) on the SSH server's own threads, so
    that long commands never take the event loop's default executor from the daemon."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="vpnsh-ssh")

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--ssh-listen wants ADDR:PORT, not {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _Auth(asyncssh.SSHServer):
    def __init__(self, state_dir: str, guard: LoginGuard | None = None) -> None:
        self.state_dir = state_dir
        self.guard = guard or LoginGuard()
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        authorized = keys.authorized_keys(self.state_dir)
        if authorized is not None and self.conn is not None:
            self.conn.set_authorized_keys(authorized)
        return True

    def public_key_auth_supported(self) -> bool:
        return keys.authorized_keys(self.state_dir) is not None

    def _password_file(self) -> Path:
        return Path(self.state_dir) / "ssh" / passwords.FILE_NAME

    def password_auth_supported(self) -> bool:
        return bool(passwords.read_passwords(self._password_file()))

    async def validate_password(self, username: str, password: str) -> bool:
        """Backoff per source address, the same work for unknown and known users, every
        failure logged (rate-limited): :mod:`vpnsh.ssh.login_guard`."""
        stored = passwords.read_passwords(self._password_file()).get(username)
        peer = self.conn.get_extra_info("peername") if self.conn is not None else None
        source = str(peer[0]) if peer else "?"
        return await self.guard.check(source, username, password, stored)


class SshServer:
    """The SSH listener of one daemon."""

    def __init__(
        self,
        listen: str,
        state_dir: str,
        make_client: Callable[[], Any],
        hostname: str | None = None,
    ) -> None:
        self.host, self.port = parse_listen(listen)
        self.state_dir = state_dir
        self.make_client = make_client
        self.hostname = hostname
        self._server: asyncssh.SSHAcceptor | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.run_blocking = _Runner()
        self._sessions: dict[int, Session] = {}  # id -> session (dataclasses do not hash)
        self.guard = LoginGuard()  # one for all connections: backoff is per source address

    async def start(self) -> None:
        # asyncssh logs every channel event at INFO: keep vpnshd.log for what matters
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        host_key = keys.host_key(self.state_dir)
        self._server = await asyncssh.create_server(
            lambda: _Auth(self.state_dir, self.guard),
            self.host,
            self.port,
            server_host_keys=[host_key],
            process_factory=self._process,
            line_editor=False,
            encoding="utf-8",
            keepalive_interval=60,
        )
        sockets = self._server.sockets
        if sockets and self.port == 0:
            self.port = sockets[0].getsockname()[1]
        log.info("ssh: listening on %s:%d", self.host, self.port)
        if keys.authorized_keys(self.state_dir) is None and not passwords.read_passwords(
                Path(self.state_dir) / "ssh" / passwords.FILE_NAME):
            log.warning("ssh: nobody can log in yet: add a key to %s or a password with "
                        "python -m vpnsh.ssh.passwords %s USER",
                        Path(self.state_dir) / "ssh" / keys.AUTHORIZED_KEYS, self.state_dir)

    async def stop(self) -> None:
        for session in list(self._sessions.values()):
            session.cancel.set()  # a tail follow ends; its thread is free for the exit
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self.run_blocking.close()
        self.guard.close()

    def _process(self, process: asyncssh.SSHServerProcess[str]) -> None:
        task = asyncio.ensure_future(self._run(process))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, process: asyncssh.SSHServerProcess[str]) -> None:
        user = process.get_extra_info("username") or "admin"
        peer = process.get_extra_info("peername")
        log.info("ssh: %s logged in from %s", user, peer[0] if peer else "?")
        status = 0
        client = None
        try:
            client = await self.run_blocking(self.make_client)
            try:  # the daemon serves this session with the SSH user's role (control/roles.py)
                await self.run_blocking(functools.partial(client.request, "admin.login", user=user))
            except ControlError as exc:
                log.warning("ssh: %s refused: %s", user, exc)
                process.stdout.write(f"{exc}\n")
                status = 1
                return
            session = Session(client, user=user, hostname=self.hostname)
            with contextlib.suppress(Exception):  # who this is: for locks and show admins
                await self.run_blocking(session.hello, "SSH", peer[0] if peer else "?")
            self._sessions[id(session)] = session
            shell = SshShell(process, session, self.run_blocking)
            try:
                status = await shell.run()
            finally:
                session.cancel.set()
                self._sessions.pop(id(session), None)
        except (asyncssh.Error, BrokenPipeError, ConnectionError):
            status = 1
        except asyncio.CancelledError:
            status = 1
            raise
        except Exception:  # noqa: BLE001 - one session's failure must not hurt the daemon
            log.exception("ssh session of %s failed", user)
            status = 1
        finally:
            if client is not None:
                close = getattr(client, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()
            with contextlib.suppress(Exception):
                process.exit(status)
            log.info("ssh: %s logged out", user)


class SshShell:
    """The shell loop of one SSH channel around a :class:`Session`."""

    def __init__(self, process: asyncssh.SSHServerProcess[str], session: Session,
                 run_blocking: Callable[..., Any] | None = None) -> None:
        self.run_blocking = run_blocking or asyncio.to_thread
        self.process = process
        self.session = session
        self.pty = process.get_terminal_type() is not None
        self.term = Terminal(self._write, pty=self.pty, complete=self._complete, help_text=self._help)
        self.term.on_interrupt = session.cancel.set
        size = process.get_terminal_size()
        if size and size[0]:
            self.term.width, self.term.height = size[0], size[1] or 24
        self._tree: dict[str, Any] | None = None
        self.loop = asyncio.get_running_loop()

    def _write(self, text: str) -> None:
        self.process.stdout.write(text)

    def _write_threadsafe(self, text: str) -> None:
        self.loop.call_soon_threadsafe(self.term.write, text)

    async def _reader(self) -> None:
        try:
            while True:
                try:
                    data = await self.process.stdin.read(4096)
                except asyncssh.TerminalSizeChanged as exc:
                    self.term.width, self.term.height = exc.width, exc.height or 24
                    continue
                except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                    self.term.feed("\x03")
                    continue
                if not data:
                    break
                self.term.feed(data)
        except (asyncssh.Error, ConnectionError):
            pass
        finally:
            self.term.feed(None)

    # ------------------------------------------------------------------ TAB and ?

    def _tree_source(self) -> dict[str, Any]:
        if self._tree is None:
            try:
                self._tree = self.session.candidate_tree()
            except Exception:  # noqa: BLE001 - completion without names
                self._tree = {}
        return self._tree

    async def _help(self, line: str) -> str:
        s = self.session
        return await self.run_blocking(question_mark_text, line, s.mode, list(s.edit_path), self._tree_source)

    async def _complete(self, line: str) -> list[str]:
        s = self.session
        _, _, partial = split_for_completion(line)
        items = await self.run_blocking(help_items, line, s.mode, list(s.edit_path), self._tree_source)
        words = [i.word for i in items if i.insertable and i.word.startswith(partial)]
        return [f'"{w}"' if any(c.isspace() for c in w) else w for w in dict.fromkeys(words)]

    # ------------------------------------------------------------------ running

    async def _execute(self, line: str) -> Any:
        self.session.cancel.clear()
        self.term.busy = True
        try:
            return await self.run_blocking(self.session.execute, line)
        finally:
            self.term.busy = False
            self._tree = None  # the candidate may have changed: fetch names afresh

    async def _print_outcome(self, outcome: Any) -> None:
        if outcome.output:
            s = self.session.settings
            if self.pty and s.pager and not s.scripting_mode and outcome.output.count("\n") >= self.term.height:
                await self.term.page(outcome.output)
            else:
                self.term.write(outcome.output)
        if not outcome.ok:
            self.term.write(outcome.error + "\n")

    async def run(self) -> int:
        command = self.process.command
        if command:  # ssh host 'show system info'
            outcome = await self._execute(command)
            await self._print_outcome(outcome)
            return 0 if outcome.ok else 1
        self.session.stream = self._write_threadsafe
        reader = asyncio.ensure_future(self._reader())
        try:
            await self.run_blocking(self.session.host)  # the prompt's host name, fetched once
            if BANNER:
                self.term.write(BANNER)
            self.term.write("\n")
            while not self.session.finished:
                context = self.session.context_line()
                prompt = (context + "\n" if context else "") + self.session.prompt()
                line = await self.term.readline(prompt)
                if line is None:  # end of input / Ctrl-D
                    if self.session.mode == CONFIGURE:
                        self.session.mode, self.session.edit_path = OPERATIONAL, []
                        self.term.write("\n")
                        continue
                    break
                outcome = await self._execute(line)
                await self._print_outcome(outcome)
            return 0
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
