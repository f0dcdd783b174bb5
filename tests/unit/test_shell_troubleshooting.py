"""show system info, show jobs, find command keyword, tail mp-log (follow), debug ike, from the shell."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vpnsh.render import system as system_render
from vpnsh.shell import session as session_mod
from vpnsh.shell.session import Session, new_lines


class StubClient:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.logs: list[str] = ["line 1", "line 2"]
        self.debug: dict[str, Any] = {"global": "normal", "gateways": {}, "tunnels": {}, "pcap": False}

    def request(self, op: str, **args: Any) -> Any:
        self.requests.append((op, args))
        if op == "system.info":
            return {"hostname": "PA-VM", "version": "0.1.0", "uptime": "0 days, 1:02:03",
                    "uptime_seconds": 3723, "pid": 42, "dataplane": "none"}
        if op == "jobs.show":
            jobs = [{"id": 1, "type": "Commit", "enqueued": 1.7e9, "completed": 1.7e9 + 2,
                     "status": "FIN", "result": "OK"},
                    {"id": 2, "type": "Validate", "enqueued": 1.7e9 + 9, "completed": 1.7e9 + 10,
                     "status": "FIN", "result": "FAIL"}]
            return {"jobs": [j for j in jobs if "id" not in args or j["id"] == args["id"]]}
        if op == "log.read":
            return {"text": "".join(f"{line}\n" for line in self.logs[-args.get("lines", 2000):])}
        if op == "debug.ike":
            if args["scope"] == "global":
                self.debug["global"] = args["level"] or "normal"
            if args["scope"] == "pcap":
                self.debug["pcap"] = args["pcap"]
            return self.debug
        if op == "debug.show":
            return self.debug
        raise AssertionError(op)


@pytest.fixture
def client() -> StubClient:
    return StubClient()


@pytest.fixture
def session(client: StubClient) -> Session:
    return Session(client, user="admin")


def test_show_system_info_in_panos_lines(session: Session) -> None:
    out = session.execute("show system info")
    assert out.output.splitlines() == [
        "hostname: PA-VM", "uptime: 0 days, 1:02:03", "sw-version: 0.1.0",
        "operational-mode: normal", "vpn-dataplane: none", "pid: 42"]
    assert session.execute("show system info | match uptime").output == "uptime: 0 days, 1:02:03\n"


def test_system_info_shows_unknown_keys_after_the_known_ones() -> None:
    assert system_render.system_info({"serial": "X", "hostname": "h"}) == "hostname: h\nserial: X\n"


def test_show_jobs_all_newest_first_and_by_id(session: Session, client: StubClient) -> None:
    lines = session.execute("show jobs all").output.splitlines()
    assert lines[0].startswith("Enqueued") and lines[1].startswith("-----")
    assert [line.split()[3] for line in lines[2:]] == ["2", "1"]
    assert "Validate" in lines[2] and "FAIL" in lines[2]
    lines = session.execute("show jobs id 1").output.splitlines()
    assert client.requests[-1] == ("jobs.show", {"id": 1})
    assert len(lines) == 5 and "Commit" in lines[2]
    assert lines[3:] == ["Warnings:", "Details:"]


def test_find_command_keyword_lists_commands_and_config_paths(session: Session) -> None:
    out = session.execute("find command keyword ike-sa").output.splitlines()
    assert "show vpn ike-sa detail gateway <value>" in out
    assert "clear vpn ike-sa gateway <value>" in out
    assert all("ike-sa" in line for line in out)
    out = session.execute("find command keyword dpd").output.splitlines()
    assert "(configure) set network ike gateway <name> protocol ikev2 dpd interval <value>" in out


def test_less_and_tail_without_follow_print_and_return(session: Session, client: StubClient) -> None:
    client.logs = [f"line {i}" for i in range(30)]
    assert session.execute("less mp-log ikemgr.log").output.splitlines()[-1] == "line 29"
    out = session.execute("tail follow yes mp-log ikemgr.log")  # no stream: a script
    assert out.output.splitlines() == [f"line {i}" for i in range(20, 30)]
    assert session.execute("tail mp-log ikemgr.log | match 2[89]").output == "line 28\nline 29\n"


def test_tail_follow_streams_new_lines_until_cancelled(
    session: Session, client: StubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_mod, "FOLLOW_INTERVAL", 0.001)
    got: list[str] = []
    writes = iter([["line 3"], ["line 4", "line 5"], []])

    def stream(text: str) -> None:
        got.append(text)
        more = next(writes)
        if not more:
            session.cancel.set()  # Ctrl-C
        client.logs = client.logs + more

    session.stream = stream
    out = session.execute("tail follow yes mp-log ikemgr.log")
    assert out.ok and out.output == ""
    assert got == ["line 1\nline 2\n", "line 3\n", "line 4\nline 5\n"]


def test_new_lines_of_a_growing_tail() -> None:
    assert new_lines(["a", "b"], ["a", "b", "c"]) == ["c"]
    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert new_lines(["a", "a"], ["a", "a", "a"]) == ["a"]
    assert new_lines([], ["x"]) == ["x"]
    assert new_lines(["x"], ["y"]) == ["y"]  # rotated: all of it is new


def test_debug_ike_commands_reach_the_daemon(session: Session, client: StubClient) -> None:
    assert session.execute("debug ike global on debug").ok
    assert client.requests[-1] == ("debug.ike", {"scope": "global", "level": "debug"})
    assert session.execute("debug ike gateway GW1 on dump").ok
    assert client.requests[-1] == ("debug.ike", {"scope": "gateway", "level": "dump", "name": "GW1"})
    assert session.execute("debug ike tunnel T1 off").ok
    assert client.requests[-1] == ("debug.ike", {"scope": "tunnel", "level": None, "name": "T1"})
    assert session.execute("debug ike pcap on").ok
    assert client.requests[-1] == ("debug.ike", {"scope": "pcap", "pcap": True})
    assert session.execute("debug ike wireshark-keys off").ok
    assert client.requests[-1] == ("debug.ike", {"scope": "wireshark-keys", "keys": False})
    out = session.execute("show debug ike").output.splitlines()
    assert "sw.ikedaemon.debug.global: debug" in out and "sw.ikedaemon.debug.pcap: on" in out
    session.execute("debug ike global off")
    assert client.debug["global"] == "normal"


def test_debug_show_as_json(client: StubClient) -> None:
    out = Session(client, user="admin", output_json=True).execute("show debug ike")
    assert json.loads(out.output)["global"] == "normal"


def test_terminal_width_folds_long_lines(session: Session) -> None:
    wide = session.execute("find command keyword dpd").output.splitlines()
    assert max(len(line) for line in wide) > 40
    assert session.execute("set cli terminal width 40").ok
    narrow = session.execute("find command keyword dpd").output.splitlines()
    assert max(len(line) for line in narrow) <= 40 and len(narrow) > len(wide)
    assert "".join(narrow) == "".join(wide)


def test_fold_keeps_short_text_unchanged() -> None:
    assert session_mod.fold("a\nbb\n", 0) == "a\nbb\n"
    assert session_mod.fold("abcdef\n", 4) == "abcd\nef\n"
