"""Shared sample configs for the config-library tests (no tests here)."""

from __future__ import annotations

from vpnsh.config.factory import factory_config
from vpnsh.config.formats import tokenize
from vpnsh.config.tree import set_path

SITE_A = """
set network profiles interface-management-profile Allow ping yes
set network interface ethernet eth1 layer3 ip 198.51.100.1/24
set network interface ethernet eth2 layer3 ip 192.168.1.1/24
set network interface tunnel units tunnel.1 ip 169.254.10.1/30
set network interface tunnel units tunnel.1 interface-management-profile Allow
set zone untrust network layer3 eth1
set zone trust network layer3 eth2
set zone vpn network layer3 tunnel.1
set network virtual-router default interface [ eth1 eth2 tunnel.1 ]
set network ike crypto-profiles ike-crypto-profiles IKE-AES256 encryption aes-256-cbc
set network ike crypto-profiles ike-crypto-profiles IKE-AES256 hash sha256
set network ike crypto-profiles ike-crypto-profiles IKE-AES256 dh-group group14
set network ike crypto-profiles ike-crypto-profiles IKE-AES256 lifetime hours 8
set network ike crypto-profiles ipsec-crypto-profiles ESP-AES256 esp encryption aes-256-cbc
set network ike crypto-profiles ipsec-crypto-profiles ESP-AES256 esp authentication sha256
set network ike crypto-profiles ipsec-crypto-profiles ESP-AES256 dh-group group14
set network ike crypto-profiles ipsec-crypto-profiles ESP-AES256 lifetime hours 1
set network ike gateway GW-SiteB protocol version ikev2
set network ike gateway GW-SiteB protocol ikev2 ike-crypto-profile IKE-AES256
set network ike gateway GW-SiteB protocol ikev2 dpd enable yes
set network ike gateway GW-SiteB local-address interface eth1
set network ike gateway GW-SiteB local-address ip 198.51.100.1/24
set network ike gateway GW-SiteB peer-address ip 203.0.113.1
set network ike gateway GW-SiteB authentication pre-shared-key key MySecret123
set network ike gateway GW-SiteB local-id type ipaddr
set network ike gateway GW-SiteB local-id id 198.51.100.1
set network ike gateway GW-SiteB peer-id type ipaddr
set network ike gateway GW-SiteB peer-id id 203.0.113.1
set network ike gateway GW-SiteB protocol-common nat-traversal enable no
set network tunnel ipsec T-SiteB tunnel-interface tunnel.1
set network tunnel ipsec T-SiteB auto-key ike-gateway GW-SiteB
set network tunnel ipsec T-SiteB auto-key ipsec-crypto-profile ESP-AES256
set network tunnel ipsec T-SiteB auto-key proxy-id PID-LAN local 192.168.1.0/24 remote 10.20.0.0/24 protocol any
set network tunnel ipsec T-SiteB tunnel-monitor enable yes
set network tunnel ipsec T-SiteB tunnel-monitor destination-ip 169.254.10.2
set network tunnel ipsec T-SiteB tunnel-monitor tunnel-monitor-profile default
set network virtual-router default routing-table ip static-route to-SiteB destination 10.20.0.0/24 interface tunnel.1
set rulebase security rules trust-to-vpn from trust to vpn source any destination any application any service any action allow
set rulebase security rules vpn-to-trust from vpn to trust source any destination any application any service any action allow
set rulebase security rules "allow ike" description "IKE and ESP, from the peer" from untrust to untrust source 203.0.113.1 destination any application [ ike ipsec-esp ] service application-default action allow
"""


def fake_encrypt(plain: str) -> str:
    """Stands in for SecretBox.encrypt where the key itself does not matter."""
    return "-AQ==" + plain.encode().hex()


def apply_lines(tree: dict, text: str) -> dict:
    for line in text.strip().splitlines():
        words = list(tokenize(line))
        assert words[0] == "set"
        set_path(tree, words[1:], encrypt=fake_encrypt)
    return tree


def site_a() -> dict:
    return apply_lines(factory_config(), SITE_A)
