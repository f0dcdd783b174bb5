"""Tunnel monitor and path monitor state machines (vpnsh/engine/monitor), sans-IO:
probes out, replies and a fake clock in, status changes out as events."""

from __future__ import annotations

import pytest

from vpnsh.engine.dataplane.base import Route
from vpnsh.engine.monitor.heartbeat import Heartbeat
from vpnsh.engine.monitor.state import (
    FAIL_OVER,
    MonitorDestination,
    MonitorSet,
    PathMonitorSpec,
    Renegotiate,
    RouteRestored,
    RouteWithdrawn,
    TunnelDown,
    TunnelMonitorSpec,
    TunnelUp,
)


def events(ms: MonitorSet) -> list:
    out = []
    while (e := ms.next_event()) is not None:
        out.append(e)
    return out


def run(ms: MonitorSet, start: float, end: float, answer=lambda p, now: True) -> list:
    """Poll at every timer from start to end; replies come back at once when answer() says so."""
    now, got = start, []
    while now <= end:
        for p in ms.poll(now):
            if answer(p, now):
                ms.reply(p.ident, p.seq, now + 0.01)
        got += [(now, e) for e in events(ms)]
        nxt = ms.next_timer()
        assert nxt is not None and nxt > now
        now = nxt
    return got


def test_heartbeat_down_after_threshold_lost_and_up_on_first_reply():
    hb = Heartbeat(interval=3, threshold=5, start=100.0)
    seq, changed = hb.tick(100.0)
    assert seq == 1 and not changed
    assert hb.reply(1, 100.1) is False and hb.up  # already up
    downs = []
    for k in range(1, 7):  # probes 2..7 go unanswered
        seq, changed = hb.tick(100.0 + 3 * k)
        if changed:
            downs.append(100.0 + 3 * k)
    # probe 2 (t=103) is judged lost at 106, ..., probe 6 (t=115) at 118: the 5th loss
    assert downs == [118.0] and not hb.up and hb.misses == 5
    assert hb.reply(seq - 1, 118.5) is False  # stale sequence number
    assert hb.reply(seq, 118.5) is True and hb.up and hb.misses == 0
    assert hb.sent == 7 and hb.replies == 2


def test_heartbeat_keeps_its_grid_after_a_stall():
    hb = Heartbeat(interval=2, threshold=3, start=0.0)
    hb.tick(0.0)
    seq, _ = hb.tick(7.3)  # the caller was late: one probe, next due on the grid
    assert seq == 2 and hb.next_due() == 8.0
    assert hb.tick(7.9) == (None, False)


def test_heartbeat_rejects_bad_settings():
    with pytest.raises(ValueError):
        Heartbeat(interval=0, threshold=5, start=0)


def tspec(**kw) -> TunnelMonitorSpec:
    base = dict(tunnel="T1", child="T1", interface="tunnel.1", source="169.254.10.1",
                destination="169.254.10.2", interval=2, threshold=3)
    base.update(kw)
    return TunnelMonitorSpec(**base)


def test_tunnel_monitor_wait_recover_down_renegotiates_and_comes_back():
    ms = MonitorSet()
    ms.configure([tspec()], [], now=0.0)
    broken = (10.0, 30.0)
    got = run(ms, 0.0, 40.0, answer=lambda p, now: not broken[0] <= now < broken[1])
    kinds = [(t, type(e).__name__) for t, e in got]
    # first lost probe at t=10, judged at 12, 14, 16: down at 16 = 10 + threshold x interval
    assert kinds[0] == (16.0, "TunnelDown") and kinds[1] == (16.0, "Renegotiate")
    down = got[0][1]
    assert isinstance(down, TunnelDown) and "3 probes in a row to 169.254.10.2" in down.reason
    # still down: another renegotiation every threshold further losses (22, 28)
    renegs = [e for _, e in got if isinstance(e, Renegotiate)]
    assert [r.attempt for r in renegs] == [1, 2, 3] and [t for t, e in got if isinstance(e, Renegotiate)] == [16.0, 22.0, 28.0]
    up = [(t, e) for t, e in got if isinstance(e, TunnelUp)]
    assert len(up) == 1 and up[0][0] == 30.0 and up[0][1].down_for == pytest.approx(14.01)
    # wait-recover never withdraws routes
    assert ms.withdrawn_interfaces() == set()
    status = ms.tunnel_status("T1")
    assert status is not None and status["status"] == "up" and status["reason"] == ""


def test_tunnel_monitor_fail_over_withdraws_the_interface_while_down():
    ms = MonitorSet()
    ms.configure([tspec(action=FAIL_OVER)], [], now=0.0)
    run(ms, 0.0, 20.0, answer=lambda p, now: now < 4.0)
    assert ms.withdrawn_interfaces() == {"tunnel.1"}
    status = ms.tunnel_status("T1")
    assert status["status"] == "down" and "unanswered" in status["reason"]
    assert status["renegotiations"] >= 2
    run(ms, ms.next_timer(), 30.0)
    assert ms.withdrawn_interfaces() == set()


def test_destination_that_never_answers_is_down_with_reason():
    ms = MonitorSet()
    ms.configure([tspec(threshold=5, interval=3)], [], now=0.0)
    got = run(ms, 0.0, 20.0, answer=lambda p, now: False)
    assert isinstance(got[0][1], TunnelDown) and got[0][0] == 15.0  # threshold x interval
    assert ms.tunnel_status("T1")["replies"] == 0


def test_reconfigure_keeps_unchanged_monitors_and_restarts_changed_ones():
    ms = MonitorSet()
    ms.configure([tspec(), tspec(tunnel="T2", interface="tunnel.2")], [], now=0.0)
    run(ms, 0.0, 10.0, answer=lambda p, now: False)
    ident1 = ms.tunnels["T1"].ident
    ms.configure([tspec(), tspec(tunnel="T2", interface="tunnel.2", threshold=4)], [], now=10.5)
    assert ms.tunnels["T1"].beat.up is False and ms.tunnels["T1"].ident == ident1
    assert ms.tunnels["T2"].beat.up is True and ms.tunnels["T2"].beat.sent == 0
    ms.configure([], [], now=11.0)
    assert not ms.tunnels and ms.reply(ident1, 1, 11.0) is False


def pspec(condition="any", hold=6.0) -> PathMonitorSpec:
    return PathMonitorSpec(
        vr="default", name="to-B", route=Route("10.2.0.0/24", "tunnel.1", None, 10),
        destinations=(MonitorDestination("D1", "169.254.10.1", "10.2.0.1", interval=1, count=3),
                      MonitorDestination("D2", "169.254.10.1", "10.2.0.2", interval=1, count=3)),
        failure_condition=condition, hold_time=hold)


def test_path_monitor_any_withdraws_and_restores_after_hold_time():
    ms = MonitorSet()
    ms.configure([], [pspec("any", hold=6.0)], now=0.0)
    # D2 stops answering from t=5 to t=10
    got = run(ms, 0.0, 30.0, answer=lambda p, now: not (p.destination == "10.2.0.2" and 5 <= now < 10))
    kinds = [(t, type(e).__name__) for t, e in got]
    assert kinds == [(8.0, "RouteWithdrawn"), (16.0, "RouteRestored")]  # up at 10, +6 s hold
    withdrawn = got[0][1]
    assert isinstance(withdrawn, RouteWithdrawn) and "D2: 3 pings to 10.2.0.2" in withdrawn.reason
    assert isinstance(got[1][1], RouteRestored)
    assert ms.withdrawn_routes() == set()


def test_path_monitor_all_needs_every_destination_down():
    ms = MonitorSet()
    ms.configure([], [pspec("all")], now=0.0)
    run(ms, 0.0, 20.0, answer=lambda p, now: p.destination != "10.2.0.2")
    assert ms.withdrawn_routes() == set()
    run(ms, ms.next_timer(), 30.0, answer=lambda p, now: False)
    assert ms.withdrawn_routes() == {Route("10.2.0.0/24", "tunnel.1", None, 10)}
    [row] = ms.path_status()
    assert row["status"] == "down" and {m["status"] for m in row["monitors"]} == {"down"}


def test_path_monitor_failure_during_hold_time_restarts_the_hold():
    ms = MonitorSet()
    ms.configure([], [pspec("any", hold=10.0)], now=0.0)
    flaky = [(3, 8), (12, 17)]  # healthy again at 8, fails again before 8 + 10
    got = run(ms, 0.0, 45.0, answer=lambda p, now: not any(a <= now < b for a, b in flaky))
    kinds = [(t, type(e).__name__) for t, e in got]
    assert kinds == [(6.0, "RouteWithdrawn"), (27.0, "RouteRestored")]  # 17 + 10


def test_first_probe_phase_spreads_monitors_over_their_interval():
    ms = MonitorSet(phase=lambda interval: interval / 2)
    ms.configure([tspec(interval=2)], [pspec()], now=10.0)
    assert ms.tunnels["T1"].beat.next_due() == 11.0
    assert {d.beat.next_due() for d in ms.paths[("default", "to-B")].dests.values()} == {10.5}
    assert ms.poll(10.4) == [] and len(ms.poll(10.5)) == 2
    [probe] = ms.poll(11.0)
    assert probe.interface == "tunnel.1" and probe.destination == "169.254.10.2"
