"""A real vpnshd for tests: its own state dir, log dir and socket; started and stopped.

    d = Daemon(tmp_path)
    d.start()                       # returns once the socket answers system.info
    d.request("config.set", tokens=[...])
    d.stop()                        # SIGTERM; returns the exit status

``d.shell("-c", "configure", ...)`` runs the ``vpnsh`` shell against it;
``d.configure(set_lines)`` commits a config through it as a command file.
Readiness is polled on the socket with a deadline; nothing sleeps to wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vpnsh.control.client import Client, ControlError

SOCKET_PATH_MAX = 100
SHELL_MAIN = "import sys; from vpnsh.shell.main import main; sys.exit(main())"  # AF_UNIX paths are limited to 108 bytes


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Daemon:
    def __init__(
        self,
        base: Path,
        *,
        dataplane: str = "none",
        hostname: str = "vpnsh-test",
        netns: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.base = Path(base)
        self.state_dir = self.base / "state"
        self.log_dir = self.base / "log"
        run_dir = self.base / "run"
        if len(str(run_dir / "vpnsh.sock")) > SOCKET_PATH_MAX:
            run_dir = Path(tempfile.mkdtemp(prefix="vpnsh-run-"))
        self.socket = run_dir / "vpnsh.sock"
        self.dataplane = dataplane
        self.hostname = hostname
        self.netns = netns
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.out_path = self.base / "vpnshd.out"
        self._clients: list[Client] = []

    # -- process

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "vpnsh.engine.daemon",
            "--state-dir", str(self.state_dir),
            "--socket", str(self.socket),
            "--log-dir", str(self.log_dir),
            "--dataplane", self.dataplane,
            "--hostname", self.hostname,
            *self.extra_args,
        ]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        return cmd

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it (for tests of refusals)."""
        self.base.mkdir(parents=True, exist_ok=True)
        out = open(self.out_path, "ab")  # noqa: SIM115 - handed to the child
        env = {k: v for k, v in os.environ.items() if k != "VPNSH_SOCKET"}
        try:
            return subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, env=env)
        finally:
            out.close()

    def start(self, timeout: float = 20.0) -> Daemon:
        self.proc = self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> dict[str, Any]:
        def answers() -> dict[str, Any] | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"vpnshd exited with status {self.proc.returncode} while starting:\n{self.output()}"
                )
            if not self.socket.exists():
                return None
            try:
                with Client(str(self.socket), timeout=5) as c:
                    info = c.request("system.info")
                return info if info.get("pid") == self.proc_pid() or self.netns else None
            except ControlError:
                return None

        return wait_for(answers, timeout, f"vpnshd to answer on {self.socket}")

    def proc_pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int | None:
        """Signal the daemon and wait for it; returns its exit status."""
        self.close_clients()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise
        finally:
            rc = self.proc.returncode
            self.proc = None
            self._last_rc = rc

    def kill9(self) -> None:
        """``kill -9``: no chance to clean up."""
        self.stop(sig=signal.SIGKILL)

    def restart(self) -> Daemon:
        self.stop()
        return self.start()

    def output(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.out_path.read_text(errors="replace")
        return ""

    def log_text(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.log_dir / "vpnshd.log").read_text(errors="replace")
        return ""

    # -- talking to it

    def client(self) -> Client:
        c = Client(str(self.socket), timeout=60)
        self._clients.append(c)
        return c

    def request(self, op: str, **args: Any) -> Any:
        with Client(str(self.socket), timeout=60) as c:
            return c.request(op, **args)

    def set(self, line: str) -> Any:
        """``config.set`` of a space-separated path (no quoting)."""
        return self.request("config.set", tokens=line.split())

    def delete(self, line: str) -> Any:
        """``config.delete`` of a space-separated path (no quoting)."""
        return self.request("config.delete", tokens=line.split())

    def close_clients(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()

    def shell(self, *args: str, input: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the ``vpnsh`` shell against this daemon."""
        cmd = [sys.executable, "-c", SHELL_MAIN, "--socket", str(self.socket), *args]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        return subprocess.run(
            cmd, input=input if input is not None else "", capture_output=True, text=True, timeout=timeout
        )

    def configure(self, lines: Sequence[str]) -> None:
        """``configure``, the set ``lines``, ``commit``: one command file through the shell
        (``vpnsh -f``), as a user would load a config; fails the test if any line fails."""
        script = self.base / "config.vpnsh"
        script.write_text("\n".join(["configure", *lines, "commit"]) + "\n")
        res = self.shell("-f", str(script))
        assert res.returncode == 0, res.stdout + res.stderr

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.stop()
