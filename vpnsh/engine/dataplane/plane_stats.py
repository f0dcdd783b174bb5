"""The user-space data plane's own counters (drops and events that belong to no SA),
and the drops an SA pair contributes to ``show counter global``."""

from __future__ import annotations

from dataclasses import dataclass

from .sa_pair import SaPair


@dataclass
class DataPlaneStats:
    """Drops and events that belong to no SA."""

    tun_packets_in: int = 0  # IP packets (segments of super-packets counted one by one)
    tun_reads: int = 0
    tso_reads: int = 0  # reads that returned a TCP super-packet (TSO on the TUN)
    bad_offload: int = 0  # reads whose offload header made no sense: dropped
    out_wakeups: int = 0  # polls of the outbound thread that found something to read
    in_wakeups: int = 0
    udp_packets_in: int = 0  # datagrams read from taken port-4500 sockets
    gso_sends: int = 0  # sendmsg calls that carried a train of datagrams (UDP GSO)
    gso_datagrams: int = 0  # datagrams sent in those trains
    gro_reads: int = 0  # reads that returned a coalesced train (UDP GRO)
    tun_coalesced: int = 0  # TCP segments written to TUN inside larger packets
    no_sa: int = 0  # outbound packets that found no SA (queued or dropped)
    pending_dropped: int = 0  # queue full or too old
    pending_sent: int = 0
    acquires: int = 0
    not_ip: int = 0  # TUN gave something that is not IPv4/IPv6
    unknown_spi: int = 0
    wrong_path: int = 0  # raw ESP for a UDP SA or the other way round
    short: int = 0
    send_errors: int = 0
    tun_write_errors: int = 0
    encap_drops: int = 0  # EspDrop on the way out (lifesize, sequence exhausted)
    dead_sa: int = 0  # traffic on an SA whose hard lifetime has passed
    link_scoped: int = 0  # multicast / link-local packets with no SA: dropped, no acquire
    order_waits_given_up: int = 0  # a worker's turn did not come within ORDER_WAIT (.shared)
    worker_restarts: int = 0  # worker processes that died and were started again (.workers)


def sa_drops(child: SaPair) -> dict[str, int]:
    i, o = child.inbound.counters, child.outbound.counters
    return {"auth_fail": i.auth_fail, "replay": i.replay, "pad_errors": i.pad_errors,
            "other_drops": i.other_drops + o.other_drops,
            "selector_drop": i.selector_drop + child.selector_drops}
