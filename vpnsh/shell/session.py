"""One vpnsh session: modes, the edit level, CLI settings, and running commands.

No terminal here: :meth:`Session.execute` takes a line and returns an
:class:`Outcome` (text to print, or the PAN-OS error).  The interactive loop
(:mod:`vpnsh.shell.interactive`) and the script runner
(:mod:`vpnsh.shell.script`) are thin layers around it.  The daemon is reached
through any object with ``request(op, **args)`` that raises
``vpnsh.control.protocol.ControlError`` on failure.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from vpnsh.render.json_output import to_json
from vpnsh.render.pipes import PipeError, apply_pipes
from vpnsh.shell import op_table, opcommands
from vpnsh.shell.command import (
    CONFIGURE,
    INVALID_SYNTAX,
    OPERATIONAL,
    UNKNOWN_COMMAND,
    Command,
    CommandError,
)
from vpnsh.shell.op_match import parse

# A one-shot ``vpnsh -c 'show vpn ike-sa'`` imports this module: what only some commands
# need is imported where they run (the Lark parser: vpnsh.shell.op_match.parse; the
# config schema: vpnsh.shell.editpath; the admin roles; the host and system renderers).
# tests/unit/test_op_match.py counts what a one-shot command loads.

# Daemon ops the shell uses besides the VPN ones (see docs/control-protocol.md).
OP_SET = "config.set"
OP_DELETE = "config.delete"
OP_RENAME = "config.rename"
OP_MOVE = "config.move"
OP_SHOW = "config.show"  # which, path, format -> {"text"}
OP_DIFF = "config.diff"  # format -> {"text"}
OP_ENGINE = "engine.op"  # name, args -> data
OP_COMMIT = "config.commit"
OP_VALIDATE = "config.validate"
OP_REVERT = "config.revert"
OP_SAVE = "config.save"
OP_LOAD = "config.load"
OP_SYSTEM_INFO = "system.info"
OP_JOBS = "jobs.show"
OP_LOG_SYSTEM = "log.system"
OP_LOG_READ = "log.read"
OP_DEBUG_IKE = "debug.ike"
OP_DEBUG_SHOW = "debug.show"
OP_HELLO = "session.hello"
OP_ADMINS = "admins.show"
OP_LOCK_ADD = "lock.add"
OP_LOCK_REMOVE = "lock.remove"
OP_LOCK_SHOW = "lock.show"
OP_CHANGES = "config.changes"
OP_SAVED = "config.saved"
OP_VERSION = "config.version"
OP_HISTORY = "config.history"
OP_LOAD_PARTIAL = "config.load_partial"
OP_WHOAMI = "admin.whoami"  # -> {"user", "role"}: this connection's admin (roles.py)
TAIL_LINES = 10  # ``tail mp-log F`` prints this many lines, as tail(1) does
FOLLOW_INTERVAL = 0.5  # seconds between polls of a followed log


class ClientLike(Protocol):
    def request(self, op: str, **args: Any) -> Any: ...


# Plain classes, not dataclasses: a one-shot ``vpnsh -c`` imports this module, and
# dataclasses costs it ~5 ms of imports (inspect, ast, dis...).


class Outcome:
    """What one command did: ``output`` to print, or ``error`` (PAN-OS text)."""

    __slots__ = ("ok", "output", "error", "notice")

    def __init__(self, ok: bool = True, output: str = "", error: str = "",
                 notice: str = "") -> None:
        self.ok = ok
        self.output = output
        self.error = error
        self.notice = notice  # --output json: a message that is not data (goes to stderr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outcome) and \
            (self.ok, self.output, self.error, self.notice) == \
            (other.ok, other.output, other.error, other.notice)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Outcome(ok={self.ok!r}, output={self.output!r}, error={self.error!r}, "
                f"notice={self.notice!r})")


class CliSettings:
    __slots__ = ("config_output_format", "pager", "scripting_mode", "terminal_width")

    def __init__(self, config_output_format: str = "default", pager: bool = True,
                 scripting_mode: bool = False, terminal_width: int = 0) -> None:
        self.config_output_format = config_output_format
        self.pager = pager
        self.scripting_mode = scripting_mode
        self.terminal_width = terminal_width  # 0: the terminal's own


class ShellError(Exception):
    """A command that failed with a PAN-OS error text."""


class Session:
    def __init__(
        self,
        client: ClientLike,
        user: str | None = None,  # default: the login name
        hostname: str | None = None,
        output_json: bool = False,
        mode: str = OPERATIONAL,
        edit_path: list[str] | None = None,
        settings: CliSettings | None = None,
        finished: bool = False,  # ``exit`` in operational mode
        on_change: Callable[[], None] | None = None,  # called after a command that may change config
        # ``tail follow yes``: where new lines go as they come (None: print the tail and
        # return, as in scripts); ``cancel`` ends the follow (an SSH Ctrl-C; locally
        # KeyboardInterrupt does)
        stream: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        edited: bool = False,  # this session changed the candidate (a failed script takes it back)
        # names this CLI session to the daemon (``show counter global filter delta yes``)
        session_id: str | None = None,
    ) -> None:
        self.client = client
        self.user: str = _login_name() if user is None else user
        self.hostname = hostname
        self.output_json = output_json
        self.mode = mode
        self.edit_path: list[str] = [] if edit_path is None else edit_path
        self.settings = CliSettings() if settings is None else settings
        self.finished = finished
        self.on_change = on_change
        self.stream = stream
        self.cancel = threading.Event() if cancel is None else cancel
        self.edited = edited
        self.session_id = os.urandom(8).hex() if session_id is None else session_id  # as secrets.token_hex

    # ------------------------------------------------------------ prompt

    def host(self) -> str:
        if self.hostname is None:
            try:
                info = self.client.request(OP_SYSTEM_INFO)
                self.hostname = str(info.get("hostname") or "") or socket.gethostname()
            except Exception:  # no daemon yet: the local name will do
                self.hostname = socket.gethostname()
        return self.hostname

    def prompt(self) -> str:
        return f"{self.user}@{self.host()}{'#' if self.mode == CONFIGURE else '>'} "

    def context_line(self) -> str | None:
        """The ``[edit ...]`` line printed above a configure-mode prompt."""
        if self.mode != CONFIGURE:
            return None
        from vpnsh.shell import editpath

        return editpath.context_line(self.edit_path)

    # ------------------------------------------------------------ running a line

    def execute(self, line: str) -> Outcome:
        try:
            command = parse(line, self.mode)
            if command is None:
                return Outcome()
            text = apply_pipes(self._run(command), command.pipes)
            if self.output_json:
                return json_outcome(text)
            return Outcome(True, fold(text, self.settings.terminal_width))
        except CommandError as exc:
            return Outcome(False, error=exc.message)
        except ShellError as exc:
            return Outcome(False, error=str(exc))
        except PipeError as exc:
            return Outcome(False, error=f"{INVALID_SYNTAX}\n{exc}")
        except Exception as exc:
            kind = getattr(exc, "kind", None)
            if kind is None:
                raise
            from vpnsh.control.roles import DENIED

            if kind == DENIED:  # beyond this admin's role: PAN-OS does not offer the command
                return Outcome(False, error=UNKNOWN_COMMAND.format(line.split()[0]))
            return Outcome(False, error=daemon_error_text(kind, str(exc)))

    def _run(self, command: Command) -> str:
        if self.mode == CONFIGURE:
            handler = _CONFIG_HANDLERS.get(command.name)
            if handler is not None:
                return handler(self, command)
        return self._run_operational(command)

    def _run_operational(self, command: Command) -> str:
        handler = _OP_HANDLERS.get(command.name)
        if handler is not None:
            return handler(self, command)
        vpn = opcommands.lookup(command.name, command.args)
        if vpn is None:
            raise CommandError(INVALID_SYNTAX)
        args = opcommands.engine_args(command.args)
        if vpn.per_session:
            args["session"] = self.session_id
        result = self.client.request(OP_ENGINE, name=vpn.op, args=args)
        if self.output_json and vpn.is_show:
            return to_json(result)
        return vpn.render(result)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------ operational

    def _configure(self, command: Command) -> str:
        from vpnsh.control.roles import SUPERREADER

        if self._role() == SUPERREADER:  # read-only: PAN-OS's CLI has no configure for it
            raise CommandError(UNKNOWN_COMMAND.format("configure"))
        self.mode = CONFIGURE
        self.edit_path = []
        return "Entering configuration mode\n"

    def _role(self) -> str:
        """This session's admin role, as the daemon sees it (``admin.whoami``, asked once)."""
        from vpnsh.control.roles import SUPERUSER

        role = getattr(self, "_admin_role", None)
        if role is None:
            try:
                whoami = self.client.request(OP_WHOAMI)
                role = str(whoami.get("role") or SUPERUSER) if isinstance(whoami, dict) else SUPERUSER
            except Exception:  # noqa: BLE001 - an older or fake daemon: it enforces, if anything
                role = SUPERUSER
            self._admin_role = role
        return role

    def _exit(self, command: Command) -> str:
        from vpnsh.shell import editpath

        if self.mode == CONFIGURE and self.edit_path:
            self.edit_path = editpath.up(self.edit_path)  # "Exit from this level"
        elif self.mode == CONFIGURE:
            self.mode = OPERATIONAL
            self.edit_path = []
        else:
            self.finished = True
        return ""

    def _show_config(self, command: Command) -> str:
        which = command.args["which"]
        fmt = self._format()
        if which == "diff":
            return _text_result(self.client.request(OP_DIFF, format=fmt))
        return _text_result(self.client.request(OP_SHOW, which=which, path=[], format=fmt))

    def _format(self) -> str:
        return "json" if self.output_json else self.settings.config_output_format

    def candidate_tree(self) -> dict[str, Any]:
        """The daemon's candidate config as data (for completion of names)."""
        result = self.client.request(OP_SHOW, which="candidate", path=[], format="json")
        tree = json.loads(_text_result(result) or "{}")
        return tree if isinstance(tree, dict) else {}

    def _show_system_info(self, command: Command) -> str:
        from vpnsh.render import system as system_render

        info = self.client.request(OP_SYSTEM_INFO)
        if info.get("hostname"):
            self.hostname = str(info["hostname"])
        return to_json(info) if self.output_json else system_render.system_info(info)

    def _show_jobs(self, command: Command) -> str:
        from vpnsh.render import system as system_render

        job_id = command.args.get("job_id")
        jobs = self.client.request(OP_JOBS) if job_id is None else self.client.request(OP_JOBS, id=job_id)
        rows = jobs.get("jobs", []) if isinstance(jobs, dict) else jobs
        if self.output_json:
            return to_json(rows)
        if job_id is not None and rows:
            return system_render.job_detail(rows[0])
        return system_render.jobs(rows)

    def _show_log_system(self, command: Command) -> str:
        result = self.client.request(OP_LOG_SYSTEM, filter=command.args.get("filter", []))
        return _text_result(result)

    def _less_mp_log(self, command: Command) -> str:
        return _text_result(self.client.request(OP_LOG_READ, file=command.args["file"]))

    def _read_log(self, file: str, lines: int) -> list[str]:
        result = self.client.request(OP_LOG_READ, file=file, lines=lines)
        text = result.get("text", "") if isinstance(result, dict) else str(result)
        return text.splitlines()

    def _tail_mp_log(self, command: Command) -> str:
        """``tail [follow yes] mp-log F``: the last lines; with follow and a stream, new
        lines as they are written until Ctrl-C (``cancel``, or KeyboardInterrupt)."""
        file = command.args["file"]
        seen = self._read_log(file, 200)
        tail = "".join(f"{line}\n" for line in seen[-TAIL_LINES:])
        if command.args.get("follow") != "yes" or self.stream is None or command.pipes:
            return tail
        self.cancel.clear()
        self.stream(tail)
        try:
            while not self.cancel.wait(FOLLOW_INTERVAL):
                now = self._read_log(file, 200)
                fresh = new_lines(seen, now)
                if fresh:
                    self.stream("".join(f"{line}\n" for line in fresh))
                seen = now
        except KeyboardInterrupt:
            pass
        return ""

    def _find_command(self, command: Command) -> str:
        from vpnsh.shell.find import find_command

        return find_command(str(command.args["keyword"]))

    def _debug_ike(self, command: Command) -> str:
        scope = command.name.split()[-1]  # global | gateway | tunnel | pcap | wireshark-keys
        args: dict[str, Any] = {"scope": scope}
        if scope == "pcap":
            args["pcap"] = command.args["state"] == "on"
        elif scope == "wireshark-keys":
            args["keys"] = command.args["state"] == "on"
        else:
            args["level"] = command.args.get("level")  # None: off
            name = command.args.get("gateway", command.args.get("tunnel"))
            if name is not None:
                args["name"] = name
        result = self.client.request(OP_DEBUG_IKE, **args)
        return to_json(result) if self.output_json else ""

    def _show_debug_ike(self, command: Command) -> str:
        from vpnsh.render import system as system_render

        state = self.client.request(OP_DEBUG_SHOW)
        return to_json(state) if self.output_json else system_render.debug_ike(state)

    def _set_cli_format(self, command: Command) -> str:
        self.settings.config_output_format = command.args["format"]
        return ""

    def _set_cli_pager(self, command: Command) -> str:
        self.settings.pager = command.args["state"] == "on"
        return ""

    def _set_cli_scripting(self, command: Command) -> str:
        self.settings.scripting_mode = command.args["state"] == "on"
        return ""

    def _set_cli_width(self, command: Command) -> str:
        width = command.args["width"]
        if not 40 <= width <= 1024:
            raise CommandError(INVALID_SYNTAX)
        self.settings.terminal_width = width
        return ""

    def _ping(self, command: Command) -> str:
        """Ping runs in the daemon: in its namespace, through its tunnel interfaces."""
        args = {"source": command.args.get("source"), "host": command.args["host"],
                "count": command.args.get("count", 5)}
        result = self.client.request(OP_ENGINE, name="ping", args=args)
        if self.output_json:
            return to_json(result)
        return str(result.get("output", ""))

    # ------------------------------------------------------------ configure

    def _path(self, command: Command) -> list[str]:
        return [*self.edit_path, *command.args.get("path", [])]

    def _set(self, command: Command) -> str:
        self.client.request(OP_SET, tokens=self._path(command))
        self.edited = True
        self._changed()
        return ""

    def _delete(self, command: Command) -> str:
        self.client.request(OP_DELETE, tokens=self._path(command))
        self.edited = True
        self._changed()
        return ""

    def _rename(self, command: Command) -> str:
        self.client.request(OP_RENAME, tokens=self._path(command), new=command.args["new_name"])
        self.edited = True
        self._changed()
        return ""

    def _move(self, command: Command) -> str:
        args = command.args
        for where in ("top", "bottom", "before", "after"):
            if where in args:
                ref = args[where] if where in ("before", "after") else None
                self.client.request(OP_MOVE, tokens=self._path(command), where=where, ref=ref)
                self.edited = True
                self._changed()
                return ""
        raise CommandError(INVALID_SYNTAX)

    def _edit(self, command: Command) -> str:
        from vpnsh.shell import editpath

        try:
            self.edit_path = editpath.enter(self.edit_path, command.args["path"])
        except editpath.EditPathError:
            raise CommandError(INVALID_SYNTAX) from None
        return ""

    def _up(self, command: Command) -> str:
        from vpnsh.shell import editpath

        self.edit_path = editpath.up(self.edit_path)
        return ""

    def _top(self, command: Command) -> str:
        self.edit_path = []
        return ""

    def _show(self, command: Command) -> str:
        path = command.args.get("path", [])
        if len(path) == 2 and path[0] == "config" and path[1] in ("running", "candidate", "diff"):
            # "show config running" typed in configure mode: no config node is called "config"
            return self._show_config(Command("show config", {"which": path[1]}))
        if len(path) == 3 and path[:2] == ["config", "saved"]:
            return self._show_config_saved(Command("show config saved", {"file": path[2]}))
        result = self.client.request(OP_SHOW, which="candidate", path=self._path(command),
                                     format=self._format())
        return _text_result(result)

    def _commit(self, command: Command) -> str:
        from vpnsh.render import system as system_render

        args: dict[str, Any] = {}
        if command.args.get("description") is not None:
            args["description"] = command.args["description"]
        if command.args.get("force"):
            args["force"] = True
        if "admin" in command.args:  # commit partial admin [ a b ]
            args["admins"] = _names(command.args["admin"])
        result = self.client.request(OP_COMMIT, **args)
        self._changed()
        if self.output_json:
            return to_json(result)
        if isinstance(result, dict) and "lines" not in result:  # job and status only
            problems = _failed_details(result)
            if problems is not None:
                raise ShellError(system_render.commit_failed(_job_id(result), problems).rstrip("\n"))
            return system_render.commit_started(_job_id(result)) + system_render.commit_succeeded()
        return _lines(result)

    def _validate(self, command: Command) -> str:
        if "admin" in command.args:  # validate partial admin [ a b ]
            return self._result(self.client.request(OP_VALIDATE,
                                                    admins=_names(command.args["admin"])))
        return self._result(self.client.request(OP_VALIDATE))

    def _show_config_audit(self, command: Command) -> str:
        from vpnsh.render import host as host_render

        if "version" in command.args:
            return _text_result(self.client.request(OP_VERSION, n=command.args["version"],
                                                    format=self._format()))
        rows = self.client.request(OP_HISTORY).get("history", [])
        return to_json(rows) if self.output_json else host_render.versions(rows)

    def _show_config_saved(self, command: Command) -> str:
        return _text_result(self.client.request(OP_SAVED, name=command.args["file"],
                                                format=self._format()))

    def _result(self, result: Any) -> str:
        """A daemon result: its JSON under --output json, else its ``lines``."""
        return to_json(result) if self.output_json else _lines(result)

    def _revert(self, command: Command) -> str:
        if "admin" in command.args:  # revert config partial admin [ a b ]
            result = self.client.request(OP_REVERT, admins=_names(command.args["admin"]))
        else:
            result = self.client.request(OP_REVERT)
        self._changed()
        return self._result(result)

    # ------------------------------------------------------------ admins, locks, changes

    def hello(self, client: str = "CLI", peer: str = "local") -> None:
        """Tell the daemon which admin this connection is (for locks, changes, show admins)."""
        self.client.request(OP_HELLO, admin=self.user, client=client, peer=peer)

    def _show_admins(self, command: Command) -> str:
        from vpnsh.render import host as host_render

        rows = self.client.request(OP_ADMINS).get("admins", [])
        return to_json(rows) if self.output_json else host_render.admins(
            [host_render.admin_row(r) for r in rows])

    def _request_lock(self, command: Command) -> str:
        kind = "config" if command.name == "request config-lock" else "commit"
        if command.args.get("add"):
            result = self.client.request(OP_LOCK_ADD, kind=kind,
                                         comment=command.args.get("comment", ""))
        elif "admin" in command.args:
            result = self.client.request(OP_LOCK_REMOVE, kind=kind, admin=command.args["admin"])
        else:
            result = self.client.request(OP_LOCK_REMOVE, kind=kind)
        return self._result(result)

    def _show_locks(self, command: Command) -> str:
        from vpnsh.render import host as host_render

        kind = "config" if command.name == "show config-locks" else "commit"
        rows = self.client.request(OP_LOCK_SHOW, kind=kind).get("locks", [])
        return to_json(rows) if self.output_json else host_render.locks(kind, rows)

    def _show_changes(self, command: Command) -> str:
        from vpnsh.render import host as host_render

        args = {"admin": command.args["admin"]} if "admin" in command.args else {}
        rows = self.client.request(OP_CHANGES, **args).get("changes", [])
        return to_json(rows) if self.output_json else host_render.changes(rows)

    def _save(self, command: Command) -> str:
        return self._result(self.client.request(OP_SAVE, name=command.args["file"]))

    def _load(self, command: Command) -> str:
        args = command.args
        if "from_xpath" in args or "to_xpath" in args or "mode" in args:
            if not all(k in args for k in ("from_xpath", "to_xpath", "mode")):
                raise CommandError(f"{INVALID_SYNTAX}\nload config partial needs from-xpath, "
                                   "to-xpath and mode")
            extra = {"name": args["file"]} if "file" in args else {}
            result = self.client.request(OP_LOAD_PARTIAL, from_xpath=args["from_xpath"],
                                         to_xpath=args["to_xpath"], mode=args["mode"], **extra)
        elif "version" in args:
            result = self.client.request(OP_LOAD, version=args["version"])
        elif args.get("last_saved"):
            result = self.client.request(OP_LOAD, last_saved=True)
        else:
            result = self.client.request(OP_LOAD, name=args["file"])
        self.edited = True
        self._changed()
        return self._result(result)

    def _run_command(self, command: Command) -> str:
        assert command.inner is not None
        return self._run_operational(command.inner)


def json_outcome(text: str) -> Outcome:
    """``--output json``: stdout gets only JSON.  A command whose output is JSON prints it;
    a command that only says something (``Entering configuration mode``, ``Config saved to
    x``) prints nothing on stdout and its words go to stderr as a notice."""
    stripped = text.strip()
    if not stripped:
        return Outcome(True)
    try:
        json.loads(stripped)
    except ValueError:
        return Outcome(True, notice=text)
    return Outcome(True, text)


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "admin")


def fold(text: str, width: int) -> str:
    """Lines longer than ``set cli terminal width N`` folded at N, as PAN-OS's CLI does
    (0: the terminal's own width, nothing folded here)."""
    if width <= 0 or all(len(line) <= width for line in text.split("\n")):
        return text
    out = []
    for line in text.split("\n"):
        line = line.rstrip()
        out += [line[i:i + width] for i in range(0, len(line), width)] or [""]
    return "\n".join(out)


def new_lines(before: list[str], after: list[str]) -> list[str]:
    """The lines at the end of ``after`` that were not in ``before`` (both are tails of one
    growing file: the longest end of ``before`` that starts ``after`` is the overlap)."""
    if not before:
        return after
    for k in range(min(len(before), len(after)), 0, -1):
        if after[:k] == before[-k:]:
            return after[k:]
    return after


def _text_result(result: Any) -> str:
    if isinstance(result, dict):
        result = result.get("text", to_json(result))
    text = str(result)
    return text if text.endswith("\n") or not text else text + "\n"


def _lines(result: Any) -> str:
    """The ``lines`` of a daemon result as text."""
    if isinstance(result, dict):
        lines = result.get("lines")
        if lines is None:
            return _text_result(result) if "text" in result else ""
        return "".join(f"{line}\n" for line in lines)
    return "" if result is None else _text_result(result)


def _job_id(result: Any) -> Any:
    if isinstance(result, dict):
        return result.get("job", result.get("id", "?"))
    return result


def _failed_details(result: Any) -> list[str] | None:
    """The problem lines of a failed commit/validate result, None when it succeeded."""
    if not isinstance(result, dict):
        return None
    status = str(result.get("result", result.get("status", "OK"))).upper()
    if status in ("OK", "SUCCESS", "FIN"):
        return None
    details = result.get("details") or result.get("errors") or []
    return [str(d) for d in details]


def daemon_error_text(kind: str, message: str) -> str:
    """A failed request as PAN-OS prints it."""
    from vpnsh.render import system as system_render

    if kind == "syntax":
        return INVALID_SYNTAX if message in ("", INVALID_SYNTAX) else f"{INVALID_SYNTAX}\n{message}"
    if kind == "validation":
        if message.startswith(("Commit job ", "Validate job ")):  # the daemon's full PAN-OS text
            return message
        return system_render.validation_error(message).rstrip("\n")
    if kind == "connect":
        return message
    if message.startswith("Server error"):
        return message
    return f"Server error : {message}"


# Operational commands the shell runs itself (vpnsh.shell.op_table ``run``; the others are
# engine ops: vpnsh.shell.opcommands)
_OP_HANDLERS: dict[str, Callable[[Session, Command], str]] = {
    c.name: getattr(Session, c.run) for c in op_table.COMMANDS if c.run
}

_CONFIG_HANDLERS: dict[str, Callable[[Session, Command], str]] = {
    "set": Session._set,
    "delete": Session._delete,
    "rename": Session._rename,
    "move": Session._move,
    "edit": Session._edit,
    "up": Session._up,
    "top": Session._top,
    "exit": Session._exit,
    "show": Session._show,
    "commit": Session._commit,
    "validate": Session._validate,
    "revert": Session._revert,
    "save": Session._save,
    "load": Session._load,
    "run": Session._run_command,
}
