"""``vpnshd``: the vpnsh daemon, in the foreground.

    vpnshd [--state-dir DIR] [--socket PATH] [--log-dir DIR]
           [--dataplane userspace|kernel|none] [--raw-esp] [--dataplane-workers N] [--hostname NAME] [--ssh-listen ADDR:PORT]
           [--api-listen ADDR:PORT]

Holds the candidate and running config, serves the control socket, owns the
engine.  SIGTERM or SIGINT: stop accepting, shut the engine down, remove the
socket, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import inspect
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn

from vpnsh import __version__
from vpnsh.config import redact
from vpnsh.control import protocol, roles
from vpnsh.control.server import ControlServer, Dispatcher, socket_answers
from vpnsh.engine import gcpolicy, logfiles, sdnotify
from vpnsh.engine.service import DATAPLANES, Engine

log = logging.getLogger("vpnshd")

DEFAULT_STATE_DIR = "/var/lib/vpnsh"
DEFAULT_LOG_DIR = "/var/log/vpnsh"
LOG_FILE = "vpnshd.log"
LOCK_FILE = "vpnshd.lock"


class StartupError(Exception):
    """The daemon cannot start; the message says why (printed, exit status 1)."""


# ---------------------------------------------------------------------------- logging

class SecretFilter(logging.Filter):
    """Last line of defence: masks every secret a request carried in (the values of the
    schema's Secret leaves, :data:`vpnsh.config.redact.KNOWN`) wherever a line holds one.
    No guessing from words such as ``key`` or ``password``: innocent text is left alone."""

    def __init__(self, known: redact.KnownSecrets | None = None) -> None:
        super().__init__()
        self.known = known or redact.KNOWN

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.known.scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        exc_text = self.known.scrub(record.exc_text) if record.exc_text else record.exc_text
        if masked != message or exc_text != record.exc_text:
            record.msg, record.args, record.exc_text = masked, None, exc_text
        return True


def setup_logging(log_dir: str, foreground_stream: IO[str] | None = sys.stderr) -> str:
    os.makedirs(log_dir, mode=0o750, exist_ok=True)
    path = os.path.join(log_dir, LOG_FILE)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logfiles.file_handler(path)]
    if foreground_stream is not None:
        stream = logging.StreamHandler(foreground_stream)
        if os.environ.get("JOURNAL_STREAM"):  # stderr goes to the journal: it stamps the time
            stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handlers.append(stream)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    secret_filter = SecretFilter()
    for h in handlers:
        if h.formatter is None:
            h.setFormatter(fmt)
        h.addFilter(secret_filter)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    with contextlib.suppress(OSError):
        os.chmod(path, logfiles.LOG_MODE)
    return path


# ---------------------------------------------------------------------------- arguments


DEFAULT_COOKIE_THRESHOLD = 50  # Ikev2Engine's half_open_limit


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def _log_size(text: str) -> int:
    try:
        return logfiles.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vpnshd", description="The vpnsh IPsec VPN daemon (foreground).")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help=f"config and state (default {DEFAULT_STATE_DIR})")
    p.add_argument(
        "--socket",
        default=None,
        help=f"control socket (default ${protocol.SOCKET_ENV} or {protocol.DEFAULT_SOCKET})",
    )
    p.add_argument("--log-dir", default=DEFAULT_LOG_DIR, help=f"log files (default {DEFAULT_LOG_DIR})")
    p.add_argument("--log-max-size", metavar="SIZE", type=_log_size, default=logfiles.DEFAULT_MAX_BYTES,
                   help="rotate vpnshd.log and ikemgr.log when they reach SIZE (e.g. 10M, 512k; "
                   "default 10M); rotated files are NAME.1 (newest) .. NAME.N")
    p.add_argument("--log-keep", metavar="N", type=_positive, default=logfiles.DEFAULT_KEEP,
                   help=f"rotated files kept per log (default {logfiles.DEFAULT_KEEP})")
    p.add_argument("--admin-group", metavar="GROUP", default=roles.ADMIN_GROUP,
                   help=f"Unix group whose members are superusers on the control socket and over SSH "
                   f"(root always is; default {roles.ADMIN_GROUP})")
    p.add_argument("--reader-group", metavar="GROUP", default=roles.READER_GROUP,
                   help="Unix group whose members are superreaders: every show, no change "
                   f"(default {roles.READER_GROUP})")
    p.add_argument("--dataplane", choices=DATAPLANES, default="userspace", help="ESP data plane (default userspace)")
    p.add_argument("--raw-esp", action="store_true",
                   help="user-space data plane: send ESP as IP protocol 50 where no NAT is detected "
                   "(default: ESP in UDP on port 4500 with every peer that does NAT detection, "
                   "as strongSwan's kernel-libipsec; UDP is batched, raw ESP is not)")
    p.add_argument("--dataplane-workers", metavar="N", type=_positive, default=None,
                   help="user-space data plane: worker processes that move the packets (shared "
                   "TUN devices and port-4500 socket, SA state in shared memory; 1 = threads in this "
                   "process; default: 1 on up to 2 cores, else one per core but one, at most 4)")
    p.add_argument("--hostname", default=None, help="name shown in the shell prompt (default: system hostname)")
    p.add_argument("--ssh-listen", metavar="ADDR:PORT", default=None,
                   help="also serve the vpnsh shell over SSH here (keys: STATE_DIR/ssh/; see docs/user-guide.md)")
    p.add_argument("--api-listen", metavar="ADDR:PORT", default=None,
                   help="also serve the PAN-OS XML API over HTTPS here (off by default; certificate and "
                   "API keys in STATE_DIR/api/; see docs/xml-api.md)")
    p.add_argument("--ike-cookie-threshold", metavar="N", type=_non_negative, default=DEFAULT_COOKIE_THRESHOLD,
                   help="IKEv2 DoS protection: demand a cookie (RFC 7296 2.6) from every new IKE_SA_INIT "
                   f"while N or more IKE SAs are half-open (default {DEFAULT_COOKIE_THRESHOLD}; 0: always; "
                   "a gateway's require-cookie setting demands them regardless); IKEv1, which has no "
                   "cookies, then answers only main mode from static peers, 5 half-open SAs per address")
    p.add_argument("--interface-map", metavar="FILE", default=None,
                   help="which Linux device each ethernet1/N is (default STATE_DIR/interface-map; "
                   "without a map: the NICs in PCI order, the first one management; "
                   "see vpnsh/engine/ifmap.py and docs/user-guide.md)")
    p.add_argument("--control-idle-timeout", metavar="SECONDS", type=float,
                   default=protocol.IDLE_TIMEOUT,
                   help="close a control-socket connection with no request for this long "
                   f"(default {protocol.IDLE_TIMEOUT:.0f}; clients reconnect by themselves)")
    p.add_argument("--install-unit", metavar="DIR", nargs="?", const="/etc/systemd/system", default=None,
                   help="write the systemd unit vpnshd.service into DIR (default /etc/systemd/system), "
                   "ExecStart pointing at this vpnshd, and exit")
    p.add_argument("--version", action="version", version=f"vpnshd {__version__}")
    args = p.parse_args(argv)
    args.socket = protocol.socket_path(args.socket)
    args.hostname = args.hostname or socket.gethostname()
    return args


# ---------------------------------------------------------------------------- lifecycle


def lock_state_dir(state_dir: str) -> IO[str]:
    """Hold an exclusive lock on the state dir for the daemon's lifetime."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    f = open(os.path.join(state_dir, LOCK_FILE), "a+", encoding="utf-8")  # noqa: SIM115 - held open
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise StartupError(f"another vpnshd is using the state dir {state_dir}") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def raise_fd_limit() -> None:
    """Take the hard limit of open files as the soft one (sockets, TUN devices, logs and
    clients of thousands of tunnels); what cannot be opened later is reported, not fatal."""
    import resource

    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        log.warning("cannot raise the open-files limit: %s", exc)


READY_TIMEOUT = 30.0  # at most this long for the running config's IKE sockets before READY


async def _engine_settled(engine: Engine) -> None:
    """Wait until the engine has applied the running config: its IKE sockets are bound."""
    task = getattr(engine, "_apply_task", None)
    if isinstance(task, asyncio.Task):
        await asyncio.wait([task], timeout=READY_TIMEOUT)


def _ike_addresses(engine: Engine, show: int = 8) -> str:
    bound = sorted(getattr(getattr(engine, "io", None), "bound_addresses", set)())
    if len(bound) > show:  # 10,000 gateway addresses do not fit a status line
        return f"{', '.join(bound[:show])} and {len(bound) - show} more"
    return ", ".join(bound) or "no address (no gateway configured)"


def _reload() -> None:
    """SIGHUP (``systemctl reload vpnshd``): nothing is re-read behind the admins' backs."""
    sdnotify.reloading("reload: nothing to re-read")
    log.info("reload requested (SIGHUP): vpnshd re-reads nothing; the configuration changes "
             "only by a commit (vpnsh: configure, then commit)")
    sdnotify.ready("serving (reload re-read nothing: commit is the only way config changes)")


async def serve(args: argparse.Namespace, ready: asyncio.Event | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT.  Returns the exit status."""
    from vpnsh.engine.configd import ConfigService, ConfigStateError, redact_request
    from vpnsh.engine.ifmap import InterfaceMap
    from vpnsh.engine.netif import AddressApplier

    if socket_answers(args.socket):
        raise StartupError(f"another vpnshd is already serving on {args.socket}")
    lock = lock_state_dir(args.state_dir)
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    engine = Engine(dataplane=args.dataplane, raw_esp=getattr(args, "raw_esp", False),
                    state_dir=args.state_dir, log_dir=args.log_dir)
    if hasattr(engine.dp, "workers"):  # read when the data plane starts
        from vpnsh.engine.dataplane.workers import default_workers

        workers = getattr(args, "dataplane_workers", None)
        engine.dp.workers = workers if workers else default_workers()
    engine.ike.v2.half_open_limit = getattr(args, "ike_cookie_threshold", DEFAULT_COOKIE_THRESHOLD)
    engine.ike.v1.half_open_limit = engine.ike.v2.half_open_limit  # IKEv1: the same limit
    ifmap = InterfaceMap.for_state_dir(args.state_dir, getattr(args, "interface_map", None))
    if ifmap.error:
        log.warning("interface map %s", ifmap.error)
    engine.ifmap = ifmap
    addresses = AddressApplier(args.state_dir, ifmap=ifmap)
    with contextlib.suppress(Exception):
        addresses.links.warm_up()  # type: ignore[attr-defined]
    try:
        service = ConfigService(
            args.state_dir,
            engine,
            hostname=args.hostname,
            addresses=addresses,
            socket_path=args.socket,
            dataplane=args.dataplane,
            log_dir=args.log_dir,
        )
    except ConfigStateError as exc:
        lock.close()
        raise StartupError(str(exc)) from None
    dispatcher = Dispatcher(redactor=redact_request)
    for op, handler in service.ops().items():
        dispatcher.register(op, handler)
    server = ControlServer(args.socket, dispatcher,
                           idle_timeout=getattr(args, "control_idle_timeout", protocol.IDLE_TIMEOUT))
    try:
        await server.start()
    except RuntimeError as exc:
        lock.close()
        raise StartupError(str(exc)) from None
    ssh = None

    async def abort_start(reason: str) -> NoReturn:
        """A listener could not start: undo what started before it and say why."""
        if ssh is not None:
            await ssh.stop()
        await server.stop()
        with contextlib.suppress(Exception):
            stopping: Any = engine.shutdown()
            if inspect.isawaitable(stopping):
                await stopping
        service.close()
        addresses.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        lock.close()
        raise StartupError(reason) from None

    if getattr(args, "ssh_listen", None):
        from vpnsh.control.client import Client
        from vpnsh.ssh.server import SshServer

        try:
            ssh = SshServer(args.ssh_listen, args.state_dir, lambda: Client(args.socket),
                            hostname=args.hostname)
            await ssh.start()
        except (OSError, ValueError) as exc:
            await abort_start(f"cannot serve SSH on {args.ssh_listen}: {exc}")
    api = None
    if getattr(args, "api_listen", None):
        from vpnsh.api.server import ApiServer

        try:
            api = ApiServer(args.api_listen, args.state_dir, dispatcher, hostname=args.hostname)
            await api.start()
        except (OSError, ValueError) as exc:
            await abort_start(f"cannot serve the XML API on {args.api_listen}: {exc}")
    await _engine_settled(engine)
    gcpolicy.enable()  # collections that do not walk the whole heap (engine/gcpolicy.py)
    gc_task = asyncio.create_task(gcpolicy.run())
    loop.add_signal_handler(signal.SIGHUP, _reload)
    log.info(
        "vpnshd %s started: pid %d, state %s, data plane %s",
        __version__, os.getpid(), args.state_dir, args.dataplane,
    )
    # systemd Type=notify: the control socket and the IKE sockets are up (systemctl status shows them)
    sdnotify.ready(f"serving on {args.socket}; IKE on {_ike_addresses(engine)}")
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
        log.info("shutting down")
        sdnotify.stopping()
    finally:
        gc_task.cancel()
        loop.remove_signal_handler(signal.SIGHUP)
        if api is not None:
            await api.stop()
        if ssh is not None:
            await ssh.stop()
        await server.stop()
        try:
            result: Any = engine.shutdown()  # None, or an awaitable in a fuller engine
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - still remove the socket and exit
            log.exception("engine shutdown failed")
        service.close()
        addresses.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        lock.close()
    log.info("vpnshd stopped")
    return 0


def _this_vpnshd() -> str:
    """The vpnshd program of this installation: beside this Python (a venv), else on PATH."""
    import shutil

    beside = os.path.join(os.path.dirname(sys.executable), "vpnshd")
    found = beside if os.access(beside, os.X_OK) else shutil.which("vpnshd")
    return os.path.abspath(found) if found else "/usr/local/bin/vpnshd"


def install_unit(unit_dir: str) -> int:
    from vpnsh import systemd

    path = systemd.install(unit_dir, _this_vpnshd())
    print(f"wrote {path} (ExecStart={_this_vpnshd()})\n"
          "next: systemctl daemon-reload && systemctl enable --now vpnshd")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.install_unit is not None:
        try:
            return install_unit(args.install_unit)
        except OSError as exc:
            print(f"vpnshd: cannot install the unit into {args.install_unit}: {exc}", file=sys.stderr)
            return 1
    logfiles.set_default_rotation(logfiles.Rotation(args.log_max_size, args.log_keep))
    roles.set_groups(args.admin_group, args.reader_group)
    try:
        setup_logging(args.log_dir)
    except OSError as exc:
        print(f"vpnshd: cannot open the log dir {args.log_dir}: {exc}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(serve(args))
    except StartupError as exc:
        log.error("%s", exc)
        return 1
    except PermissionError as exc:
        log.error("%s", exc)
        print(f"vpnshd: {exc} (vpnshd needs root, or --state-dir/--socket/--log-dir you can write)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
