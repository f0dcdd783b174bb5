"""The liveness check's short path (``ikev2/liveness.py``) keeps the general path's rules:
a lost answer is sent again from the cache, a check that fails its integrity check is
dropped and moves nothing, a task that waits starts once the check is answered, and
both suites (AEAD and encrypt-then-MAC) give the bytes the general encoder gives."""

from __future__ import annotations

import pytest

from vpnsh.engine.ike.events import IkeDeleted
from vpnsh.engine.ikev2 import message
from vpnsh.engine.ikev2.constants import ExchangeType
from vpnsh.engine.ikev2.message import Message, parse
from vpnsh.engine.ikev2.sa import IkeSa
from vpnsh.engine.ikev2.testing import Node, Wire, child_policy, ike_policy, make_pair
from vpnsh.engine.policy import IkeProposal

A, B = "192.0.2.1", "192.0.2.2"
GCM = IkeProposal(((20, 128),), (5,), (), (19,))
CBC = IkeProposal(((12, 128),), (5,), (12,), (14,))


def lab(proposal: IkeProposal = GCM) -> tuple[Wire, Node, Node]:
    w, a, b = make_pair(
        ike_policy("gw", A, B, proposals=(proposal,), dpd_interval=5),
        ike_policy("gw", B, A, proposals=(proposal,), dpd_enabled=False),
        (child_policy("t", "gw", local_ts=("10.1.0.0/24",), remote_ts=("10.2.0.0/24",)),),
        (child_policy("t", "gw", local_ts=("10.2.0.0/24",), remote_ts=("10.1.0.0/24",)),))
    a.engine.initiate("gw", now=w.clock.now)
    w.run()
    assert a.engine.ike_sas() and b.engine.ike_sas()
    return w, a, b


def the_sa(node: Node) -> IkeSa:
    [sa] = node.engine._unique_sas()
    return sa


def is_check(data: bytes, answer: bool) -> bool:
    m = parse(data).message
    return m.exchange == ExchangeType.INFORMATIONAL and m.is_response == answer


def test_a_lost_answer_is_sent_again_from_the_cache() -> None:
    w, a, b = lab()
    lost: list[bytes] = []

    def lose_first_answer(data: bytes, sender: str) -> bool:
        if sender == "b" and is_check(data, True) and not lost:
            lost.append(data)
            return True
        return False

    w.drop = lose_first_answer
    w.advance(5.5, step=0.25)  # the check goes at 5 s; its answer is lost
    assert lost and the_sa(a).outstanding is not None
    w.advance(1.5, step=0.25)  # retransmitted after 1 s: answered from the cache
    sa_a, sa_b = the_sa(a), the_sa(b)
    assert sa_a.outstanding is None and sa_a.retransmits == 1
    assert sa_b.expected_request_id == sa_a.next_request_id  # one request counted, not two
    assert w.sent[-1][1] == lost[0]  # the very bytes of the lost answer


def test_a_check_that_fails_its_integrity_check_is_dropped_and_moves_nothing() -> None:
    w, a, b = lab()
    w.advance(1)
    rx_before, expected = the_sa(b).last_rx, the_sa(b).expected_request_id
    sa_a = the_sa(a)
    req = sa_a.start_request(_Dpd(), [], w.clock.now, a.engine.retransmit)
    bad = req[:-1] + bytes([req[-1] ^ 1])
    b.engine.receive(bad, (B, 500), (A, 500), w.clock.now + 0.1)
    assert b.engine.drops["parse error"] == 1
    assert the_sa(b).last_rx == rx_before and the_sa(b).expected_request_id == expected
    b.engine.receive(req, (B, 500), (A, 500), w.clock.now + 0.2)  # the good one is answered
    assert the_sa(b).expected_request_id == expected + 1
    assert the_sa(b).last_rx == w.clock.now + 0.2


def test_a_task_waiting_behind_the_check_starts_when_it_is_answered() -> None:
    w, a, b = lab()
    w.drop = lambda data, sender: sender == "b"  # the check waits for an answer
    w.advance(5.5, step=0.25)
    assert the_sa(a).outstanding is not None
    a.engine.delete_ike("gw", now=w.clock.now)  # queued behind the check in flight
    w.drop = None
    w.advance(1.5, step=0.25)  # the check is answered, then the Delete goes
    assert not a.engine.ike_sas() and not b.engine.ike_sas()
    assert [e.reason for e in a.of(IkeDeleted)] == ["cleared by administrator"]


@pytest.mark.parametrize("proposal", [GCM, CBC], ids=["aes-gcm", "aes-cbc-hmac"])
def test_the_short_encoder_gives_the_general_encoders_bytes(proposal: IkeProposal) -> None:
    _w, a, b = lab(proposal)
    sa, peer = the_sa(a), the_sa(b)
    assert sa.protection is not None and peer.protection is not None
    for response in (False, True):
        msg = Message(ExchangeType.INFORMATIONAL, 7, sa.spi_i, sa.spi_r, response, sa.initiator)
        general = message.encode(msg, sa.protection)
        short = sa._encode_empty(ExchangeType.INFORMATIONAL, 7, response)
        # the same headers (IKE and SK) and length; the IVs are fresh, so the rest differs
        assert short[:32] == general[:32] and len(short) == len(general)
        assert peer.protection.open(short, 28) == peer.protection.open(general, 28) == b""


class _Dpd:
    exchange = ExchangeType.INFORMATIONAL
