"""Control frames are encoded with orjson (large show answers), with json's behaviour kept
for what orjson refuses and json's words for a malformed frame (issue 17)."""

import json

import pytest

from vpnsh.control import protocol


def _roundtrip(message):  # type: ignore[no-untyped-def]
    frame = protocol.encode(message)
    assert protocol.frame_length(frame[:4]) == len(frame) - 4
    return protocol.decode_body(frame[4:])


def test_frames_round_trip_as_json_would() -> None:
    message = {"id": 1, "result": {"sas": [{"spi": 0xFFFFFFFF, "peer": "192.0.2.1", "é": "ü"}],
                                    "n": 1.5, "none": None, 3: "int key"}}
    assert _roundtrip(message) == json.loads(json.dumps(message))


def test_what_orjson_refuses_falls_back_to_json() -> None:
    big = {"id": 1, "result": 2 ** 70}  # beyond 64 bits
    assert _roundtrip(big) == big


def test_a_malformed_frame_is_named_in_json_words() -> None:
    with pytest.raises(protocol.FrameError, match="frame is not JSON: Expecting"):
        protocol.decode_body(b'{"id": 1,')
    with pytest.raises(protocol.FrameError, match="frame is not UTF-8"):
        protocol.decode_body(b'{"a": "\xff"}')


def test_small_and_large_frames_make_the_same_json() -> None:
    """Small frames go through json (a one-shot shell does not import orjson for them),
    large ones through orjson: the same messages come out."""
    row = {"spi": 0xFFFFFFFF, "peer": "192.0.2.1", "é": "ü", "n": 1.5, "none": None,
           "flag": True, 3: "int key", "t": (1, 2)}
    small = {"id": 1, "result": {"sas": [row]}}
    large = {"id": 1, "result": {"sas": [row] * 2000}}
    assert protocol._small(small) and not protocol._small(large)
    for message in (small, large):
        frame = protocol.encode(message)
        assert (len(frame) > protocol.SMALL_FRAME) == (message is large)
        assert protocol.decode_body(frame[4:]) == json.loads(json.dumps(message))
    nan = {"id": 1, "result": float("nan")}  # orjson writes null, and so does a small frame
    assert _roundtrip(nan) == {"id": 1, "result": None}
    with pytest.raises(protocol.FrameError, match="frame is not JSON: Expecting"):
        protocol.decode_body(b'{"id": 1,' + b" " * protocol.SMALL_FRAME)
