"""Which Linux device each PAN-OS interface name is, on this host.

A PAN-OS config names ports ``ethernet1/N``; the Linux host has ``ens4``, ``eth1``,
``veth-a``...  The binding is a fact of the host, not of the config, so it is kept
out of the config: the same config (pasted from a firewall, or moved to another host)
runs unchanged, and only the host's map says which NIC is which.

**Default** (no map, or a map that binds no ``ethernet1/N``): as the VM-Series firewall
on KVM does it, every NIC is a PCI device and NICs are taken in PCI-ID order
(bus/slot/function, lowest first).  The first is the management interface; the second is
``ethernet1/1``, the third ``ethernet1/2``, and so on.  A NIC is a device of
``/sys/class/net`` with a ``device`` link (virtio, e1000, SR-IOV, passthrough) and link
type ethernet; veth, bridge, VLAN, dummy and tunnel devices are never counted.

**Explicit map**: ``<state-dir>/interface-map`` (or ``vpnshd --interface-map FILE``), owned by
the operator, read at start and again at every commit.  One binding per line, ``#`` starts
a comment::

    management   ens3      # optional: this NIC is not a data port
    ethernet1/1  ens4
    ethernet1/2  ens5

Once the map binds any ``ethernet1/N``, only its bindings count (a port it does not name has
no device).  With only a ``management`` line, the default order skips that NIC.

**Derived names**: ``ethernet1/N.U`` is the 802.1Q VLAN device ``<port device>.<U>`` (vpnsh
creates it with the unit's ``tag``); ``loopback.N`` is the host's ``lo`` (its addresses go
there, as host routes any interface answers for); ``tunnel.N`` is the data plane's device of
that name.  A Linux name used as an ethernet
entry is that device.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from vpnsh.config import ifnames

log = logging.getLogger("vpnshd.ifmap")

MAP_FILE = "interface-map"
SYSFS_NET = "/sys/class/net"
ARPHRD_ETHER = 1
IFNAMSIZ = 15
LOOPBACK_DEVICE = "lo"  # every loopback.N
_LINUX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,14}")


class MapError(ValueError):
    """A line of the interface map that cannot be used."""


def parse_map(text: str) -> dict[str, str]:
    """``{PAN-OS name or "management": Linux device}`` from the map file's text."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.replace("=", " ").split()
        if len(words) != 2:
            raise MapError(f"line {number}: expected '<ethernet1/N|management> <device>'")
        name, dev = words
        if name != "management" and ifnames.kind(name) != "ethernet":
            raise MapError(f"line {number}: '{name}' is not ethernet1/N or management")
        if not _LINUX_NAME.fullmatch(dev):
            raise MapError(f"line {number}: '{dev}' is not a Linux interface name")
        if name in out:
            raise MapError(f"line {number}: {name} is bound twice")
        if dev in seen:
            raise MapError(f"line {number}: {dev} is already bound to {seen[dev]}")
        out[name], seen[dev] = dev, name
    return out


def pci_order(sysfs: str = SYSFS_NET) -> list[str]:
    """The NICs of this host, lowest PCI ID (bus address) first."""
    found: list[tuple[str, str]] = []
    try:
        names = os.listdir(sysfs)
    except OSError:
        return []
    for name in names:
        base = os.path.join(sysfs, name)
        device = os.path.join(base, "device")
        if not os.path.exists(device):
            continue
        try:
            with open(os.path.join(base, "type"), encoding="ascii") as f:
                if int(f.read().strip() or 0) != ARPHRD_ETHER:
                    continue
        except (OSError, ValueError):
            continue
        found.append((os.path.basename(os.path.realpath(device)), name))
    return [name for _bus, name in sorted(found)]


@dataclass
class InterfaceMap:
    """The binding of PAN-OS names to Linux devices (see the module text)."""

    path: str | None = None
    nics: Callable[[], list[str]] = pci_order
    explicit: dict[str, str] = field(default_factory=dict)
    error: str = ""

    @classmethod
    def for_state_dir(cls, state_dir: str, path: str | None = None) -> InterfaceMap:
        m = cls(path or os.path.join(state_dir, MAP_FILE))
        m.reload()
        return m

    def reload(self) -> list[str]:
        """Read the map file again; warnings (a bad file keeps the previous map)."""
        if not self.path:
            return []
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            self.explicit, self.error = {}, ""
            return []
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror}"
            return [f"Warning: interface map {self.error}; the previous map stays"]
        try:
            self.explicit, self.error = parse_map(text), ""
        except MapError as exc:
            self.error = f"{self.path}: {exc}"
            return [f"Warning: interface map {self.error}; the previous map stays"]
        return []

    # ---------------------------------------------------------------- ports

    def ports(self) -> dict[str, tuple[str, str]]:
        """``{ethernet1/N: (device, "map"|"default")}`` as bound now, in port order."""
        bound = {n: d for n, d in self.explicit.items() if n != "management"}
        if bound:
            return {n: (d, "map") for n, d in sorted(bound.items(), key=_port_key)}
        nics = self.nics()
        mgmt = self.explicit.get("management")
        data = [n for n in nics if n != mgmt] if mgmt else nics[1:]
        return {f"ethernet1/{i}": (dev, "default") for i, dev in enumerate(data, 1)}

    def management(self) -> str | None:
        if "management" in self.explicit:
            return self.explicit["management"]
        nics = self.nics()
        return nics[0] if nics else None

    def linux_name(self, name: str) -> str | None:
        """The Linux device of any interface name; None when it has none on this host."""
        kind = ifnames.kind(name)
        if kind == "ethernet":
            hit = self.ports().get(name)
            return hit[0] if hit else None
        sub = ifnames.split_subinterface(name)
        if kind == "subinterface" and sub is not None:
            parent = self.linux_name(sub[0])
            return vlan_device(parent, sub[1]) if parent else None
        if kind == "loopback":
            return LOOPBACK_DEVICE
        return name  # tunnel.N and Linux names are their own device

    def panos_name(self, device: str) -> str:
        """The PAN-OS name of a Linux device (the device name itself when it has none)."""
        for name, (dev, _how) in self.ports().items():
            if dev == device:
                return name
            if device.startswith(dev + ".") and device[len(dev) + 1:].isdigit():
                return f"{name}.{device[len(dev) + 1:]}"
        return device


def vlan_device(parent: str, unit: int) -> str:
    """The Linux name of subinterface ``unit`` of ``parent``: ``parent.unit`` (the parent
    part shortened to fit Linux's 15 characters)."""
    suffix = f".{unit}"
    return parent[: IFNAMSIZ - len(suffix)] + suffix


def _port_key(item: tuple[str, str]) -> int:
    return ifnames.port_number(item[0]) or 0
