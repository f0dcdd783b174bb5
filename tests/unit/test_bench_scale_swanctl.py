"""bench/scale's strongSwan side: the swanctl.conf it generates is the vpnsh side's twin.

Each tunnel n must be its own connection with its own responder address, ids, selectors
and PSK entry, and DPD at the vpnsh side's interval on both ends; otherwise the figures
printed next to vpnsh's would compare different shapes.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from tests.helpers.strongswan import render_swanctl_conf

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _scale() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    loader = importlib.machinery.SourceFileLoader("bench_scale", str(BENCH / "scale"))
    spec = importlib.util.spec_from_loader("bench_scale", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


scale = _scale()
N = 300  # crosses a /24 of responder addresses and of selectors


def test_initiator_has_one_connection_per_tunnel_to_distinct_responder_addresses() -> None:
    conns = scale.swanctl_connections(N, True, 5)
    assert len(conns) == N
    assert len({c.name for c in conns}) == N
    assert {tuple(c.local_addrs) for c in conns} == {(scale.INITIATOR,)}
    remotes = [c.remote_addrs[0] for c in conns]
    assert len(set(remotes)) == N
    assert remotes == [scale.responder_address(n) for n in range(N)]
    assert len({c.children[0].local_ts[0] for c in conns}) == N
    assert all(c.dpd_delay == "5s" for c in conns)


def test_responder_mirrors_the_initiator() -> None:
    left = scale.swanctl_connections(N, True, 5)
    right = scale.swanctl_connections(N, False, 5)
    for lc, rc in zip(left, right, strict=True):
        assert rc.local_addrs == lc.remote_addrs and rc.remote_addrs == lc.local_addrs
        assert (rc.local_id, rc.remote_id) == (lc.remote_id, lc.local_id)
        assert rc.children[0].local_ts == lc.children[0].remote_ts
        assert rc.children[0].remote_ts == lc.children[0].local_ts
    assert len({c.local_addrs[0] for c in right}) == N


def test_rendered_conf_has_n_connections_with_dpd_and_a_psk_each() -> None:
    text = render_swanctl_conf(scale.swanctl_connections(N, False, 7))
    assert len(re.findall(r"^  t\d+ \{$", text, re.M)) == N
    assert text.count("dpd_delay = 7s") == N
    assert len(re.findall(r"^  ike-\d+ \{$", text, re.M)) == N  # one secret per connection
    assert text.count("start_action = none") == N  # started by vici initiate, timed


def test_one_more_tunnel_continues_the_numbering() -> None:
    (extra,) = scale.swanctl_connections(1, True, 5, first=N)
    assert extra.name == f"t{N}" and extra.remote_addrs == [scale.responder_address(N)]


def test_inner_addresses_lie_in_each_local_selector() -> None:
    for left in (True, False):
        conns = scale.swanctl_connections(N, left, 5)
        for addr, c in zip(scale.inner_addresses(N, left), conns, strict=True):
            assert c.children[0].local_ts[0] == addr.rsplit(".", 1)[0] + ".0/24"


def test_ikesa_table_sized_for_n() -> None:
    for n in (1, 200, 10000):
        size = scale.charon_scale_options(n)["ikesa_table_size"]
        assert size >= n and size & (size - 1) == 0
