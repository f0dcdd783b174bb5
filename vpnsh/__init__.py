"""vpnsh: an IPsec VPN gateway for Linux, run like a PAN-OS firewall."""
__version__ = "0.1.0"
