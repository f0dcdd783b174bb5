"""XFRM netlink messages (linux/xfrm.h) on pyroute2's nlmsg/nla machinery, and a channel.

pyroute2 has no XFRM message classes; this module defines the ones vpnsh needs. The C
structs of the kernel ABI are described once as :class:`CStruct` subclasses (a field type
that pyroute2's ``nlmsg.fields`` accepts: anything with ``decode_from``/``encode_into``), so
nesting works as in C (``xfrm_usersa_info`` holds an ``xfrm_selector``). Padding is explicit
(``"3x"``) and the sizes are those of x86_64 (and every other 64-bit Linux ABI): the unit
tests check them against ``ctypes`` mirrors of the C declarations.

Values decode to plain dicts (nested structs to nested dicts); addresses stay 16 raw bytes
(``xfrm_address_t``) and are turned into text with :func:`addr_text` given the family.

:class:`XfrmChannel` is a small blocking request/ack transport over an ``AF_NETLINK``
socket made by ``pyroute2.netns.create_socket`` (so it can live in another namespace).
pyroute2's own ``NetlinkSocket`` is not used for I/O: its sync API runs its own asyncio
loop and fails inside the daemon's running loop ("This event loop is already running").
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import itertools
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any, ClassVar, TypeGuard

from pyroute2 import netns as pr_netns
from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NotInitialized,
    nla,
    nlmsg,
)
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.marshal import Marshal

NETLINK_XFRM = 6
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11

# --- message types (enum in linux/xfrm.h, XFRM_MSG_BASE = 0x10) -------------
XFRM_MSG_NEWSA = 0x10
XFRM_MSG_DELSA = 0x11
XFRM_MSG_GETSA = 0x12
XFRM_MSG_NEWPOLICY = 0x13
XFRM_MSG_DELPOLICY = 0x14
XFRM_MSG_GETPOLICY = 0x15
XFRM_MSG_ALLOCSPI = 0x16
XFRM_MSG_ACQUIRE = 0x17
XFRM_MSG_EXPIRE = 0x18
XFRM_MSG_UPDPOLICY = 0x19
XFRM_MSG_UPDSA = 0x1A
XFRM_MSG_POLEXPIRE = 0x1B
XFRM_MSG_FLUSHSA = 0x1C
XFRM_MSG_FLUSHPOLICY = 0x1D

# --- multicast groups (enum xfrm_nlgroups); bind() takes the bit 1 << (group - 1)
XFRMNLGRP_ACQUIRE = 1
XFRMNLGRP_EXPIRE = 2
XFRMNLGRP_SA = 3
XFRMNLGRP_POLICY = 4


def group_mask(*groups: int) -> int:
    """The bind() bitmask for these XFRMNLGRP_* groups."""
    mask = 0
    for g in groups:
        mask |= 1 << (g - 1)
    return mask


# --- attributes (enum xfrm_attr_type_t) --------------------------------------
XFRMA_ALG_AUTH = 1
XFRMA_ALG_CRYPT = 2
XFRMA_ENCAP = 4
XFRMA_TMPL = 5
XFRMA_LTIME_VAL = 9
XFRMA_REPLAY_VAL = 10
XFRMA_SRCADDR = 13
XFRMA_POLICY_TYPE = 16
XFRMA_ALG_AEAD = 18
XFRMA_ALG_AUTH_TRUNC = 20
XFRMA_MARK = 21
XFRMA_REPLAY_ESN_VAL = 23
XFRMA_SA_EXTRA_FLAGS = 24
XFRMA_IF_ID = 31

# --- constants ----------------------------------------------------------------
XFRM_INF = (1 << 64) - 1
XFRM_MODE_TRANSPORT = 0
XFRM_MODE_TUNNEL = 1
XFRM_POLICY_IN = 0
XFRM_POLICY_OUT = 1
XFRM_POLICY_FWD = 2
XFRM_POLICY_ALLOW = 0
XFRM_POLICY_BLOCK = 1
XFRM_STATE_NOECN = 1
XFRM_STATE_DECAP_DSCP = 2
XFRM_STATE_NOPMTUDISC = 4
XFRM_STATE_AF_UNSPEC = 32
XFRM_STATE_ESN = 128
XFRM_SA_XFLAG_DONT_ENCAP_DSCP = 1
UDP_ENCAP_ESPINUDP = 2
IPPROTO_ESP = 50


# --- addresses -------------------------------------------------------------------


def addr_family(addr: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET


def addr_bytes(addr: str | None) -> bytes:
    """``xfrm_address_t`` (16 bytes, network order, IPv4 in the first 4) of a text address."""
    if not addr:
        return bytes(16)
    return ipaddress.ip_address(addr).packed.ljust(16, b"\0")


def addr_text(raw: bytes, family: int) -> str:
    """Text form of an ``xfrm_address_t`` in the given family."""
    if family == socket.AF_INET6:
        return str(ipaddress.IPv6Address(bytes(raw[:16])))
    return str(ipaddress.IPv4Address(bytes(raw[:4])))


# --- C structs -------------------------------------------------------------------



class CStruct:
    """A fixed-size C struct: a field type usable in pyroute2 ``fields`` and inside others.

    ``fields`` are ``(name, fmt)`` with a :mod:`struct` format of one item (or padding,
    ``"Nx"``, named ``__pad``), or ``(name, OtherCStruct)``. Missing values encode as 0.
    """

    fields: ClassVar[tuple[tuple[str, Any], ...]] = ()

    @classmethod
    def size(cls) -> int:
        total = 0
        for _, fmt in cls.fields:
            total += fmt.size() if _is_struct(fmt) else struct.calcsize(fmt)
        return total

    @classmethod
    def decode_from(cls, data: bytes | bytearray, offset: int = 0) -> tuple[dict[str, Any], int]:
        if len(data) - offset < cls.size():
            raise ValueError(f"{cls.__name__}: need {cls.size()} bytes, have {len(data) - offset}")
        out: dict[str, Any] = {}
        for name, fmt in cls.fields:
            if _is_struct(fmt):
                out[name], offset = fmt.decode_from(data, offset)
            elif fmt.endswith("x"):
                offset += struct.calcsize(fmt)
            else:
                (out[name],) = struct.unpack_from(fmt, data, offset)
                offset += struct.calcsize(fmt)
        return out, offset

    @classmethod
    def encode_into(cls, data: bytearray, offset: int, value: Any) -> int:
        """Write at ``offset`` (extending ``data`` as pyroute2's encoder does); new offset."""
        end = offset + cls.size()
        if len(data) < end:
            data.extend(bytes(end - len(data)))
        values = value if isinstance(value, dict) else {}
        for name, fmt in cls.fields:
            if _is_struct(fmt):
                offset = fmt.encode_into(data, offset, values.get(name))
                continue
            size = struct.calcsize(fmt)
            if not fmt.endswith("x"):
                v = values.get(name)
                if v is None:
                    v = b"" if fmt.endswith("s") else 0
                if isinstance(v, str):
                    v = v.encode()
                struct.pack_into(fmt, data, offset, v)
            offset += size
        return offset

    @classmethod
    def pack(cls, value: dict[str, Any]) -> bytes:
        data = bytearray()
        cls.encode_into(data, 0, value)
        return bytes(data)

    @classmethod
    def unpack(cls, data: bytes | bytearray) -> dict[str, Any]:
        return cls.decode_from(data, 0)[0]


def _is_struct(fmt: object) -> TypeGuard[type[CStruct]]:
    return isinstance(fmt, type) and issubclass(fmt, CStruct)


class XfrmSelector(CStruct):
    """``struct xfrm_selector`` (56 bytes)::

        xfrm_address_t daddr;          /* 0 */
        xfrm_address_t saddr;          /* 16 */
        __be16 dport, dport_mask;      /* 32, 34 */
        __be16 sport, sport_mask;      /* 36, 38 */
        __u16  family;                 /* 40 */
        __u8   prefixlen_d, prefixlen_s, proto;   /* 42, 43, 44 */
        int    ifindex;                /* 48 */
        __kernel_uid32_t user;         /* 52 */
    """

    fields = (
        ("daddr", "16s"), ("saddr", "16s"),
        ("dport", ">H"), ("dport_mask", ">H"), ("sport", ">H"), ("sport_mask", ">H"),
        ("family", "H"), ("prefixlen_d", "B"), ("prefixlen_s", "B"), ("proto", "B"),
        ("__pad", "3x"), ("ifindex", "i"), ("user", "I"),
    )


class XfrmId(CStruct):
    """``struct xfrm_id`` (24 bytes): ``xfrm_address_t daddr; __be32 spi; __u8 proto;``"""

    fields = (("daddr", "16s"), ("spi", ">I"), ("proto", "B"), ("__pad", "3x"))


class XfrmLifetimeCfg(CStruct):
    """``struct xfrm_lifetime_cfg`` (64 bytes): eight ``__u64`` limits, XFRM_INF = none::

        soft_byte_limit, hard_byte_limit, soft_packet_limit, hard_packet_limit,
        soft_add_expires_seconds, hard_add_expires_seconds,
        soft_use_expires_seconds, hard_use_expires_seconds
    """

    fields = tuple((n, "Q") for n in (
        "soft_byte_limit", "hard_byte_limit", "soft_packet_limit", "hard_packet_limit",
        "soft_add_expires_seconds", "hard_add_expires_seconds",
        "soft_use_expires_seconds", "hard_use_expires_seconds"))

    @classmethod
    def infinite(cls, **limits: int) -> dict[str, int]:
        """No limits except those given (a given 0 also means none).

        "None" is XFRM_INF for byte and packet limits but 0 for the ``*_seconds`` ones:
        the kernel arms timers on any non-zero seconds value, and XFRM_INF there makes
        the policy misbehave (it stops triggering ACQUIREs).
        """
        out = {name: (0 if name.endswith("_seconds") else XFRM_INF) for name, _ in cls.fields}
        for name, value in limits.items():
            out[name] = value or (0 if name.endswith("_seconds") else XFRM_INF)
        return out


class XfrmLifetimeCur(CStruct):
    """``struct xfrm_lifetime_cur`` (32 bytes): ``__u64 bytes, packets, add_time, use_time;``"""

    fields = (("bytes", "Q"), ("packets", "Q"), ("add_time", "Q"), ("use_time", "Q"))


class XfrmStats(CStruct):
    """``struct xfrm_stats`` (12 bytes): ``__u32 replay_window, replay, integrity_failed;``"""

    fields = (("replay_window", "I"), ("replay", "I"), ("integrity_failed", "I"))


class XfrmUsersaInfoStruct(CStruct):
    """``struct xfrm_usersa_info`` (224 bytes)::

        struct xfrm_selector      sel;      /* 0 */
        struct xfrm_id            id;       /* 56 */
        xfrm_address_t            saddr;    /* 80 */
        struct xfrm_lifetime_cfg  lft;      /* 96 */
        struct xfrm_lifetime_cur  curlft;   /* 160 */
        struct xfrm_stats         stats;    /* 192 */
        __u32 seq;                          /* 204 */
        __u32 reqid;                        /* 208 */
        __u16 family;                       /* 212 */
        __u8  mode, replay_window, flags;   /* 214, 215, 216 */
    """

    fields = (
        ("sel", XfrmSelector), ("id", XfrmId), ("saddr", "16s"),
        ("lft", XfrmLifetimeCfg), ("curlft", XfrmLifetimeCur), ("stats", XfrmStats),
        ("seq", "I"), ("reqid", "I"), ("family", "H"),
        ("mode", "B"), ("replay_window", "B"), ("flags", "B"), ("__pad", "7x"),
    )


class XfrmUserpolicyInfoStruct(CStruct):
    """``struct xfrm_userpolicy_info`` (168 bytes)::

        struct xfrm_selector      sel;      /* 0 */
        struct xfrm_lifetime_cfg  lft;      /* 56 */
        struct xfrm_lifetime_cur  curlft;   /* 120 */
        __u32 priority;                     /* 152 */
        __u32 index;                        /* 156 */
        __u8  dir, action, flags, share;    /* 160..163 */
    """

    fields = (
        ("sel", XfrmSelector), ("lft", XfrmLifetimeCfg), ("curlft", XfrmLifetimeCur),
        ("priority", "I"), ("index", "I"),
        ("dir", "B"), ("action", "B"), ("flags", "B"), ("share", "B"), ("__pad", "4x"),
    )


class XfrmUserTmpl(CStruct):
    """``struct xfrm_user_tmpl`` (64 bytes), one element of XFRMA_TMPL::

        struct xfrm_id  id;                 /* 0 */
        __u16           family;             /* 24 */
        xfrm_address_t  saddr;              /* 28 */
        __u32           reqid;              /* 44 */
        __u8            mode, share, optional;   /* 48, 49, 50 */
        __u32           aalgos, ealgos, calgos;  /* 52, 56, 60 */
    """

    fields = (
        ("id", XfrmId), ("family", "H"), ("__pad", "2x"), ("saddr", "16s"), ("reqid", "I"),
        ("mode", "B"), ("share", "B"), ("optional", "B"), ("__pad", "1x"),
        ("aalgos", "I"), ("ealgos", "I"), ("calgos", "I"),
    )


class XfrmUsersaIdStruct(CStruct):
    """``struct xfrm_usersa_id`` (24 bytes)::

        xfrm_address_t daddr; __be32 spi; __u16 family; __u8 proto;
    """

    fields = (("daddr", "16s"), ("spi", ">I"), ("family", "H"), ("proto", "B"), ("__pad", "1x"))


class XfrmUserpolicyIdStruct(CStruct):
    """``struct xfrm_userpolicy_id`` (64 bytes)::

        struct xfrm_selector sel; __u32 index; __u8 dir;
    """

    fields = (("sel", XfrmSelector), ("index", "I"), ("dir", "B"), ("__pad", "3x"))


class XfrmUserAcquireStruct(CStruct):
    """``struct xfrm_user_acquire`` (280 bytes)::

        struct xfrm_id                id;       /* 0 */
        xfrm_address_t                saddr;    /* 24 */
        struct xfrm_selector          sel;      /* 40 */
        struct xfrm_userpolicy_info   policy;   /* 96 */
        __u32 aalgos, ealgos, calgos, seq;      /* 264..276 */
    """

    fields = (
        ("id", XfrmId), ("saddr", "16s"), ("sel", XfrmSelector),
        ("policy", XfrmUserpolicyInfoStruct),
        ("aalgos", "I"), ("ealgos", "I"), ("calgos", "I"), ("seq", "I"),
    )


class XfrmUserExpireStruct(CStruct):
    """``struct xfrm_user_expire`` (232 bytes): ``struct xfrm_usersa_info state; __u8 hard;``"""

    fields = (("state", XfrmUsersaInfoStruct), ("hard", "B"), ("__pad", "7x"))


class XfrmAlgoHead(CStruct):
    """``struct xfrm_algo`` head (68 bytes): ``char alg_name[64]; unsigned int alg_key_len;``
    then ``char alg_key[]`` (alg_key_len is in bits)."""

    fields = (("alg_name", "64s"), ("alg_key_len", "I"))


class XfrmAlgoAuthHead(CStruct):
    """``struct xfrm_algo_auth`` head (72 bytes)::

        char alg_name[64]; unsigned int alg_key_len; unsigned int alg_trunc_len; char alg_key[];
    """

    fields = (("alg_name", "64s"), ("alg_key_len", "I"), ("alg_trunc_len", "I"))


class XfrmAlgoAeadHead(CStruct):
    """``struct xfrm_algo_aead`` head (72 bytes)::

        char alg_name[64]; unsigned int alg_key_len; unsigned int alg_icv_len; char alg_key[];
    """

    fields = (("alg_name", "64s"), ("alg_key_len", "I"), ("alg_icv_len", "I"))


class XfrmEncapTmpl(CStruct):
    """``struct xfrm_encap_tmpl`` (24 bytes)::

        __u16 encap_type; __be16 encap_sport; __be16 encap_dport;   /* 0, 2, 4 */
        xfrm_address_t encap_oa;                                    /* 8 */
    """

    fields = (("encap_type", "H"), ("encap_sport", ">H"), ("encap_dport", ">H"),
              ("__pad", "2x"), ("encap_oa", "16s"))


class XfrmReplayState(CStruct):
    """``struct xfrm_replay_state`` (12 bytes): ``__u32 oseq, seq, bitmap;``"""

    fields = (("oseq", "I"), ("seq", "I"), ("bitmap", "I"))


class XfrmReplayStateEsnHead(CStruct):
    """``struct xfrm_replay_state_esn`` head (24 bytes), then ``__u32 bmp[bmp_len]``::

        unsigned int bmp_len; __u32 oseq, seq, oseq_hi, seq_hi, replay_window;
    """

    fields = (("bmp_len", "I"), ("oseq", "I"), ("seq", "I"), ("oseq_hi", "I"),
              ("seq_hi", "I"), ("replay_window", "I"))


class XfrmMark(CStruct):
    """``struct xfrm_mark`` (8 bytes): ``__u32 v, m;``"""

    fields = (("v", "I"), ("m", "I"))


# --- NLA classes -----------------------------------------------------------------


class _StructNla(nla):
    """An NLA whose payload is one :class:`CStruct`, optionally followed by a byte tail.

    Its value is a plain dict (the struct's fields, plus ``tail`` when set).
    """

    struct_type: ClassVar[type[CStruct]] = CStruct
    tail: ClassVar[str | None] = None

    def _value(self) -> dict[str, Any]:
        if self.value is not NotInitialized and isinstance(self.value, dict):
            return self.value
        return dict(self)

    def ft_encode(self, offset: int) -> tuple[int, int]:
        value = self._value()
        offset = self.struct_type.encode_into(self.data, offset, value)
        if self.tail:
            extra = bytes(value.get(self.tail) or b"")
            self.data.extend(extra)
            offset += len(extra)
        diff = ((offset + 3) & ~3) - offset
        self.data.extend(bytes(diff))
        return offset + diff, diff

    def ft_decode(self, offset: int) -> None:
        end = self.offset + self.length
        value, pos = self.struct_type.decode_from(bytes(self.data[offset:end]), 0)
        if self.tail:
            value[self.tail] = bytes(self.data[offset + pos:end])
        if "alg_name" in value:
            value["alg_name"] = value["alg_name"].split(b"\0", 1)[0].decode()
        self.value = value
        del self["attrs"]


class _StructArrayNla(nla):
    """An NLA holding consecutive structs (XFRMA_TMPL): value is a list of dicts."""

    struct_type: ClassVar[type[CStruct]] = CStruct

    def ft_encode(self, offset: int) -> tuple[int, int]:
        for item in self.value or []:
            offset = self.struct_type.encode_into(self.data, offset, item)
        return offset, 0

    def ft_decode(self, offset: int) -> None:
        end = self.offset + self.length
        size = self.struct_type.size()
        items = []
        while offset + size <= end:
            item, offset = self.struct_type.decode_from(self.data, offset)
            items.append(item)
        self.value = items
        del self["attrs"]


class _XfrmAttrs:
    """The XFRMA_* attribute table shared by all XFRM messages (mixed into each class)."""

    class xfrm_algo(_StructNla):
        __slots__ = ()
        struct_type = XfrmAlgoHead
        tail = "alg_key"

    class xfrm_algo_auth(_StructNla):
        __slots__ = ()
        struct_type = XfrmAlgoAuthHead
        tail = "alg_key"

    class xfrm_algo_aead(_StructNla):
        __slots__ = ()
        struct_type = XfrmAlgoAeadHead
        tail = "alg_key"

    class xfrm_encap_tmpl(_StructNla):
        __slots__ = ()
        struct_type = XfrmEncapTmpl

    class xfrm_user_tmpls(_StructArrayNla):
        __slots__ = ()
        struct_type = XfrmUserTmpl

    class xfrm_lifetime_cur(_StructNla):
        __slots__ = ()
        struct_type = XfrmLifetimeCur

    class xfrm_replay_state(_StructNla):
        __slots__ = ()
        struct_type = XfrmReplayState

    class xfrm_replay_state_esn(_StructNla):
        __slots__ = ()
        struct_type = XfrmReplayStateEsnHead
        tail = "bmp"

    class xfrm_mark(_StructNla):
        __slots__ = ()
        struct_type = XfrmMark

    class xfrm_address(nla):
        __slots__ = ()
        fields = (("value", "16s"),)

    # top-level address fields left unset encode as the zero address
    defaults: ClassVar[dict[str, Any]] = {"saddr": bytes(16), "daddr": bytes(16)}
    prefix = "XFRMA_"
    nla_map = (
        (0, "XFRMA_UNSPEC", "none"),
        (XFRMA_ALG_AUTH, "XFRMA_ALG_AUTH", "xfrm_algo"),
        (XFRMA_ALG_CRYPT, "XFRMA_ALG_CRYPT", "xfrm_algo"),
        (3, "XFRMA_ALG_COMP", "xfrm_algo"),
        (XFRMA_ENCAP, "XFRMA_ENCAP", "xfrm_encap_tmpl"),
        (XFRMA_TMPL, "XFRMA_TMPL", "xfrm_user_tmpls"),
        (XFRMA_LTIME_VAL, "XFRMA_LTIME_VAL", "xfrm_lifetime_cur"),
        (XFRMA_REPLAY_VAL, "XFRMA_REPLAY_VAL", "xfrm_replay_state"),
        (11, "XFRMA_REPLAY_THRESH", "uint32"),
        (12, "XFRMA_ETIMER_THRESH", "uint32"),
        (XFRMA_SRCADDR, "XFRMA_SRCADDR", "xfrm_address"),
        (14, "XFRMA_COADDR", "xfrm_address"),
        (15, "XFRMA_LASTUSED", "uint64"),
        (XFRMA_POLICY_TYPE, "XFRMA_POLICY_TYPE", "hex"),
        (XFRMA_ALG_AEAD, "XFRMA_ALG_AEAD", "xfrm_algo_aead"),
        (XFRMA_ALG_AUTH_TRUNC, "XFRMA_ALG_AUTH_TRUNC", "xfrm_algo_auth"),
        (XFRMA_MARK, "XFRMA_MARK", "xfrm_mark"),
        (22, "XFRMA_TFCPAD", "uint32"),
        (XFRMA_REPLAY_ESN_VAL, "XFRMA_REPLAY_ESN_VAL", "xfrm_replay_state_esn"),
        (XFRMA_SA_EXTRA_FLAGS, "XFRMA_SA_EXTRA_FLAGS", "uint32"),
        (25, "XFRMA_PROTO", "uint8"),
        (27, "XFRMA_PAD", "none"),
        (29, "XFRMA_SET_MARK", "uint32"),
        (30, "XFRMA_SET_MARK_MASK", "uint32"),
        (XFRMA_IF_ID, "XFRMA_IF_ID", "uint32"),
        (32, "XFRMA_MTIMER_THRESH", "uint32"),
    )


# --- messages --------------------------------------------------------------------


class xfrm_usersa_info(_XfrmAttrs, nlmsg):
    """XFRM_MSG_NEWSA / UPDSA / GETSA reply: ``struct xfrm_usersa_info`` + XFRMA_*."""

    __slots__ = ()
    fields = XfrmUsersaInfoStruct.fields


class xfrm_usersa_id(_XfrmAttrs, nlmsg):
    """XFRM_MSG_DELSA / GETSA request: ``struct xfrm_usersa_id`` + XFRMA_SRCADDR, MARK."""

    __slots__ = ()
    fields = XfrmUsersaIdStruct.fields


class xfrm_userpolicy_info(_XfrmAttrs, nlmsg):
    """XFRM_MSG_NEWPOLICY / UPDPOLICY / GETPOLICY reply: ``struct xfrm_userpolicy_info``
    + XFRMA_TMPL (array of ``struct xfrm_user_tmpl``), XFRMA_IF_ID, XFRMA_MARK."""

    __slots__ = ()
    fields = XfrmUserpolicyInfoStruct.fields


class xfrm_userpolicy_id(_XfrmAttrs, nlmsg):
    """XFRM_MSG_DELPOLICY / GETPOLICY request: ``struct xfrm_userpolicy_id``."""

    __slots__ = ()
    fields = XfrmUserpolicyIdStruct.fields


class xfrm_user_acquire(_XfrmAttrs, nlmsg):
    """XFRM_MSG_ACQUIRE (kernel -> XFRMNLGRP_ACQUIRE): ``struct xfrm_user_acquire`` + TMPL."""

    __slots__ = ()
    fields = XfrmUserAcquireStruct.fields


class xfrm_user_expire(_XfrmAttrs, nlmsg):
    """XFRM_MSG_EXPIRE (kernel -> XFRMNLGRP_EXPIRE): ``struct xfrm_user_expire``."""

    __slots__ = ()
    fields = XfrmUserExpireStruct.fields


class XfrmMarshal(Marshal):
    """Parses XFRM messages (and errors/acks) from netlink buffers."""

    msg_map = {
        XFRM_MSG_NEWSA: xfrm_usersa_info,
        XFRM_MSG_UPDSA: xfrm_usersa_info,
        XFRM_MSG_DELSA: xfrm_usersa_id,
        XFRM_MSG_GETSA: xfrm_usersa_id,  # requests; the kernel answers with NEWSA
        XFRM_MSG_GETPOLICY: xfrm_userpolicy_id,  # requests; answered with NEWPOLICY
        XFRM_MSG_NEWPOLICY: xfrm_userpolicy_info,
        XFRM_MSG_UPDPOLICY: xfrm_userpolicy_info,
        XFRM_MSG_DELPOLICY: xfrm_userpolicy_id,
        XFRM_MSG_ACQUIRE: xfrm_user_acquire,
        XFRM_MSG_EXPIRE: xfrm_user_expire,
    }


def build(msg_class: type[nlmsg], fields: dict[str, Any],
          attrs: list[tuple[str, Any]] | None = None) -> nlmsg:
    """A message of `msg_class` with these fields and NLAs (not yet encoded)."""
    msg = msg_class()
    for k, v in fields.items():
        msg[k] = v
    msg["attrs"] = [[name, value] for name, value in (attrs or [])]
    return msg


def encode(msg: nlmsg, msg_type: int, flags: int = NLM_F_REQUEST, seq: int = 0,
           pid: int = 0) -> bytes:
    """The wire bytes of `msg` with this netlink header."""
    msg["header"] = {"type": msg_type, "flags": flags, "sequence_number": seq, "pid": pid}
    msg.reset()
    msg.encode()
    return bytes(msg.data)


def parse(data: bytes | bytearray) -> list[nlmsg]:
    """Decode every netlink message in a buffer."""
    return list(XfrmMarshal().parse(bytes(data)))


# --- transport -------------------------------------------------------------------


class XfrmChannel:
    """A NETLINK_XFRM socket: blocking request/ack for commands, or a group listener.

    ``netns`` names a namespace under /run/netns (None: the current one). With ``groups``
    (a :func:`group_mask`), the socket receives those multicast messages; read them with
    :meth:`read_events` when :meth:`fileno` is readable.
    """

    def __init__(self, netns: str | None = None, groups: int = 0, timeout: float = 5.0) -> None:
        self.sock = pr_netns.create_socket(
            netns=netns, family=socket.AF_NETLINK, socket_type=socket.SOCK_RAW,
            proto=NETLINK_XFRM)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, groups))
        self.sock.settimeout(None if groups else timeout)
        if groups:
            self.sock.setblocking(False)
        self.marshal = XfrmMarshal()
        self._seq = itertools.count(1)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> XfrmChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg: nlmsg, msg_type: int, *, dump: bool = False,
                flags: int = 0) -> list[nlmsg]:
        """Send one request; return the replies. A kernel error raises ``NetlinkError``
        (its message is the extended ack text when the kernel gives one)."""
        seq = next(self._seq) & 0xFFFFFFFF
        flags |= NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        self.sock.send(encode(msg, msg_type, flags, seq))
        replies: list[nlmsg] = []
        while True:
            data = self.sock.recv(1 << 18)
            for reply in self.marshal.parse(data):
                header = reply["header"]
                if header.get("sequence_number") != seq:
                    continue
                if header["type"] == NLMSG_ERROR:
                    error = header.get("error")
                    if error is not None:
                        raise error
                    return replies
                if header["type"] == NLMSG_DONE:
                    return replies
                replies.append(reply)

    def read_events(self) -> list[nlmsg]:
        """Every message waiting on a listener socket (non-blocking)."""
        out: list[nlmsg] = []
        while True:
            try:
                data = self.sock.recv(1 << 18)
            except BlockingIOError:
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # overrun: messages were lost; go on
                    out.append(_overrun_marker())
                    continue
                raise
            out.extend(self.marshal.parse(data))


def _overrun_marker() -> nlmsg:
    msg = nlmsg()
    msg["header"] = {"type": -1, "error": OSError(errno.ENOBUFS, os.strerror(errno.ENOBUFS))}
    return msg


def iter_attrs(msg: nlmsg) -> Iterator[tuple[str, Any]]:
    for name, value in msg.get("attrs", []):
        yield name, value.getvalue() if hasattr(value, "getvalue") else value


def error_text(exc: NetlinkError) -> str:
    """``strerror`` plus the kernel's extended ack message, if it gave one."""
    base = os.strerror(exc.code) if exc.code else "error"
    extra = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else ""
    return f"{base} ({extra})" if extra and extra != base else base
