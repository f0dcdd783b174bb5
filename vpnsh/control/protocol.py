"""The control protocol between ``vpnsh`` and ``vpnshd``: framing and messages.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8
JSON.  A request is ``{"v": 1, "id": N, "op": "config.set", "args": {...}}``;
its response is ``{"v": 1, "id": N, "ok": true, "result": ...}`` or
``{"v": 1, "id": N, "ok": false, "error": "text", "kind": "..."}``.

This module has no I/O of its own: it turns messages into bytes and bytes
into messages, and says clearly what is wrong with a bad frame.  See
``docs/control-protocol.md`` for the list of ops.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

VERSION = 1
HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # a whole config in one frame fits with room to spare
IDLE_TIMEOUT = 900.0  # seconds a client may stay connected without a request (vpnshd option)
FRAME_TIMEOUT = 30.0  # seconds for the rest of a frame once its header came

DEFAULT_SOCKET = "/run/vpnsh/vpnsh.sock"
SOCKET_ENV = "VPNSH_SOCKET"

# Error kinds (the "kind" field of a failed response).
SYNTAX = "syntax"  # a path or value the schema does not accept
VALIDATION = "validation"  # commit / validate found problems in the candidate
SERVER = "server"  # anything else on the daemon's side: unknown op, internal error
CONNECT = "connect"  # client side only: no daemon answers on the socket
KINDS = (SYNTAX, VALIDATION, SERVER)

# Which module writes and reads a frame.  The caller of :func:`encode` says: the shell's
# requests are small and go through json (a one-shot ``vpnsh -c`` does not import orjson,
# whose import costs it ~10 ms, more than its two small frames take with json); the
# daemon's answers go through orjson (a 10,000-SA answer in a tenth of json's time),
# imported on the first one.  A body is read with json up to this many bytes and with
# orjson above: its length is known from the header before the body is read.  Both
# modules make and read the same JSON.
SMALL_FRAME = 64 * 1024


def socket_path(explicit: str | None = None) -> str:
    """The control socket path: an explicit one, else ``$VPNSH_SOCKET``, else the default."""
    return explicit or os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


class ControlError(Exception):
    """A request that failed: ``message`` is what to show, ``kind`` one of the error kinds."""

    def __init__(self, message: str, kind: str = SERVER) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind

    def __str__(self) -> str:
        return self.message


class FrameError(ControlError):
    """Bytes that are not a valid frame or message; the connection cannot continue."""

    def __init__(self, message: str) -> None:
        super().__init__(message, SERVER)


class Request:
    """A checked request (plain class, not a dataclass: the shell imports this module at
    each start, and dataclasses costs it ~5 ms of imports)."""

    __slots__ = ("id", "op", "args")

    def __init__(self, id: int | str, op: str, args: dict[str, Any] | None = None) -> None:
        self.id = id
        self.op = op
        self.args: dict[str, Any] = {} if args is None else args

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Request) and \
            (self.id, self.op, self.args) == (other.id, other.op, other.args)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Request(id={self.id!r}, op={self.op!r}, args={self.args!r})"


def encode(message: dict[str, Any], max_frame: int = MAX_FRAME, *, large: bool = False) -> bytes:
    """One message as a frame: with orjson if ``large`` (the daemon's answers), else with json
    (requests, refusals).  Either way the same JSON: what json refuses (NaN, which orjson
    writes as null; a type only orjson writes) goes to orjson, what orjson refuses (an
    integer beyond 64 bits) to json."""
    body = None if large else _json_strict(message)
    if body is None:
        import orjson

        try:
            body = orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > max_frame:
        raise FrameError(f"message of {len(body)} bytes exceeds the maximum frame size {max_frame}")
    return HEADER.pack(len(body)) + body


def _json_strict(message: dict[str, Any]) -> bytes | None:
    """``message`` as json writes it, or None where json and orjson would differ or json
    cannot (NaN/infinity, a type json does not know)."""
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return None


def frame_length(header: bytes, max_frame: int = MAX_FRAME) -> int:
    """The body length announced by a 4-byte header; rejects oversized frames."""
    if len(header) != HEADER.size:
        raise FrameError(f"truncated frame header ({len(header)} of {HEADER.size} bytes)")
    (length,) = HEADER.unpack(header)
    if length > max_frame:
        raise FrameError(f"frame of {length} bytes exceeds the maximum frame size {max_frame}")
    return length


def decode_body(body: bytes) -> dict[str, Any]:
    """A frame body as a JSON object."""
    try:
        text = body.decode("utf-8")
        if len(body) <= SMALL_FRAME:
            message = json.loads(text)
        else:
            import orjson

            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:  # json's words for what is wrong
                message = json.loads(text)
    except UnicodeDecodeError as exc:
        raise FrameError(f"frame is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise FrameError(f"frame is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise FrameError("frame is not JSON this side accepts: nested too deeply") from None
    if not isinstance(message, dict):
        raise FrameError(f"frame holds a JSON {type(message).__name__}, expected an object")
    return message


def parse_request(message: dict[str, Any]) -> Request:
    """Check a decoded request object.  Raises :class:`ControlError` (the connection may go on)."""
    if message.get("v") != VERSION:
        raise ControlError(f"unsupported protocol version {message.get('v')!r}; this daemon speaks {VERSION}")
    rid = message.get("id")
    if not isinstance(rid, int | str) or isinstance(rid, bool):
        raise ControlError("request needs an 'id' (integer or string)")
    op = message.get("op")
    if not isinstance(op, str) or not op:
        raise ControlError("request needs an 'op' (string)")
    args = message.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ControlError("'args' must be an object")
    return Request(rid, op, args)


def request(rid: int | str, op: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"v": VERSION, "id": rid, "op": op, "args": args}


def ok(rid: int | str | None, result: Any) -> dict[str, Any]:
    return {"v": VERSION, "id": rid, "ok": True, "result": result}


def error(rid: int | str | None, message: str, kind: str = SERVER) -> dict[str, Any]:
    return {"v": VERSION, "id": rid, "ok": False, "error": message, "kind": kind}


def result_of(response: dict[str, Any]) -> Any:
    """The result of a response, or :class:`ControlError` raised from its error."""
    if response.get("v") != VERSION:
        raise FrameError(f"daemon answered with protocol version {response.get('v')!r}")
    if response.get("ok") is True:
        return response.get("result")
    if response.get("ok") is False:
        raise ControlError(str(response.get("error", "unknown error")), str(response.get("kind", SERVER)))
    raise FrameError("response has no 'ok' field")
