"""The shell's requests against a real vpnshd: every op and argument name the shell uses.

The other shell tests use a fake client; this one checks that the fake and the
daemon agree, through the real control client, on a temp socket.
"""

from __future__ import annotations

import json

from tests.helpers.daemon import Daemon
from vpnsh.control.client import Client
from vpnsh.shell.session import Session

GW = "set network ike gateway GW1 "
SETUP = [
    "configure",
    "set network interface ethernet lo layer3 ip 127.0.0.1/8",
    "set network interface tunnel units tunnel.1 ip 169.254.10.1/30",
    GW + "protocol version ikev2",
    GW + "local-address interface lo",
    GW + "local-address ip 127.0.0.1/8",
    GW + "peer-address ip 203.0.113.1",
    GW + "authentication pre-shared-key key Sup3rSecret",
    "set network tunnel ipsec T1 tunnel-interface tunnel.1",
    "set network tunnel ipsec T1 auto-key ike-gateway GW1",
    "set rulebase security rules A from any to any source any destination any application any service any action allow",
    "set rulebase security rules B from any to any source any destination any application any service any action allow",
]


def test_shell_session_against_vpnshd(vpnshd: Daemon) -> None:
    with Client(str(vpnshd.socket)) as client:
        s = Session(client, user="admin")
        assert s.prompt() == "admin@vpnsh-test> "
        for line in SETUP:
            out = s.execute(line)
            assert out.ok, (line, out.error)

        out = s.execute("show network ike gateway GW1")
        assert "peer-address {" in out.output and "-AQ==" in out.output
        assert "Sup3rSecret" not in out.output

        assert s.execute("move rulebase security rules B top").ok
        assert s.execute("rename rulebase security rules A to C").ok
        s.execute("run set cli config-output-format set")
        rules = s.execute("show rulebase security rules | match action").output.splitlines()
        assert [r.split()[4] for r in rules] == ["B", "C"]

        diff = s.execute("show config diff")
        assert diff.ok and "GW1" in diff.output

        bad = s.execute("set network ike gateway GW1 protocol version ikev3")
        assert not bad.ok and "ikev3" in bad.error
        assert bad.error.startswith(("Invalid syntax.", "Server error : "))
        unknown = s.execute("set network ike gateway GW1 bogus yes")
        assert not unknown.ok and unknown.error.startswith(("Invalid syntax.", "Server error : "))

        out = s.execute('commit description "contract test"')
        assert out.ok, out.error
        assert out.output.splitlines()[-1] == "Configuration committed successfully"
        assert out.output.startswith("Commit job ")

        s.execute("delete network ike gateway GW1 peer-address")
        out = s.execute("validate full")
        assert not out.ok and out.error.startswith("Validate job enqueued with jobid ")
        assert out.error.splitlines()[1] == "Validation Error:"
        assert "GW1" in out.error
        assert s.execute("revert config").ok
        assert s.execute("save config to snap1").ok
        assert s.execute("load config from snap1").ok

        for line in ("run show vpn ike-sa", "run show vpn ike-sa gateway GW1",
                     "run show vpn ipsec-sa summary", "run show vpn flow", "run show vpn gateway",
                     "run show vpn tunnel", "run test vpn ike-sa gateway GW1",
                     "run clear vpn ipsec-sa", "run show jobs all", "run show system info",
                     "run show counter global", "run show counter global filter delta yes severity drop"):
            out = s.execute(line)
            assert out.ok, (line, out.error)
        s.execute("exit")
        s.output_json = True
        data = json.loads(s.execute("show vpn ipsec-sa").output)
        assert data["tunnels_configured"] == 1
        assert "GW1" in json.dumps(s.candidate_tree())
