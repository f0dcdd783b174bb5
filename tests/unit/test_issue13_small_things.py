"""Small PAN-OS habits: `show config running` has the `config {` root, `set ?` offers no
<Enter>, an fqdn peer is shown by its name, and the locks/changes renders."""

from __future__ import annotations

from vpnsh.config import formats
from vpnsh.engine import config_map
from vpnsh.engine.service import Engine
from vpnsh.render import host
from vpnsh.shell.completion import help_items
from vpnsh.shell.parser import CONFIGURE


def test_show_config_running_has_the_config_root_and_loads_back() -> None:
    t = formats.parse("set network interface tunnel units tunnel.1 comment x\n", "set")
    text = formats.render(t, "default")
    assert text.splitlines()[0] == "config {" and text.splitlines()[-1] == "}"
    assert text.splitlines()[1] == "  network {"
    assert formats.parse(text, "default") == t
    assert formats.render(t, "default", ("network",)).startswith("network {")  # a subtree: no root


def test_bare_set_question_mark_offers_no_enter() -> None:
    words = [i.word for i in help_items("set ", CONFIGURE, [], {})]
    assert "network" in words and "<Enter>" not in words
    inside = [i.word for i in help_items("set ", CONFIGURE, ["network", "ike", "gateway", "GW"], {})]
    assert "<Enter>" not in inside and "peer-address" in inside
    done = [i.word for i in help_items("set network ike gateway GW ", CONFIGURE, [], {})]
    assert "<Enter>" in done


def test_fqdn_peer_is_shown_by_its_name() -> None:
    from vpnsh.config.factory import factory_config

    t = formats.parse("\n".join([
        "set network interface ethernet eth0 layer3 ip 192.0.2.1/24",
        "set network ike gateway GW local-address interface eth0",
        "set network ike gateway GW peer-address fqdn vpn.example.net",
        "set network ike gateway GW authentication pre-shared-key key -AQ==x",
        "set network ike gateway GW protocol version ikev2",
    ]) + "\n", "set", encrypt=lambda s: s)
    t["network"]["ike"]["crypto-profiles"] = factory_config()["network"]["ike"]["crypto-profiles"]
    cfg = config_map.engine_config(t, lambda s: "secret")
    assert cfg.gateways["GW"].peer_display == "vpn.example.net"
    engine = Engine(dataplane="none")
    engine.cfg = cfg
    rows = engine.op("vpn.gateway.show", {})["gateways"]
    assert rows[0]["peer"] == "vpn.example.net"


def test_locks_and_changes_renders() -> None:
    text = host.locks("config", [{"admin": "ops1", "location": "shared", "type": "config",
                                  "created": 0, "comment": "change 4711"}])
    lines = text.splitlines()
    assert lines[:3] == ["Config locks:",
                         "Admin        Location  Type    Created              Comment", "-" * 80]
    assert lines[3].startswith("ops1         shared    config  ") and lines[3].endswith("change 4711")
    assert host.changes([{"admin": "ops1", "action": "add", "xpath": "/config/x"}]) == \
        "ops1   add     /config/x\n"
    row = host.admin_row({"admin": "ops1", "from": "local", "client": "CLI", "started": 0,
                          "last": 0}, now=3725)
    assert row["idle"] == "01:02:05s"


def test_every_shell_op_is_served(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The shell's ops (session.OP_*, the op-command table) all exist in the daemon."""
    from vpnsh.control.server import Dispatcher
    from vpnsh.engine.configd import ConfigService
    from vpnsh.engine.service import _OPS
    from vpnsh.shell import opcommands, session

    for name in opcommands.names():
        found = opcommands.lookup(name, {})
        assert found is not None and found.op in _OPS, name
    service = ConfigService(str(tmp_path), Engine(dataplane="none"), hostname="h")
    served = set(service.ops()) | set(Dispatcher().ops())  # admin.whoami, admin.login
    for const, op in vars(session).items():
        if const.startswith("OP_") and isinstance(op, str):
            assert op in served, (const, op)


def test_question_mark_offers_interface_and_router_names() -> None:
    t = {"network": {"interface": {"ethernet": {"ethernet1/1": {}},
                                   "tunnel": {"units": {"tunnel.1": {}}}},
                     "virtual-router": {"default": {}}}}
    words = [i.word for i in help_items("show interface ", "operational", [], lambda: t)]
    assert words == ["all", "ethernet1/1", "tunnel.1", "<value>"]
    words = [i.word for i in help_items("test routing fib-lookup virtual-router ", "operational",
                                        [], lambda: t)]
    assert words == ["default", "<value>"]
    helps = {i.word: i.help for i in help_items("show ", "operational", [], lambda: t)}
    assert helps["interface"] == "Show interface information"
    assert helps["config-locks"] == "Show configuration locks"
