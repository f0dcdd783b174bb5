"""IKE_AUTH makes and checks proofs only through the gateway's authenticator
(``ikev2/auth.py``): one plugged in instead is used by both roles, and its refusal fails
the exchange on both sides."""

from __future__ import annotations

import pytest

from vpnsh.engine.ike.events import ChildInstalled, IkeEstablished, IkeFailed
from vpnsh.engine.ikev2 import auth
from vpnsh.engine.ikev2.tasks import ike_auth
from vpnsh.engine.ikev2.testing import child_policy, ike_policy, make_pair

A, B = "192.0.2.1", "192.0.2.2"


class Recording(auth.PskAuthenticator):
    calls: list[tuple[str, bool]] = []
    refuse = False

    def payloads(self, sa, id_payload, of_initiator):  # type: ignore[no-untyped-def]
        Recording.calls.append(("payloads", of_initiator))
        return super().payloads(sa, id_payload, of_initiator)

    def verify(self, sa, msg, id_payload, of_initiator):  # type: ignore[no-untyped-def]
        Recording.calls.append(("verify", of_initiator))
        return "certificate expired" if Recording.refuse else super().verify(
            sa, msg, id_payload, of_initiator)


@pytest.fixture(autouse=True)
def recording(monkeypatch: pytest.MonkeyPatch) -> None:
    Recording.calls = []
    Recording.refuse = False
    monkeypatch.setattr(ike_auth, "authenticator_for", lambda policy: Recording(policy.psk))


def _pair():  # type: ignore[no-untyped-def]
    return make_pair(ike_policy("gw", A, B), ike_policy("gw", B, A),
                     (child_policy("tun", "gw"),), (child_policy("tun", "gw"),))


def test_both_roles_use_the_authenticator() -> None:
    w, a, b = _pair()
    assert a.engine.initiate("gw", now=w.clock.now)
    w.run()
    assert len(a.of(IkeEstablished)) == 1 and len(b.of(ChildInstalled)) == 1
    # initiator proves (IDi), responder checks it and proves (IDr), initiator checks that
    assert Recording.calls == [("payloads", True), ("verify", True), ("payloads", False),
                               ("verify", False)]


def test_the_authenticators_refusal_fails_the_exchange_with_its_reason() -> None:
    Recording.refuse = True
    w, a, b = _pair()
    assert a.engine.initiate("gw", now=w.clock.now)
    w.run()
    [fb] = b.of(IkeFailed)
    assert fb.reason.startswith("certificate expired: AUTH from")
    assert a.of(IkeFailed) and not a.engine.ike_sas() and not b.engine.ike_sas()
