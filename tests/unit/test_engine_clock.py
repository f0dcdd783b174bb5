"""Issue 11, item 7: the engines run on a monotonic clock and take ``now`` as a required
argument of the sans-IO clock inputs (``receive``, ``handle_timer``, as aioquic's
``receive_datagram``/``handle_timer``); wall-clock time is only for what people read."""

from __future__ import annotations

import inspect
import time

import pytest

from vpnsh.engine.ikev1.dual import DualEngine
from vpnsh.engine.ikev1.engine import Ikev1Engine
from vpnsh.engine.ikev2.engine import Ikev2Engine
from vpnsh.engine.ikev2.testing import ike_policy
from vpnsh.engine.service import Engine


@pytest.mark.parametrize("cls", [Ikev2Engine, Ikev1Engine, DualEngine])
@pytest.mark.parametrize("method", ["receive", "handle_timer"])
def test_now_is_required(cls: type, method: str) -> None:
    now = inspect.signature(getattr(cls, method)).parameters["now"]
    assert now.default is inspect.Parameter.empty
    with pytest.raises(TypeError):
        if method == "receive":
            cls().receive(b"\x00" * 40, ("192.0.2.1", 500), ("192.0.2.2", 500))
        else:
            cls().handle_timer()


def test_the_daemon_engine_runs_on_the_monotonic_clock() -> None:
    engine = Engine(dataplane="none")
    assert engine.clock is time.monotonic
    assert engine.ike.v2._clock is time.monotonic and engine.ike.v1._clock is time.monotonic


def test_a_wall_clock_step_does_not_move_the_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(dataplane="none")
    engine.ike.add_policies([ike_policy("gw", "192.0.2.1", "192.0.2.2")], now=engine.clock())
    assert engine.ike.initiate("gw", now=engine.clock())
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # NTP steps back an hour
    when = engine.ike.next_timer()
    assert when is not None
    # the retransmit is due in seconds, not in an hour and seconds
    assert when - engine.clock() < 60
    # and what people read is still wall-clock time (the stepped one)
    assert abs(engine.wall(engine.clock()) - time.time()) < 1  # type: ignore[operator]
