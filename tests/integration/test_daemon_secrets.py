"""Secrets the master key cannot decrypt, and a lost master key (issue 11, item 1).

A key pasted from another firewall fails the commit with an error naming the gateway;
a running config that holds one anyway (or whose master key is gone) still applies every
other gateway; a lost master key is said loudly and never silently replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.helpers.daemon import Daemon
from vpnsh.config.secrets import SecretBox
from vpnsh.control.client import ControlError

GATEWAY = """\
network interface ethernet vt-absent0 layer3 ip 198.51.100.1/24
network ike gateway {gw} protocol version ikev2
network ike gateway {gw} local-address interface vt-absent0
network ike gateway {gw} local-address ip 198.51.100.1/24
network ike gateway {gw} peer-address ip {peer}
network ike gateway {gw} authentication pre-shared-key key {key}
"""


def foreign_key(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """An encrypted key made by another device (another master key)."""
    return SecretBox(tmp_path / "other-firewall").encrypt("pasted-secret")


def configure(d: Daemon, gw: str, peer: str, key: str) -> None:
    for line in GATEWAY.format(gw=gw, peer=peer, key=key).splitlines():
        d.request("config.set", tokens=line.split())


def gateways(d: Daemon) -> set[str]:
    return {g["name"] for g in d.request("engine.op", name="vpn.gateway.show", args={})["gateways"]}


def test_foreign_encrypted_key_fails_commit_naming_the_gateway(vpnshd: Daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = (vpnshd.state_dir / "running.json").read_bytes()
    configure(vpnshd, "GW-Pasted", "203.0.113.1", foreign_key(tmp_path))
    with pytest.raises(ControlError) as err:
        vpnshd.request("config.commit")
    text = str(err.value)
    assert err.value.kind == "validation", text
    assert "gateway -> GW-Pasted -> authentication -> pre-shared-key -> key" in text
    assert "enter the key in clear" in text
    assert (vpnshd.state_dir / "running.json").read_bytes() == before
    # entered in clear, the same gateway commits
    vpnshd.set("network ike gateway GW-Pasted authentication "
                   "pre-shared-key key in-clear-now")
    vpnshd.request("config.commit")
    assert gateways(vpnshd) == {"GW-Pasted"}


def test_undecryptable_key_in_running_config_never_stops_the_others(
        daemon_factory: Callable[..., Daemon], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A running config holding one bad key (from before the check, or restored from another
    box): after a restart every other gateway is applied and the bad one is named."""
    d = daemon_factory().start()
    configure(d, "GW-Good", "203.0.113.1", "good-secret")
    configure(d, "GW-Bad", "203.0.113.2", "bad-secret")
    d.request("config.commit")
    assert gateways(d) == {"GW-Good", "GW-Bad"}
    d.stop()
    running = d.state_dir / "running.json"
    tree = json.loads(running.read_bytes())
    tree["network"]["ike"]["gateway"]["GW-Bad"]["authentication"]["pre-shared-key"]["key"] = \
        foreign_key(tmp_path)
    running.write_text(json.dumps(tree))
    d.start()
    assert gateways(d) == {"GW-Good"}
    events = d.request("log.system", filter=[])["text"]
    assert "GW-Bad" in events and "in clear" in events
    # a later commit touching something else still applies, and says which gateway is out
    d.set("network ike gateway GW-Good comment still-up")
    lines = d.request("config.commit")["lines"]
    assert gateways(d) == {"GW-Good"}, lines


def test_lost_master_key_is_said_and_never_silently_replaced(
        daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory().start()
    configure(d, "GW-A", "203.0.113.1", "secret-a")
    d.request("config.commit")
    d.stop()
    master = d.state_dir / "master.key"
    master.unlink()
    d.start()
    assert not master.exists(), "a lost master key was silently replaced by a new one"
    assert gateways(d) == set()
    assert "master key" in d.log_text() and "missing" in d.log_text()
    events = d.request("log.system", filter=[])["text"]
    assert "master.key is missing" in events
    # the operator enters the key in clear again: a new master key, the gateway comes up
    d.set("network ike gateway GW-A authentication pre-shared-key key "
              "secret-a")
    d.request("config.commit")
    assert master.exists() and gateways(d) == {"GW-A"}
