"""Issue 11, item 6: ``show counter global`` shows vpnsh's IKE and ESP drops by reason,
SA events and acquires, with PAN-OS's columns (shared/reference/panos-cli-ops.md section 4)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from vpnsh.engine import hostile
from vpnsh.engine.dataplane.kernel import xfrm_stat_counters
from vpnsh.engine.ikev2.testing import ike_policy
from vpnsh.engine.service import Engine, EngineError
from vpnsh.render.counters import show_counter_global
from vpnsh.shell.session import Session

GOLDEN = Path(__file__).parent.parent / "golden"
LOCAL = ("192.0.2.1", 500)


def test_layout_matches_the_reference_transcript() -> None:
    data = {"elapsed": 12.341, "delta": True, "counters": [
        {"name": "flow_policy_deny", "value": 14, "rate": 1, "severity": "drop",
         "category": "flow", "aspect": "session", "description": "Session setup: denied by policy"},
        {"name": "flow_fwd_l3_noroute", "value": 3, "rate": 0, "severity": "drop",
         "category": "flow", "aspect": "forward", "description": "Packets dropped: no route"},
    ]}
    assert show_counter_global(data) == (GOLDEN / "counter_global_reference.txt").read_text()


def test_empty_state() -> None:
    text = show_counter_global({"elapsed": 0.0, "counters": []})
    assert text.splitlines()[-2:] == ["Total counters shown: 0", "-" * 80]


def _engine() -> Engine:
    engine = Engine(dataplane="none")
    engine.ike.add_policies([ike_policy("gw", LOCAL[0], "192.0.2.2")], now=engine.clock())
    return engine


def _rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in result["counters"]}


def test_ike_drops_by_reason_and_delta_per_session(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine()
    rng = random.Random(5)
    for _ in range(10):
        engine.ike.receive(rng.randbytes(50), LOCAL, ("203.0.113.5", 500), 0.0)
    engine.ike.receive(hostile.v2_many_proposals(), LOCAL, ("203.0.113.5", 500), 0.0)
    engine.ike.receive(hostile.v1_many_proposals(), LOCAL, ("192.0.2.2", 500), 0.0)

    def boom(*a: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(engine.ike.v2, "_receive", boom)
    engine.ike.receive(b"\x00" * 40, LOCAL, ("203.0.113.5", 500), 0.0)

    first = engine.op("counter.global.show", {"session": "s1"})
    rows = _rows(first)
    parse = rows["ikev2_drop_parse_error"]
    assert parse["value"] >= 10 and parse["severity"] == "drop" and parse["aspect"] == "parse"
    assert parse["description"] == "IKEv2 dropped: parse error"
    assert rows["ikev1_drop_no_gateway_for_peer"]["value"] == 1  # looked up before parsing
    assert rows["ikev2_internal_error"]["severity"] == "error"
    assert all(r["value"] > 0 for r in first["counters"])  # zero counters are not listed

    for _ in range(3):
        engine.ike.receive(b"\x00" * 40, LOCAL, ("203.0.113.5", 500), 0.0)
    delta = engine.op("counter.global.show", {"session": "s1", "delta": "yes"})
    assert _rows(delta)["ikev2_internal_error"]["value"] == 3
    assert "ikev2_drop_parse_error" not in _rows(delta)  # no change since s1's last run
    # another session has its own previous run: everything is new to it
    other = engine.op("counter.global.show", {"session": "s2", "delta": "yes"})
    assert _rows(other)["ikev2_internal_error"]["value"] == 4
    errors = engine.op("counter.global.show", {"session": "s3", "severity": "error"})
    assert [r["name"] for r in errors["counters"]] == ["ikev2_internal_error"]
    with pytest.raises(EngineError, match="severity"):
        engine.op("counter.global.show", {"severity": "loud"})


def test_sa_events_and_acquires_are_counted() -> None:
    from vpnsh.engine.ike import events as ev

    engine = _engine()
    engine._handle(ev.IkeEstablished("gw", 1, True))
    engine._handle(ev.IkeFailed("gw", "no proposal chosen"))
    engine._handle(ev.IkeDeleted("gw", 1, "peer deleted it"))
    rows = _rows(engine.op("counter.global.show", {}))
    assert rows["ike_sa_established"]["value"] == 1 and rows["ike_sa_established"]["severity"] == "info"
    assert rows["ike_sa_failed"]["value"] == 1 and rows["ike_sa_deleted"]["value"] == 1


def test_userspace_plane_counts_esp_drops_past_the_life_of_an_sa() -> None:
    from vpnsh.engine.dataplane.userspace import UserspaceDataPlane

    dp = UserspaceDataPlane()
    dp.stats.unknown_spi = 7
    dp._retired.update({"auth_fail": 2, "replay": 1})
    counters = dp.global_counters()
    assert counters["esp_drop_unknown_spi"] == 7
    assert counters["esp_drop_auth_fail"] == 2 and counters["esp_drop_replay"] == 1


def test_kernel_plane_reads_xfrm_stat(tmp_path: Path) -> None:
    stat = tmp_path / "xfrm_stat"
    stat.write_text("XfrmInError             \t0\nXfrmInNoStates          \t5\n"
                    "XfrmInStateSeqError     \t2\nXfrmInStateProtoError   \t1\n")
    assert xfrm_stat_counters(str(stat)) == {
        "esp_drop_unknown_spi": 5, "esp_drop_replay": 2, "esp_drop_auth_fail": 1}


class _EngineClient:
    """The shell's client, answering engine ops from an in-process Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def request(self, op: str, **args: Any) -> Any:
        self.requests.append((op, args))
        if op == "system.info":
            return {"hostname": "PA-VM"}
        assert op == "engine.op"
        return self.engine.op(args["name"], args["args"])


def test_shell_text_json_and_delta_per_session() -> None:
    engine = _engine()
    for _ in range(4):
        engine.ike.receive(b"\x00" * 40, LOCAL, ("203.0.113.5", 500), 0.0)
    client = _EngineClient(engine)
    session = Session(client, user="admin")
    out = session.execute("show counter global")
    assert out.ok, out.error
    lines = out.output.splitlines()
    assert lines[0] == "Global counters:" and lines[1].startswith("Elapsed time since last sampling: ")
    assert lines[3].startswith("name                                   value     rate severity")
    row = next(line for line in lines if line.startswith("ikev2_drop_parse_error"))
    assert row.split()[1] == "4" and " drop      ike       parse     IKEv2 dropped: parse error" in row
    assert lines[-2] == "Total counters shown: 1"
    assert client.requests[-1] == ("engine.op", {"name": "counter.global.show",
                                                 "args": {"session": session.session_id}})
    out = session.execute("show counter global filter delta yes severity drop")
    assert out.ok and "Total counters shown: 0" in out.output  # nothing new since the last run
    engine.ike.receive(b"\x00" * 40, LOCAL, ("203.0.113.5", 500), 0.0)
    data = json.loads(Session(client, user="admin", output_json=True)
                      .execute("show counter global filter delta yes").output)
    assert set(data) == {"elapsed", "delta", "counters"} and data["delta"] is True
    assert _rows(data)["ikev2_drop_parse_error"]["value"] == 5  # a new session: all is new
    assert session.execute("show counter global filter delta yes").output.count("\nikev2_") == 1
