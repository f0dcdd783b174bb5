"""From the running config tree to what the engine runs on.

The IKE engines never see the config tree: this module reads it once per commit
(with schema defaults applied) and builds plain policies: one :class:`IkePolicy`
per IKE gateway, one :class:`ChildPolicy` per tunnel, or per proxy-id when a
tunnel has proxy-ids (named ``TUNNEL:PROXYID``), plus the tunnel interfaces and
the static routes into them for the data plane.

Gateway and tunnel IDs (GwID, TnID in ``show`` output) come from an
:class:`~vpnsh.engine.ids.IdMap` (stable across commits), or follow the order of
the config without one; a proxy-id tunnel gets its own TnID, as on PAN-OS.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vpnsh.config import ifnames, netref
from vpnsh.config.tree import effective, in_order
from vpnsh.config.vpn_schema import (
    GATEWAYS,
    IKE_PROFILES,
    IPSEC_PROFILES,
    MONITOR_PROFILES,
    TUNNEL_UNITS,
    TUNNELS,
    VIRTUAL_ROUTERS,
)
from vpnsh.engine.crypto import algorithms as alg
from vpnsh.engine.dataplane.base import Route, TunnelInterface
from vpnsh.engine.ids import IdMap
from vpnsh.engine.monitor.state import MonitorDestination, PathMonitorSpec, TunnelMonitorSpec
from vpnsh.engine.pki import certinfo, ikeauth
from vpnsh.engine.pki import profile as pki_profile
from vpnsh.engine.pki.store import CertStore
from vpnsh.engine.policy import (
    CertAuth,
    ChildPolicy,
    EspProposal,
    Identity,
    IkePolicy,
    IkeProposal,
)

Decrypt = Callable[[str], str]
log = logging.getLogger("vpnshd.engine")

# PAN-OS offers no PRF choice for GCM ("hash non-auth"); propose the SHA-2 PRFs.
GCM_PRFS = (alg.PrfId.PRF_HMAC_SHA2_256, alg.PrfId.PRF_HMAC_SHA2_384, alg.PrfId.PRF_HMAC_SHA2_512)
LIFETIME_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
LIFESIZE_KB = {"kb": 1, "mb": 1024, "gb": 1024**2, "tb": 1024**3}
IP_PROTOCOLS = {"tcp": 6, "udp": 17}


class MappingError(ValueError):
    """The running config cannot be turned into a policy (says which object and why)."""


@dataclass
class EngineConfig:
    """Everything the engine needs from one running config."""

    gateways: dict[str, IkePolicy] = field(default_factory=dict)
    children: dict[str, ChildPolicy] = field(default_factory=dict)
    gateway_ids: dict[str, int] = field(default_factory=dict)
    tunnel_interfaces: list[TunnelInterface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    # tunnel name -> (tunnel interface, copy-tos) for the data plane
    placement: dict[str, tuple[str, bool]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # "gateway GW" / "tunnel T" -> why unusable
    tunnel_monitors: list[TunnelMonitorSpec] = field(default_factory=list)
    path_monitors: list[PathMonitorSpec] = field(default_factory=list)
    child_names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # tunnel -> its children
    cert_gateways: set[str] = field(default_factory=set)  # gateways with certificate authentication
    monitor_specs: dict[str, TunnelMonitorSpec] = field(default_factory=dict)  # tunnel -> its monitor
    # what this mapping made anew (None: everything, a full mapping): the engine hands over these
    mapped_gateways: list[str] | None = None
    mapped_tunnels: list[str] | None = None

    @property
    def warnings(self) -> list[str]:
        return list(self.problems.values())

    def children_of(self, gateway: str) -> list[ChildPolicy]:
        return [c for c in self.children.values() if c.gateway == gateway]


def lifetime_scale() -> float:
    """``VPNSH_TEST_LIFETIME_SCALE``: for tests only, shrinks every SA lifetime.

    PAN-OS's shortest lifetime is 180 s; rekey and expiry tests run with e.g. 0.05
    (180 s -> 9 s). Never set in production: the daemon logs a warning when it is.
    """
    try:
        return float(os.environ.get("VPNSH_TEST_LIFETIME_SCALE", "1"))
    except ValueError:
        return 1.0


def lifetime_seconds(value: dict[str, int] | None, default: int) -> int:
    seconds = default
    if value:
        unit, amount = next(iter(value.items()))
        seconds = int(amount) * LIFETIME_UNITS[unit]
    return max(1, int(seconds * lifetime_scale()))


def lifesize_kb(value: dict[str, int] | None) -> int | None:
    if not value:
        return None
    unit, amount = next(iter(value.items()))
    return int(amount) * LIFESIZE_KB[unit]


def ike_proposal(profile: dict[str, Any]) -> IkeProposal:
    encryption = tuple(alg.ike_encryption(kw) for kw in profile.get("encryption", []))
    prfs: list[int] = []
    integs: list[int] = []
    for kw in profile.get("hash", []):
        prf, integ = alg.ike_hash(kw)
        if prf is None:  # non-auth: GCM
            prfs.extend(p for p in GCM_PRFS if p not in prfs)
        else:
            prfs.append(prf)
            integs.append(integ)
    groups = tuple(g for g in (alg.dh_group(kw) for kw in profile.get("dh-group", [])) if g)
    return IkeProposal(encryption, tuple(prfs), tuple(integs), groups)


def esp_proposal(profile: dict[str, Any]) -> EspProposal:
    esp = profile.get("esp") or {}
    encryption = tuple(alg.esp_encryption(kw) for kw in esp.get("encryption", []))
    integrity = tuple(int(alg.esp_authentication(kw)) for kw in esp.get("authentication", []))
    return EspProposal(encryption, integrity)


def _strip_mask(text: str) -> str:
    return str(ipaddress.ip_interface(text).ip)


def _interface_address(tree: dict, ifname: str) -> str | None:
    ips = ifnames.interface_ips(tree, ifname)
    return _strip_mask(ips[0]) if ips else None


def _identity(value: dict[str, Any] | None) -> Identity | None:
    if not value or "type" not in value or "id" not in value:
        return None
    return Identity(value["type"], value["id"])


def cert_auth(tree: dict, name: str, cfg: dict[str, Any], local_id: Identity | None,
              peer_id: Identity | None, store: CertStore | None,
              wildcard: bool = False) -> CertAuth:
    """``authentication certificate`` of gateway ``name``: our certificate with its private
    key, the certificate profile's CAs, checked now so that a commit names what is missing."""
    cert_name = (cfg.get("local-certificate") or {}).get("name")
    where = f"gateway {name}: authentication certificate"
    if not cert_name:
        raise MappingError(f"{where} needs local-certificate name")
    if ((cfg.get("local-certificate") or {}).get("hash-and-url") or {}).get("enable") == "yes":
        raise MappingError(f"{where}: hash-and-url is not supported (set hash-and-url enable no)")
    prof_name = cfg.get("certificate-profile")
    if not prof_name:
        raise MappingError(f"{where} needs certificate-profile")
    if store is None:
        raise MappingError(f"{where}: no certificate store (the daemon has no state dir)")
    if not store.exists(cert_name):
        raise MappingError(f"{where}: certificate {cert_name} does not exist (request "
                           "certificate generate, or scp import keypair)")
    if not store.has_key(cert_name):
        raise MappingError(f"{where}: certificate {cert_name} has no private key (scp import "
                           "keypair)")
    prof = pki_profile.profiles_from_config(tree).get(prof_name)
    if prof is None:
        raise MappingError(f"{where}: certificate-profile {prof_name} does not exist")
    problems = pki_profile.check_profiles({prof_name: prof}, store)
    if problems:
        raise MappingError(f"gateway {name}: {problems[0]}")
    try:
        cred = ikeauth.LocalCredential.load(store, cert_name, local_id.type if local_id else "dn",
                                            local_id.value if local_id else "")
    except ValueError as exc:
        raise MappingError(f"{where}: {exc}") from None
    allow = cfg.get("allow-id-payload-mismatch") == "yes"
    strict = cfg.get("strict-validation-revocation") == "yes"
    check = ikeauth.PeerCheck(store, prof, peer_id.type if peer_id else None,
                              peer_id.value if peer_id else "", allow, strict, wildcard)
    return CertAuth(cert_name, prof_name, allow, strict, credential=cred, peer_check=check)


def gateway_policy(tree: dict, name: str, gw: dict[str, Any], decrypt: Decrypt,
                   store: CertStore | None = None) -> IkePolicy:
    protocol = gw.get("protocol", {})
    version = protocol.get("version", "ikev1")
    v = "ikev1" if version == "ikev1" else "ikev2"
    settings = protocol.get(v, {})
    profile = _ike_profile(tree, name, settings)
    v1 = protocol.get("ikev1", {})
    # ikev2-preferred falls back to IKEv1 with the gateway's ikev1 profile
    v1_profile = _ike_profile(tree, name, v1) if version == "ikev2-preferred" else None
    local = gw.get("local-address", {})
    local_addr = local.get("ip") or local.get("floating-ip")
    if local_addr:
        local_addr = _strip_mask(local_addr)
    elif local.get("interface"):
        local_addr = _interface_address(tree, local["interface"])
    if not local_addr:
        raise MappingError(f"gateway {name}: no local address (set local-address ip)")
    peer = gw.get("peer-address", {})
    local_id = _identity(gw.get("local-id"))
    peer_id = _identity(gw.get("peer-id"))
    auth = gw.get("authentication", {})
    certificate = None
    psk = b""
    if "certificate" in auth:
        wildcard = (gw.get("peer-id") or {}).get("matching") == "wildcard"
        certificate = cert_auth(tree, name, auth["certificate"], local_id, peer_id, store,
                                wildcard)
        cred: Any = certificate.credential
        if version == "ikev1" and not cred.auth_label.startswith("RSA"):
            raise MappingError(f"gateway {name}: IKEv1 certificate authentication uses RSA "
                               f"signatures: certificate {certificate.local_certificate} has "
                               f"an {cred.auth_label.split()[0]} key")
        if local_id is None:  # the ID we send: our certificate's subject
            local_id = Identity("dn", certinfo.dn_text(cred.cert.subject))
    else:
        key = auth.get("pre-shared-key", {}).get("key")
        if not key:
            raise MappingError(f"gateway {name}: no pre-shared key")
        try:
            psk = decrypt(key).encode()
        except ValueError as exc:
            raise MappingError(f"gateway {name}: pre-shared key not usable ({exc}); "
                               "enter the key in clear and commit") from None
    common = gw.get("protocol-common", {})
    natt = common.get("nat-traversal", {})
    dpd = settings.get("dpd", {})
    return IkePolicy(
        name=name,
        local_addr=local_addr,
        peer_addr=peer.get("ip"),
        psk=psk,
        proposals=(ike_proposal(profile),),
        local_id=local_id,
        peer_id=peer_id,
        lifetime=lifetime_seconds(profile.get("lifetime"), 28800),
        dpd_enabled=dpd.get("enable", "no") == "yes",
        dpd_interval=int(dpd.get("interval", 5)),
        require_cookie=settings.get("require-cookie", "no") == "yes",
        nat_traversal=natt.get("enable", "no") == "yes",
        keepalive_interval=int(natt.get("keep-alive-interval", 20)),
        passive=common.get("passive-mode", "no") == "yes",
        version=version,
        enabled=gw.get("disabled", "no") != "yes",
        exchange_mode=v1.get("exchange-mode", "auto"),
        dpd_retry=int(v1.get("dpd", {}).get("retry", 5)),
        ikev1_proposals=(ike_proposal(v1_profile),) if v1_profile else (),
        peer_fqdn=peer.get("fqdn"),
        certificate=certificate,
        fragmentation=(common.get("fragmentation") or {}).get("enable") == "yes",
        peer_id_wildcard=(gw.get("peer-id") or {}).get("matching") == "wildcard",
    )


def _ike_profile(tree: dict, gateway: str, settings: dict[str, Any]) -> dict[str, Any]:
    profile_name = settings.get("ike-crypto-profile", "default")
    profile = effective(tree, IKE_PROFILES + (profile_name,))
    if profile is None:
        raise MappingError(f"gateway {gateway}: IKE crypto profile '{profile_name}' does not exist")
    return dict(profile)


def _proxy_selectors(tree: dict, pid: dict[str, Any]) -> dict[str, Any]:
    proto = pid.get("protocol") or {}
    out: dict[str, Any] = {"local_ts": (netref.network(tree, pid.get("local", "0.0.0.0/0")),),
                           "remote_ts": (netref.network(tree, pid.get("remote", "0.0.0.0/0")),)}
    if "number" in proto:
        out["ip_proto"] = int(proto["number"])
    for kw, number in IP_PROTOCOLS.items():
        if kw in proto:
            out["ip_proto"] = number
            out["local_port"] = int(proto[kw].get("local-port", 0))
            out["remote_port"] = int(proto[kw].get("remote-port", 0))
    return out


def tunnel_children(tree: dict, name: str, tun: dict[str, Any], tnid: Callable[[str], int]
                    ) -> list[ChildPolicy]:
    auto = tun.get("auto-key", {})
    gateways = auto.get("ike-gateway", [])
    if not gateways:
        raise MappingError(f"tunnel {name}: no auto-key ike-gateway")
    profile_name = auto.get("ipsec-crypto-profile", "default")
    profile = effective(tree, IPSEC_PROFILES + (profile_name,))
    if profile is None:
        raise MappingError(f"tunnel {name}: IPsec crypto profile '{profile_name}' does not exist")
    common = {
        "gateway": gateways[0],
        "proposals": (esp_proposal(profile),),
        "pfs_group": alg.dh_group(profile.get("dh-group", "group2")),
        "lifetime": lifetime_seconds(profile.get("lifetime"), 3600),
        "lifesize_kb": lifesize_kb(profile.get("lifesize")),
        "anti_replay": tun.get("anti-replay", "yes") == "yes",
        "replay_window": int(tun.get("anti-replay-window", 1024)),
        "enabled": tun.get("disabled", "no") != "yes",
    }
    proxy_ids = auto.get("proxy-id") or {}
    if not proxy_ids:
        return [ChildPolicy(name=name, tunnel_id=tnid(name), **common)]
    return [
        ChildPolicy(name=f"{name}:{pid_name}", tunnel_id=tnid(f"{name}:{pid_name}"), **common,
                    **_proxy_selectors(tree, pid))
        for pid_name, pid in proxy_ids.items()
    ]


def _routes(tree: dict, tunnel_ifs: set[str]) -> list[Route]:
    routes: list[Route] = []
    for vr in (effective(tree, VIRTUAL_ROUTERS) or {}).values():
        static = vr.get("routing-table", {}).get("ip", {}).get("static-route", {})
        for route in static.values():
            iface = route.get("interface")
            if iface not in tunnel_ifs or "destination" not in route:
                continue
            nexthop = route.get("nexthop", {})
            if "discard" in nexthop or "no-install" in route.get("route-table", {}):
                continue
            routes.append(Route(netref.network(tree, route["destination"]), iface, nexthop.get("ip-address"),
                                int(route.get("metric", 10))))
    return routes


def hold_time_scale() -> float:
    """``VPNSH_TEST_HOLD_TIME_SCALE``: for tests only, shrinks path-monitor hold times
    (configured in minutes: 1 minute with 0.1 is 6 s)."""
    try:
        return float(os.environ.get("VPNSH_TEST_HOLD_TIME_SCALE", "1"))
    except ValueError:
        return 1.0


def tunnel_monitors(tree: dict, children: dict[str, ChildPolicy],
                    placement: dict[str, tuple[str, bool]],
                    names: Iterable[str] | None = None) -> tuple[list[TunnelMonitorSpec], dict[str, str]]:
    """The tunnel monitors of the running config (of the tunnels ``names`` only, when given),
    and problems ("tunnel-monitor T" -> why not)."""
    out: list[TunnelMonitorSpec] = []
    problems: dict[str, str] = {}
    stored = _stored(tree, TUNNELS)
    for name in stored if names is None else names:
        raw = stored.get(name)
        if not isinstance(raw, dict) or (raw.get("tunnel-monitor") or {}).get("enable") != "yes":
            continue
        if name not in placement or raw.get("disabled") == "yes":
            continue
        mon = effective(tree, TUNNELS + (name, "tunnel-monitor")) or {}
        ifname = placement[name][0]
        source = _interface_address(tree, ifname)
        destination = mon.get("destination-ip")
        if not source or not destination:
            problems[f"tunnel-monitor {name}"] = (f"tunnel {name}: tunnel monitor needs an address on "
                                                  f"{ifname} and a destination-ip")
            continue
        child = f"{name}:{mon['proxy-id']}" if mon.get("proxy-id") else name
        if child not in children:
            child = next((c for c in children if children[c].tunnel == name), name)
        profile_name = mon.get("tunnel-monitor-profile") or "default"
        profile = effective(tree, MONITOR_PROFILES + (profile_name,)) or {}
        out.append(TunnelMonitorSpec(
            tunnel=name, child=child, interface=ifname, source=source, destination=destination,
            profile=profile_name, action=str(profile.get("action", "wait-recover")),
            interval=int(profile.get("interval", 3)), threshold=int(profile.get("threshold", 5))))
    return out, problems


def path_monitors(tree: dict, routes: list[Route]) -> list[PathMonitorSpec]:
    """The static routes with path monitoring on, among the routes the data plane installs."""
    out: list[PathMonitorSpec] = []
    installed = set(routes)
    for vr_name, vr in _stored(tree, VIRTUAL_ROUTERS).items():
        static = (((vr or {}).get("routing-table") or {}).get("ip") or {}).get("static-route") or {}
        for rname, raw in static.items():
            if ((raw or {}).get("path-monitor") or {}).get("enable") != "yes":
                continue
            route = effective(tree, VIRTUAL_ROUTERS + (vr_name, "routing-table", "ip", "static-route", rname))
            nexthop = route.get("nexthop", {})
            r = Route(route.get("destination", ""), route.get("interface", ""),
                      nexthop.get("ip-address"), int(route.get("metric", 10)))
            if r not in installed:
                continue  # not a route into a tunnel: nothing here installs it
            pm = route["path-monitor"]
            dests = tuple(
                MonitorDestination(dname, _strip_mask(d["source"]), d["destination"],
                                   int(d.get("interval", 3)), int(d.get("count", 5)),
                                   d.get("enable", "yes") == "yes")
                for dname, d in (pm.get("monitor-destinations") or {}).items()
                if d.get("source") and d.get("destination"))
            out.append(PathMonitorSpec(
                vr=vr_name, name=rname, route=r, destinations=dests,
                failure_condition=str(pm.get("failure-condition", "any")),
                hold_time=float(pm.get("hold-time", 2)) * 60 * hold_time_scale()))
    return out


def _stored(tree: dict, path: tuple[str, ...]) -> dict[str, Any]:
    """The stored (not defaulted) dict at ``path``: cheap, for listing entry names."""
    node: Any = tree
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _drop_tunnel(out: EngineConfig, name: str, dropped: list[str] | None = None) -> None:
    out.placement.pop(name, None)
    for child in out.child_names.pop(name, ()):
        out.children.pop(child, None)
        if dropped is not None:
            dropped.append(child)


def _has_cert(gw: Any) -> bool:
    return isinstance(gw, dict) and "certificate" in (gw.get("authentication") or {})


def _at_tail(order: dict, names: list[str]) -> bool:
    """Whether ``names`` (in order) are the last entries of ``order``."""
    if not names:
        return True
    tail = list(itertools.islice(reversed(order), len(names)))
    return tail[::-1] == names


def _touched(changes: Any) -> set[str]:
    return set(changes.added) | set(changes.changed)


def engine_config(tree: dict, decrypt: Decrypt, ids: IdMap | None = None,
                  previous: EngineConfig | None = None, diff: Any = None,
                  store: CertStore | None = None) -> EngineConfig:
    """Build the engine's view of a (validated) running config.

    With ``previous`` (the view of the last running config) and ``diff`` (what the
    commit changed, from :func:`vpnsh.config.diff.diff`), only the gateways, tunnels,
    interfaces and routes the diff touched are mapped again: a one-tunnel commit costs
    one tunnel, not the whole config. Gateways with certificate authentication are mapped
    at every commit: the certificate store (``store``) is not config, and a certificate or
    CRL imported since the last commit takes effect with the next one, as on PAN-OS.
    """
    ids = ids or IdMap(None)
    out = EngineConfig()
    dropped_children: list[str] = []  # tunnel IDs that may be gone (an incremental mapping)
    # an ethernet change can move a gateway's local address: map everything again
    full = previous is None or diff is None or bool(diff.ethernet_interfaces) \
        or bool(diff.loopback_interfaces)
    gw_order, tun_order = _stored(tree, GATEWAYS), _stored(tree, TUNNELS)
    if full:
        gw_names: Iterable[str] = gw_order
        tun_names: Iterable[str] = tun_order
        out.cert_gateways = {n for n, g in gw_order.items() if _has_cert(g)}
    else:
        # start from the previous view and redo only what the diff names: a one-tunnel
        # commit maps one tunnel, whatever the size of the config (copies of the previous
        # dicts are C-speed; an entry redone in place keeps its position)
        assert previous is not None
        touched_gw, touched_tun = _touched(diff.gateways), _touched(diff.tunnels)
        # gateways with certificate authentication are mapped at every commit: the
        # certificate store is not config, and a certificate or CRL imported since the last
        # commit takes effect with the next one, as on PAN-OS (the set of them is kept, not
        # found by a pass over every gateway)
        out.cert_gateways = previous.cert_gateways - set(diff.gateways.removed)
        for name in touched_gw:
            if _has_cert(gw_order.get(name)):
                out.cert_gateways.add(name)
            else:
                out.cert_gateways.discard(name)
        gw_names = in_order(gw_order, touched_gw | out.cert_gateways)
        tun_names = in_order(tun_order, touched_tun)
        out.gateways, out.gateway_ids = dict(previous.gateways), dict(previous.gateway_ids)
        out.placement, out.children = dict(previous.placement), dict(previous.children)
        out.child_names = dict(previous.child_names)
        for name in diff.gateways.removed:
            out.gateways.pop(name, None)
            out.gateway_ids.pop(name, None)
        for name in diff.tunnels.removed:
            _drop_tunnel(out, name, dropped_children)
        redo_gw = set(diff.gateways.removed) | set(gw_names)
        redo_tun = set(diff.tunnels.removed) | set(tun_names)
        out.problems = {k: v for k, v in previous.problems.items()
                        if (k.startswith("gateway ") and k[8:] not in redo_gw)
                        or (k.startswith("tunnel ") and k[7:] not in redo_tun)
                        or (k.startswith("tunnel-monitor ") and k[15:] not in redo_tun)}
    if not full:
        out.mapped_gateways, out.mapped_tunnels = list(gw_names), list(tun_names)
    appended_gw: list[str] = []
    for name in gw_names:
        out.gateway_ids[name] = ids.get("gateway", name)
        key = f"gateway {name}"
        try:
            gw = effective(tree, GATEWAYS + (name,))
            policy = gateway_policy(tree, name, gw, decrypt, store)
        except (MappingError, alg.UnsupportedAlgorithm) as exc:
            out.problems[key] = str(exc)
            out.gateways.pop(name, None)
            continue
        except Exception as exc:  # noqa: BLE001 - one bad gateway never stops the others
            log.exception("mapping gateway %s failed", name)
            out.problems[key] = f"gateway {name}: not applied: internal error {type(exc).__name__}"
            out.gateways.pop(name, None)
            continue
        if name not in out.gateways:
            appended_gw.append(name)
        out.gateways[name] = policy
    appended_tun: list[str] = []
    children_moved = False
    for name in tun_names:
        key = f"tunnel {name}"
        try:
            tun = effective(tree, TUNNELS + (name,))
            children = tunnel_children(tree, name, tun, lambda n: ids.get("tunnel", n))
        except (MappingError, alg.UnsupportedAlgorithm) as exc:
            out.problems[key] = str(exc)
            _drop_tunnel(out, name, dropped_children)
            continue
        except Exception as exc:  # noqa: BLE001 - one bad tunnel never stops the others
            log.exception("mapping tunnel %s failed", name)
            out.problems[key] = f"tunnel {name}: not applied: internal error {type(exc).__name__}"
            _drop_tunnel(out, name, dropped_children)
            continue
        names = tuple(c.name for c in children)
        if name not in out.placement:
            appended_tun.append(name)
        elif out.child_names.get(name) != names:  # other proxy-ids: they go in at the end
            _drop_tunnel(out, name, dropped_children)
            children_moved = True
        out.placement[name] = (tun.get("tunnel-interface", ""), tun.get("copy-tos", "no") == "yes")
        out.child_names[name] = names
        for child in children:  # the same names are replaced in place
            out.children[child.name] = child
    # in the config's order, as a full mapping gives them (new names usually come last)
    if not full and not _at_tail(gw_order, appended_gw):
        out.gateways = {n: out.gateways[n] for n in gw_order if n in out.gateways}
        out.gateway_ids = {n: out.gateway_ids[n] for n in gw_order if n in out.gateway_ids}
    if not full and (children_moved or not _at_tail(tun_order, appended_tun)):
        out.placement = {n: out.placement[n] for n in tun_order if n in out.placement}
        out.children = {c: out.children[c] for n in tun_order for c in out.child_names.get(n, ())}
    if full or previous is None or diff.tunnel_interfaces or diff.routes:
        units = effective(tree, TUNNEL_UNITS) or {}
        for ifname, unit in units.items():
            out.tunnel_interfaces.append(
                TunnelInterface(ifname, tuple(unit.get("ip", [])), int(unit.get("mtu", 1500))))
        out.routes = _routes(tree, set(units))
    else:
        out.tunnel_interfaces, out.routes = previous.tunnel_interfaces, previous.routes
    if full or previous is None:
        specs, monitor_problems = tunnel_monitors(tree, out.children, out.placement)
        out.monitor_specs = {m.tunnel: m for m in specs}
    else:
        # only the tunnels the diff touched (a tunnel's monitor profile and tunnel interface
        # count as its own: the diff names the tunnel when they change)
        redo = set(tun_names) | set(diff.tunnels.removed)
        specs, monitor_problems = tunnel_monitors(tree, out.children, out.placement, tun_names)
        out.monitor_specs = dict(previous.monitor_specs)
        fresh = {m.tunnel: m for m in specs}
        for name in redo & out.monitor_specs.keys() - fresh.keys():
            del out.monitor_specs[name]
        new_monitor = not fresh.keys() <= out.monitor_specs.keys()
        out.monitor_specs.update(fresh)  # a monitor kept is replaced where it stands
        if new_monitor:  # in the config's order, as a full mapping gives them
            out.monitor_specs = {n: out.monitor_specs[n] for n in tun_order if n in out.monitor_specs}
    out.tunnel_monitors = list(out.monitor_specs.values())
    out.problems.update(monitor_problems)
    out.path_monitors = path_monitors(tree, out.routes)
    if full or previous is None:
        ids.keep_only("gateway", set(out.gateway_ids))
        ids.keep_only("tunnel", set(out.children))
    else:  # only what this commit removed, failed to map or numbered anew may be gone
        ids.drop("gateway", [n for n in [*diff.gateways.removed, *ids.given("gateway")]
                             if n not in out.gateway_ids])
        ids.drop("tunnel", [c for c in [*dropped_children, *ids.given("tunnel")]
                            if c not in out.children])
    ids.save()
    return out
