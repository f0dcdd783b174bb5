"""The control protocol: framing, request checks, and the asyncio server in-process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.daemon import wait_for
from vpnsh.control import protocol
from vpnsh.control.client import Client, ControlError
from vpnsh.control.protocol import FrameError
from vpnsh.control.server import ControlServer, Dispatcher

# --------------------------------------------------------------------------- framing


def test_encode_is_length_prefixed_json() -> None:
    frame = protocol.encode(protocol.request(7, "system.info", {}))
    (length,) = struct.unpack(">I", frame[:4])
    assert length == len(frame) - 4
    assert json.loads(frame[4:]) == {"v": 1, "id": 7, "op": "system.info", "args": {}}


def test_oversized_frame_is_refused_on_both_sides() -> None:
    with pytest.raises(FrameError, match="exceeds the maximum frame size"):
        protocol.frame_length(struct.pack(">I", protocol.MAX_FRAME + 1))
    with pytest.raises(FrameError, match="exceeds"):
        protocol.encode({"x": "y" * 100}, max_frame=50)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected an object"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        protocol.decode_body(body)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"v": 2, "id": 1, "op": "x"}, "unsupported protocol version 2"),
        ({"v": 1, "op": "x"}, "needs an 'id'"),
        ({"v": 1, "id": 1}, "needs an 'op'"),
        ({"v": 1, "id": 1, "op": "x", "args": [1]}, "'args' must be an object"),
    ],
)
def test_bad_requests_are_refused(message: dict, error: str) -> None:
    with pytest.raises(ControlError, match=error):
        protocol.parse_request(message)


def test_result_of_raises_with_kind() -> None:
    assert protocol.result_of(protocol.ok(1, {"a": 1})) == {"a": 1}
    with pytest.raises(ControlError) as info:
        protocol.result_of(protocol.error(1, "Validation Error:\nx", "validation"))
    assert info.value.kind == "validation"
    assert str(info.value) == "Validation Error:\nx"


# --------------------------------------------------------------------------- server in-process


class ServerThread:
    """A ControlServer on its own event loop in a thread."""

    def __init__(self, path: str, dispatcher: Dispatcher, **kw: Any) -> None:
        self.path = path
        self.server = ControlServer(path, dispatcher, **kw)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self.ready.set()
        self.loop.run_forever()
        try:
            self.loop.run_until_complete(self.server.stop())
        finally:
            # As asyncio.run ends: a connection still being accepted is a task of its own.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        assert self.ready.wait(10), "server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServerThread]:
    d = Dispatcher()
    d.register("echo", lambda **kw: kw)
    d.register("fail", lambda: (_ for _ in ()).throw(ControlError("no such gateway", "server")))
    d.register("crash", lambda: 1 / 0)

    async def slow(delay: float = 0.0) -> str:
        await asyncio.sleep(delay)
        return "done"

    d.register("async", slow)
    with ServerThread(str(tmp_path / "c.sock"), d) as s:
        yield s


def test_round_trip_and_errors(served: ServerThread) -> None:
    with Client(served.path) as c:
        assert c.request("echo", a=1, b=["x"]) == {"a": 1, "b": ["x"]}
        assert c.request("async") == "done"
        with pytest.raises(ControlError) as info:
            c.request("fail")
        assert (info.value.kind, info.value.message) == ("server", "no such gateway")
        with pytest.raises(ControlError, match="internal error in crash"):
            c.request("crash")
        with pytest.raises(ControlError, match="unknown op 'nope'"):
            c.request("nope")
        with pytest.raises(ControlError, match="bad arguments for fail"):
            c.request("fail", extra=1)
        # The same connection still works after every kind of failure.
        assert c.request("echo", ok=True) == {"ok": True}


def test_socket_is_owner_only(served: ServerThread) -> None:
    assert stat.S_IMODE(os.stat(served.path).st_mode) == 0o600


def test_garbage_frame_closes_only_that_connection(served: ServerThread) -> None:
    with Client(served.path) as good:
        assert good.request("echo", n=1) == {"n": 1}
        bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bad.settimeout(10)
        bad.connect(served.path)
        bad.sendall(struct.pack(">I", 9) + b"not json!")
        header = bad.recv(4, socket.MSG_WAITALL)
        body = bad.recv(struct.unpack(">I", header)[0], socket.MSG_WAITALL)
        reply = json.loads(body)
        assert reply["ok"] is False and reply["id"] is None
        assert "bad frame" in reply["error"] and "not JSON" in reply["error"]
        assert bad.recv(1) == b""  # closed by the server
        bad.close()
        # An oversized length is refused without reading the body.
        big = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        big.settimeout(10)
        big.connect(served.path)
        big.sendall(struct.pack(">I", protocol.MAX_FRAME + 1))
        header = big.recv(4, socket.MSG_WAITALL)
        reply = json.loads(big.recv(struct.unpack(">I", header)[0], socket.MSG_WAITALL))
        assert "maximum frame size" in reply["error"]
        big.close()
        assert good.request("echo", n=2) == {"n": 2}


def test_many_clients_at_once(served: ServerThread) -> None:
    results: list[object] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with Client(served.path) as c:
                for j in range(20):
                    results.append(c.request("echo", i=i, j=j))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(results) == 160
    assert {"i": 7, "j": 19} in results


def test_slow_handler_does_not_block_other_connections(served: ServerThread) -> None:
    done = threading.Event()

    def slow_client() -> None:
        with Client(served.path) as c:
            assert c.request("async", delay=1.0) == "done"
        done.set()

    t = threading.Thread(target=slow_client, daemon=True)
    t.start()
    with Client(served.path) as c:
        assert c.request("echo", quick=1) == {"quick": 1}
    assert not done.is_set()  # the other answered while the slow one still waits
    t.join(10)
    assert done.is_set()


def test_second_server_on_same_socket_is_refused(served: ServerThread) -> None:
    other = ControlServer(served.path, Dispatcher())
    with pytest.raises(RuntimeError, match="already serving"):
        asyncio.run(other.start())


def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens
    d = Dispatcher()
    d.register("echo", lambda **kw: kw)
    with ServerThread(str(path), d), Client(str(path)) as c:
        assert c.request("echo", x=1) == {"x": 1}


def test_client_says_how_to_start_the_daemon(tmp_path: Path) -> None:
    with pytest.raises(ControlError) as info:
        Client(str(tmp_path / "none.sock")).request("system.info")
    assert info.value.kind == "connect"
    assert "vpnshd --socket" in info.value.message


def test_deeply_nested_frame_is_a_bad_frame(served: ServerThread) -> None:
    """Issue 11 item 7: JSON nested past the decoder's recursion limit is "bad frame", not a
    RecursionError out of the handler; other connections go on."""
    with Client(served.path) as good:
        bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bad.settimeout(10)
        bad.connect(served.path)
        body = b'{"v":1,"id":1,"op":"echo","args":{"x":' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
        bad.sendall(struct.pack(">I", len(body)) + body)
        header = bad.recv(4, socket.MSG_WAITALL)
        assert len(header) == 4, "the server closed the connection without an answer"
        reply = json.loads(bad.recv(struct.unpack(">I", header)[0], socket.MSG_WAITALL))
        assert reply["ok"] is False and "bad frame" in reply["error"] and "nested" in reply["error"]
        bad.close()
        assert good.request("echo", n=1) == {"n": 1}


def test_idle_clients_time_out_and_the_client_reconnects(tmp_path: Path) -> None:
    d = Dispatcher()
    d.register("echo", lambda **kw: kw)
    with ServerThread(str(tmp_path / "c.sock"), d, idle_timeout=0.3, frame_timeout=0.3) as s:
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.settimeout(10)
        idle.connect(s.path)
        assert idle.recv(1) == b""  # closed by the server, well before the 10 s timeout
        idle.close()
        # half a frame, then nothing: answered "bad frame" and closed
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.settimeout(10)
        slow.connect(s.path)
        slow.sendall(struct.pack(">I", 100) + b"{")
        header = slow.recv(4, socket.MSG_WAITALL)
        reply = json.loads(slow.recv(struct.unpack(">I", header)[0], socket.MSG_WAITALL))
        assert "bad frame" in reply["error"] and "not received" in reply["error"]
        slow.close()
        with Client(s.path) as c:
            assert c.request("echo", n=1) == {"n": 1}
            wait_for(lambda: not s.server._connections, 10, "the idle connection to be closed")
            assert c.request("echo", n=2) == {"n": 2}  # a new connection, no error
