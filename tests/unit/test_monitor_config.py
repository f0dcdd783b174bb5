"""Tunnel monitor and path monitor: schema ranges, validation, mapping to the engine's
specs, the op command and its rendering."""

from __future__ import annotations

import pytest

from tests.unit.test_config_helpers import apply_lines, site_a
from vpnsh.config.tree import delete_path
from vpnsh.config.validate import validate
from vpnsh.engine import config_map
from vpnsh.engine.dataplane.base import Route
from vpnsh.render import vpn as vpn_render
from vpnsh.shell import opcommands
from vpnsh.shell.parser import parse

P = "set network virtual-router default routing-table ip static-route "
SECOND = """
set network interface tunnel units tunnel.2 ip 169.254.20.1/30
set network tunnel ipsec T2 tunnel-interface tunnel.2
set network tunnel ipsec T2 auto-key ike-gateway GW-SiteB
set network tunnel ipsec T2 tunnel-monitor enable yes
set network tunnel ipsec T2 tunnel-monitor destination-ip 169.254.20.2
set network tunnel ipsec T2 tunnel-monitor tunnel-monitor-profile FAIL
set network profiles monitor-profile FAIL action fail-over interval 2 threshold 3
""" + P + "backup destination 10.20.0.0/24 interface tunnel.2 metric 20\n" + \
    P + "backup path-monitor enable yes hold-time 1\n" + \
    P + "backup path-monitor monitor-destinations D1 source 169.254.20.1/30 destination 10.20.0.1 interval 1 count 3\n"


def problems(text: str, delete: tuple[str, ...] = ()) -> list[str]:
    tree = apply_lines(site_a(), text) if text else site_a()
    for line in delete:
        delete_path(tree, line.split())
    return [str(p) for p in validate(tree)]


def test_monitor_profile_ranges_and_defaults_follow_panos():
    assert problems("set network profiles monitor-profile M interval 100 threshold 10") == []
    with pytest.raises(Exception, match="out of range 2-100"):
        apply_lines(site_a(), "set network profiles monitor-profile M interval 101")
    with pytest.raises(Exception, match="out of range 2-10"):
        apply_lines(site_a(), "set network profiles monitor-profile M threshold 1")
    with pytest.raises(Exception, match="longer than 31"):
        apply_lines(site_a(), "set network profiles monitor-profile " + "M" * 32 + " interval 3")
    with pytest.raises(Exception, match="out of range 0-1440"):
        apply_lines(site_a(), P + "to-SiteB path-monitor hold-time 1441")
    with pytest.raises(Exception, match="out of range 3-10"):
        apply_lines(site_a(), P + "to-SiteB path-monitor monitor-destinations D count 2")


def test_tunnel_monitor_needs_an_address_on_the_tunnel_interface():
    no_ip = ("network interface tunnel units tunnel.1 ip",)
    out = problems("", delete=no_ip)
    assert any("tunnel-monitor" in p and "needs an IP address on tunnel.1" in p for p in out), out
    assert problems("set network tunnel ipsec T-SiteB tunnel-monitor enable no", delete=no_ip) == []


def test_path_monitor_needs_destinations_with_source_and_destination():
    out = problems(P + "to-SiteB path-monitor enable yes")
    assert any("has no monitor-destinations" in p for p in out), out
    out = problems(P + "to-SiteB path-monitor enable yes\n" +
                   P + "to-SiteB path-monitor monitor-destinations D1 destination 10.20.0.1")
    assert any("is missing 'source'" in p for p in out), out
    many = "".join(P + f"to-SiteB path-monitor monitor-destinations D{i} source 169.254.10.1 "
                   f"destination 10.20.0.{i}\n" for i in range(9))
    out = problems(P + "to-SiteB path-monitor enable yes\n" + many)
    assert any("at most 8" in p for p in out), out


def test_mapping_gives_the_engine_tunnel_and_path_monitors(monkeypatch):
    monkeypatch.setenv("VPNSH_TEST_HOLD_TIME_SCALE", "0.1")
    tree = apply_lines(site_a(), SECOND)
    assert validate(tree) == []
    cfg = config_map.engine_config(tree, lambda s: "secret")
    mons = {m.tunnel: m for m in cfg.tunnel_monitors}
    t1, t2 = mons["T-SiteB"], mons["T2"]
    assert (t1.interface, t1.source, t1.destination, t1.action, t1.interval, t1.threshold) == \
        ("tunnel.1", "169.254.10.1", "169.254.10.2", "wait-recover", 3, 5)  # factory default profile
    assert t1.child == "T-SiteB:PID-LAN"
    assert (t2.action, t2.interval, t2.threshold, t2.child) == ("fail-over", 2, 3, "T2")
    [pm] = cfg.path_monitors
    assert pm.route == Route("10.20.0.0/24", "tunnel.2", None, 20)
    assert pm.hold_time == pytest.approx(6.0) and pm.failure_condition == "any"
    [d] = pm.destinations
    assert (d.source, d.destination, d.interval, d.count, d.enabled) == ("169.254.20.1", "10.20.0.1", 1, 3, True)
    assert {r.metric for r in cfg.routes} == {10, 20}


def test_show_routing_path_monitor_parses_and_renders():
    cmd = parse("show routing path-monitor virtual-router default", "operational")
    assert cmd is not None and cmd.name == "show routing path-monitor"
    assert cmd.args == {"virtual_router": "default"}
    op = opcommands.lookup(cmd.name, cmd.args)
    assert op is not None and op.op == "routing.path-monitor.show"
    text = op.render({"routes": [{
        "vr": "default", "name": "backup", "destination": "10.20.0.0/24", "nexthop": None,
        "interface": "tunnel.2", "metric": 20, "failure_condition": "any", "status": "down",
        "hold_remaining": None, "reason": "D1: 3 pings to 10.20.0.1 unanswered (failure-condition any)",
        "monitors": [{"name": "D1", "source": "169.254.20.1", "destination": "10.20.0.1",
                      "interval": 1, "count": 3, "status": "down", "sent": 9, "replies": 4,
                      "enabled": True}]}]})
    lines = text.splitlines()
    assert lines[0].split() == ["VirtualRouter", "Route", "Destination", "Nexthop", "Interface",
                                "Metric", "Condition", "Status"]
    assert lines[2].split() == ["default", "backup", "10.20.0.0/24", "None", "tunnel.2", "20", "any", "Down"]
    assert "D1" in lines[3] and lines[3].rstrip().endswith("Down") and "reason: D1: 3 pings" in lines[4]


def test_flow_detail_shows_monitor_lines_only_when_monitoring():
    base = {"name": "T1", "monitor": "down", "proxy_id": {}}
    detail = {"status": "down", "interval": 3, "threshold": 5, "action": "fail-over",
              "profile": "FAIL", "source": "169.254.10.1", "destination": "10.9.9.9", "sent": 12,
              "replies": 0, "lost_in_row": 11, "reason": "5 probes in a row to 10.9.9.9 unanswered"}
    text = vpn_render.show_flow_detail({"flows": [{**base, "monitor_detail": detail}]})
    assert "        monitor:                down" in text
    assert "          monitor status:       down" in text
    assert "          monitor packets reply:0" in text
    assert "monitor down reason:  5 probes in a row to 10.9.9.9 unanswered" in text
    off = vpn_render.show_flow_detail({"flows": [{**base, "monitor": "off", "monitor_detail": None}]})
    assert "monitor status" not in off
