"""The kernel XFRM data plane against the real kernel, in namespaces the tests make.

This machine's kernel has XFRM policies (and sends ACQUIREs) but no ESP: the SA tests
that need ESP run where the probe finds it and are skipped here with its reason; on a
kernel without ESP, the failure itself is tested (a clear error, policies untouched).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
from typing import Any

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from tests.helpers.netns import Namespace, netlab, netns_missing, sites  # noqa: F401
from vpnsh.engine.dataplane import xfrm_netlink as xn
from vpnsh.engine.dataplane.base import ChildSaSpec, EspKeys, Route, TunnelInterface
from vpnsh.engine.dataplane.kernel import (
    AEAD_ALGORITHMS,
    CIPHER_ALGORITHMS,
    INTEG_ALGORITHMS,
    REQID_BASE,
    KernelDataPlane,
    KernelDataPlaneError,
    TrapSpec,
    algorithm_attrs,
    bypass_ipsec,
    enable_esp_in_udp,
)
from vpnsh.engine.dataplane.kernel_probe import probe_kernel
from vpnsh.engine.policy import TrafficSelector

pytestmark = pytest.mark.skipif(netns_missing() is not None, reason=str(netns_missing()))

LEFT, RIGHT = "198.51.100.1", "198.51.100.2"
LOCAL_NET, REMOTE_NET = "10.1.0.0/24", "10.2.0.0/24"


def _caps() -> Any:
    return probe_kernel()


def esp_missing() -> str | None:
    if netns_missing():
        return netns_missing()
    caps = _caps()
    return None if caps.esp else caps.esp_reason


def trap(name: str = "T1", tunnel_if: str = "tunnel.1",
         local: str = LOCAL_NET, remote: str = REMOTE_NET) -> TrapSpec:
    return TrapSpec(name, tunnel_if, LEFT, RIGHT, (TrafficSelector.from_prefix(local),),
                    (TrafficSelector.from_prefix(remote),))


def child_spec(name: str = "T1", spi_in: int = 0xC1000001, spi_out: int = 0xC2000001,
               encr: int = 20, integ: int = 0, key_len: int = 20, integ_len: int = 0,
               **kw: Any) -> ChildSaSpec:
    def keys(spi: int, fill: int) -> EspKeys:
        return EspKeys(spi, encr, key_len * 8, bytes([fill]) * key_len, integ,
                       bytes([fill + 1]) * integ_len)

    return ChildSaSpec(
        name=name, tnid=1, tunnel_if="tunnel.1", local_addr=LEFT, peer_addr=RIGHT,
        inbound=keys(spi_in, 0x11), outbound=keys(spi_out, 0x22),
        local_ts=(TrafficSelector.from_prefix(LOCAL_NET),),
        remote_ts=(TrafficSelector.from_prefix(REMOTE_NET),), **kw)


def ip_xfrm_policies(ns: Namespace) -> list[dict[str, str]]:
    """`ip xfrm policy` of a namespace, one dict per policy (src, dst, dir, tmpl, reqid)."""
    out: list[dict[str, str]] = []
    for block in re.split(r"\n(?=src )", ns.run("ip", "xfrm", "policy").stdout.strip()):
        if not block.strip():
            continue
        m = re.match(r"src (\S+) dst (\S+)", block)
        assert m, block
        pol = {"src": m.group(1), "dst": m.group(2)}
        for key, pattern in (("dir", r"dir (\w+)"), ("reqid", r"reqid (\d+)"),
                             ("tmpl", r"tmpl src (\S+ dst \S+)")):
            found = re.search(pattern, block)
            if found:
                pol[key] = found.group(1)
        out.append(pol)
    return out


@pytest.fixture
def left_plane(sites: Any) -> Any:  # noqa: F811
    """A KernelDataPlane working in the left site's namespace."""
    plane = KernelDataPlane(netns=sites.left.ns.name)
    plane.open()
    yield plane
    asyncio.run(plane.stop())


def test_probe_reports_policies_and_reasons() -> None:
    caps = _caps()
    assert caps.policy, caps.policy_reason
    for ok, reason in ((caps.esp, caps.esp_reason), (caps.xfrmi, caps.xfrmi_reason)):
        assert ok == (reason == ""), reason
    if not caps.esp:
        assert "CONFIG_INET_ESP" in caps.esp_reason and "userspace" in caps.esp_reason


def test_traps_install_and_remove_policies(sites: Any, left_plane: KernelDataPlane) -> None:  # noqa: F811
    ns = sites.left.ns
    left_plane.set_traps([trap()])
    pols = ip_xfrm_policies(ns)
    got = {(p["src"], p["dst"], p["dir"]) for p in pols}
    assert got == {(LOCAL_NET, REMOTE_NET, "out"), (REMOTE_NET, LOCAL_NET, "in"),
                   (REMOTE_NET, LOCAL_NET, "fwd")}
    out = next(p for p in pols if p["dir"] == "out")
    assert out["tmpl"] == f"{LEFT} dst {RIGHT}"
    assert {p["reqid"] for p in pols} == {str(REQID_BASE)}
    # the same through XFRM_MSG_GETPOLICY
    decoded = left_plane.policies()
    assert len(decoded) == 3
    out_dec = next(p for p in decoded if p["dir"] == xn.XFRM_POLICY_OUT)
    assert (out_dec["src"], out_dec["dst"]) == (LOCAL_NET, REMOTE_NET)
    assert out_dec["tmpl"] == [{"src": LEFT, "dst": RIGHT, "reqid": REQID_BASE, "mode": 1}]
    # a second proxy-id gets its own reqid; removing the first leaves the second alone
    left_plane.set_traps([trap(), trap("T1:P2", local="10.1.1.0/24", remote="10.2.1.0/24")])
    assert len(ip_xfrm_policies(ns)) == 6
    left_plane.set_traps([trap("T1:P2", local="10.1.1.0/24", remote="10.2.1.0/24")])
    pols = ip_xfrm_policies(ns)
    assert {(p["src"], p["dst"]) for p in pols} == {("10.1.1.0/24", "10.2.1.0/24"),
                                                    ("10.2.1.0/24", "10.1.1.0/24")}
    assert {p["reqid"] for p in pols} == {str(REQID_BASE + 1)}
    left_plane.set_traps([])
    assert ip_xfrm_policies(ns) == []


def test_ipv6_inner_over_ipv4_outer(sites: Any, left_plane: KernelDataPlane) -> None:  # noqa: F811
    left_plane.set_traps([trap(local="2001:db8:1::/64", remote="2001:db8:2::/64")])
    pols = ip_xfrm_policies(sites.left.ns)
    assert {(p["src"], p["dst"], p["dir"]) for p in pols} == {
        ("2001:db8:1::/64", "2001:db8:2::/64", "out"), ("2001:db8:2::/64", "2001:db8:1::/64", "in"),
        ("2001:db8:2::/64", "2001:db8:1::/64", "fwd")}
    assert {p["tmpl"] for p in pols if p["dir"] == "out"} == {f"{LEFT} dst {RIGHT}"}
    left_plane.set_traps([])
    assert ip_xfrm_policies(sites.left.ns) == []


def test_tunnel_interfaces_are_xfrm_links_or_a_clear_note(
        sites: Any, left_plane: KernelDataPlane) -> None:  # noqa: F811
    ns = sites.left.ns
    left_plane.set_interfaces([TunnelInterface("tunnel.1", ("169.254.10.1/30",), 1400)],
                              [Route("10.2.0.0/24", "tunnel.1")])
    links = ns.run("ip", "-d", "link", "show").stdout
    if left_plane.caps.xfrmi:
        assert "tunnel.1" in links and "if_id 0x1" in links
        assert "10.2.0.0/24 dev tunnel.1" in ns.run("ip", "route").stdout
        left_plane.set_interfaces([], [])
        assert "tunnel.1" not in ns.run("ip", "link", "show").stdout
    else:
        assert "tunnel.1" not in links
        notes = " ".join(left_plane.info().notes)
        assert "tunnel.1: not created" in notes and "CONFIG_XFRM_INTERFACE" in notes


def test_policies_of_others_are_left_alone(sites: Any, left_plane: KernelDataPlane) -> None:  # noqa: F811
    ns = sites.left.ns
    ns.run("ip", "xfrm", "policy", "add", "src", "10.9.0.0/24", "dst", "10.8.0.0/24", "dir", "out",
           "tmpl", "src", LEFT, "dst", "198.51.100.9", "proto", "esp", "mode", "tunnel")
    left_plane.set_traps([trap()])
    left_plane.set_traps([])
    assert [(p["src"], p["dst"]) for p in ip_xfrm_policies(ns)] == [("10.9.0.0/24", "10.8.0.0/24")]


def test_a_new_plane_removes_what_a_crashed_one_left(sites: Any) -> None:  # noqa: F811
    """Issue 11 item 3: kill -9 leaves vpnsh's policies (and SAs) in the kernel; the next
    daemon's plane removes them at start (their reqid marks them ours) and nobody else's."""
    ns = sites.left.ns
    ns.run("ip", "xfrm", "policy", "add", "src", "10.9.0.0/24", "dst", "10.8.0.0/24", "dir", "out",
           "tmpl", "src", LEFT, "dst", "198.51.100.9", "proto", "esp", "mode", "tunnel", "reqid", "1")
    crashed = KernelDataPlane(netns=ns.name, hold_packets=False)
    crashed.open()
    crashed.set_traps([trap(), trap("T2", local="10.1.1.0/24", remote="10.2.1.0/24")])
    if not esp_missing():
        crashed.install_child(child_spec())
    assert len(ip_xfrm_policies(ns)) == 7
    assert crashed._cmd is not None
    crashed._cmd.close()  # dies without stop(): nothing removed
    fresh = KernelDataPlane(netns=ns.name, hold_packets=False)
    try:
        fresh.open()
        assert [(p["src"], p["dst"]) for p in ip_xfrm_policies(ns)] == [("10.9.0.0/24", "10.8.0.0/24")]
        assert ns.run("ip", "xfrm", "state").stdout.strip() == ""
    finally:
        asyncio.run(fresh.stop())


def test_any_to_any_without_xfrm_interfaces_is_not_installed(
        sites: Any, left_plane: KernelDataPlane) -> None:  # noqa: F811
    if left_plane.caps.xfrmi:
        pytest.skip("this kernel has XFRM interfaces: any <-> any is carried by tunnel.1")
    left_plane.set_traps([trap(local="0.0.0.0/0", remote="0.0.0.0/0")])
    assert ip_xfrm_policies(sites.left.ns) == []
    assert any("any <-> any" in n for n in left_plane.info().notes)


def test_acquire_from_ping_becomes_events_acquire(sites: Any) -> None:  # noqa: F811
    left = sites.left.ns
    left.add_route(REMOTE_NET, via=RIGHT)

    async def scenario() -> list[tuple[str, str, str, int, int]]:
        plane = KernelDataPlane(netns=left.name)
        got: list[tuple[str, str, str, int, int]] = []
        seen = asyncio.Event()

        def on_acquire(*args: Any) -> None:
            got.append(args)
            seen.set()

        plane.events.acquire = on_acquire
        await plane.start()
        try:
            plane.set_traps([trap()])
            loop = asyncio.get_running_loop()
            ping = loop.run_in_executor(None, lambda: left.ping("10.2.0.1", source="10.1.0.1"))
            await asyncio.wait_for(seen.wait(), timeout=10)
            await ping
            assert plane.acquires == 1
        finally:
            await plane.stop()
        return got

    got = asyncio.run(scenario())
    assert got[0] == ("tunnel.1", "10.1.0.1", "10.2.0.1", 1, 0)


def test_larval_drop_is_off_while_the_plane_runs(sites: Any) -> None:  # noqa: F811
    ns = sites.left.ns

    def larval_drop() -> str:
        return ns.run("sysctl", "-n", "net.core.xfrm_larval_drop").stdout.strip()

    assert larval_drop() == "1"
    plane = KernelDataPlane(netns=ns.name)
    plane.open()
    assert larval_drop() == "0"
    asyncio.run(plane.stop())
    assert larval_drop() == "1"


def test_acquire_outside_our_policies_is_ignored(sites: Any) -> None:  # noqa: F811
    """Traffic hitting a policy another program made is not ours to negotiate."""
    left = sites.left.ns
    left.add_route("10.7.0.0/24", via=RIGHT)
    left.add_route(REMOTE_NET, via=RIGHT)
    left.run("ip", "xfrm", "policy", "add", "src", LOCAL_NET, "dst", "10.7.0.0/24", "dir", "out",
             "tmpl", "src", LEFT, "dst", RIGHT, "proto", "esp", "mode", "tunnel")

    async def scenario() -> list[Any]:
        plane = KernelDataPlane(netns=left.name)
        got: list[Any] = []
        ours = asyncio.Event()

        def on_acquire(*args: Any) -> None:
            got.append(args)
            if args[2] == "10.2.0.1":
                ours.set()

        plane.events.acquire = on_acquire
        await plane.start()
        try:
            plane.set_traps([trap()])
            loop = asyncio.get_running_loop()
            # foreign first, then ours: when ours arrives the foreign one was handled
            await loop.run_in_executor(None, lambda: left.ping("10.7.0.1", source="10.1.0.1"))
            await loop.run_in_executor(None, lambda: left.ping("10.2.0.1", source="10.1.0.1"))
            await asyncio.wait_for(ours.wait(), timeout=10)
        finally:
            await plane.stop()
        return got

    got = asyncio.run(scenario())
    assert [g[2] for g in got] == ["10.2.0.1"]


@pytest.mark.skipif(esp_missing() is None, reason="this kernel has ESP")
def test_install_child_without_esp_is_a_clear_error(
        sites: Any, left_plane: KernelDataPlane) -> None:  # noqa: F811
    ns = sites.left.ns
    left_plane.set_traps([trap()])
    before = ip_xfrm_policies(ns)
    with pytest.raises(KernelDataPlaneError, match="CONFIG_INET_ESP.*--dataplane userspace"):
        left_plane.install_child(child_spec())
    assert ip_xfrm_policies(ns) == before
    assert "SPI" not in ns.run("ip", "xfrm", "state").stdout
    assert ns.run("ip", "xfrm", "state").stdout.strip() == ""
    assert left_plane.counters(0xC1000001) is None
    assert any("no ESP" in n for n in left_plane.info().notes)


ALGOS = (
    [pytest.param(e, 0, klen, 0, id=name) for e, (name, _) in AEAD_ALGORITHMS.items()
     for klen in [{28: 36, 14: 20, 15: 20, 16: 20}.get(e, 20)]]
    + [pytest.param(e, i, {12: 16, 13: 20, 3: 24, 2: 8, 11: 0}[e],
                    {1: 16, 2: 20, 5: 16, 8: 16, 12: 32, 13: 48, 14: 64}[i],
                    id=f"{CIPHER_ALGORITHMS[e]}+{INTEG_ALGORITHMS[i][0]}")
       for e in (12, 3, 11) for i in (1, 2, 12, 13, 14)]
)


def kernel_crypto_names() -> set[str]:
    with open("/proc/crypto") as f:
        return {line.split(":", 1)[1].strip() for line in f if line.startswith("name")}


@pytest.mark.skipif(esp_missing() is None, reason="this kernel has ESP")
@pytest.mark.parametrize(("encr", "integ", "key_len", "integ_len"), ALGOS)
def test_sa_messages_pass_kernel_validation(sites: Any, left_plane: KernelDataPlane,  # noqa: F811
                                            encr: int, integ: int, key_len: int,
                                            integ_len: int) -> None:
    """Without ESP the kernel still checks a NEWSA fully (attribute sizes, then the
    algorithm names) before it finds no ESP type: EPROTONOSUPPORT means the message
    was well formed and its algorithms known; ENOSYS names an algorithm this kernel's
    crypto API lacks (then it must be missing from /proc/crypto)."""
    have = kernel_crypto_names()
    for extra in ({}, {"encap": (4500, 4500), "esn": True, "replay_window": 1024,
                       "lifetime_soft": 3000, "lifetime_hard": 3600,
                       "lifesize_soft_kb": 1000, "lifesize_hard_kb": 2000},
                  {"replay_window": 32, "copy_tos": True}):
        spec = child_spec(encr=encr, integ=integ, key_len=key_len, integ_len=integ_len, **extra)
        with xn.XfrmChannel(sites.left.ns.name) as ch:
            for keys, _src, _dst, _inbound, msg in left_plane.sa_messages(spec):
                names = [a[1]["alg_name"] for a in algorithm_attrs(keys)]
                with pytest.raises(NetlinkError) as err:
                    ch.request(msg, xn.XFRM_MSG_NEWSA)
                if all(n in have for n in names):
                    assert err.value.code == errno.EPROTONOSUPPORT, xn.error_text(err.value)
                else:
                    assert err.value.code == errno.ENOSYS, xn.error_text(err.value)


@pytest.mark.skipif(esp_missing() is not None, reason=str(esp_missing()))
def test_install_child_installs_sas_and_policies(sites: Any, left_plane: KernelDataPlane  # noqa: F811
                                                 ) -> None:
    ns = sites.left.ns
    left_plane.install_child(child_spec(encap=(4500, 4500), esn=True, lifetime_hard=3600))
    state = ns.run("ip", "xfrm", "state").stdout
    assert "spi 0xc1000001" in state and "spi 0xc2000001" in state
    assert "rfc4106(gcm(aes))" in state and "encap type espinudp sport 4500 dport 4500" in state
    assert {p["dir"] for p in ip_xfrm_policies(ns)} == {"out", "in", "fwd"}
    counters = left_plane.counters(0xC1000001)
    assert counters is not None and counters.encap_packets == 0
    left_plane.remove_child(0xC1000001)
    assert ns.run("ip", "xfrm", "state").stdout.strip() == ""
    assert ip_xfrm_policies(ns) == []


@pytest.mark.skipif(esp_missing() is not None, reason=str(esp_missing()))
def test_rekey_keeps_policies_and_trap_survives_removal(
        sites: Any, left_plane: KernelDataPlane) -> None:  # noqa: F811
    ns = sites.left.ns
    left_plane.set_traps([trap()])
    left_plane.install_child(child_spec())
    left_plane.install_child(child_spec(spi_in=0xC1000002, spi_out=0xC2000002))
    left_plane.remove_child(0xC1000001)
    state = ns.run("ip", "xfrm", "state").stdout
    assert "0xc1000002" in state and "0xc1000001" not in state
    left_plane.remove_child(0xC1000002)
    assert len(ip_xfrm_policies(ns)) == 3  # the trap's


def test_ike_socket_helpers_are_accepted_by_the_kernel() -> None:
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((addr, 0))
            bypass_ipsec(sock)
            if family == socket.AF_INET:
                enable_esp_in_udp(sock)
    assert ipaddress.ip_address("::1").version == 6
