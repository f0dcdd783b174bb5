"""The synchronous control-socket client, used by the shell and by scripts.

    client = Client("/run/vpnsh/vpnsh.sock")
    client.request("config.set", tokens=["network", "ike", ...])

A failed request raises :class:`ControlError` with the daemon's message and
kind; a daemon that is not running raises it with kind ``connect`` and a
message that says how to start one.
"""

from __future__ import annotations

import itertools
import select
import socket
from typing import Any

from vpnsh.control import protocol
from vpnsh.control.protocol import CONNECT, ControlError, FrameError

__all__ = ["Client", "ControlError"]


class Client:
    """One connection to vpnshd, opened on the first request and kept open."""

    def __init__(self, path: str | None = None, timeout: float | None = 600.0) -> None:
        self.path = protocol.socket_path(path)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)

    # -- connection

    def connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise ControlError(
                f"cannot reach vpnshd at {self.path}: {exc.strerror or exc}. "
                f"Start the daemon with `vpnshd --socket {self.path}` (as root), "
                f"or point vpnsh at a running one with --socket PATH or $VPNSH_SOCKET.",
                CONNECT,
            ) from None
        except PermissionError:
            sock.close()
            raise ControlError(
                f"permission denied on {self.path}: run vpnsh as root, or as a member of group "
                "vpnsh-admin or vpnsh-reader (the socket opens to them once a group exists).",
                CONNECT,
            ) from None
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot reach vpnshd at {self.path}: {exc}", CONNECT) from None
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests

    def _closed_by_daemon(self) -> bool:
        """Whether the daemon closed this (idle) connection: readable, and at its end."""
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            return bool(readable) and self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def request(self, op: str, **args: Any) -> Any:
        """Send one request and return its result; raise :class:`ControlError` on failure."""
        if self._sock is not None and self._closed_by_daemon():
            self.close()  # closed while idle (vpnshd's idle timeout): a new connection
        self.connect()
        assert self._sock is not None
        rid = next(self._ids)
        try:
            try:
                self._sock.sendall(protocol.encode(protocol.request(rid, op, args)))
            except BrokenPipeError:
                # the daemon refused the connection (roles.py) and said why before closing
                response = self._read_message()
                self.close()
                return protocol.result_of(response)
            while True:
                response = self._read_message()
                if response.get("id") in (rid, None):
                    break  # id None: the daemon refused the frame itself
        except FrameError:
            self.close()
            raise
        except (OSError, EOFError) as exc:
            self.close()
            raise ControlError(f"lost the connection to vpnshd at {self.path}: {exc}", CONNECT) from None
        return protocol.result_of(response)

    def _read_message(self) -> dict[str, Any]:
        length = protocol.frame_length(self._recv_exact(protocol.HEADER.size))
        return protocol.decode_body(self._recv_exact(length))

    def _recv_exact(self, n: int) -> bytes:
        assert self._sock is not None
        chunks = []
        remaining = n
        while remaining:
            chunk = self._sock.recv(min(remaining, 1 << 20))
            if not chunk:
                raise EOFError("vpnshd closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
