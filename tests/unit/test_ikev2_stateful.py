"""Stateful property test: any interleaving of operations on two engines converges.

Operations run on either side without delivering datagrams in between, so rekeys,
deletes and new CHILD SAs cross on the wire; a few datagrams may be lost. After the wire settles, both sides must
agree on the IKE SA and on every CHILD SA (same SPIs, mirrored), and nothing may
have been dropped as an internal error.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vpnsh.engine.ikev2.testing import Node, child_policy, ike_policy, make_pair

A, B = "192.0.2.1", "192.0.2.2"
sides = st.sampled_from(["a", "b"])


class TwoEngines(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.wire, self.a, self.b = make_pair(
            ike_policy("gw", A, B, dpd_enabled=False),
            ike_policy("gw", B, A, dpd_enabled=False),
            (
                child_policy("t1", "gw", local_ts=("10.1.0.0/24",), remote_ts=("10.2.0.0/24",)),
                child_policy("t2", "gw", local_ts=("10.1.1.0/24",), remote_ts=("10.2.1.0/24",)),
            ),
            (
                child_policy("t1", "gw", local_ts=("10.2.0.0/24",), remote_ts=("10.1.0.0/24",)),
                child_policy("t2", "gw", local_ts=("10.2.1.0/24",), remote_ts=("10.1.1.0/24",)),
            ),
        )

    def node(self, side: str) -> Node:
        return self.a if side == "a" else self.b

    @rule(side=sides, child=st.sampled_from([None, "t1", "t2"]))
    def initiate(self, side: str, child: str | None) -> None:
        self.node(side).engine.initiate("gw", child, now=self.wire.clock.now)

    @rule(side=sides, child=st.sampled_from([None, "t1", "t2"]))
    def delete_child(self, side: str, child: str | None) -> None:
        self.node(side).engine.delete_child(child, now=self.wire.clock.now)

    @rule(side=sides)
    def delete_ike(self, side: str) -> None:
        self.node(side).engine.delete_ike("gw", now=self.wire.clock.now)

    @rule(side=sides)
    def rekey_children(self, side: str) -> None:
        now = self.wire.clock.now
        for sa in self.node(side).engine._sas.values():
            for c in sa.children.values():
                c.rekey_at = min(c.rekey_at, now)
        self.node(side).engine.handle_timer(now)

    @rule(side=sides)
    def rekey_ike(self, side: str) -> None:
        now = self.wire.clock.now
        for sa in self.node(side).engine._sas.values():
            if sa.rekey_at is not None:
                sa.rekey_at = min(sa.rekey_at, now)
        self.node(side).engine.handle_timer(now)

    @rule()
    def rekey_children_on_both_sides(self) -> None:
        self.rekey_children("a")
        self.rekey_children("b")

    @rule()
    def rekey_ike_on_both_sides(self) -> None:
        self.rekey_ike("a")
        self.rekey_ike("b")

    @rule(n=st.integers(1, 3))
    def lose_next(self, n: int) -> None:
        budget = [n]

        def drop(data: bytes, sender: str) -> bool:
            if budget[0] > 0:
                budget[0] -= 1
                return True
            return False

        self.wire.drop = drop

    @rule()
    def deliver_once(self) -> None:
        self.wire.step()

    @rule()
    def settle_and_compare(self) -> None:
        self.wire.run(500)
        self.wire.advance(400, step=20)  # retransmissions and queued work finish
        self.wire.drop = None
        self.wire.advance(400, step=20)
        ea, eb = self.a.engine, self.b.engine
        ikes_a = {(s.spi_i, s.spi_r) for s in ea.ike_sas() if s.state == "Established"}
        ikes_b = {(s.spi_i, s.spi_r) for s in eb.ike_sas() if s.state == "Established"}
        assert ikes_a == ikes_b
        ca = {(c.name, c.spi_in, c.spi_out) for c in ea.child_sas()}
        cb = {(c.name, c.spi_out, c.spi_in) for c in eb.child_sas()}
        assert ca == cb

    @invariant()
    def no_internal_errors(self) -> None:
        for n in (self.a, self.b):
            bad = [k for k in n.engine.drops if k.startswith("internal error")]
            assert not bad, n.engine.drops


TwoEngines.TestCase.settings = settings(
    max_examples=150,
    derandomize=True,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_two_engines_converge = TwoEngines.TestCase
