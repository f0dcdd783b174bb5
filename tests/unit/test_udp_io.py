"""The IKE/NAT-T socket layer sorts port-4500 traffic per RFC 3948, on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from vpnsh.engine import udp_io
from vpnsh.engine.udp_io import UdpIo, classify_4500


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xff", "keepalive"),
        (b"\x00\x00\x00\x00" + b"I" * 28, "ike"),
        (b"\x12\x34\x56\x78" + b"\x00" * 20, "esp"),
        (b"\x00\x00", "runt"),
    ],
)
def test_classify_4500(data: bytes, kind: str) -> None:
    assert classify_4500(data) == kind


def _two_free_ports() -> int:
    """A port ``base`` such that ``base`` and ``base + 1`` are both free on the wildcard
    address (the UdpIo under test binds both there in place of 500 and 4500)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("0.0.0.0", 0))
            base = probe.getsockname()[1]
            if base >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind(("0.0.0.0", base + 1))
                except OSError:
                    continue
                return base
    raise RuntimeError("no two consecutive free UDP ports")


def test_ike_and_esp_demultiplexed_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unprivileged high ports stand in for 500/4500 so the test needs no root.
    base = _two_free_ports()
    monkeypatch.setattr(udp_io, "IKE_PORT", base)
    monkeypatch.setattr(udp_io, "NATT_PORT", base + 1)

    async def scenario() -> tuple[list, list, UdpIo]:
        ike: list = []
        esp: list = []
        got = asyncio.Event()

        def on_ike(data: bytes, local: tuple, remote: tuple) -> None:
            ike.append((data, local))
            if len(ike) == 2 and esp:
                got.set()

        def on_esp(data: bytes, local: tuple, remote: tuple) -> None:
            esp.append(data)
            if len(ike) == 2:
                got.set()

        io = UdpIo(on_ike=on_ike, on_esp=on_esp)
        await io.bind("127.0.0.1")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"plain-ike-message-on-500", ("127.0.0.1", base))
            peer.sendto(b"\x00\x00\x00\x00natt-ike-message", ("127.0.0.1", base + 1))
            peer.sendto(b"\xff", ("127.0.0.1", base + 1))
            peer.sendto(b"\xaa\xbb\xcc\xdd" + b"\x00" * 16, ("127.0.0.1", base + 1))
            await asyncio.wait_for(got.wait(), 5)
            # a reply from 4500 carries the non-ESP marker
            io.send_ike(b"reply", ("127.0.0.1", base + 1), ("127.0.0.1", peer.getsockname()[1]))
            peer.settimeout(5)
            reply, _ = peer.recvfrom(100)
        io.close()
        assert reply == b"\x00\x00\x00\x00reply"
        return ike, esp, io

    ike, esp, io = asyncio.run(scenario())
    assert (b"plain-ike-message-on-500", ("127.0.0.1", base)) in ike
    assert (b"natt-ike-message", ("127.0.0.1", base + 1)) in ike
    assert esp == [b"\xaa\xbb\xcc\xdd" + b"\x00" * 16]
    assert io.counters.ike_in == 2
    assert io.counters.esp_in == 1


class _FullOnce:
    """A socket whose send buffer is 'full' for the first `full` sends (EAGAIN), as a burst
    of thousands of IKE_SA_INITs makes it; everything else goes to the real socket."""

    def __init__(self, sock: socket.socket, full: int) -> None:
        self.sock, self.full = sock, full

    def sendmsg(self, *args: object) -> int:
        if self.full:
            self.full -= 1
            raise BlockingIOError
        return self.sock.sendmsg(*args)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


def test_sends_wait_for_room_in_order_and_replies_name_their_source(monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    base = _two_free_ports()
    monkeypatch.setattr(udp_io, "IKE_PORT", base)
    monkeypatch.setattr(udp_io, "NATT_PORT", base + 1)

    async def scenario() -> tuple[list[tuple[bytes, str]], UdpIo]:
        io = UdpIo(on_ike=lambda *a: None)
        await io.bind("127.0.0.1")
        await io.bind("127.0.0.2")  # a second local address: the same wildcard sockets
        assert len(io.endpoints()) == 2
        ep = io.transport(("127.0.0.2", base))
        assert ep is not None
        ep.sock = _FullOnce(ep.sock, 1)  # type: ignore[assignment]
        got: list[tuple[bytes, str]] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.setblocking(False)
            dest = peer.getsockname()
            for i in range(5):
                local = "127.0.0.2" if i % 2 else "127.0.0.1"
                assert io.send_ike(b"m%d" % i, (local, base), dest)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while len(got) < 5 and loop.time() < deadline:
                try:
                    data, src = peer.recvfrom(100)
                    got.append((data, src[0]))
                except BlockingIOError:
                    await asyncio.sleep(0.01)
        io.close()
        return got, io

    got, io = asyncio.run(scenario())
    # the first send found the buffer full: it and all after it waited, in order
    assert got == [(b"m0", "127.0.0.1"), (b"m1", "127.0.0.2"), (b"m2", "127.0.0.1"),
                   (b"m3", "127.0.0.2"), (b"m4", "127.0.0.1")]
    assert io.counters.send_queued == 5 and io.counters.send_errors == 0
