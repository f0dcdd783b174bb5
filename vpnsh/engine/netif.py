"""Interface addresses from the running config, applied to Linux interfaces.

``network interface ethernet NAME layer3 ip ADDR/LEN`` puts ADDR/LEN on the
Linux device NAME is bound to (:mod:`vpnsh.engine.ifmap`: ``ethernet1/N`` through the
host's interface map, a Linux name as it is) if it is not already there.  Subinterfaces
(``ethernet1/N.U ... tag T``) become 802.1Q VLAN devices on their port's device, made by
vpnsh and deleted again when no longer configured (``__links__`` in the record below);
``loopback.N`` addresses go on ``lo``.  Addresses vpnsh added are
remembered in ``<state_dir>/netif-added.json``; a later commit that no longer
configures one removes it, and only those: addresses someone else put on an
interface are never touched.

The plan (what to add, what to remove) is pure and tested apart from the
netlink calls.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from vpnsh.config import ifnames
from vpnsh.engine.ifmap import InterfaceMap

log = logging.getLogger("vpnshd.netif")

STATE_FILE = "netif-added.json"
LINKS_KEY = "__links__"  # in STATE_FILE: the devices vpnsh made
_T = TypeVar("_T")

Addresses = dict[str, set[str]]  # interface name -> {"10.0.0.1/24", ...}


def desired_addresses(tree: Mapping[str, Any]) -> Addresses:
    """Interface (config name) -> addresses configured on ethernet ports, their
    subinterfaces and loopbacks (tunnel units are the data plane's)."""
    ethernet = _get(tree, ifnames.ETHERNET_PATH)
    names = list(ethernet) if isinstance(ethernet, Mapping) else []
    names += [name for _p, name, _u in ifnames.subinterfaces(tree)]
    names += list(_get(tree, ifnames.LOOPBACK_PATH) or {})
    out: Addresses = {}
    for name in names:
        addrs = set()
        for ip in ifnames.interface_ips(tree, str(name)):
            with contextlib.suppress(ValueError):
                addrs.add(str(ipaddress.ip_interface(ip)))
        if addrs:
            out[str(name)] = addrs
    return out


@dataclass(frozen=True)
class LinkSpec:
    """A device vpnsh makes: an 802.1Q VLAN on ``parent``."""

    kind: str  # "vlan"
    parent: str = ""
    tag: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "parent": self.parent, "tag": self.tag}


def desired_links(tree: Mapping[str, Any], ifmap: InterfaceMap) -> dict[str, LinkSpec]:
    """Linux device -> what it must be, for every subinterface of ``tree`` with a tag and a
    bound port."""
    out: dict[str, LinkSpec] = {}
    for parent, name, unit in ifnames.subinterfaces(tree):
        dev, parent_dev = ifmap.linux_name(name), ifmap.linux_name(parent)
        if dev and parent_dev and isinstance(unit.get("tag"), int):
            out[dev] = LinkSpec("vlan", parent_dev, int(unit["tag"]))
    return out


def _get(node: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


@dataclass
class Plan:
    add: list[tuple[str, str]] = field(default_factory=list)  # (ifname, addr/len)
    remove: list[tuple[str, str]] = field(default_factory=list)


def plan(desired: Addresses, present: Addresses, added_before: Addresses) -> Plan:
    """What to do: add desired addresses absent from the interface; remove
    addresses vpnsh added earlier that are no longer desired (if still there)."""
    p = Plan()
    for ifname in sorted(desired):
        for addr in sorted(desired[ifname]):
            if addr not in present.get(ifname, set()):
                p.add.append((ifname, addr))
    for ifname in sorted(added_before):
        for addr in sorted(added_before[ifname]):
            if addr not in desired.get(ifname, set()) and addr in present.get(ifname, set()):
                p.remove.append((ifname, addr))
    return p


class Links(Protocol):
    """The netlink side, so the applier can be tested with a fake."""

    def exists(self, ifname: str) -> bool: ...
    def addresses(self, ifname: str) -> set[str]: ...
    def add(self, ifname: str, addr: str) -> None: ...
    def remove(self, ifname: str, addr: str) -> None: ...
    def create(self, ifname: str, spec: LinkSpec) -> None: ...
    def delete(self, ifname: str) -> None: ...


class NetlinkLinks:
    """:class:`Links` on pyroute2's IPRoute, in the daemon's network namespace.

    pyroute2's synchronous IPRoute runs its own event loop, which cannot run
    inside the daemon's; so every call goes to one worker thread that keeps
    one IPRoute open.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netif")
        self._ipr: Any = None

    def _call(self, fn: Callable[[Any], _T]) -> _T:
        def run() -> _T:
            if self._ipr is None:
                from pyroute2 import IPRoute

                self._ipr = IPRoute()
            return fn(self._ipr)


        return self._pool.submit(run).result(timeout=30)

    def warm_up(self) -> None:
        """Open the netlink socket in the background (the first open takes ~0.2 s)."""

        def open_() -> None:
            if self._ipr is None:
                from pyroute2 import IPRoute

                self._ipr = IPRoute()

        self._pool.submit(open_)

    @staticmethod
    def _index(ipr: Any, ifname: str) -> int | None:
        found = ipr.link_lookup(ifname=ifname)
        return found[0] if found else None

    def exists(self, ifname: str) -> bool:
        return self._call(lambda ipr: self._index(ipr, ifname) is not None)

    def addresses(self, ifname: str) -> set[str]:
        def get(ipr: Any) -> set[str]:
            index = self._index(ipr, ifname)
            if index is None:
                return set()
            return {
                str(ipaddress.ip_interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"))
                for a in ipr.get_addr(index=index)
            }

        return self._call(get)

    def _change(self, command: str, ifname: str, addr: str) -> None:
        iface = ipaddress.ip_interface(addr)

        def change(ipr: Any) -> None:
            index = self._index(ipr, ifname)
            if index is None:
                raise OSError(f"interface {ifname} does not exist")
            ipr.addr(command, index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)

        self._call(change)

    def add(self, ifname: str, addr: str) -> None:
        self._change("add", ifname, addr)

    def create(self, ifname: str, spec: LinkSpec) -> None:
        def make(ipr: Any) -> None:
            parent = self._index(ipr, spec.parent)
            if parent is None:
                raise OSError(f"interface {spec.parent} does not exist")
            try:
                ipr.link("add", ifname=ifname, kind=spec.kind, link=parent, vlan_id=spec.tag)
            except Exception as exc:  # pyroute2's NetlinkError: say it as an OSError
                raise OSError(f"{exc} (does this kernel have 802.1Q VLAN support?)") from None
            index = self._index(ipr, ifname)
            ipr.link("set", index=index, state="up")

        self._call(make)

    def delete(self, ifname: str) -> None:
        def drop(ipr: Any) -> None:
            index = self._index(ipr, ifname)
            if index is not None:
                ipr.link("del", index=index)

        self._call(drop)

    def remove(self, ifname: str, addr: str) -> None:
        self._change("del", ifname, addr)

    def close(self) -> None:
        def shut() -> None:
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None

        self._pool.submit(shut).result(timeout=10)
        self._pool.shutdown()


class AddressApplier:
    """Applies :func:`desired_addresses` of each committed config; keeps its own record."""

    def __init__(self, state_dir: str, links: Links | None = None,
                 ifmap: InterfaceMap | None = None) -> None:
        self.path = os.path.join(state_dir, STATE_FILE)
        self.links: Links = links or NetlinkLinks()
        self.ifmap = ifmap or InterfaceMap(None)

    def missing_interfaces(self, tree: Mapping[str, Any]) -> list[str]:
        """Configured interfaces with addresses that this host does not have."""
        return [name for name in sorted(desired_addresses(tree))
                if not (dev := self.ifmap.linux_name(name)) or not self.links.exists(dev)]

    def _sync_links(self, tree: Mapping[str, Any], made: dict[str, LinkSpec]) -> list[str]:
        """Make the VLAN and dummy devices ``tree`` needs, delete the ones vpnsh made that it
        no longer needs (or that must change); ``made`` is updated in place."""
        want = desired_links(tree, self.ifmap)
        warnings: list[str] = []
        for dev in sorted(made):
            if want.get(dev) != made[dev]:
                try:
                    self.links.delete(dev)
                    log.info("deleted %s", dev)
                except OSError as exc:
                    warnings.append(f"Warning: could not delete {dev}: {exc}")
                    continue
                del made[dev]
        for dev, spec in sorted(want.items()):
            if dev in made or self.links.exists(dev):
                continue
            try:
                self.links.create(dev, spec)
                log.info("created %s (%s)", dev, spec.kind)
            except OSError as exc:
                warnings.append(f"Warning: could not create {dev}: {exc}")
                continue
            made[dev] = spec
        return warnings

    def apply(self, tree: Mapping[str, Any]) -> list[str]:
        """Bring interface addresses in line with ``tree``; return warning lines."""
        warnings: list[str] = self.ifmap.reload()
        added, made = self._load(), self._load_links()
        if made or desired_links(tree, self.ifmap):
            warnings += self._sync_links(tree, made)
        desired: Addresses = {}
        for name, addrs in desired_addresses(tree).items():
            dev = self.ifmap.linux_name(name)
            if dev is None:
                warnings.append(
                    f"Warning: interface {name} is not bound to a device on this host (interface "
                    f"map {self.ifmap.path or 'default'}); its address(es) "
                    f"{', '.join(sorted(addrs))} were not applied")
                continue
            desired.setdefault(dev, set()).update(addrs)
        names = set(desired) | set(added)
        present: Addresses = {}
        for name in names:
            if self.links.exists(name):
                present[name] = self.links.addresses(name)
            elif name in desired:
                warnings.append(
                    f"Warning: network -> interface -> ethernet -> {name}: no such interface on "
                    f"this host; its address(es) {', '.join(sorted(desired[name]))} were not applied"
                )
        todo = plan({n: a for n, a in desired.items() if n in present}, present, added)
        for ifname, addr in todo.remove:
            try:
                self.links.remove(ifname, addr)
                log.info("removed %s from %s", addr, ifname)
            except OSError as exc:
                warnings.append(f"Warning: could not remove {addr} from {ifname}: {exc}")
                continue
        for ifname, addr in todo.add:
            try:
                self.links.add(ifname, addr)
                log.info("added %s to %s", addr, ifname)
            except OSError as exc:
                warnings.append(f"Warning: could not add {addr} to {ifname}: {exc}")
                continue
            added.setdefault(ifname, set()).add(addr)
        # Forget what is no longer ours: removed, or no longer desired and already gone.
        for ifname in list(added):
            keep = {a for a in added[ifname] if a in desired.get(ifname, set())}
            if keep:
                added[ifname] = keep
            else:
                del added[ifname]
        self._save(added, made)
        return warnings

    def close(self) -> None:
        close = getattr(self.links, "close", None)
        if close is not None:
            close()

    def _load(self) -> Addresses:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return {}
        return {str(k): set(map(str, v)) for k, v in data.items() if isinstance(v, list)}

    def _load_links(self) -> dict[str, LinkSpec]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f).get(LINKS_KEY) or {}
        except (OSError, ValueError, AttributeError):
            return {}
        out = {}
        for dev, spec in data.items():
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                out[str(dev)] = LinkSpec(str(spec["kind"]), str(spec.get("parent", "")),
                                         int(spec.get("tag", 0)))
        return out

    def _save(self, added: Addresses, made: dict[str, LinkSpec] | None = None) -> None:
        data: dict[str, Any] = {k: sorted(v) for k, v in sorted(added.items())}
        if made:
            data[LINKS_KEY] = {k: v.as_dict() for k, v in sorted(made.items())}
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
