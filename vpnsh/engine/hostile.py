"""Hostile datagrams: the worst shapes for the IKE parsers, and random/mutated streams.

Used by ``bench/ike_parse.py`` (parser cost per 64 KB datagram), the parser cost tests and
the live hostile-input test (a sender process in a namespace). Every shape is well formed
up to the point where it turns hostile: a header any address may send (IKE_SA_INIT or a
main-mode first message, responder SPI zero), then as many small items as 64 KB holds.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable, Iterator
from typing import Any

MAX_DATAGRAM = 65507  # the largest UDP payload over IPv4

# --- IKEv2 (RFC 7296) ------------------------------------------------------------------------

_V2_SA, _V2_NOTIFY, _V2_DELETE, _V2_VID, _V2_TSI = 33, 41, 42, 43, 44


def _v2(first: int, chain: bytes, spi_i: bytes | None = None) -> bytes:
    spi_i = spi_i or os.urandom(8)
    length = 28 + len(chain)
    return spi_i + bytes(8) + struct.pack("!BBBBII", first, 0x20, 34, 0x08, 0, length) + chain


def _payload(nxt: int, body: bytes) -> bytes:
    return struct.pack("!BBH", nxt, 0, 4 + len(body)) + body


def _fit(item: int, overhead: int, size: int) -> int:
    return max(1, (size - overhead) // item)


def v2_many_proposals(size: int = MAX_DATAGRAM) -> bytes:
    """One SA payload of one-transform proposals."""
    n = _fit(16, 28 + 4, min(size, 28 + 65535))
    props = b"".join(
        struct.pack("!BBHBBBB", 2 if i < n - 1 else 0, 0, 16, (i % 255) + 1, 1, 0, 1)
        + struct.pack("!BBHBBH", 0, 0, 8, 1, 0, 12)
        for i in range(n)
    )
    return _v2(_V2_SA, _payload(0, props))


def v2_many_transforms(size: int = MAX_DATAGRAM) -> bytes:
    """One proposal that claims 255 transforms and holds thousands."""
    n = _fit(8, 28 + 4 + 8, size)
    body = b"".join(struct.pack("!BBHBBH", 3 if i < n - 1 else 0, 0, 8, 1, 0, 12) for i in range(n))
    prop = struct.pack("!BBHBBBB", 0, 0, 8 + len(body), 1, 1, 0, 255) + body
    return _v2(_V2_SA, _payload(0, prop))


def v2_many_attributes(size: int = MAX_DATAGRAM) -> bytes:
    """One transform with thousands of TV attributes."""
    n = _fit(4, 28 + 4 + 8 + 8, size)
    attrs = struct.pack("!HH", 0x800E, 128) * n
    transform = struct.pack("!BBHBBH", 0, 0, 8 + len(attrs), 1, 0, 12) + attrs
    prop = struct.pack("!BBHBBBB", 0, 0, 8 + len(transform), 1, 1, 0, 1) + transform
    return _v2(_V2_SA, _payload(0, prop))


def v2_many_notifies(size: int = MAX_DATAGRAM) -> bytes:
    """Thousands of empty notify payloads."""
    n = _fit(8, 28, size)
    chain = b"".join(_payload(_V2_NOTIFY if i < n - 1 else 0, struct.pack("!BBH", 0, 0, 16390))
                     for i in range(n))
    return _v2(_V2_NOTIFY, chain)


def v2_many_selectors(size: int = MAX_DATAGRAM) -> bytes:
    """Cleartext TSi payloads of 255 selectors each."""
    one = struct.pack("!BBHHH", 7, 0, 16, 0, 65535) + bytes(4) + b"\xff" * 4
    body = struct.pack("!B3x", 255) + one * 255
    n = _fit(4 + len(body), 28, size)
    chain = b"".join(_payload(_V2_TSI if i < n - 1 else 0, body) for i in range(n))
    return _v2(_V2_TSI, chain)


def v2_delete_spis(size: int = MAX_DATAGRAM) -> bytes:
    """A delete payload naming thousands of ESP SPIs."""
    n = _fit(4, 28 + 8, size)
    return _v2(_V2_DELETE, _payload(0, struct.pack("!BBH", 3, 4, n) + os.urandom(4 * n)))


def v2_big_vendor_id(size: int = MAX_DATAGRAM) -> bytes:
    return _v2(_V2_VID, _payload(0, os.urandom(min(size, 28 + 65535) - 32)))


# --- IKEv1 (RFC 2408/2409) -------------------------------------------------------------------

_V1_SA, _V1_DELETE, _V1_VID = 1, 12, 13


def _v1(first: int, chain: bytes, exchange: int = 2) -> bytes:
    length = 28 + len(chain)
    return os.urandom(8) + bytes(8) + struct.pack("!BBBBII", first, 0x10, exchange, 0, 0, length) + chain


def _v1_sa(props: bytes) -> bytes:
    return _payload(0, struct.pack("!II", 1, 1) + props)


def v1_many_proposals(size: int = MAX_DATAGRAM) -> bytes:
    n = _fit(16, 28 + 12, size)
    props = b"".join(
        struct.pack("!BBHBBBB", 2 if i < n - 1 else 0, 0, 16, (i % 255) + 1, 1, 0, 1)
        + struct.pack("!BBHBBH", 0, 0, 8, 1, 1, 0)
        for i in range(n)
    )
    return _v1(_V1_SA, _v1_sa(props))


def v1_many_transforms(size: int = MAX_DATAGRAM) -> bytes:
    """Proposals of 255 transforms each (every transform with a few attributes)."""
    attrs = struct.pack("!HHHHHH", 0x8001, 7, 0x8002, 2, 0x8004, 2)
    transform = struct.pack("!BBHBBH", 3, 0, 8 + len(attrs), 1, 1, 0) + attrs
    last = struct.pack("!BBHBBH", 0, 0, 8 + len(attrs), 1, 1, 0) + attrs
    body = transform * 254 + last
    n = _fit(8 + len(body), 28 + 12, size)
    props = b"".join(struct.pack("!BBHBBBB", 2 if i < n - 1 else 0, 0, 8 + len(body), i + 1, 1, 0, 255)
                     + body for i in range(n))
    return _v1(_V1_SA, _v1_sa(props))


def v1_many_attributes(size: int = MAX_DATAGRAM) -> bytes:
    n = _fit(4, 28 + 12 + 8 + 8, size)
    attrs = struct.pack("!HH", 0x8001, 7) * n
    transform = struct.pack("!BBHBBH", 0, 0, 8 + len(attrs), 1, 1, 0) + attrs
    prop = struct.pack("!BBHBBBB", 0, 0, 8 + len(transform), 1, 1, 0, 1) + transform
    return _v1(_V1_SA, _v1_sa(prop))


def v1_delete_spis(size: int = MAX_DATAGRAM) -> bytes:
    n = _fit(4, 28 + 12, size)
    body = struct.pack("!IBBH", 1, 3, 4, n) + os.urandom(4 * n)
    return _v1(_V1_DELETE, _payload(0, body), exchange=5)


def v1_big_vendor_id(size: int = MAX_DATAGRAM) -> bytes:
    return _v1(_V1_VID, _payload(0, os.urandom(size - 32)))


SHAPES: dict[str, Callable[[], bytes]] = {
    "ikev2 proposals": v2_many_proposals,
    "ikev2 transforms": v2_many_transforms,
    "ikev2 attributes": v2_many_attributes,
    "ikev2 notifies": v2_many_notifies,
    "ikev2 selectors": v2_many_selectors,
    "ikev2 delete SPIs": v2_delete_spis,
    "ikev2 vendor ID": v2_big_vendor_id,
    "ikev1 proposals": v1_many_proposals,
    "ikev1 transforms": v1_many_transforms,
    "ikev1 attributes": v1_many_attributes,
    "ikev1 delete SPIs": v1_delete_spis,
    "ikev1 vendor ID": v1_big_vendor_id,
}


# --- streams ------------------------------------------------------------------------------


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few bit flips, cuts, inserts and zeroed bytes."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.randrange(4)
        pos = rng.randrange(max(len(buf), 1))
        if kind == 0 and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del buf[pos : pos + rng.randint(1, 16)]
        elif kind == 2:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif buf:
            buf[pos] = 0
    return bytes(buf)


def stream(samples: list[bytes], rng: random.Random, big_every: int = 200) -> Iterator[bytes]:
    """Endless hostile datagrams: mutated samples, random bytes, random bytes behind a
    plausible IKE header, and now and then a 64 KB worst shape."""
    shapes = list(SHAPES.values())
    big = [shape() for shape in shapes]
    i = 0
    while True:
        i += 1
        if big_every and i % big_every == 0:
            yield big[(i // big_every) % len(big)]
            continue
        kind = rng.randrange(4)
        if kind == 0 and samples:
            yield mutate(rng.choice(samples), rng)
        elif kind == 1:
            yield rng.randbytes(rng.randint(1, 600))
        elif kind == 2:
            body = rng.randbytes(rng.randint(0, 400))
            version, exchange = rng.choice(((0x20, 34), (0x20, 37), (0x10, 2), (0x10, 4), (0x10, 32)))
            yield (rng.randbytes(8) + rng.choice((bytes(8), rng.randbytes(8)))
                   + struct.pack("!BBBBII", rng.choice((33, 41, 46, 1, 8, 13)), version, exchange,
                                 rng.choice((0, 8, 0x20, 1)), 0, 28 + len(body)) + body)
        else:
            yield mutate(rng.choice(big), rng)[: rng.randint(28, 2000)]


# --- a sender, for the live hostile-input test (tests/integration/test_hostile_input.py) ---


def _samples(target: str) -> list[bytes]:
    """First messages of real exchanges (IKEv2, IKEv1 main and aggressive mode) to target."""
    from .clock import FakeClock
    from .ikev1.engine import Ikev1Engine
    from .ikev2.engine import Ikev2Engine
    from .ikev2.testing import ike_policy
    from .policy import IkeProposal

    out = []
    for version, mode in (("ikev2", "main"), ("ikev1", "main"), ("ikev1", "aggressive")):
        for group in (14, 19, 2):
            engine: Any = (Ikev2Engine if version == "ikev2" else Ikev1Engine)(clock=FakeClock())
            prop = IkeProposal(((12, 128),), (5,), (12,), (group,))
            engine.add_policies([ike_policy("g", "192.0.2.99", target, version=version,
                                            exchange_mode=mode, proposals=(prop,))], now=FakeClock().now)
            engine.initiate("g", now=FakeClock().now)
            out += [d for d, _, _ in engine.datagrams_to_send()]
    return out


def _live_sa_messages(rng: random.Random, spis: list[tuple[bytes, bytes]]) -> list[bytes]:
    """Encrypted-looking IKEv2 messages for the live IKE SAs: bad ICVs, odd message IDs."""
    out = []
    for spi_i, spi_r in spis:
        for _ in range(64):
            body = rng.randbytes(rng.randint(20, 300))
            flags = rng.choice((0x08, 0x20, 0x28, 0x00))
            exchange = rng.choice((35, 36, 37))
            chain = struct.pack("!BBH", rng.choice((41, 33, 0)), 0, 4 + len(body)) + body
            out.append(spi_i + spi_r + struct.pack("!BBBBII", 46, 0x20, exchange, flags,
                                                   rng.randrange(8), 28 + len(chain)) + chain)
    return out


def _esp(rng: random.Random, spis: list[int]) -> bytes:
    spi = rng.choice(spis) if spis and rng.random() < 0.6 else rng.randrange(256, 1 << 32)
    return struct.pack("!II", spi, rng.randrange(1 << 32)) + rng.randbytes(rng.randint(0, 200))


def send(target: str, sources: list[str], count: int, esp_spis: list[int],
         ike_spis: list[tuple[bytes, bytes]], seed: int = 1, rate: int = 0) -> dict[str, Any]:
    """Sends ``count`` hostile datagrams to target: IKE on 500, IKE (non-ESP marker) and
    ESP in UDP on 4500, 64 KB worst shapes now and then, round-robin over ``sources``;
    ``rate`` datagrams a second at most (0: as fast as the sockets go)."""
    import socket
    import time

    rng = random.Random(seed)
    samples = _samples(target) + _live_sa_messages(rng, ike_spis)
    ike = stream(samples, rng, big_every=0)
    pool: list[tuple[bytes, int]] = []
    for _ in range(6000):  # distinct datagrams, cycled: the sending loop stays fast
        kind = rng.random()
        if kind < 0.45:
            pool.append((next(ike), 500))
        elif kind < 0.65:
            pool.append((b"\x00\x00\x00\x00" + next(ike), 4500))
        else:
            pool.append((_esp(rng, esp_spis), 4500))
    big = [shape() for shape in SHAPES.values()]
    socks = []
    for src in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
        s.bind((src, 0))
        socks.append(s)
    sent = bigs = errors = 0
    start = time.monotonic()
    for i in range(count):
        if rate and i % 500 == 0:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        sock = socks[i % len(socks)]
        if i % 200 == 199:
            data, port = big[(i // 200) % len(big)], 500
            bigs += 1
        else:
            data, port = pool[i % len(pool)]
        try:
            sock.sendto(data, (target, port))
            sent += 1
        except OSError:
            errors += 1
    seconds = time.monotonic() - start
    for s in socks:
        s.close()
    return {"sent": sent, "big": bigs, "errors": errors, "seconds": round(seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m vpnsh.engine.hostile",
                                description="Send hostile IKE and ESP datagrams (tests only).")
    p.add_argument("--target", required=True)
    p.add_argument("--sources", required=True, help="comma-separated source addresses")
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--esp-spi", action="append", default=[], help="a live inbound SPI (hex)")
    p.add_argument("--ike-spi", action="append", default=[], help="a live IKE SA: SPIi:SPIr (hex)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", type=int, default=0, help="datagrams a second (0: no limit)")
    a = p.parse_args(argv)
    ike_spis = [(bytes.fromhex(x.split(":")[0]), bytes.fromhex(x.split(":")[1])) for x in a.ike_spi]
    result = send(a.target, a.sources.split(","), a.count, [int(x, 16) for x in a.esp_spi],
                  ike_spis, a.seed, a.rate)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
