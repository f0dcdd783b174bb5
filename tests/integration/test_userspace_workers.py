"""The user-space data plane with several worker processes (``--dataplane-workers``).

Two namespaces, a data plane with 2 workers in each (``VPNSH_DP_WORKERS=2`` for
``tests/helpers/userspace_driver.py``), real packets. What must stay exact whichever
worker handles a packet: the replay window (a replay read by the other worker is
dropped and counted), the counters (one SA's figures on both ends agree to the packet),
rekeys under bulk TCP (no ESP packet lost), lifesize limits (the hard one stops the bulk
flow at the limit, soft and hard fire once); and a worker that dies is reported and
replaced while the tunnel keeps working.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.integration.test_userspace_dataplane as one
from tests.helpers.netns import NetLab, netlab, two_sites, wait_until  # noqa: F401
from tests.integration.test_userspace_dataplane import (
    REPLAY,
    SINK,
    SOURCE,
    Pair,
    captured_esp,
    ping,
    spec_pair,
    tcp_transfer,
)

WORKERS = 2


@pytest.fixture
def pair(netlab: NetLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
         ) -> Iterator[Pair]:
    monkeypatch.setenv("VPNSH_DP_WORKERS", str(WORKERS))
    p = Pair(netlab, two_sites(netlab), tmp_path)
    assert len(p.a.request("worker_pids")) == WORKERS
    assert len(p.b.request("worker_pids")) == WORKERS
    yield p
    p.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_bulk_tcp_over_workers_counters_agree_exactly(pair: Pair, tmp_path: Path) -> None:
    """Several TCP flows at once, read by whichever worker is free: the
    bytes arrive intact, each SA's figures on the two ends agree to the packet, every
    sequence number was used once, and the workers all moved packets."""
    s = pair.sites
    a, b = spec_pair(s.left.outer, s.right.outer)
    pair.install(a, b)
    sinks = []
    for port in range(5101, 5107):
        sink = s.right.ns.spawn([sys.executable, "-c", SINK, s.right.inner,
                                 str(port)], log_path=tmp_path / f"sink{port}.log")
        sinks.append(sink)
    for sink in sinks:
        wait_until(lambda sink=sink: "listening" in sink.output(), 10, what="TCP sink")
    sources = [s.left.ns.spawn([sys.executable, "-c", SOURCE, s.left.inner, s.right.inner, str(port),
                                str(4 << 20)], log_path=tmp_path / f"source{port}.log")
               for port in range(5101, 5107)]
    for source, sink in zip(sources, sinks, strict=True):
        assert source.popen.wait(120) == 0
        wait_until(lambda sink=sink: len(sink.output().splitlines()) >= 2, 30, what="sink digest")
        assert sink.output().splitlines()[1].strip() == source.output().strip()

    def agree() -> bool:
        return all(o.counters(os_)["encap_packets"] == i.counters(is_)["decap_packets"]
                   for o, os_, i, is_ in ((pair.a, 0x1001, pair.b, 0x2001), (pair.b, 0x2001, pair.a, 0x1001)))

    wait_until(agree, 10, what="every ESP packet opened")
    for o, os_, i, is_ in ((pair.a, 0x1001, pair.b, 0x2001), (pair.b, 0x2001, pair.a, 0x1001)):
        sent, got = o.counters(os_), i.counters(is_)
        assert sent["encap_bytes"] == got["decap_bytes"] > 0
        assert sent["send_seq"] == sent["encap_packets"] == got["recv_seq"]
        assert got["replay_packets"] == got["auth_errors"] == got["decrypt_errors"] == 0
    # both workers of each side moved packets (TUN reads out, datagrams in), and the
    # data plane's own figures are their sums
    for dp in (pair.a, pair.b):
        per_worker = dp.request("worker_stats")
        assert len(per_worker) == WORKERS
        assert all(w["tun_reads"] + w["udp_packets_in"] > 0 for w in per_worker), per_worker
        total = dp.request("stats")
        assert total["udp_packets_in"] >= sum(w["udp_packets_in"] for w in per_worker)
    assert sum(w["tso_reads"] for w in pair.a.request("worker_stats")) > 0


def test_replay_read_by_the_other_worker_is_dropped_and_counted(pair: Pair, tmp_path: Path) -> None:
    """One SA, one replay window in shared memory: an ESP packet opened by one worker
    and replayed is dropped by whichever worker reads it. Each worker in turn is made
    the only reader (the other stopped with SIGSTOP), so one of the two replays is
    certainly read by a worker that did not open the original."""
    s = pair.sites
    a, b = spec_pair(s.left.outer, s.right.outer)
    pair.install(a, b)
    esp = captured_esp(pair, tmp_path, "udp")
    before = pair.b.counters(0x2001)
    assert before["replay_packets"] == 0
    pids = pair.b.request("worker_pids")
    for n, reader in enumerate(pids, start=1):
        others = [p for p in pids if p != reader]
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        try:
            s.right.ns.run(sys.executable, "-c", REPLAY, s.right.outer, esp, "udp")
            wait_until(lambda n=n: pair.b.counters(0x2001)["replay_packets"] == n, 10,
                       what=f"replay drop by worker {reader}")
        finally:
            for pid in others:
                os.kill(pid, signal.SIGCONT)
    after = pair.b.counters(0x2001)
    assert after["decap_packets"] == before["decap_packets"]
    assert after["replay_packets"] == WORKERS
    assert pair.b.request("global_counters")["esp_drop_replay"] == WORKERS
    assert ping(s.left.ns, s.left.inner, s.right.inner, count=2).returncode == 0


def test_bulk_tcp_through_a_rekey_loses_no_esp_packet(pair: Pair, tmp_path: Path) -> None:
    """The one-process test, with two workers on each side: every ESP packet sealed on
    the old and new SAs is opened on the other side, counters agree exactly."""
    one.test_bulk_tcp_through_a_rekey_loses_no_esp_packet(pair, tmp_path)


def test_rekey_make_before_break_loses_nothing(pair: Pair) -> None:
    one.test_rekey_make_before_break_loses_nothing(pair)


def test_hard_lifesize_stops_bulk_tcp_exactly(pair: Pair, tmp_path: Path) -> None:
    """Sequence numbers and bytes are taken under the SA's lock in shared memory: the
    hard lifesize stops the bulk flow at the limit whichever worker seals."""
    one.test_hard_lifesize_stops_bulk_tcp_exactly(pair, tmp_path)


def test_lifesize_limits_fire_soft_then_hard_once(pair: Pair) -> None:
    one.test_lifesize_limits_fire_soft_then_hard_once(pair)


def test_a_dead_worker_is_reported_and_replaced(pair: Pair, tmp_path: Path) -> None:
    """kill -9 of a worker: the owner notices at once, counts and reports it, starts a
    new worker with every SA (sequence numbers and window carry on from shared memory),
    and the tunnel carries traffic intact."""
    s = pair.sites
    a, b = spec_pair(s.left.outer, s.right.outer)
    pair.install(a, b)
    assert ping(s.left.ns, s.left.inner, s.right.inner, count=2).returncode == 0
    old = pair.a.request("worker_pids")
    victim = old[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: pair.a.request("global_counters")["dataplane_worker_restart"] == 1, 10,
               what="the restart counted")
    new = pair.a.request("worker_pids")
    assert victim not in new and old[1] in new and len(new) == WORKERS
    assert all(_alive(p) for p in new)
    notes = pair.a.request("info")
    assert any(f"pid {victim}) died" in n and "restarted" in n for n in notes), notes
    assert pair.a.request("stats")["worker_restarts"] == 1
    res = ping(s.left.ns, s.left.inner, s.right.inner, count=10, interval=0.05)
    assert res.returncode == 0 and " 0% packet loss" in res.stdout, res.stdout
    sent, got = tcp_transfer(s.left.ns, s.left.inner, s.right.ns, s.right.inner, 4 << 20, tmp_path)
    assert sent == got
    out, back = pair.a.counters(0x1001), pair.b.counters(0x2001)
    wait_until(lambda: pair.a.counters(0x1001)["encap_packets"]
               == pair.b.counters(0x2001)["decap_packets"], 10, what="every ESP packet opened")
    out, back = pair.a.counters(0x1001), pair.b.counters(0x2001)
    assert out["send_seq"] == out["encap_packets"] == back["recv_seq"]
    assert back["replay_packets"] == 0


def test_stop_ends_every_worker_and_removes_the_shared_memory(pair: Pair) -> None:
    """A clean shutdown: the workers exit, the shared-memory file is gone."""
    s = pair.sites
    a, b = spec_pair(s.left.outer, s.right.outer)
    pair.install(a, b)
    assert ping(s.left.ns, s.left.inner, s.right.inner, count=1).returncode == 0
    pids = pair.a.request("worker_pids")
    owner = pair.a.proc.pid
    assert any(f.startswith(f"vpnsh-dp-{owner}-") for f in os.listdir("/dev/shm"))
    pair.a.stop()
    assert pair.a.proc.returncode == 0
    wait_until(lambda: not any(_alive(p) for p in pids), 10, what="workers gone")
    assert not any(f.startswith(f"vpnsh-dp-{owner}-") for f in os.listdir("/dev/shm"))
