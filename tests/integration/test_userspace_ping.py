"""The daemon's ping: arguments, the summary it parses, and a real ping through a tunnel."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.netns import NetLab, netlab, two_sites  # noqa: F401
from tests.integration.test_userspace_dataplane import Pair, spec_pair
from vpnsh.engine.dataplane.ping import PingError, parse_summary, ping_argv, run_ping

LINUX_OUTPUT = """PING 10.2.0.1 (10.2.0.1) from 10.1.0.1 : 56(84) bytes of data.
64 bytes from 10.2.0.1: icmp_seq=1 ttl=64 time=0.512 ms
64 bytes from 10.2.0.1: icmp_seq=3 ttl=64 time=0.400 ms

--- 10.2.0.1 ping statistics ---
4 packets transmitted, 2 received, 50% packet loss, time 3004ms
rtt min/avg/max/mdev = 0.400/0.456/0.512/0.056 ms
"""


def test_argv_carries_source_host_count() -> None:
    argv = ping_argv("10.1.0.1", "10.2.0.1", 3)
    assert argv[argv.index("-c") + 1] == "3" and argv[argv.index("-I") + 1] == "10.1.0.1"
    assert argv[-1] == "10.2.0.1"


@pytest.mark.parametrize("source,host,count", [
    ("10.1.0.1", "not-an-ip", 1), ("10.1.0.1", "2001:db8::1", 1), ("10.1.0.1", "10.2.0.1", 0),
    ("10.1.0.1", "10.2.0.1", 100000), ("-f", "10.2.0.1", 1)])
def test_argv_refuses_bad_arguments(source: str, host: str, count: int) -> None:
    with pytest.raises(PingError):
        ping_argv(source, host, count)


def test_summary_parsing() -> None:
    s = parse_summary(LINUX_OUTPUT)
    assert (s["transmitted"], s["received"], s["loss_percent"]) == (4, 2, 50.0)
    assert s["rtt"] == {"min": 0.4, "avg": 0.456, "max": 0.512, "mdev": 0.056}
    assert parse_summary("ping: connect: Network is unreachable\n")["received"] == 0


def test_ping_loopback_gives_output_as_data() -> None:
    result = asyncio.run(run_ping("127.0.0.1", "127.0.0.1", 2))
    assert result["returncode"] == 0, result["output"]
    assert (result["transmitted"], result["received"]) == (2, 2)
    assert "127.0.0.1 ping statistics" in result["output"]
    assert result["source"] == "127.0.0.1" and result["count"] == 2


RUN_PING = ("import asyncio, json, sys; from vpnsh.engine.dataplane.ping import run_ping; "
            "print(json.dumps(asyncio.run(run_ping(sys.argv[1], sys.argv[2], 3))))")


@pytest.fixture
def pair(netlab: NetLab, tmp_path: Path) -> Iterator[Pair]:  # noqa: F811
    p = Pair(netlab, two_sites(netlab), tmp_path)
    yield p
    p.stop()


def test_ping_source_host_goes_through_the_tunnel(pair: Pair) -> None:
    s = pair.sites
    a, b = spec_pair(s.left.outer, s.right.outer)
    pair.install(a, b)
    res = s.left.ns.run(sys.executable, "-c", RUN_PING, s.left.inner, s.right.inner, timeout=30)
    result = json.loads(res.stdout)
    assert result["received"] == 3, result["output"]
    assert pair.a.counters(0x1001)["encap_packets"] == 3
    assert pair.b.counters(0x2001)["decap_packets"] == 3
