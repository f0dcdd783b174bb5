"""Negotiated CHILD SAs carry packets: IKEv2 keys -> ChildSaSpec -> ESP on both sides."""

from __future__ import annotations

import struct

import pytest

from vpnsh.engine.dataplane.esp import decapsulate, encapsulate
from vpnsh.engine.dataplane.sa import Direction, EspSA
from vpnsh.engine.ike.events import ChildInstalled
from vpnsh.engine.ikev2.handoff import child_sa_spec
from vpnsh.engine.ikev2.testing import child_policy, ike_policy, make_pair
from vpnsh.engine.policy import EspProposal, IkeProposal

A, B = "192.0.2.1", "192.0.2.2"


def ipv4_packet(src: str, dst: str, payload: bytes = b"hello through the tunnel") -> bytes:
    total = 20 + len(payload)
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        1,
        0,
        64,
        17,
        0,
        bytes(map(int, src.split("."))),
        bytes(map(int, dst.split("."))),
    )
    return hdr + payload


@pytest.mark.parametrize(
    "esp",
    [EspProposal(((20, 256),), ()), EspProposal(((12, 128),), (12,)), EspProposal(((3, 0),), (2,))],
    ids=["gcm256", "cbc128-sha256", "3des-sha1"],
)
def test_negotiated_keys_carry_esp_both_ways(esp: EspProposal) -> None:
    ike = IkeProposal(((12, 256),), (5,), (12,), (19,))
    w, a, b = make_pair(
        ike_policy("gw", A, B, proposals=(ike,)),
        ike_policy("gw", B, A, proposals=(ike,)),
        (
            child_policy(
                "tun",
                "gw",
                proposals=(esp,),
                local_ts=("10.1.0.0/24",),
                remote_ts=("10.2.0.0/24",),
                lifesize_kb=1000,
                tunnel_id=7,
            ),
        ),
        (
            child_policy(
                "tun", "gw", proposals=(esp,), local_ts=("10.2.0.0/24",), remote_ts=("10.1.0.0/24",)
            ),
        ),
    )
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    [ka] = [e.keys for e in a.of(ChildInstalled)]
    [kb] = [e.keys for e in b.of(ChildInstalled)]
    sa_spec, sb_spec = child_sa_spec(ka, "tunnel.1"), child_sa_spec(kb, "tunnel.1")
    assert sa_spec.tnid == 7 and sa_spec.initiator and not sb_spec.initiator
    assert sa_spec.lifesize_hard_kb == 1000 and 800 <= sa_spec.lifesize_soft_kb <= 850
    now = w.clock.now
    a_out = EspSA.from_spec(sa_spec, Direction.OUT, now)
    b_in = EspSA.from_spec(sb_spec, Direction.IN, now)
    b_out = EspSA.from_spec(sb_spec, Direction.OUT, now)
    a_in = EspSA.from_spec(sa_spec, Direction.IN, now)
    there = ipv4_packet("10.1.0.5", "10.2.0.9")
    assert decapsulate(b_in, encapsulate(a_out, there)) == there
    back = ipv4_packet("10.2.0.9", "10.1.0.5")
    assert decapsulate(a_in, encapsulate(b_out, back)) == back
