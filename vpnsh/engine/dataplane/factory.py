"""Makes the data plane that ``vpnshd --dataplane KIND`` asks for."""

from __future__ import annotations

from .base import DataPlane


def make_dataplane(kind: str, *, raw_esp: bool = False, workers: int = 1) -> DataPlane:
    """The data plane ``vpnshd --dataplane KIND`` asks for (not started yet).
    ``raw_esp``: the user-space data plane sends IP protocol 50 where no NAT is, instead
    of forcing ESP-in-UDP (``vpnshd --raw-esp``). ``workers``: its worker processes
    (``vpnshd --dataplane-workers``, see :mod:`.workers`)."""
    if kind == "none":
        from .none import NullDataPlane

        return NullDataPlane()
    if kind == "userspace":
        from .userspace import UserspaceDataPlane

        return UserspaceDataPlane(raw_esp=raw_esp, workers=workers)
    if kind == "kernel":
        from .kernel import KernelDataPlane

        return KernelDataPlane()
    raise ValueError(f"unknown data plane {kind!r} (userspace, kernel or none)")
