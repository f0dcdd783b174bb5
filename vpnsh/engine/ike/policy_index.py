"""Finds the gateway (IkePolicy) for a new IKE SA: by address, then by the peer's ID.

Built lazily from the policies of one engine and dropped when they change
(:meth:`invalidate`). ``version`` is the protocol of the engine: a gateway configured for
the other one only is never picked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from ..policy import Identity, IkePolicy

K = TypeVar("K")


class PolicyIndex(Generic[K]):
    def __init__(
        self,
        policies: Mapping[str, IkePolicy],
        excluded_version: str,
        id_key: Callable[[Identity], K | None],
    ) -> None:
        self._policies = policies
        self._excluded = excluded_version
        self._id_key = id_key
        self._by_address: dict[str, tuple[dict[str, IkePolicy], IkePolicy | None]] | None = None
        self._by_peer_id: dict[K, list[IkePolicy]] | None = None

    def invalidate(self) -> None:
        self._by_address = self._by_peer_id = None

    def for_address(self, local_ip: str, remote_ip: str) -> IkePolicy | None:
        """The peer's address first, then a dynamic peer on that local address; the first
        usable gateway in config order wins."""
        index = self._by_address
        if index is None:
            index = self._by_address = {}
            for p in self._policies.values():
                if not p.enabled or p.version == self._excluded:
                    continue
                by_peer, dynamic = index.setdefault(p.local_addr, ({}, None))
                if p.peer_addr is not None:
                    by_peer.setdefault(p.peer_addr, p)
                elif dynamic is None:
                    index[p.local_addr] = (by_peer, p)
        entry = index.get(local_ip)
        if entry is None:
            return None
        return entry[0].get(remote_ip) or entry[1]

    def for_peer_id(self, key: K | None) -> list[IkePolicy]:
        """The gateways (any state, config order) whose peer ID has match key ``key``."""
        index = self._by_peer_id
        if index is None:
            index = self._by_peer_id = {}
            for p in self._policies.values():
                if p.peer_id is not None:
                    k = self._id_key(p.peer_id)
                    if k is not None:
                        index.setdefault(k, []).append(p)
        if key is None:
            return []
        return index.get(key, [])
