#!/usr/bin/env python3
"""bench/ikev1_setup_inproc.py: IKEv1 setups (main mode + quick mode, PSK) between two
in-process engines on the test wire (no sockets, no namespaces): the cost of the IKEv1
state machine itself. Prints the best of ``--repeat`` rounds of ``--tunnels`` setups.

    bench/ikev1_setup_inproc.py [--tunnels 200] [--repeat 9] [--mode main|aggressive]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vpnsh.engine.clock import FakeClock  # noqa: E402
from vpnsh.engine.ike.events import ChildInstalled  # noqa: E402
from vpnsh.engine.ikev1.engine import Ikev1Engine  # noqa: E402
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy  # noqa: E402

A, B = "192.0.2.1", "192.0.2.2"


def one_setup(mode: str, seed: int) -> None:
    clock = FakeClock()
    a = Node("a", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(seed))), A)
    b = Node("b", cast(Any, Ikev1Engine(clock=clock, rng=random.Random(seed + 1))), B)
    a.engine.add_policies([ike_policy("GA", A, B, version="ikev1", exchange_mode=mode)],
                          (child_policy("TA", "GA"),), now=clock.now)
    b.engine.add_policies([ike_policy("GB", B, A, version="ikev1", exchange_mode=mode)],
                          (child_policy("TB", "GB"),), now=clock.now)
    a.engine.initiate("GA", now=clock.now)
    Wire(clock, a, b).run()
    if not (a.of(ChildInstalled) and b.of(ChildInstalled)):
        raise SystemExit("a setup did not complete")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tunnels", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--mode", default="main", choices=("main", "aggressive"))
    args = ap.parse_args()
    times, cpu = [], []
    for r in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(args.tunnels):
            one_setup(args.mode, r * 100000 + i)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    best = min(times)
    print(f"{args.tunnels} IKEv1 {args.mode}-mode setups in-process: min {best:.3f} s "
          f"({args.tunnels / best:.0f} setups/s), median {sorted(times)[len(times) // 2]:.3f} s "
          f"of {args.repeat}; CPU min {min(cpu):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
