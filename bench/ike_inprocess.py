#!/usr/bin/env python3
"""bench/ike_inprocess.py: IKEv2 setups (IKE SA + one CHILD SA, PSK, DH14) between two
engines on the in-process wire (``ikev2/testing.py``): no sockets, no namespaces, so it
measures the engines' own cost. Prints the minimum over the rounds.
    bench/ike_inprocess.py [--tunnels 200] [--rounds 9]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vpnsh.engine.clock import FakeClock  # noqa: E402
from vpnsh.engine.ikev2.engine import Ikev2Engine  # noqa: E402
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy  # noqa: E402


def configured_pair(tunnels: int, ike_kw: dict | None = None,
                    child_kw: dict | None = None) -> tuple[FakeClock, Wire, Node, Node]:
    """Two engines on the in-process wire with ``tunnels`` gateways and tunnels each,
    nothing initiated yet (``ike_kw``/``child_kw``: extra policy arguments)."""
    clock = FakeClock()
    a = Node("a", Ikev2Engine(clock=clock, rng=random.Random(1)), "")
    b = Node("b", Ikev2Engine(clock=clock, rng=random.Random(2)), "")
    ia, ib, ca, cb = [], [], [], []
    addrs = []
    for i in range(tunnels):
        # one address pair per gateway: a responder picks its gateway by address
        ad, bd = f"172.16.{i // 250}.{i % 250 + 1}", f"172.17.{i // 250}.{i % 250 + 1}"
        addrs.append((ad, bd))
        lan_a, lan_b = f"10.{1 + i // 250}.{i % 250}.0/24", f"10.{101 + i // 250}.{i % 250}.0/24"
        ia.append(ike_policy(f"gw{i}", ad, bd, **(ike_kw or {})))
        ib.append(ike_policy(f"gw{i}", bd, ad, **(ike_kw or {})))
        ca.append(child_policy(f"t{i}", f"gw{i}", local_ts=(lan_a,), remote_ts=(lan_b,),
                               **(child_kw or {})))
        cb.append(child_policy(f"t{i}", f"gw{i}", local_ts=(lan_b,), remote_ts=(lan_a,),
                               **(child_kw or {})))
    a.engine.add_policies(ia, ca, now=clock.now)
    b.engine.add_policies(ib, cb, now=clock.now)
    w = Wire(clock, a, b)
    for ad, bd in addrs:
        w.nodes[ad], w.nodes[bd] = a, b
    return clock, w, a, b


def one_round(tunnels: int) -> float:
    clock, w, a, b = configured_pair(tunnels)
    start = time.perf_counter()
    for i in range(tunnels):
        a.engine.initiate(f"gw{i}", now=clock.now)
    w.run(max_steps=10000)
    took = time.perf_counter() - start
    up = len(a.engine.child_sas())
    assert up == tunnels, f"{up} of {tunnels} tunnels up"
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tunnels", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    times = [one_round(args.tunnels) for _ in range(args.rounds)]
    print(f"{args.tunnels} IKEv2 setups in-process: min {min(times):.3f} s "
          f"(median {sorted(times)[len(times) // 2]:.3f} s) over {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
