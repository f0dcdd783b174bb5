"""A large PAN-OS config for bench/commit, as ``set`` lines (without the verb).

N gateways, N tunnels each with its own tunnel interface and static route, and
their crypto profiles (one IKE and one IPsec profile per ``profiles_every``
tunnels; 1 = a profile per tunnel).  Gateways share one outside interface,
which exists on no host (``vt-bench0``), so commit applies no address.
"""

from __future__ import annotations

from collections.abc import Iterator

OUTSIDE = "vt-bench0"


def peer_ip(i: int) -> str:
    return f"198.19.{i // 250}.{i % 250 + 1}"


def base_lines() -> Iterator[str]:
    yield f"network interface ethernet {OUTSIDE} layer3 ip 198.18.0.1/16"
    yield f"network virtual-router default interface {OUTSIDE}"
    yield f"zone untrust network layer3 {OUTSIDE}"


def profile_lines(p: int) -> Iterator[str]:
    ike = f"network ike crypto-profiles ike-crypto-profiles IKE-{p}"
    yield f"{ike} encryption [ aes-256-cbc aes-128-cbc ]"
    yield f"{ike} hash sha256"
    yield f"{ike} dh-group group14"
    yield f"{ike} lifetime hours 8"
    esp = f"network ike crypto-profiles ipsec-crypto-profiles ESP-{p}"
    yield f"{esp} esp encryption aes-256-gcm"
    yield f"{esp} esp authentication none"
    yield f"{esp} dh-group group14"
    yield f"{esp} lifetime hours 1"


def tunnel_lines(i: int, profile: int) -> Iterator[str]:
    gw = f"network ike gateway GW-{i}"
    yield f"{gw} protocol version ikev2"
    yield f"{gw} protocol ikev2 ike-crypto-profile IKE-{profile}"
    yield f"{gw} protocol ikev2 dpd enable yes"
    yield f"{gw} local-address interface {OUTSIDE}"
    yield f"{gw} local-address ip 198.18.0.1/16"
    yield f"{gw} peer-address ip {peer_ip(i)}"
    yield f"{gw} authentication pre-shared-key key bench-secret-{i}"
    yield f"{gw} local-id type ipaddr"
    yield f"{gw} local-id id 198.18.0.1"
    yield f"{gw} peer-id type ipaddr"
    yield f"{gw} peer-id id {peer_ip(i)}"
    unit = f"tunnel.{i + 1}"
    yield f"network interface tunnel units {unit} ip 169.254.{i // 64}.{(i % 64) * 4 + 1}/30"
    yield f"network virtual-router default interface {unit}"
    yield f"zone vpn network layer3 {unit}"
    t = f"network tunnel ipsec T-{i}"
    yield f"{t} tunnel-interface {unit}"
    yield f"{t} auto-key ike-gateway GW-{i}"
    yield f"{t} auto-key ipsec-crypto-profile ESP-{profile}"
    yield f"{t} auto-key proxy-id P1 local 10.0.0.0/16"
    yield f"{t} auto-key proxy-id P1 remote 10.{100 + i // 250}.{i % 250}.0/24"
    yield f"{t} anti-replay yes"
    yield (f"network virtual-router default routing-table ip static-route R-{i} "
           f"destination 10.{100 + i // 250}.{i % 250}.0/24 interface {unit}")


def config_lines(n: int = 1000, profiles_every: int = 1) -> list[str]:
    lines = list(base_lines())
    for p in range((n + profiles_every - 1) // profiles_every):
        lines += profile_lines(p)
    for i in range(n):
        lines += tunnel_lines(i, i // profiles_every)
    return lines
