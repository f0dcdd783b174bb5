#!/usr/bin/env python3
"""bench/dpd_inprocess.py: the engines' own cost of idle IKEv2 DPD (no sockets).

N tunnels (IKE SA + CHILD SA, PSK, AES-128-GCM, ECP-256, as bench/scale) come up between
two engines on the in-process wire; then the clock moves in 20 ms wake-ups (the daemon's
coalesced timer) for ``--seconds`` with DPD every ``--dpd-interval`` s. Printed: the DPD
exchanges made, and each engine's time per exchange (its handle_timer, receive,
datagrams_to_send, next_timer, next_event: what the daemon calls), the minimum over the
rounds. The system calls (one sendmsg and one recvmsg per side and exchange) come on top.
    bench/dpd_inprocess.py [--tunnels 2000] [--seconds 10] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ike_inprocess import configured_pair  # noqa: E402

from vpnsh.engine.clock import FakeClock  # noqa: E402
from vpnsh.engine.ikev2.testing import Node, Wire  # noqa: E402
from vpnsh.engine.policy import EspProposal, IkeProposal  # noqa: E402

GCM_ECP256 = IkeProposal(((20, 128),), (5,), (), (19,))
ESP_GCM = EspProposal(((20, 128),), ())
TICK = 0.02  # the daemon's timer slack: deadlines within it run in one wake-up


def pair(tunnels: int, dpd: int) -> tuple[FakeClock, Wire, Node, Node]:
    clock, w, a, b = configured_pair(tunnels, {"proposals": (GCM_ECP256,), "dpd_interval": dpd},
                                     {"proposals": (ESP_GCM,)})
    for i in range(tunnels):
        a.engine.initiate(f"gw{i}", now=clock.now)
        if i % 200 == 199:
            w.run(max_steps=10000)
    w.run(max_steps=10000)
    up = len(a.engine.child_sas())
    assert up == tunnels, f"{up} of {tunnels} tunnels up"
    return clock, w, a, b


def idle(clock: FakeClock, a: Node, b: Node, seconds: float) -> tuple[int, dict[str, float]]:
    """Runs ``seconds`` of idle time as the daemon would; returns (exchanges, CPU s per node)."""
    spent = {"a": 0.0, "b": 0.0}
    nodes = {"a": a, "b": b}
    other = {"a": b, "b": a}
    pc = time.thread_time  # CPU time: other processes on the machine do not count
    end = clock.now + seconds
    requests = 0
    while clock.now < end:
        clock.now += TICK
        inbox: dict[str, list] = {"a": [], "b": []}
        for name, node in nodes.items():
            t0 = pc()
            node.engine.handle_timer(clock.now)
            out = node.engine.datagrams_to_send()
            while node.engine.next_event() is not None:
                pass
            node.engine.next_timer()
            spent[name] += pc() - t0
            inbox["b" if name == "a" else "a"] += out
        while inbox["a"] or inbox["b"]:
            for name, node in nodes.items():
                batch, inbox[name] = inbox[name], []
                if not batch:
                    continue
                requests += sum(1 for d, _, _ in batch if not d[19] & 0x20)
                t0 = pc()
                eng = node.engine
                for data, local, remote in batch:
                    eng.receive(data, remote, local, clock.now)
                out = eng.datagrams_to_send()
                while eng.next_event() is not None:
                    pass
                eng.next_timer()
                spent[name] += pc() - t0
                inbox["b" if name == "a" else "a"] += out
        del other
        other = {}
    return requests, spent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tunnels", type=int, default=2000)
    ap.add_argument("--dpd-interval", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one round (stderr)")
    args = ap.parse_args()
    clock, _w, a, b = pair(args.tunnels, args.dpd_interval)
    clock.now += args.dpd_interval * 2  # past the first checks' phase-in
    idle(clock, a, b, args.dpd_interval * 1.0)
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        n, spent = idle(clock, a, b, args.seconds)
        for k, v in spent.items():
            best[k] = min(best.get(k, v), v / max(n, 1))
        assert len(a.engine.child_sas()) == args.tunnels, "a tunnel went down while idle"
    print(f"{args.tunnels} tunnels, DPD every {args.dpd_interval} s: {n / args.seconds:.0f} "
          f"exchanges/s; per exchange: initiator {best['a'] * 1e6:.1f} us, responder "
          f"{best['b'] * 1e6:.1f} us (engine only, min of {args.rounds} rounds)")
    if args.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        idle(clock, a, b, args.seconds)
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(35)
    return 0


if __name__ == "__main__":
    sys.exit(main())
