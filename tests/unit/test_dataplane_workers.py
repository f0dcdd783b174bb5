"""Worker processes of the user-space data plane: the option, the default, and the
shared-memory SA state that keeps sequence numbers, counters and the replay window
exact across processes (tests/integration/test_userspace_workers.py moves real packets)."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Iterator

import pytest

from vpnsh.engine.crypto.algorithms import EncrId, IntegId
from vpnsh.engine.daemon import parse_args
from vpnsh.engine.dataplane import fused
from vpnsh.engine.dataplane.sa import Direction, EspSA
from vpnsh.engine.dataplane.shared import (
    SharedEspSA,
    SlotTable,
    bind,
    end_turn,
    take_ticket,
    wait_turn,
)
from vpnsh.engine.dataplane.workers import default_workers

KEY = bytes(range(20))


def test_default_worker_count_follows_the_cores() -> None:
    assert [default_workers(n) for n in (1, 2, 3, 4, 8, 64)] == [1, 1, 2, 3, 4, 4]


def test_vpnshd_option() -> None:
    assert parse_args([]).dataplane_workers is None  # the daemon picks default_workers()
    assert parse_args(["--dataplane-workers", "3"]).dataplane_workers == 3
    with pytest.raises(SystemExit):
        parse_args(["--dataplane-workers", "0"])


@pytest.fixture
def table() -> Iterator[SlotTable]:
    path = os.path.join(tempfile.gettempdir(), f"vpnsh-dp-test-{os.getpid()}")
    t = SlotTable(path, 8, create=True)
    yield t
    t.close(unlink=True)
    assert not os.path.exists(path)


def _pair(table: SlotTable, index: int, direction: Direction) -> tuple[EspSA, EspSA]:
    """Two views of one SA, as two worker processes would hold it."""
    lock = multiprocessing.get_context("spawn").Lock()
    table.zero(index)
    views = []
    for _ in range(2):
        sa = EspSA(0x1001, direction, EncrId.ENCR_AES_GCM_16, 128, KEY, IntegId.NONE, b"",
                   lifesize_hard_kb=0)
        views.append(bind(sa, table, index, lock))
    return views[0], views[1]


def test_sequence_numbers_and_counters_are_one_across_views(table: SlotTable) -> None:
    a, b = _pair(table, 0, Direction.OUT)
    assert isinstance(a, SharedEspSA)
    a.seq = 10
    b.seq += 5
    assert a.seq == b.seq == 15
    a.counters.packets += 2
    b.counters.bytes += 100
    assert (b.counters.packets, a.counters.bytes) == (2, 100)


def test_replay_window_is_one_across_views(table: SlotTable) -> None:
    a, b = _pair(table, 1, Direction.IN)
    assert a.replay.check(7)
    a.replay.update(7)
    assert not b.replay.check(7)  # seen by the other view: a replay
    b.replay.update(5000)
    assert a.replay.top == 5000 and not a.replay.check(7)  # now too old
    assert a.replay.check(4999) and b.replay.check(4999)


def test_a_train_opened_through_one_view_is_a_replay_through_the_other(table: SlotTable) -> None:
    out = EspSA(0x1001, Direction.OUT, EncrId.ENCR_AES_GCM_16, 128, KEY, IntegId.NONE, b"")
    train = fused.seal_tcp_super(out, memoryview(_super()), 1000)
    assert train is not None and train.count == 3
    a, b = _pair(table, 2, Direction.IN)
    _buf, accepted = fused.open_train(a, bytes(train.buf), train.size)
    assert len(accepted) == 3 and a.counters.packets == 3
    _buf, again = fused.open_train(b, bytes(train.buf), train.size)
    assert again == [] and b.counters.replay == 3 and a.counters.packets == 3


def _super() -> bytes:
    """A TCP/IPv4 super-packet of 3 segments of 1000 bytes (checksums not needed here)."""
    import struct

    payload = bytes(3000)
    tcp = struct.pack(">HHIIBBHHH", 40000, 5201, 1, 1, 5 << 4, 0x10, 500, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 1, 0x4000, 64, 6, 0,
                     bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]))
    return ip + tcp + payload


def test_turns_go_in_ticket_order(table: SlotTable) -> None:
    cells = table.slot(3)
    table.zero(3)
    lock = multiprocessing.get_context("spawn").Lock()
    t0, t1 = take_ticket(cells), take_ticket(cells)
    assert (t0, t1) == (0, 1)
    assert wait_turn(cells, t0)
    end_turn(cells, t0, lock)
    assert wait_turn(cells, t1)
    # a ticket whose turn never comes gives up after ORDER_WAIT, and a late end_turn
    # never moves the turn back
    t2, t3 = take_ticket(cells), take_ticket(cells)
    assert not wait_turn(cells, t3)
    end_turn(cells, t3, lock)
    end_turn(cells, t2, lock)
    assert wait_turn(cells, t3 + 1)
