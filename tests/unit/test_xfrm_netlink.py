"""XFRM message layout against the kernel ABI, codec round trips, and event parsing.

The reference layout is built twice, independently of the codec: with ``ctypes``
mirrors of the C declarations of linux/xfrm.h (native alignment, as the compiler
lays them out), and, where a C compiler and the kernel headers are present, with
``sizeof``/``offsetof`` from the real header.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vpnsh.engine.dataplane import xfrm_netlink as xn
from vpnsh.engine.dataplane.base import EspKeys
from vpnsh.engine.dataplane.kernel import (
    KernelDataPlane,
    KernelDataPlaneError,
    SelectorPart,
    algorithm_attrs,
    selector_fields,
    selector_parts,
    tunnel_if_id,
)
from vpnsh.engine.policy import TrafficSelector

# --- ctypes mirrors of linux/xfrm.h ---------------------------------------------

u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


class c_xfrm_address(ctypes.Union):
    _fields_ = [("a4", u32), ("a6", u32 * 4)]


class c_xfrm_selector(ctypes.Structure):
    _fields_ = [("daddr", c_xfrm_address), ("saddr", c_xfrm_address),
                ("dport", u16), ("dport_mask", u16), ("sport", u16), ("sport_mask", u16),
                ("family", u16), ("prefixlen_d", u8), ("prefixlen_s", u8), ("proto", u8),
                ("ifindex", ctypes.c_int), ("user", u32)]


class c_xfrm_id(ctypes.Structure):
    _fields_ = [("daddr", c_xfrm_address), ("spi", u32), ("proto", u8)]


class c_xfrm_lifetime_cfg(ctypes.Structure):
    _fields_ = [(n, u64) for n in (
        "soft_byte_limit", "hard_byte_limit", "soft_packet_limit", "hard_packet_limit",
        "soft_add_expires_seconds", "hard_add_expires_seconds",
        "soft_use_expires_seconds", "hard_use_expires_seconds")]


class c_xfrm_lifetime_cur(ctypes.Structure):
    _fields_ = [("bytes", u64), ("packets", u64), ("add_time", u64), ("use_time", u64)]


class c_xfrm_stats(ctypes.Structure):
    _fields_ = [("replay_window", u32), ("replay", u32), ("integrity_failed", u32)]


class c_xfrm_usersa_info(ctypes.Structure):
    _fields_ = [("sel", c_xfrm_selector), ("id", c_xfrm_id), ("saddr", c_xfrm_address),
                ("lft", c_xfrm_lifetime_cfg), ("curlft", c_xfrm_lifetime_cur),
                ("stats", c_xfrm_stats), ("seq", u32), ("reqid", u32), ("family", u16),
                ("mode", u8), ("replay_window", u8), ("flags", u8)]


class c_xfrm_userpolicy_info(ctypes.Structure):
    _fields_ = [("sel", c_xfrm_selector), ("lft", c_xfrm_lifetime_cfg),
                ("curlft", c_xfrm_lifetime_cur), ("priority", u32), ("index", u32),
                ("dir", u8), ("action", u8), ("flags", u8), ("share", u8)]


class c_xfrm_user_tmpl(ctypes.Structure):
    _fields_ = [("id", c_xfrm_id), ("family", u16), ("saddr", c_xfrm_address), ("reqid", u32),
                ("mode", u8), ("share", u8), ("optional", u8),
                ("aalgos", u32), ("ealgos", u32), ("calgos", u32)]


class c_xfrm_usersa_id(ctypes.Structure):
    _fields_ = [("daddr", c_xfrm_address), ("spi", u32), ("family", u16), ("proto", u8)]


class c_xfrm_userpolicy_id(ctypes.Structure):
    _fields_ = [("sel", c_xfrm_selector), ("index", u32), ("dir", u8)]


class c_xfrm_user_acquire(ctypes.Structure):
    _fields_ = [("id", c_xfrm_id), ("saddr", c_xfrm_address), ("sel", c_xfrm_selector),
                ("policy", c_xfrm_userpolicy_info), ("aalgos", u32), ("ealgos", u32),
                ("calgos", u32), ("seq", u32)]


class c_xfrm_user_expire(ctypes.Structure):
    _fields_ = [("state", c_xfrm_usersa_info), ("hard", u8)]


class c_xfrm_algo_auth(ctypes.Structure):
    _fields_ = [("alg_name", ctypes.c_char * 64), ("alg_key_len", ctypes.c_uint),
                ("alg_trunc_len", ctypes.c_uint)]


class c_xfrm_encap_tmpl(ctypes.Structure):
    _fields_ = [("encap_type", u16), ("encap_sport", u16), ("encap_dport", u16),
                ("encap_oa", c_xfrm_address)]


class c_xfrm_replay_state_esn(ctypes.Structure):
    _fields_ = [("bmp_len", ctypes.c_uint), ("oseq", u32), ("seq", u32), ("oseq_hi", u32),
                ("seq_hi", u32), ("replay_window", u32)]


PAIRS: list[tuple[type[xn.CStruct], type[ctypes.Structure], str]] = [
    (xn.XfrmSelector, c_xfrm_selector, "xfrm_selector"),
    (xn.XfrmId, c_xfrm_id, "xfrm_id"),
    (xn.XfrmLifetimeCfg, c_xfrm_lifetime_cfg, "xfrm_lifetime_cfg"),
    (xn.XfrmLifetimeCur, c_xfrm_lifetime_cur, "xfrm_lifetime_cur"),
    (xn.XfrmStats, c_xfrm_stats, "xfrm_stats"),
    (xn.XfrmUsersaInfoStruct, c_xfrm_usersa_info, "xfrm_usersa_info"),
    (xn.XfrmUserpolicyInfoStruct, c_xfrm_userpolicy_info, "xfrm_userpolicy_info"),
    (xn.XfrmUserTmpl, c_xfrm_user_tmpl, "xfrm_user_tmpl"),
    (xn.XfrmUsersaIdStruct, c_xfrm_usersa_id, "xfrm_usersa_id"),
    (xn.XfrmUserpolicyIdStruct, c_xfrm_userpolicy_id, "xfrm_userpolicy_id"),
    (xn.XfrmUserAcquireStruct, c_xfrm_user_acquire, "xfrm_user_acquire"),
    (xn.XfrmUserExpireStruct, c_xfrm_user_expire, "xfrm_user_expire"),
    (xn.XfrmAlgoAuthHead, c_xfrm_algo_auth, "xfrm_algo_auth"),
    (xn.XfrmEncapTmpl, c_xfrm_encap_tmpl, "xfrm_encap_tmpl"),
    (xn.XfrmReplayStateEsnHead, c_xfrm_replay_state_esn, "xfrm_replay_state_esn"),
]


def field_offsets(cls: type[xn.CStruct]) -> dict[str, int]:
    out, offset = {}, 0
    for name, fmt in cls.fields:
        size = fmt.size() if isinstance(fmt, type) and issubclass(fmt, xn.CStruct) else struct.calcsize(fmt)
        if not name.startswith("__"):
            out[name] = offset
        offset += size
    return out


@pytest.mark.parametrize(("ours", "mirror", "cname"), PAIRS, ids=[p[2] for p in PAIRS])
def test_struct_layout_matches_ctypes(ours: type[xn.CStruct], mirror: type[ctypes.Structure],
                                      cname: str) -> None:
    assert ours.size() == ctypes.sizeof(mirror)
    offsets = field_offsets(ours)
    for name, *_ in mirror._fields_:
        assert offsets[name] == getattr(mirror, name).offset, name


def test_the_sizes_the_kernel_documents() -> None:
    assert xn.XfrmSelector.size() == 56
    assert xn.XfrmUsersaInfoStruct.size() == 224
    assert xn.XfrmUserpolicyInfoStruct.size() == 168
    assert xn.XfrmUserTmpl.size() == 64
    assert xn.XfrmUserAcquireStruct.size() == 280
    assert xn.XfrmUserExpireStruct.size() == 232
    assert xn.XfrmUsersaIdStruct.size() == 24
    assert xn.XfrmUserpolicyIdStruct.size() == 64


HEADER = Path("/usr/include/linux/xfrm.h")


@pytest.mark.skipif(shutil.which("cc") is None or not HEADER.exists(),
                    reason="needs a C compiler and linux/xfrm.h")
def test_struct_layout_matches_the_real_header(tmp_path: Path) -> None:
    lines = []
    for ours, _, cname in PAIRS:
        lines.append(f'printf("\\"{cname}\\": [%zu, {{", sizeof(struct {cname}));')
        names = [n for n in field_offsets(ours)]
        for i, name in enumerate(names):
            sep = "," if i < len(names) - 1 else ""
            lines.append(f'printf("\\"{name}\\": %zu{sep}", offsetof(struct {cname}, {name}));')
        lines.append('printf("}],");')
    src = tmp_path / "layout.c"
    src.write_text("#include <stdio.h>\n#include <stddef.h>\n#include <linux/xfrm.h>\n"
                   "int main(void) { printf(\"{\");\n" + "\n".join(lines)
                   + '\nprintf("\\"end\\": 0}\\n"); return 0; }\n')
    exe = tmp_path / "layout"
    subprocess.run(["cc", "-o", str(exe), str(src)], check=True, capture_output=True)
    real = json.loads(subprocess.run([str(exe)], check=True, capture_output=True,
                                     text=True).stdout)
    for ours, _, cname in PAIRS:
        size, offsets = real[cname]
        assert ours.size() == size, cname
        assert field_offsets(ours) == offsets, cname


# --- byte layout of whole messages ---------------------------------------------


def addr4(text: str) -> c_xfrm_address:
    a = c_xfrm_address()
    a.a4 = struct.unpack("=I", socket.inet_aton(text))[0]
    return a


def test_newsa_bytes_match_a_hand_built_struct() -> None:
    ref = c_xfrm_usersa_info()
    ref.sel.family = socket.AF_INET
    ref.sel.saddr, ref.sel.daddr = addr4("10.1.0.0"), addr4("10.2.0.0")
    ref.sel.prefixlen_s = ref.sel.prefixlen_d = 24
    ref.sel.dport, ref.sel.dport_mask = socket.htons(443), 0xFFFF
    ref.id.daddr, ref.id.spi, ref.id.proto = addr4("198.51.100.2"), socket.htonl(0xC0DE0001), 50
    ref.saddr = addr4("198.51.100.1")
    for name, *_ in c_xfrm_lifetime_cfg._fields_:
        setattr(ref.lft, name, 0 if name.endswith("_seconds") else xn.XFRM_INF)
    ref.lft.hard_add_expires_seconds = 3600
    ref.reqid, ref.family, ref.mode, ref.replay_window, ref.flags = 7, socket.AF_INET, 1, 32, 2

    fields = {
        "sel": {"family": socket.AF_INET, "saddr": xn.addr_bytes("10.1.0.0"),
                "daddr": xn.addr_bytes("10.2.0.0"), "prefixlen_s": 24, "prefixlen_d": 24,
                "dport": 443, "dport_mask": 0xFFFF},
        "id": {"daddr": xn.addr_bytes("198.51.100.2"), "spi": 0xC0DE0001, "proto": 50},
        "saddr": xn.addr_bytes("198.51.100.1"),
        "lft": xn.XfrmLifetimeCfg.infinite(hard_add_expires_seconds=3600),
        "reqid": 7, "family": socket.AF_INET, "mode": 1, "replay_window": 32, "flags": 2,
    }
    wire = xn.encode(xn.build(xn.xfrm_usersa_info, fields), xn.XFRM_MSG_NEWSA, 0x405, 9)
    length, mtype, flags, seq, pid = struct.unpack_from("=IHHII", wire)
    assert (length, mtype, flags, seq) == (16 + 224, xn.XFRM_MSG_NEWSA, 0x405, 9)
    assert wire[16:] == bytes(ref)


def test_nla_bytes_algorithm_and_encap() -> None:
    attrs = [("XFRMA_ALG_AUTH_TRUNC", {"alg_name": "hmac(sha256)", "alg_key_len": 256,
                                       "alg_trunc_len": 128, "alg_key": bytes(range(32))}),
             ("XFRMA_ENCAP", {"encap_type": 2, "encap_sport": 4500, "encap_dport": 4501})]
    wire = xn.encode(xn.build(xn.xfrm_usersa_info, {}, attrs), xn.XFRM_MSG_NEWSA)
    off = 16 + 224
    nla_len, nla_type = struct.unpack_from("=HH", wire, off)
    assert (nla_len, nla_type) == (4 + 72 + 32, xn.XFRMA_ALG_AUTH_TRUNC)
    ref = c_xfrm_algo_auth(b"hmac(sha256)", 256, 128)
    assert wire[off + 4:off + 76] == bytes(ref)
    assert wire[off + 76:off + 108] == bytes(range(32))
    off += nla_len  # 108: already 4-aligned
    nla_len, nla_type = struct.unpack_from("=HH", wire, off)
    assert (nla_len, nla_type) == (4 + 24, xn.XFRMA_ENCAP)
    enc = c_xfrm_encap_tmpl(2, socket.htons(4500), socket.htons(4501))
    assert wire[off + 4:off + 28] == bytes(enc)
    assert len(wire) == off + 28 == struct.unpack_from("=I", wire)[0]


# --- round trips -----------------------------------------------------------------


def test_usersa_info_round_trip_with_attributes() -> None:
    attrs = [
        ("XFRMA_ALG_AEAD", {"alg_name": "rfc4106(gcm(aes))", "alg_key_len": 160,
                            "alg_icv_len": 128, "alg_key": b"k" * 20}),
        ("XFRMA_REPLAY_ESN_VAL", {"bmp_len": 32, "replay_window": 1024, "bmp": bytes(128)}),
        ("XFRMA_SA_EXTRA_FLAGS", 1),
        ("XFRMA_IF_ID", 5),
    ]
    fields = {"id": {"daddr": xn.addr_bytes("2001:db8::2"), "spi": 0xDEADBEEF, "proto": 50},
              "saddr": xn.addr_bytes("2001:db8::1"), "family": socket.AF_INET6,
              "curlft": {"bytes": 12345, "packets": 67}, "stats": {"replay": 3,
                                                                  "integrity_failed": 4}}
    [msg] = xn.parse(xn.encode(xn.build(xn.xfrm_usersa_info, fields, attrs), xn.XFRM_MSG_NEWSA))
    assert isinstance(msg, xn.xfrm_usersa_info)
    assert msg["id"]["spi"] == 0xDEADBEEF
    assert xn.addr_text(msg["saddr"], msg["family"]) == "2001:db8::1"
    assert msg["curlft"]["bytes"] == 12345 and msg["stats"]["integrity_failed"] == 4
    aead = msg.get_attr("XFRMA_ALG_AEAD")
    assert aead == {"alg_name": "rfc4106(gcm(aes))", "alg_key_len": 160, "alg_icv_len": 128,
                    "alg_key": b"k" * 20}
    esn = msg.get_attr("XFRMA_REPLAY_ESN_VAL")
    assert esn["replay_window"] == 1024 and len(esn["bmp"]) == 128
    assert msg.get_attr("XFRMA_SA_EXTRA_FLAGS") == 1
    assert msg.get_attr("XFRMA_IF_ID") == 5


def test_policy_with_two_templates_round_trip() -> None:
    tmpls = [{"id": {"daddr": xn.addr_bytes(f"192.0.2.{i}"), "proto": 50}, "family": 2,
              "saddr": xn.addr_bytes("192.0.2.100"), "reqid": i, "mode": 1} for i in (1, 2)]
    wire = xn.encode(xn.build(xn.xfrm_userpolicy_info, {"dir": 2, "priority": 99},
                              [("XFRMA_TMPL", tmpls)]), xn.XFRM_MSG_UPDPOLICY)
    assert struct.unpack_from("=HH", wire, 16 + 168) == (4 + 2 * 64, xn.XFRMA_TMPL)
    [msg] = xn.parse(wire)
    got = msg.get_attr("XFRMA_TMPL")
    assert [t["reqid"] for t in got] == [1, 2]
    assert xn.addr_text(got[1]["id"]["daddr"], got[1]["family"]) == "192.0.2.2"
    assert (msg["dir"], msg["priority"]) == (2, 99)


def test_truncated_struct_is_an_error() -> None:
    with pytest.raises(ValueError, match="need 56 bytes"):
        xn.XfrmSelector.unpack(bytes(40))


def test_lifetime_none_is_inf_bytes_and_zero_seconds() -> None:
    lft = xn.XfrmLifetimeCfg.infinite(soft_byte_limit=0, hard_add_expires_seconds=60)
    assert lft["soft_byte_limit"] == lft["hard_packet_limit"] == xn.XFRM_INF
    assert lft["soft_add_expires_seconds"] == 0 and lft["hard_add_expires_seconds"] == 60


def test_group_mask() -> None:
    assert xn.group_mask(xn.XFRMNLGRP_ACQUIRE, xn.XFRMNLGRP_EXPIRE) == 0b11
    assert xn.group_mask(xn.XFRMNLGRP_POLICY) == 0b1000


# --- kernel messages into engine events ------------------------------------------


def expire_wire(spi: int, hard: bool) -> bytes:
    state = {"id": {"daddr": xn.addr_bytes("198.51.100.1"), "spi": spi, "proto": 50},
             "saddr": xn.addr_bytes("198.51.100.2"), "family": socket.AF_INET,
             "sel": {"family": socket.AF_INET}}
    return xn.encode(xn.build(xn.xfrm_user_expire, {"state": state, "hard": int(hard)}),
                     xn.XFRM_MSG_EXPIRE)


def test_expire_message_layout_and_parse() -> None:
    wire = expire_wire(0xC1000001, hard=True)
    assert len(wire) == 16 + 232
    ref = c_xfrm_user_expire()
    ref.state.id.daddr, ref.state.id.spi = addr4("198.51.100.1"), socket.htonl(0xC1000001)
    ref.state.id.proto, ref.state.saddr, ref.state.family = 50, addr4("198.51.100.2"), 2
    ref.state.sel.family, ref.hard = 2, 1
    assert wire[16:] == bytes(ref)
    [msg] = xn.parse(wire)
    assert isinstance(msg, xn.xfrm_user_expire)
    assert msg["state"]["id"]["spi"] == 0xC1000001 and msg["hard"] == 1


def test_expire_becomes_events_expire() -> None:
    plane = KernelDataPlane()  # no socket is opened for dispatch
    got: list[tuple[int, str]] = []
    plane.events.expire = lambda spi, kind: got.append((spi, kind))
    plane.dispatch(xn.parse(expire_wire(0xC1000001, hard=False) + expire_wire(0xC1000002, True)))
    assert got == [(0xC1000001, "soft"), (0xC1000002, "hard")]


def acquire_wire(src: str, dst: str, proto: int, dport: int) -> bytes:
    flow = {"saddr": xn.addr_bytes(src), "daddr": xn.addr_bytes(dst), "prefixlen_s": 32,
            "prefixlen_d": 32, "proto": proto, "dport": dport, "dport_mask": 0xFFFF,
            "family": socket.AF_INET}
    policy = {"sel": selector_fields(SelectorPart("10.1.0.0/24"), SelectorPart("10.2.0.0/24"), 0),
              "dir": xn.XFRM_POLICY_OUT, "index": 0x1F9}
    return xn.encode(xn.build(xn.xfrm_user_acquire, {
        "id": {"daddr": xn.addr_bytes("198.51.100.2"), "proto": 50},
        "saddr": xn.addr_bytes("198.51.100.1"), "sel": flow, "policy": policy}),
        xn.XFRM_MSG_ACQUIRE)


def test_acquire_message_parse() -> None:
    wire = acquire_wire("10.1.0.5", "10.2.0.9", 6, 443)
    assert len(wire) == 16 + 280
    [msg] = xn.parse(wire)
    assert isinstance(msg, xn.xfrm_user_acquire)
    assert xn.addr_text(msg["sel"]["daddr"], 2) == "10.2.0.9" and msg["sel"]["dport"] == 443
    assert msg["policy"]["index"] == 0x1F9 and msg["policy"]["sel"]["prefixlen_d"] == 24


def test_acquire_not_ours_is_ignored_and_bad_messages_do_not_raise() -> None:
    plane = KernelDataPlane()
    got: list[Any] = []
    plane.events.acquire = lambda *a: got.append(a)
    plane.dispatch(xn.parse(acquire_wire("10.1.0.5", "10.2.0.9", 6, 443)))
    assert got == []
    broken = xn.build(xn.xfrm_user_acquire, {})
    broken["header"] = {"type": xn.XFRM_MSG_ACQUIRE}
    plane.dispatch([broken])  # logged, not raised
    assert got == []


# --- mapping from the engine's terms ------------------------------------------------


def keys(encr: int, integ: int = 0, klen: int = 16, ilen: int = 0) -> EspKeys:
    return EspKeys(0x100, encr, klen * 8, b"e" * klen, integ, b"i" * ilen)


@pytest.mark.parametrize(("k", "expected"), [
    (keys(20, klen=20), [("XFRMA_ALG_AEAD", "rfc4106(gcm(aes))", 160, ("alg_icv_len", 128))]),
    (keys(18, klen=36), [("XFRMA_ALG_AEAD", "rfc4106(gcm(aes))", 288, ("alg_icv_len", 64))]),
    (keys(12, 2, 16, 20), [("XFRMA_ALG_CRYPT", "cbc(aes)", 128, None),
                           ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha1)", 160, ("alg_trunc_len", 96))]),
    (keys(3, 12, 24, 32), [("XFRMA_ALG_CRYPT", "cbc(des3_ede)", 192, None),
                           ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha256)", 256,
                            ("alg_trunc_len", 128))]),
    (keys(12, 13, 32, 48), [("XFRMA_ALG_CRYPT", "cbc(aes)", 256, None),
                            ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha384)", 384, ("alg_trunc_len", 192))]),
    (keys(12, 14, 16, 64), [("XFRMA_ALG_CRYPT", "cbc(aes)", 128, None),
                            ("XFRMA_ALG_AUTH_TRUNC", "hmac(sha512)", 512, ("alg_trunc_len", 256))]),
    (keys(11, 1, 0, 16), [("XFRMA_ALG_CRYPT", "ecb(cipher_null)", 0, None),
                          ("XFRMA_ALG_AUTH_TRUNC", "hmac(md5)", 128, ("alg_trunc_len", 96))]),
])
def test_algorithm_attrs(k: EspKeys, expected: list[Any]) -> None:
    got = algorithm_attrs(k)
    assert [(name, v["alg_name"], v["alg_key_len"]) for name, v in got] == \
        [e[:3] for e in expected]
    for (_, v), e in zip(got, expected, strict=True):
        if e[3]:
            assert v[e[3][0]] == e[3][1]


def test_unknown_algorithm_is_an_error() -> None:
    with pytest.raises(KernelDataPlaneError, match="encryption algorithm 99"):
        algorithm_attrs(keys(99))
    with pytest.raises(KernelDataPlaneError, match="integrity algorithm 77"):
        algorithm_attrs(keys(12, 77, 16, 16))


def test_selector_parts_from_ranges_and_ports() -> None:
    assert selector_parts(TrafficSelector.from_prefix("10.1.0.0/24")) == [
        SelectorPart("10.1.0.0/24")]
    assert selector_parts(TrafficSelector.from_prefix("10.1.0.0/24", 6, 443)) == [
        SelectorPart("10.1.0.0/24", 443, 0xFFFF)]
    odd = TrafficSelector(TrafficSelector.from_prefix("10.0.0.1/32").start_addr,
                          TrafficSelector.from_prefix("10.0.0.6/32").start_addr)
    assert [p.network for p in selector_parts(odd)] == [
        "10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
    sel = selector_fields(SelectorPart("2001:db8::/32", 53, 0xFFFF), SelectorPart("::/0"), 17)
    assert sel["family"] == socket.AF_INET6 and sel["prefixlen_s"] == 32 and sel["sport"] == 53


def test_tunnel_if_id() -> None:
    assert tunnel_if_id("tunnel.12") == 12
    assert tunnel_if_id("tunnel") == 10000
    with pytest.raises(ValueError):
        tunnel_if_id("ethernet1/1")
