"""vpnshd --ike-cookie-threshold: when the responder starts demanding cookies."""

from __future__ import annotations

import pytest

from vpnsh.engine.daemon import DEFAULT_COOKIE_THRESHOLD, parse_args
from vpnsh.engine.ike.events import IkeEstablished
from vpnsh.engine.ikev2.constants import NotifyType
from vpnsh.engine.ikev2.message import parse
from vpnsh.engine.ikev2.testing import child_policy, ike_policy, make_pair

A, B = "192.0.2.1", "192.0.2.2"


def test_flag_default_and_value() -> None:
    assert parse_args([]).ike_cookie_threshold == DEFAULT_COOKIE_THRESHOLD == 50
    assert parse_args(["--ike-cookie-threshold", "100000"]).ike_cookie_threshold == 100000
    with pytest.raises(SystemExit):
        parse_args(["--ike-cookie-threshold", "-1"])


@pytest.mark.parametrize(("limit", "cookies"), [(0, True), (100000, False)])
def test_threshold_decides_cookie_demand(limit: int, cookies: bool) -> None:
    w, a, b = make_pair(
        ike_policy("gw", A, B),
        ike_policy("gw", B, A),
        (child_policy("t", "gw", local_ts=("10.1.0.0/24",), remote_ts=("10.2.0.0/24",)),),
        (child_policy("t", "gw", local_ts=("10.2.0.0/24",), remote_ts=("10.1.0.0/24",)),),
    )
    b.engine.half_open_limit = limit
    assert a.engine.initiate("gw", now=w.clock.now)
    w.run()
    assert len(a.of(IkeEstablished)) == 1
    from_b = [parse(data).message for name, data, _, _ in w.sent if name == "b"]
    demanded = any(
        m.notify(NotifyType.COOKIE) is not None for m in from_b if m.exchange == 34
    )
    assert demanded == cookies
