"""The running tree becomes IKE and CHILD policies, tunnel interfaces and routes."""

from __future__ import annotations

import shlex
from pathlib import Path

from vpnsh.config import tree as T
from vpnsh.config.factory import factory_config
from vpnsh.engine.config_map import engine_config
from vpnsh.engine.crypto.algorithms import DhId, EncrId, IntegId, PrfId

SAMPLES = Path(__file__).parent.parent.parent / "sample-configs"


def load(lines: list[str]) -> dict:
    tree = factory_config()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        verb, *tokens = shlex.split(line)
        if verb == "delete":
            T.delete_path(tree, tokens)
        else:
            T.set_path(tree, tokens, encrypt=lambda s: "-AQ==" + s)
    return tree


def plain(text: str) -> str:
    return text.removeprefix("-AQ==")


def test_sample_site_a_maps_to_one_gateway_one_child() -> None:
    cfg = engine_config(load((SAMPLES / "site-a.set").read_text().splitlines()), plain)
    assert cfg.warnings == []
    gw = cfg.gateways["GW-SiteB"]
    assert (gw.local_addr, gw.peer_addr, gw.version) == ("198.51.100.1", "198.51.100.2", "ikev2")
    assert gw.psk == b"lab-secret-0123456789"
    assert gw.proposals[0].encryption == ((EncrId.ENCR_AES_CBC, 128),)
    assert gw.proposals[0].dh_groups == (DhId.MODP_2048,)
    assert gw.lifetime == 8 * 3600
    child = cfg.children["T-SiteB"]
    assert child.local_ts == ("0.0.0.0/0",) and child.remote_ts == ("0.0.0.0/0",)
    assert child.proposals[0].encryption == ((EncrId.ENCR_AES_GCM_16, 128),)
    assert child.pfs_group == DhId.MODP_2048 and child.lifetime == 3600
    assert [r.destination for r in cfg.routes] == ["10.2.0.0/24"]
    assert cfg.tunnel_interfaces[0].mtu == 1400
    assert cfg.placement["T-SiteB"] == ("tunnel.1", False)


def test_proxy_ids_become_one_child_each_with_ports_and_ids() -> None:
    base = (SAMPLES / "site-a.set").read_text().splitlines()
    extra = [
        "set network tunnel ipsec T-SiteB auto-key proxy-id web local 10.1.0.0/24 remote 10.2.0.0/24",
        "set network tunnel ipsec T-SiteB auto-key proxy-id web protocol tcp local-port 0 remote-port 443",
        "set network tunnel ipsec T-SiteB auto-key proxy-id lan local 10.1.1.0/24 remote 10.2.1.0/24",
        "set network ike crypto-profiles ipsec-crypto-profiles ESP-GCM128 lifesize mb 10",
    ]
    cfg = engine_config(load(base + extra), plain)
    assert sorted(cfg.children) == ["T-SiteB:lan", "T-SiteB:web"]
    web = cfg.children["T-SiteB:web"]
    assert (web.ip_proto, web.local_port, web.remote_port) == (6, 0, 443)
    assert web.remote_ts == ("10.2.0.0/24",)
    assert web.lifesize_kb == 10 * 1024
    assert {c.tunnel_id for c in cfg.children.values()} == {1, 2}


def test_gcm_non_auth_proposes_sha2_prfs_and_no_integrity() -> None:
    base = (SAMPLES / "site-a.set").read_text().splitlines()
    extra = [
        "delete network ike crypto-profiles ike-crypto-profiles IKE-AES128 encryption",
        "delete network ike crypto-profiles ike-crypto-profiles IKE-AES128 hash",
        "set network ike crypto-profiles ike-crypto-profiles IKE-AES128 encryption aes-256-gcm",
        "set network ike crypto-profiles ike-crypto-profiles IKE-AES128 hash non-auth",
    ]
    prop = engine_config(load(base + extra), plain).gateways["GW-SiteB"].proposals[0]
    assert prop.encryption == ((EncrId.ENCR_AES_GCM_16, 256),)
    assert prop.integrity == ()
    assert prop.prf[0] == PrfId.PRF_HMAC_SHA2_256


def test_default_profiles_map_3des_sha1_group2() -> None:
    base = (SAMPLES / "site-a.set").read_text().splitlines()
    extra = [
        "set network ike gateway GW-SiteB protocol ikev2 ike-crypto-profile default",
        "set network tunnel ipsec T-SiteB auto-key ipsec-crypto-profile default",
    ]
    cfg = engine_config(load(base + extra), plain)
    ike = cfg.gateways["GW-SiteB"].proposals[0]
    assert (EncrId.ENCR_3DES, 0) in ike.encryption or (EncrId.ENCR_3DES, 192) in ike.encryption
    assert ike.integrity == (IntegId.AUTH_HMAC_SHA1_96,) and ike.dh_groups == (DhId.MODP_1024,)
    esp = cfg.children["T-SiteB"].proposals[0]
    assert esp.integrity == (IntegId.AUTH_HMAC_SHA1_96,)
    assert cfg.children["T-SiteB"].pfs_group == DhId.MODP_1024


def test_incremental_mapping_equals_full_mapping() -> None:
    from vpnsh.config.diff import diff

    base = (SAMPLES / "site-a.set").read_text().splitlines()
    before = load(base)
    after = load(base + [
        "set network ike crypto-profiles ipsec-crypto-profiles ESP-GCM128 lifetime hours 2",
        "set network tunnel ipsec T2 tunnel-interface tunnel.1",
        "set network tunnel ipsec T2 auto-key ike-gateway GW-SiteB",
        "set network tunnel ipsec T2 auto-key proxy-id p local 10.1.5.0/24 remote 10.2.5.0/24",
        "set network virtual-router default routing-table ip static-route r5 destination 10.2.5.0/24",
        "set network virtual-router default routing-table ip static-route r5 interface tunnel.1",
    ])
    first = engine_config(before, plain)
    incremental = engine_config(after, plain, previous=first, diff=diff(before, after))
    full = engine_config(after, plain)
    assert incremental.gateways == full.gateways
    assert incremental.children == full.children
    assert incremental.children["T-SiteB"].lifetime == 7200  # the profile change reached it
    assert incremental.routes == full.routes and incremental.tunnel_interfaces == full.tunnel_interfaces
    assert incremental.placement == full.placement
    # an untouched gateway is the very same object: its SAs are left alone
    unchanged = engine_config(after, plain, previous=incremental, diff=diff(after, after))
    assert unchanged.gateways["GW-SiteB"] is incremental.gateways["GW-SiteB"]


def test_one_undecryptable_key_never_stops_the_other_gateways() -> None:
    """A key the master key cannot decrypt leaves its gateway out, named with why; the others map."""
    base = (SAMPLES / "site-a.set").read_text().splitlines()
    extra = [line.replace("GW-SiteB", "GW-Other") for line in base if "ike gateway GW-SiteB" in line]
    extra = [line.replace("198.51.100.2", "198.51.100.9") for line in extra]

    def decrypt(text: str) -> str:
        if "lab-secret" in text and decrypt.calls == 0:  # type: ignore[attr-defined]
            decrypt.calls += 1  # type: ignore[attr-defined]
            raise ValueError("secret cannot be decrypted with this master key")
        return plain(text)

    decrypt.calls = 0  # type: ignore[attr-defined]
    cfg = engine_config(load(base + extra), decrypt)
    assert len(cfg.gateways) == 1
    broken = ({"GW-SiteB", "GW-Other"} - set(cfg.gateways)).pop()
    assert "in clear" in cfg.problems[f"gateway {broken}"]
    assert broken in cfg.problems[f"gateway {broken}"]
