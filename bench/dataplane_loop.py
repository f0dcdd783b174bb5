"""Throughput of the user-space data plane.

    python bench/dataplane_loop.py inproc [--packets N] [--size BYTES] [--suite gcm|cbc]
        the per-packet work of two data planes in one process, no I/O: outbound
        (selector lookup + ESP encapsulation) on one, inbound (SPI lookup, ESP
        decapsulation, selector check) on the other; packets/s and Mbit/s.

    python bench/dataplane_loop.py fused [--rounds R]
        the Python work per 1400-byte packet of one 64 KB TCP super-packet, per-packet
        path (encapsulate each segment; decapsulate each datagram + TUN coalescing)
        against the fused paths (seal_tcp_super; open_train + write_rows), CPU time.

    python bench/dataplane_loop.py train [--count N] [--rounds R]
        the inbound thread's Python work on one GRO train of N 1436-byte datagrams
        (a 1348-byte-MSS TCP flow through aes128gcm16), stage by stage, no system calls
        (the TUN writev is left out): SPI checks, the AEAD calls alone, open_train
        (replay window, AEAD, trailers, counters), write_rows (checks, headers, iovecs)
        and the whole of Inbound._inbound_train (those plus SA lookup and selectors).

    python bench/dataplane_loop.py netns [--seconds S] [--raw] [--udp-mode take|attach|loop] [--parallel P] [--no-tso]
                                         [--py-spy DIR]
        (root) two namespaces joined by a veth, a user-space data plane process in each,
        iperf3 TCP between the inner addresses through tunnel.1; Mbit/s and the data
        planes' CPU seconds per GB. --py-spy DIR: py-spy (on PATH) samples both data
        planes during the transfer, per thread, into DIR/{left,right}.txt (collapsed
        stacks: flamegraph.pl or speedscope read them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.netns import NetLab, two_sites, wait_until  # noqa: E402
from tests.helpers.userspace_driver import spec_from_json  # noqa: E402
from tests.integration.test_userspace_dataplane import (  # noqa: E402
    CBC_SHA256,
    GCM128,
    Pair,
    spec_pair,
)
from vpnsh.engine.dataplane.userspace import UserspaceDataPlane  # noqa: E402


def _ipv4_packet(size: int) -> bytes:
    import struct

    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, size, 1, 0, 64, 6, 0,
                      bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]))
    return hdr + struct.pack(">HH", 40000, 5201) + bytes(size - 24)


def inproc(packets: int, size: int, suite: str, narrow: bool, rounds: int) -> None:
    """Outbound on A, inbound on B, all in this thread: CPU cost per packet, best of
    ``rounds`` (the machine is shared: the minimum is the least disturbed figure)."""
    from vpnsh.engine.dataplane.esp import decapsulate, encapsulate
    from vpnsh.engine.dataplane.spd import parse_inner

    ts = (["10.1.0.0/24"], ["10.2.0.0/24"]) if narrow else (["0.0.0.0/0"], ["0.0.0.0/0"])
    packet = _ipv4_packet(size)
    best: dict[str, float] = {}
    for _ in range(rounds):
        a_spec, b_spec = spec_pair("198.51.100.1", "198.51.100.2", left_ts=ts,
                                   suite=GCM128 if suite == "gcm" else CBC_SHA256)
        a, b = UserspaceDataPlane(), UserspaceDataPlane()
        a.install_child(spec_from_json(a_spec))
        b.install_child(spec_from_json(b_spec))
        spd, fast4 = a._spd, a._spd.catch_all4
        # the outbound thread's per-packet work, less the TUN read and the socket send
        t0 = time.perf_counter()
        for _ in range(packets):
            child = fast4.get("tunnel.1")
            if child is None:
                key = parse_inner(packet)
                child = spd.lookup("tunnel.1", key) if key else None
            assert child is not None
            a._send(child, packet)
        t1 = time.perf_counter()
        esps = [d for d, _, _ in a._udp_out]
        t2 = time.perf_counter()
        for esp in esps:
            b._inbound(esp, True)
        t3 = time.perf_counter()
        got = b.counters(int(b_spec["inbound"]["spi"]))
        # b has no TUN here: every packet counts as a TUN write error, after the work
        assert got is not None and got.decap_packets == packets, got
        # the bare ESP transform for comparison
        out_sa, in_sa = a._children[0x1001].outbound, b._children[0x2001].inbound
        t4 = time.perf_counter()
        raw = [encapsulate(out_sa, packet) for _ in range(packets)]
        t5 = time.perf_counter()
        for esp in raw:
            decapsulate(in_sa, esp, check_selectors=False)
        t6 = time.perf_counter()
        for name, dt in (("encap", t1 - t0), ("decap", t3 - t2), ("esp.encapsulate", t5 - t4),
                         ("esp.decapsulate", t6 - t5)):
            best[name] = min(best.get(name, dt), dt)
    sel = "narrow selectors" if narrow else "catch-all selectors"
    print(f"{size}-byte packets, {suite}, {sel}, best of {rounds} x {packets}:")
    for name, dt in best.items():
        per = dt / packets
        print(f"  {name:16s} {per * 1e6:7.2f} us/packet  {1 / per:9.0f} packets/s  "
              f"{size * 8 / per / 1e6:8.1f} Mbit/s")
    both = (best["encap"] + best["decap"]) / packets
    print(f"  {'data plane both':16s} {both * 1e6:7.2f} us/packet  {1 / both:9.0f} packets/s  "
          f"{size * 8 / both / 1e6:8.1f} Mbit/s (one core doing both ends)")


def fused(rounds: int) -> None:
    """Per-packet against fused, in this process (no system calls: TUN writes are
    captured), process CPU time, best of ``rounds``."""
    import struct

    from vpnsh.engine.crypto.algorithms import EncrId, IntegId
    from vpnsh.engine.dataplane import fused as fz
    from vpnsh.engine.dataplane import segment
    from vpnsh.engine.dataplane.esp import decapsulate, encapsulate
    from vpnsh.engine.dataplane.sa import Direction, EspSA
    from vpnsh.engine.dataplane.tun import TunDevice

    class NullTun(TunDevice):
        def __init__(self) -> None:  # noqa: D107 - no device
            self.name, self.fd, self.offload, self.tso, self.coalesced = "t", -2, True, False, 0

        def _write_run(self, run: list[bytes], hlen: int, mss: int) -> bool:  # type: ignore[override]
            b"".join(bytes(p[hlen:]) for p in run)  # what writev would gather
            return True

        def write(self, packet: bytes | bytearray | memoryview) -> bool:
            return True

    mss, count = 1348, 48
    payload = os.urandom(mss * count)
    tcp = struct.pack(">HHIIBBHHH", 40000, 5201, 1000, 5, 8 << 4, 0x10, 500, 0, 0) + bytes([1, 1, 8, 10]) + bytes(8)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 7, 0x4000, 64, 6, 0,
                     bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]))
    buf = segment.VNET_HDR.pack(1, 1, 52, mss, 20, 16) + ip + tcp + payload
    key = os.urandom(20)

    def sa(direction: Direction) -> EspSA:
        return EspSA(0x1001, direction, EncrId.ENCR_AES_GCM_16, 128, key, IntegId.NONE, b"",
                     anti_replay=direction == Direction.IN)

    segs = segment.split(buf)  # what the kernel hands a TUN without TSO, one read each
    best: dict[str, float] = {}
    for _ in range(rounds):
        out_a, out_b, in_a, in_b, tun = sa(Direction.OUT), sa(Direction.OUT), sa(Direction.IN), sa(Direction.IN), NullTun()
        n = 40
        t0 = time.process_time()
        trains = [[encapsulate(out_a, p) for p in segs] for _ in range(n)]
        t1 = time.process_time()
        fast = [fz.seal_tcp_super(out_b, memoryview(buf)[10:], mss) for _ in range(n)]
        t2 = time.process_time()
        for esps in trains:
            tun.write_batch([decapsulate(in_a, e, check_selectors=False) for e in esps])
        t3 = time.process_time()
        for train in fast:
            assert train is not None
            opened, accepted = fz.open_train(in_b, bytes(train.buf), train.size)
            assert tun.write_rows(opened, accepted, train.size - 32) == 0
        t4 = time.process_time()
        for name, dt in (("out: encapsulate each", t1 - t0), ("out: seal_tcp_super", t2 - t1),
                         ("in: decapsulate + coalesce", t3 - t2), ("in: open_train + write_rows", t4 - t3)):
            best[name] = min(best.get(name, dt), dt / (n * count))
    print(f"Python work per 1400-byte packet, one 64 KB super-packet ({count} segments), best of {rounds}:")
    for name, per in best.items():
        print(f"  {name:28s} {per * 1e6:6.2f} us")


def train(count: int, rounds: int) -> None:
    """Per-stage CPU of the inbound thread on one GRO train, best of ``rounds``."""
    import struct
    import timeit

    from vpnsh.engine.dataplane import fused as fz
    from vpnsh.engine.dataplane import segment
    from vpnsh.engine.dataplane import tun as tun_mod

    mss = 1348
    tcp = struct.pack(">HHIIBBHHH", 40000, 5201, 1000, 5, 8 << 4, 0x10, 500, 0, 0) + bytes([1, 1, 8, 10]) + bytes(8)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 52 + mss * count, 7, 0x4000, 64, 6, 0,
                     bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]))
    super_packet = memoryview(segment.VNET_HDR.pack(1, 1, 52, mss, 20, 16) + ip + tcp + os.urandom(mss * count))[10:]
    a_spec, b_spec = spec_pair("198.51.100.1", "198.51.100.2")
    a, b = UserspaceDataPlane(), UserspaceDataPlane()
    a.install_child(spec_from_json(a_spec))
    b.install_child(spec_from_json(b_spec))
    tun_mod.os.writev = lambda fd, parts: None  # this process writes no TUN
    tun = tun_mod.TunDevice.__new__(tun_mod.TunDevice)
    tun.name, tun.fd, tun.offload, tun.tso, tun.coalesced = "tunnel.1", 10**6, True, False, 0
    b._tuns["tunnel.1"] = tun
    out_sa, in_sa = a._children[0x1001].outbound, b._children[0x2001].inbound
    trains = []
    for _ in range(rounds * 300 + 1):
        sealed = fz.seal_tcp_super(out_sa, super_packet, mss)
        assert sealed is not None and sealed.count == count
        trains.append(bytes(sealed.buf))
    seg = sealed.size
    data = trains[0]
    n, view = len(data), memoryview(data)
    cipher, salt = in_sa.aead.primitive()  # type: ignore[union-attr]
    plain = bytearray(n)
    pv = memoryview(plain)

    def aead() -> None:
        for o in range(0, n, seg):
            end = min(o + seg, n)
            cipher.decrypt_into(salt + data[o + 8:o + 16], view[o + 16:end], data[o:o + 8], pv[o:end - 32])

    k = -(-n // seg)
    spi = data[:4]
    opened, accepted = fz.open_train(in_sa, data, seg)
    fresh = iter(trains[1:])  # open_train and _inbound_train each need an unseen train (replay)
    stages = {
        "SPI checks (strided slices)": lambda: [data[j::seg] == spi[j:j + 1] * k for j in range(4)],
        "AEAD decrypt_into alone": aead,
        "open_train (window, AEAD, trailers, counters)": lambda: fz.open_train(in_sa, next(fresh), seg),
        "write_rows (checks, headers, iovecs; no writev)": lambda: tun.write_rows(opened, accepted, seg - 32),
        "open_train + write_rows of a fresh train": lambda: tun.write_rows(
            *fz.open_train(in_sa, next(fresh), seg), seg - 32),
        "Inbound._inbound_train, all of the above": lambda: b._inbound_train(next(fresh), seg, {}),
    }
    print(f"inbound Python work per GRO train of {count} datagrams of {seg} bytes, best of {rounds} x 100:")
    for name, fn in stages.items():
        per = min(timeit.repeat(fn, number=100, repeat=rounds)) / 100
        print(f"  {name:48s} {per * 1e6:7.1f} us  {per * 1e6 / count:5.2f} us/datagram")
    assert tun.coalesced > 0, "the trains did not go the fused way"


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children's threads, from /proc."""
    user, system = _cpu_split(pid)
    return user + system


def _cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its children."""
    user = system = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in [pid, *(_children(pid))]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / tick
        system += int(fields[12]) / tick
    return user, system


def _thread_split(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds of each thread of a process, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, float]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            name = f"thread {tid}"
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        u, s = out.get(name, (0.0, 0.0))
        out[name] = (u + int(fields[11]) / tick, s + int(fields[12]) / tick)
    return out


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    out = [int(x) for x in text.split()]
    return out + [c for x in out for c in _children(x)]


def netns(seconds: int, udp: bool, udp_mode: str, parallel: int, suite: str,
          pyspy: str | None = None) -> None:
    with NetLab("bench") as lab, tempfile.TemporaryDirectory() as tmp:
        sites = two_sites(lab)
        pair = Pair(lab, sites, Path(tmp), udp_mode=udp_mode)
        try:
            a, b = spec_pair(sites.left.outer, sites.right.outer, udp=udp,
                             suite=GCM128 if suite == "gcm" else CBC_SHA256)
            pair.install(a, b)
            assert sites.left.ns.ping(sites.right.inner, source=sites.left.inner, count=2)
            server = sites.right.ns.spawn(["iperf3", "-s", "-1", "--forceflush", "-B", sites.right.inner],
                                          log_path=Path(tmp) / "iperf3-server.log")
            wait_until(lambda: "listening" in server.output().lower(), 10, what="iperf3 server")
            split0 = [_cpu_split(pair.a.proc.pid), _cpu_split(pair.b.proc.pid)]
            threads0 = [_thread_split(pair.a.proc.pid), _thread_split(pair.b.proc.pid)]
            cpu0 = _cpu_seconds(pair.a.proc.pid) + _cpu_seconds(pair.b.proc.pid)
            spies = [] if not pyspy else [
                subprocess.Popen(["py-spy", "record", "--pid", str(proc.pid), "--threads", "--nonblocking",
                                  "--rate", "250", "--duration", str(max(1, seconds - 2)), "--format", "raw",
                                  "-o", str(Path(pyspy) / f"{side}.txt")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for side, proc in (("left", pair.a.proc), ("right", pair.b.proc))]
            res = sites.left.ns.run("iperf3", "-c", sites.right.inner, "-B", sites.left.inner,
                                    "-t", str(seconds), "-P", str(parallel), "-J",
                                    timeout=seconds + 30)
            cpu1 = _cpu_seconds(pair.a.proc.pid) + _cpu_seconds(pair.b.proc.pid)
            for spy in spies:
                spy.wait(timeout=30)
            split1 = [_cpu_split(pair.a.proc.pid), _cpu_split(pair.b.proc.pid)]
            threads1 = [_thread_split(pair.a.proc.pid), _thread_split(pair.b.proc.pid)]
            report = json.loads(res.stdout)
            end = report["end"]
            bps = end["sum_received"]["bits_per_second"]
            gbytes = end["sum_received"]["bytes"] / 1e9
            retrans = end["sum_sent"].get("retransmits", 0)
            stats_a, stats_b = pair.a.request("stats"), pair.b.request("stats")
            if os.environ.get("VPNSH_BENCH_DIAG"):
                for ns in (sites.left.ns, sites.right.ns):
                    print(ns.run("ip", "-s", "link", "show", "tunnel.1").stdout)
                    print(ns.run("sh", "-c", "nstat -az | grep -E 'Reorder|Retrans|Lost|DSACK|OfoQueue|TCPSACKRecovery|TCPLossProbes'").stdout)
        finally:
            pair.stop()
        mode = f"ESP-in-UDP, {udp_mode}" if udp else "raw ESP"
        print(f"iperf3 TCP through user-space ESP ({mode}, {suite}, {seconds}s, -P {parallel}): "
              f"{bps / 1e6:.0f} Mbit/s, {retrans} TCP retransmits")
        print(f"data plane CPU: {cpu1 - cpu0:.1f} s for {gbytes:.2f} GB = "
              f"{(cpu1 - cpu0) / max(gbytes, 1e-9):.1f} CPU s/GB (both sites)")
        for side, (u0, s0), (u1, s1) in zip(("left", "right"), split0, split1, strict=True):
            print(f"  {side} data plane: user {u1 - u0:.1f} s, system {s1 - s0:.1f} s")
        for side, t0, t1 in zip(("left", "right"), threads0, threads1, strict=True):
            busy = sorted(((name, u - t0.get(name, (0.0, 0.0))[0], s - t0.get(name, (0.0, 0.0))[1])
                           for name, (u, s) in t1.items()), key=lambda b: -b[1] - b[2])
            print(f"  {side} threads: " + ", ".join(
                f"{name} {u + s:.1f} s ({100 * (u + s) / seconds:.0f}%: user {u:.1f}, sys {s:.1f})"
                for name, u, s in busy if u + s >= 0.05))
        for side, st in (("left", stats_a), ("right", stats_b)):
            print(f"  {side}: {st['tun_packets_in']} TUN packets in {st['tun_reads']} reads "
                  f"({st['tso_reads']} TSO super-packets) and {st['out_wakeups']} wakeups, "
                  f"{st['udp_packets_in']} UDP datagrams in {st['in_wakeups']} wakeups; "
                  f"GSO {st['gso_datagrams']} datagrams in {st['gso_sends']} sends, "
                  f"GRO {st['gro_reads']} trains, {st['tun_coalesced']} segments coalesced into TUN")
        print(f"order waits given up {stats_a.get('order_waits_given_up', 0)}/{stats_b.get('order_waits_given_up', 0)}, "
              f"send errors {stats_a['send_errors']}/{stats_b['send_errors']}, "
              f"TUN write errors {stats_a['tun_write_errors']}/{stats_b['tun_write_errors']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    p1 = sub.add_parser("inproc")
    p1.add_argument("--packets", type=int, default=50000)
    p1.add_argument("--size", type=int, default=1400)
    p1.add_argument("--suite", choices=("gcm", "cbc"), default="gcm")
    p1.add_argument("--narrow", action="store_true", help="10.1.0.0/24 <-> 10.2.0.0/24 selectors")
    p1.add_argument("--rounds", type=int, default=5)
    p3 = sub.add_parser("fused")
    p3.add_argument("--rounds", type=int, default=5)
    p4 = sub.add_parser("train")
    p4.add_argument("--count", type=int, default=16, help="datagrams per train (2..45)")
    p4.add_argument("--rounds", type=int, default=7)
    p2 = sub.add_parser("netns")
    p2.add_argument("--seconds", type=int, default=10)
    p2.add_argument("--raw", action="store_true", help="raw ESP instead of ESP-in-UDP")
    p2.add_argument("--udp-mode", choices=("take", "attach", "loop"), default="take",
                    help="take: the data plane reads and sends on port 4500 in its threads; "
                         "attach: sends only; loop: everything through UdpIo on the event loop")
    p2.add_argument("--parallel", type=int, default=1)
    p2.add_argument("--suite", choices=("gcm", "cbc"), default="gcm")
    p2.add_argument("--no-tso", action="store_true", help="no TSO on the TUN devices (whole packets read)")
    p2.add_argument("--py-spy", metavar="DIR", help="sample both data planes with py-spy into DIR")
    args = ap.parse_args()
    if args.mode == "inproc":
        inproc(args.packets, args.size, args.suite, args.narrow, args.rounds)
    elif args.mode == "fused":
        fused(args.rounds)
    elif args.mode == "train":
        train(args.count, args.rounds)
    else:
        if args.no_tso:
            os.environ["VPNSH_DP_TSO"] = "0"
        if args.py_spy:
            Path(args.py_spy).mkdir(parents=True, exist_ok=True)
        netns(args.seconds, not args.raw, args.udp_mode, args.parallel, args.suite, args.py_spy)


if __name__ == "__main__":
    main()
