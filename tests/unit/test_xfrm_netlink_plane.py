"""KernelDataPlane's netlink conversation, against a recording fake of the XFRM channel.

The SA paths cannot run on a kernel without ESP; here every request is encoded to
bytes, parsed back, and checked: which messages, in which order, with which contents,
and what happens when the kernel refuses one.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest
from pyroute2.netlink import nlmsg
from pyroute2.netlink.exceptions import NetlinkError

from vpnsh.engine.dataplane import xfrm_netlink as xn
from vpnsh.engine.dataplane.base import ChildSaSpec, EspKeys
from vpnsh.engine.dataplane.kernel import (
    REQID_BASE,
    KernelDataPlane,
    KernelDataPlaneError,
    TrapSpec,
)
from vpnsh.engine.dataplane.kernel_probe import KernelCapabilities
from vpnsh.engine.policy import TrafficSelector

LEFT, RIGHT = "198.51.100.1", "198.51.100.2"
NAMES = {xn.XFRM_MSG_NEWSA: "NEWSA", xn.XFRM_MSG_DELSA: "DELSA", xn.XFRM_MSG_GETSA: "GETSA",
         xn.XFRM_MSG_UPDPOLICY: "UPDPOLICY", xn.XFRM_MSG_DELPOLICY: "DELPOLICY"}


class FakeChannel:
    """Records requests (as the kernel would decode them) and answers like a kernel."""

    def __init__(self) -> None:
        self.log: list[tuple[str, nlmsg]] = []
        self.refuse: dict[tuple[str, int], int] = {}  # (op, spi) -> errno
        self.sas: dict[int, dict[str, Any]] = {}

    def request(self, msg: nlmsg, msg_type: int, *, dump: bool = False) -> list[nlmsg]:
        wire = xn.encode(msg, msg_type)
        [decoded] = xn.parse(wire)
        op = NAMES[msg_type]
        self.log.append((op, decoded))
        spi = decoded["id"]["spi"] if op == "NEWSA" else decoded.get("spi")
        code = self.refuse.get((op, spi))
        if code:
            raise NetlinkError(code, "refused by the fake")
        if op == "NEWSA":
            self.sas[spi] = decoded
        elif op == "DELSA":
            if self.sas.pop(spi, None) is None:
                raise NetlinkError(errno.ESRCH)
        elif op == "GETSA":
            if spi not in self.sas:
                raise NetlinkError(errno.ESRCH)
            reply = xn.build(xn.xfrm_usersa_info, {
                "id": {"spi": spi, "proto": 50},
                "curlft": {"bytes": 1000 + spi % 16, "packets": 10 + spi % 16},
                "stats": {"replay": 2, "integrity_failed": 3}},
                [("XFRMA_REPLAY_ESN_VAL", {"bmp_len": 1, "oseq": 5, "seq": 7, "oseq_hi": 1,
                                           "replay_window": 32, "bmp": bytes(4)})])
            [parsed] = xn.parse(xn.encode(reply, xn.XFRM_MSG_NEWSA))
            return [parsed]
        return []

    def ops(self) -> list[str]:
        return [op for op, _ in self.log]

    def close(self) -> None:
        pass


def plane_with_fake(esp: bool = True) -> tuple[KernelDataPlane, FakeChannel]:
    plane = KernelDataPlane(hold_packets=False)
    fake = FakeChannel()
    plane._cmd = fake  # type: ignore[assignment]
    plane._caps = KernelCapabilities(esp, "" if esp else "this kernel has no ESP (CONFIG_INET_ESP)",
                                     True, "", False, "no XFRM interfaces")
    return plane, fake


def spec(spi_in: int = 0xA1, spi_out: int = 0xB1, name: str = "T1", **kw: Any) -> ChildSaSpec:
    def keys(spi: int) -> EspKeys:
        return EspKeys(spi, 12, 128, b"k" * 16, 12, b"i" * 32)

    return ChildSaSpec(name=name, tnid=1, tunnel_if="tunnel.1", local_addr=LEFT, peer_addr=RIGHT,
                       inbound=keys(spi_in), outbound=keys(spi_out),
                       local_ts=(TrafficSelector.from_prefix("10.1.0.0/24"),),
                       remote_ts=(TrafficSelector.from_prefix("10.2.0.0/24"),), **kw)


def trap() -> TrapSpec:
    return TrapSpec("T1", "tunnel.1", LEFT, RIGHT, (TrafficSelector.from_prefix("10.1.0.0/24"),),
                    (TrafficSelector.from_prefix("10.2.0.0/24"),))


def test_install_adds_two_sas_then_three_policies() -> None:
    plane, fake = plane_with_fake()
    plane.install_child(spec(encap=(4500, 4501), esn=True, lifetime_soft=3000,
                             lifetime_hard=3600, lifesize_hard_kb=10))
    assert fake.ops() == ["NEWSA", "NEWSA", "UPDPOLICY", "UPDPOLICY", "UPDPOLICY"]
    sa_in, sa_out = fake.log[0][1], fake.log[1][1]
    assert (sa_in["id"]["spi"], xn.addr_text(sa_in["id"]["daddr"], 2)) == (0xA1, LEFT)
    assert (sa_out["id"]["spi"], xn.addr_text(sa_out["id"]["daddr"], 2)) == (0xB1, RIGHT)
    assert sa_in["reqid"] == sa_out["reqid"] == REQID_BASE and sa_in["mode"] == xn.XFRM_MODE_TUNNEL
    assert sa_in["flags"] & xn.XFRM_STATE_ESN and sa_in["replay_window"] == 0
    assert sa_in.get_attr("XFRMA_REPLAY_ESN_VAL")["replay_window"] == 1024
    # ESP-in-UDP ports seen from each SA's own source and destination
    assert (sa_in.get_attr("XFRMA_ENCAP")["encap_sport"],
            sa_in.get_attr("XFRMA_ENCAP")["encap_dport"]) == (4501, 4500)
    assert (sa_out.get_attr("XFRMA_ENCAP")["encap_sport"],
            sa_out.get_attr("XFRMA_ENCAP")["encap_dport"]) == (4500, 4501)
    assert sa_out["lft"]["hard_add_expires_seconds"] == 3600
    assert sa_out["lft"]["soft_add_expires_seconds"] == 3000
    assert sa_out["lft"]["hard_byte_limit"] == 10 * 1024
    assert sa_out["lft"]["soft_byte_limit"] == xn.XFRM_INF
    assert sa_out.get_attr("XFRMA_ALG_CRYPT")["alg_name"] == "cbc(aes)"
    assert sa_out.get_attr("XFRMA_ALG_AUTH_TRUNC")["alg_trunc_len"] == 128
    assert sa_out.get_attr("XFRMA_SA_EXTRA_FLAGS") == xn.XFRM_SA_XFLAG_DONT_ENCAP_DSCP
    dirs = {m["dir"]: m for op, m in fake.log if op == "UPDPOLICY"}
    assert set(dirs) == {xn.XFRM_POLICY_IN, xn.XFRM_POLICY_OUT, xn.XFRM_POLICY_FWD}
    [tmpl] = dirs[xn.XFRM_POLICY_OUT].get_attr("XFRMA_TMPL")
    assert (xn.addr_text(tmpl["saddr"], 2), xn.addr_text(tmpl["id"]["daddr"], 2)) == (LEFT, RIGHT)
    [tmpl_in] = dirs[xn.XFRM_POLICY_IN].get_attr("XFRMA_TMPL")
    assert xn.addr_text(tmpl_in["id"]["daddr"], 2) == LEFT and tmpl_in["reqid"] == REQID_BASE


def test_small_window_uses_the_legacy_replay_field() -> None:
    plane, fake = plane_with_fake()
    plane.install_child(spec(replay_window=32))
    sa_in = fake.log[0][1]
    assert sa_in["replay_window"] == 32 and sa_in.get_attr("XFRMA_REPLAY_ESN_VAL") is None
    plane2, fake2 = plane_with_fake()
    plane2.install_child(spec(anti_replay=False))
    assert fake2.log[0][1]["replay_window"] == 0


def test_outbound_refused_removes_the_inbound_and_leaves_policies() -> None:
    plane, fake = plane_with_fake()
    plane.set_traps([trap()])
    fake.log.clear()
    fake.refuse[("NEWSA", 0xB1)] = errno.ENOSYS
    with pytest.raises(KernelDataPlaneError, match="lacks an algorithm"):
        plane.install_child(spec())
    assert fake.ops() == ["NEWSA", "NEWSA", "DELSA"]
    assert fake.sas == {}
    assert plane.counters(0xA1) is None


def test_no_esp_refuses_before_touching_the_kernel() -> None:
    plane, fake = plane_with_fake(esp=False)
    with pytest.raises(KernelDataPlaneError, match="CONFIG_INET_ESP"):
        plane.install_child(spec())
    assert fake.ops() == []


def test_rekey_then_remove_old_keeps_policies_and_remove_last_drops_them() -> None:
    plane, fake = plane_with_fake()
    plane.install_child(spec())
    plane.install_child(spec(spi_in=0xA2, spi_out=0xB2))
    assert fake.ops()[5:] == ["NEWSA", "NEWSA"]  # same reqid, same policies: nothing to update
    assert fake.log[5][1]["reqid"] == REQID_BASE
    fake.log.clear()
    plane.remove_child(0xA1)
    assert fake.ops() == ["DELSA", "DELSA"]
    fake.log.clear()
    plane.remove_child(0xA2)
    assert fake.ops() == ["DELSA", "DELSA", "DELPOLICY", "DELPOLICY", "DELPOLICY"]
    plane.remove_child(0xA2)  # unknown now: ignored
    assert len(fake.log) == 5


def test_trap_policies_survive_the_child() -> None:
    plane, fake = plane_with_fake()
    plane.set_traps([trap()])
    plane.install_child(spec())
    plane.remove_child(0xA1)
    assert "DELPOLICY" not in fake.ops()
    fake.log.clear()
    plane.set_traps([])
    assert fake.ops() == ["DELPOLICY"] * 3


def test_counters_from_getsa() -> None:
    plane, fake = plane_with_fake()
    plane.install_child(spec())
    c = plane.counters(0xA1)
    assert c is not None
    assert (c.decap_packets, c.decap_bytes) == (10 + 0xA1 % 16, 1000 + 0xA1 % 16)
    assert (c.encap_packets, c.encap_bytes) == (10 + 0xB1 % 16, 1000 + 0xB1 % 16)
    assert (c.replay_packets, c.auth_errors) == (2, 3)
    assert c.send_seq == (1 << 32) | 5 and c.recv_seq == 7


def test_expire_of_either_sa_reports_the_inbound_spi_once_per_kind() -> None:
    plane, _ = plane_with_fake()
    plane.install_child(spec())
    got: list[tuple[int, str]] = []
    plane.events.expire = lambda spi, kind: got.append((spi, kind))

    def expire(spi: int, hard: bool) -> list[nlmsg]:
        state = {"id": {"spi": spi, "proto": 50}, "family": socket.AF_INET}
        return xn.parse(xn.encode(xn.build(xn.xfrm_user_expire,
                                           {"state": state, "hard": int(hard)}),
                                  xn.XFRM_MSG_EXPIRE))

    plane.dispatch(expire(0xB1, False) + expire(0xA1, False) + expire(0xA1, True))
    assert got == [(0xA1, "soft"), (0xA1, "hard")]


def test_acquire_is_mapped_through_the_installed_policy() -> None:
    plane, fake = plane_with_fake()
    plane.set_traps([trap()])
    out = next(m for op, m in fake.log if op == "UPDPOLICY" and m["dir"] == xn.XFRM_POLICY_OUT)
    got: list[Any] = []
    plane.events.acquire = lambda *a: got.append(a)
    flow = {"saddr": xn.addr_bytes("10.1.0.7"), "daddr": xn.addr_bytes("10.2.0.8"),
            "prefixlen_s": 32, "prefixlen_d": 32, "proto": 17, "dport": 53,
            "family": socket.AF_INET}
    policy = {"sel": out["sel"], "dir": xn.XFRM_POLICY_OUT, "index": 9}
    wire = xn.encode(xn.build(xn.xfrm_user_acquire, {"sel": flow, "policy": policy}),
                     xn.XFRM_MSG_ACQUIRE)
    plane.dispatch(xn.parse(wire))
    assert got == [("tunnel.1", "10.1.0.7", "10.2.0.8", 17, 53)]
    assert plane.acquires == 1
