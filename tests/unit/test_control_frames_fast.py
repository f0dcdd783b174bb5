"""Control frames: the daemon's answers written with orjson, the shell's requests with json,
the same bytes either way; json's words for a malformed frame (issue 17)."""

import datetime
import json
import subprocess
import sys
import uuid

import pytest

from vpnsh.control import protocol


def _roundtrip(message, large=False):  # type: ignore[no-untyped-def]
    frame = protocol.encode(message, large=large)
    assert protocol.frame_length(frame[:4]) == len(frame) - 4
    return protocol.decode_body(frame[4:])


def test_frames_round_trip_as_json_would() -> None:
    message = {"id": 1, "result": {"sas": [{"spi": 0xFFFFFFFF, "peer": "192.0.2.1", "é": "ü"}],
                                    "n": 1.5, "none": None, 3: "int key"}}
    for large in (False, True):
        assert _roundtrip(message, large) == json.loads(json.dumps(message))


def test_what_orjson_refuses_falls_back_to_json() -> None:
    big = {"id": 1, "result": 2 ** 70}  # beyond 64 bits
    assert _roundtrip(big, large=True) == big


def test_a_malformed_frame_is_named_in_json_words() -> None:
    with pytest.raises(protocol.FrameError, match="frame is not JSON: Expecting"):
        protocol.decode_body(b'{"id": 1,')
    with pytest.raises(protocol.FrameError, match="frame is not UTF-8"):
        protocol.decode_body(b'{"a": "\xff"}')


def test_json_and_orjson_frames_are_the_same_bytes() -> None:
    """The caller picks the writer (the shell's requests json, the daemon's answers orjson);
    the frame is the same either way, for what only one of them writes too: NaN and infinity
    (null), non-str keys, tuples, an integer beyond 64 bits, datetime and UUID."""
    row = {"spi": 0xFFFFFFFF, "peer": "192.0.2.1", "\u00e9": "\u00fc", "n": 1.5, "none": None,
           "flag": True, 3: "int key", True: "bool key", 2.5: "float key", "t": (1, 2)}
    messages = [{"id": 1, "result": {"sas": [row]}}, {"id": 1, "result": {"sas": [row] * 2000}},
                {"id": 1, "result": float("nan")}, {"id": 1, "result": [float("-inf")]},
                {"id": 1, "result": 2 ** 70},
                {"id": 1, "result": datetime.datetime(2026, 12, 6, 20, 40, 5)},
                {"id": 1, "result": uuid.UUID(int=5)}]
    for message in messages:
        small, large = protocol.encode(message), protocol.encode(message, large=True)
        assert small == large, message
    assert _roundtrip(messages[0]) == json.loads(json.dumps(messages[0]))
    assert _roundtrip(messages[2]) == {"id": 1, "result": None}
    assert _roundtrip(messages[5]) == {"id": 1, "result": "2026-12-06T20:40:05"}


def test_a_body_is_read_by_its_length_the_same_either_side_of_the_limit() -> None:
    """Bodies up to SMALL_FRAME go through json, larger ones through orjson: the same
    messages and the same error words come out."""
    large = {"id": 1, "result": {"sas": [{"peer": "192.0.2.1", "\u00e9": 1.5}] * 5000}}
    small = {"id": 1, "result": {"sas": large["result"]["sas"][:10]}}
    for message in (small, large):
        frame = protocol.encode(message, large=True)
        assert (len(frame) - 4 > protocol.SMALL_FRAME) == (message is large)
        assert protocol.decode_body(frame[4:]) == json.loads(json.dumps(message))
    with pytest.raises(protocol.FrameError, match="frame is not JSON: Expecting"):
        protocol.decode_body(b'{"id": 1,' + b" " * protocol.SMALL_FRAME)


def test_the_shells_request_does_not_import_orjson() -> None:
    """A request written the default way (json) leaves orjson unloaded in a fresh process."""
    code = ("import sys; from vpnsh.control import protocol; "
            "protocol.encode(protocol.request(1, 'vpn.ike_sa', {'gateway': None}));"
            "protocol.decode_body(b'{\"v\":1,\"id\":1,\"ok\":true,\"result\":[]}');"
            "print('orjson' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
