"""``--dataplane none``: SAs are kept in the engine only; no packet moves."""

from __future__ import annotations

from .base import ChildSaSpec, DataPlaneEvents, DataPlaneInfo, Route, SaCounters, TunnelInterface


class NullDataPlane:
    forces_udp_encap = False

    def __init__(self) -> None:
        self.events = DataPlaneEvents()
        self.children: dict[int, ChildSaSpec] = {}
        self.interfaces: list[TunnelInterface] = []
        self.routes: list[Route] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.children.clear()

    def info(self) -> DataPlaneInfo:
        return DataPlaneInfo("none", ["no data plane: SAs are negotiated but carry no traffic"])

    def set_interfaces(self, interfaces: list[TunnelInterface], routes: list[Route]) -> None:
        self.interfaces, self.routes = list(interfaces), list(routes)

    def install_child(self, spec: ChildSaSpec) -> None:
        self.children[spec.inbound.spi] = spec

    def remove_child(self, inbound_spi: int) -> None:
        self.children.pop(inbound_spi, None)

    def counters(self, inbound_spi: int) -> SaCounters | None:
        return SaCounters() if inbound_spi in self.children else None

    def esp_in_udp(self, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        return None
