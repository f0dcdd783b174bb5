"""The Ansible collection ``paloaltonetworks.panos`` runs one playbook against vpnsh's XML API.

The collection is not on PyPI (the ``ansible`` bundle does not carry it) and Ansible Galaxy
may be out of reach, so this test runs only where it is installed: ``ansible-playbook`` on
PATH (or ``VPNSH_TEST_ANSIBLE_PLAYBOOK``) and ``ansible-galaxy collection list
paloaltonetworks.panos`` finding it (``ANSIBLE_COLLECTIONS_PATH`` is passed through).  The
modules run under this Python (``VPNSH_TEST_ANSIBLE_PYTHON`` to change it), which has
pan-os-python and pan-python from the test extra.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_xml_api import PASSWORD, USER, ApiDaemon, api  # noqa: F401

PLAYBOOK = os.environ.get("VPNSH_TEST_ANSIBLE_PLAYBOOK") or shutil.which("ansible-playbook")
PYTHON = os.environ.get("VPNSH_TEST_ANSIBLE_PYTHON", sys.executable)


def _collection_missing() -> str | None:
    if not PLAYBOOK:
        return ("ansible-playbook is not installed: the paloaltonetworks.panos collection it "
                "needs is in no registry this machine reaches (not in PyPI's ansible bundle; "
                "Galaxy is out of reach)")
    galaxy = str(Path(PLAYBOOK).with_name("ansible-galaxy"))
    try:
        res = subprocess.run([galaxy, "collection", "list", "paloaltonetworks.panos"],
                             capture_output=True, text=True, timeout=120)
    except OSError as exc:
        return f"ansible-galaxy: {exc}"
    if "paloaltonetworks.panos" not in res.stdout:
        return ("the paloaltonetworks.panos collection is not installed (it is in no registry "
                "this machine reaches: not in PyPI's ansible bundle; Galaxy is out of reach)")
    return None


MISSING = _collection_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    provider: {{ip_address: 127.0.0.1, port: {port}, username: {user}, password: {password}}}
  tasks:
    - paloaltonetworks.panos.panos_ike_crypto_profile:
        provider: "{{{{ provider }}}}"
        name: ike-ans
        dh_group: [group14]
        authentication: [sha256]
        encryption: [aes-256-cbc]
        lifetime_hours: 8
    - paloaltonetworks.panos.panos_ipsec_profile:
        provider: "{{{{ provider }}}}"
        name: esp-ans
        esp_encryption: [aes-256-cbc]
        esp_authentication: [sha256]
        dh_group: group14
        lifetime_hours: 1
    - paloaltonetworks.panos.panos_interface:
        provider: "{{{{ provider }}}}"
        if_name: eth1
        mode: layer3
        ip: [192.0.2.1/24]
        enable_dhcp: false
        vr_name: default
        zone_name: untrust
    - paloaltonetworks.panos.panos_tunnel:
        provider: "{{{{ provider }}}}"
        if_name: tunnel.5
        ip: [169.254.5.1/30]
        vr_name: default
        zone_name: vpn
    - paloaltonetworks.panos.panos_ike_gateway:
        provider: "{{{{ provider }}}}"
        name: gw-ans
        version: ikev2
        interface: eth1
        peer_ip_value: 192.0.2.9
        pre_shared_key: ansible-psk-1
        ikev2_crypto_profile: ike-ans
    - paloaltonetworks.panos.panos_ipsec_tunnel:
        provider: "{{{{ provider }}}}"
        name: t-ans
        tunnel_interface: tunnel.5
        ak_ike_gateway: gw-ans
        ak_ipsec_crypto_profile: esp-ans
    - paloaltonetworks.panos.panos_ipsec_ipv4_proxyid:
        provider: "{{{{ provider }}}}"
        name: p-ans
        tunnel_name: t-ans
        local: 10.5.0.0/24
        remote: 10.6.0.0/24
    - paloaltonetworks.panos.panos_static_route:
        provider: "{{{{ provider }}}}"
        name: r-ans
        destination: 10.6.0.0/24
        nexthop_type: none
        interface: tunnel.5
    - paloaltonetworks.panos.panos_commit_firewall:
        provider: "{{{{ provider }}}}"
    - paloaltonetworks.panos.panos_op:
        provider: "{{{{ provider }}}}"
        cmd: show vpn ike-sa
      register: ike
    - assert:
        that: "'gateways-configured' in ike.stdout"
"""




def test_playbook_builds_and_commits_a_vpn(api: ApiDaemon, tmp_path: Path) -> None:  # noqa: F811
    assert PLAYBOOK is not None
    play = tmp_path / "site.yml"
    play.write_text(PLAY.format(port=api.port, user=USER, password=PASSWORD))
    env = {**os.environ, "ANSIBLE_PYTHON_INTERPRETER": PYTHON, "ANSIBLE_NOCOLOR": "1"}
    res = subprocess.run([PLAYBOOK, "-i", "localhost,", str(play)], capture_output=True, text=True,
                         timeout=600, env=env)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "failed=0" in res.stdout
    running = api.running()
    for line in ("set network ike crypto-profiles ike-crypto-profiles ike-ans dh-group group14",
                 "set network ike gateway gw-ans protocol ikev2 ike-crypto-profile ike-ans",
                 "set network interface ethernet eth1 layer3 ip 192.0.2.1/24",
                 "set network tunnel ipsec t-ans auto-key proxy-id p-ans remote 10.6.0.0/24",
                 "set zone vpn network layer3 tunnel.5",
                 "set network virtual-router default routing-table ip static-route r-ans interface tunnel.5"):
        assert line in running, line
    assert "ansible-psk-1" not in running
    # a second run changes nothing but the gateway (its pre-shared key reads back encrypted,
    # as on PAN-OS) and so the commit
    again = subprocess.run([PLAYBOOK, "-i", "localhost,", str(play)], capture_output=True, text=True,
                           timeout=600, env=env)
    assert again.returncode == 0 and "changed=2" in again.stdout, again.stdout[-3000:]
