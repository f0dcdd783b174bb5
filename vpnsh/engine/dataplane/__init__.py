"""Data planes: ``none``, ``userspace`` (TUN + ESP in Python), ``kernel`` (XFRM)."""

from __future__ import annotations

from .base import DataPlane


def make_dataplane(kind: str) -> DataPlane:
    """The data plane ``vpnshd --dataplane KIND`` asks for (not started yet)."""
    if kind == "none":
        from .none import NullDataPlane

        return NullDataPlane()
    if kind == "userspace":
        from .userspace import UserspaceDataPlane

        return UserspaceDataPlane()
    if kind == "kernel":
        from .kernel import KernelDataPlane

        return KernelDataPlane()
    raise ValueError(f"unknown data plane {kind!r} (userspace, kernel or none)")
