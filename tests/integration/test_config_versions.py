"""Config versions through the shell: load config version N, save config to / load config
last-saved, show config saved, validate partial, load config partial ... mode merge|replace."""

from __future__ import annotations

from tests.helpers.daemon import Daemon
from vpnsh.control.client import Client
from vpnsh.shell.session import Session

TUN = "set network interface tunnel units "
UNITS = "/config/devices/entry[@name='localhost.localdomain']/network/interface/tunnel/units"


def ok(s: Session, line: str) -> str:
    out = s.execute(line)
    assert out.ok, (line, out.error)
    return out.output


def cand(d: Daemon) -> str:
    return d.request("config.show", which="candidate", format="set", path=[])["text"]


def test_versions_saved_and_partial_loads(vpnshd: Daemon) -> None:
    with Client(str(vpnshd.socket)) as client:
        s = Session(client, user="ops1")
        s.hello()
        ok(s, "configure")
        ok(s, TUN + "tunnel.1 comment v-one")
        ok(s, "commit")
        v_one = vpnshd.request("config.history")["history"][-1]["n"]
        ok(s, TUN + "tunnel.1 comment v-two")
        ok(s, TUN + "tunnel.2 comment v-two")
        ok(s, "commit")
        # show config audit info|version N
        audit = ok(s, "run show config audit info").splitlines()
        assert audit[0].split() == ["Version", "Date", "Description"]
        assert [line.split()[0] for line in audit[2:4]] == [str(v_one + 1), str(v_one)]
        ok(s, "run set cli config-output-format set")
        assert "tunnel.1 comment v-one" in ok(s, f"run show config audit version {v_one}")
        ok(s, "run set cli config-output-format default")
        # load config version N: the candidate becomes that commit's config
        assert ok(s, f"load config version {v_one}") == f"Config loaded from version {v_one}\n"
        assert "tunnel.1 comment v-one" in cand(vpnshd) and "tunnel.2" not in cand(vpnshd)
        assert s.execute("load config version 999").error == "Server error : Version 999 does not exist"
        ok(s, "revert config")
        # save config to / show config saved / load config last-saved
        assert ok(s, "save config to snap-a") == "Config saved to snap-a\n"
        ok(s, "run set cli config-output-format set")
        saved = ok(s, "run show config saved snap-a")
        assert "set network interface tunnel units tunnel.2 comment v-two" in saved
        assert ok(s, "show config saved snap-a") == saved  # configure mode, same text
        ok(s, TUN + "tunnel.3 comment newer")
        ok(s, "save config to snap-b")
        ok(s, "revert config")
        assert ok(s, "load config last-saved") == "Config loaded from snap-b\n"
        assert "tunnel.3 comment newer" in cand(vpnshd)
        ok(s, "revert config")
        # load config partial: one subtree of a saved config, replace or merge
        ok(s, TUN + "tunnel.1 comment edited")
        ok(s, TUN + "tunnel.7 comment only-in-candidate")
        ok(s, f"load config partial from snap-b from-xpath {UNITS} to-xpath {UNITS} mode merge")
        c = cand(vpnshd)
        assert "tunnel.1 comment v-two" in c and "tunnel.7 comment only-in-candidate" in c
        assert "tunnel.3 comment newer" in c
        ok(s, f"load config partial from-xpath {UNITS}/entry[@name='tunnel.1'] "
              f"to-xpath {UNITS}/entry[@name='tunnel.1'] mode replace")  # from running
        assert "tunnel.1 comment v-two" in cand(vpnshd)
        ok(s, f"load config partial from snap-a from-xpath {UNITS} to-xpath {UNITS} mode replace")
        c = cand(vpnshd)
        assert "tunnel.7" not in c and "tunnel.3" not in c and "tunnel.2 comment v-two" in c
        bad = s.execute(f"load config partial from snap-a from-xpath {UNITS}/bogus "
                        f"to-xpath {UNITS} mode merge")
        assert not bad.ok and bad.error.startswith("Server error : ")
        # validate partial admin: only that admin's changes are validated
        ok(s, "revert config")
        ok(s, "set zone z network layer3 tunnel.99")  # ops1's change: a dangling reference
        out = s.execute("validate partial admin ops2")
        assert out.ok and "Configuration is valid" in out.output
        out = s.execute("validate partial admin ops1")
        assert not out.ok and "'tunnel.99' is not a valid reference" in out.error
