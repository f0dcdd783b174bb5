"""A user-space data plane driven by JSON lines: the test and bench driver.

Runs one :class:`UserspaceDataPlane` in this process's network namespace (a data plane
drives a TUN and the sockets of the namespace it was made in), with SAs made up by the
caller, no IKE involved. Used by tests/integration/test_userspace_dataplane.py and
bench/dataplane_loop.py; it was ``python -m vpnsh.engine.dataplane.userspace`` before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
from typing import Any

from vpnsh.engine.dataplane.base import ChildSaSpec, Route, TunnelInterface
from vpnsh.engine.dataplane.io_setup import udp_io_key, udp_io_transport
from vpnsh.engine.dataplane.userspace import UserspaceDataPlane

#   python tests/helpers/userspace_driver.py
#
# runs one data plane in this process's network namespace, driven by JSON lines on stdin:
#   {"op": "udp", "local": "198.51.100.1", "mode": "take"}   bind UdpIo on 500/4500 there;
#       mode "take": the data plane reads and sends on 4500; "attach": sends only;
#       "loop": both through UdpIo and the event loop
#   {"op": "interfaces", "interfaces": [{"name": "tunnel.1", "addresses": [...], "mtu": 1400}],
#    "routes": [{"destination": "10.2.0.0/24", "interface": "tunnel.1"}]}
#   {"op": "install", "spec": {...}}   (see spec_from_json)      {"op": "remove", "spi": N}
#   {"op": "counters", "spi": N}   {"op": "stats"}   {"op": "quit"}
#   {"op": "global_counters"}   {"op": "info"}   {"op": "worker_pids"}   {"op": "worker_stats"}
# Each request gets one line {"ok": true, "result": ...} or {"ok": false, "error": "..."};
# engine events come as {"event": "acquire"|"expire", "args": [...]} lines in between.


def _ts_from_json(value: Any) -> Any:
    from vpnsh.engine.policy import TrafficSelector

    if isinstance(value, str):
        return TrafficSelector.from_prefix(value)
    import ipaddress

    return TrafficSelector(ipaddress.ip_address(value["start"]), ipaddress.ip_address(value["end"]),
                           int(value.get("proto", 0)), int(value.get("start_port", 0)),
                           int(value.get("end_port", 65535)))


def spec_from_json(data: dict[str, Any]) -> ChildSaSpec:
    """A :class:`ChildSaSpec` from JSON: keys in hex, selectors as prefixes or ranges."""
    from vpnsh.engine.dataplane.base import EspKeys

    def keys(k: dict[str, Any]) -> EspKeys:
        return EspKeys(int(k["spi"]), int(k["encr"]), int(k["encr_key_bits"]),
                       bytes.fromhex(k["encr_key"]), int(k.get("integ", 0)),
                       bytes.fromhex(k.get("integ_key", "")))

    fields = {k: v for k, v in data.items() if k not in ("inbound", "outbound", "local_ts", "remote_ts", "encap")}
    encap = data.get("encap")
    return ChildSaSpec(inbound=keys(data["inbound"]), outbound=keys(data["outbound"]),
                       local_ts=tuple(_ts_from_json(t) for t in data["local_ts"]),
                       remote_ts=tuple(_ts_from_json(t) for t in data["remote_ts"]),
                       encap=(int(encap[0]), int(encap[1])) if encap else None, **fields)


async def _standalone() -> None:
    import json

    from vpnsh.engine.udp_io import NATT_PORT, UdpIo

    loop = asyncio.get_running_loop()
    # VPNSH_DP_TSO=0: no TSO/CSUM offloads on the TUN (benchmarks compare both)
    # VPNSH_DP_WORKERS=N: N worker processes (vpnsh.engine.dataplane.workers)
    dp = UserspaceDataPlane(tun_tso=os.environ.get("VPNSH_DP_TSO", "1") != "0",
                            workers=int(os.environ.get("VPNSH_DP_WORKERS", "1")))

    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    udp = UdpIo(on_ike=lambda data, local, remote: emit(
        {"event": "ike", "args": [data.hex(), list(local), list(remote)]}), on_esp=dp.esp_in_udp)
    dp.events.send_udp = udp.send_esp

    dp.events.acquire = lambda *a: emit({"event": "acquire", "args": list(a)})
    dp.events.expire = lambda *a: emit({"event": "expire", "args": list(a)})
    await dp.start()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            try:
                req = json.loads(line)
                op = req["op"]
                result: Any = None
                if op == "udp":
                    await udp.bind(req["local"])
                    if req.get("mode") == "take":
                        assert dp.take_udp_io(udp, req["local"], NATT_PORT)
                    elif req.get("mode") == "attach":
                        transport = udp_io_transport(udp, (req["local"], NATT_PORT))
                        dp.attach_udp_socket(udp_io_key(udp, (req["local"], NATT_PORT)),
                                             transport.get_extra_info("socket"))
                elif op == "release":
                    dp.release_udp_io(udp, req["local"], NATT_PORT)
                elif op == "interfaces":
                    dp.set_interfaces([TunnelInterface(i["name"], tuple(i.get("addresses", ())),
                                                       int(i.get("mtu", 1500)))
                                       for i in req.get("interfaces", [])],
                                      [Route(r["destination"], r["interface"], r.get("nexthop"),
                                             int(r.get("metric", 10))) for r in req.get("routes", [])])
                    result = dp.problems
                elif op == "install":
                    dp.install_child(spec_from_json(req["spec"]))
                elif op == "remove":
                    dp.remove_child(int(req["spi"]))
                elif op == "counters":
                    c = dp.counters(int(req["spi"]))
                    result = dataclasses.asdict(c) if c is not None else None
                elif op == "udp_counters":
                    result = dataclasses.asdict(udp.counters)
                elif op == "stats":
                    result = dataclasses.asdict(dp.stats_snapshot())
                elif op == "global_counters":
                    result = dp.global_counters()
                elif op == "info":
                    result = dp.info().notes
                elif op == "worker_pids":
                    result = dp.worker_pids()
                elif op == "worker_stats":
                    result = dp.worker_stats()
                elif op == "quit":
                    emit({"ok": True, "result": None})
                    break
                else:
                    raise ValueError(f"unknown op {op}")
                emit({"ok": True, "result": result})
            except Exception as exc:  # noqa: BLE001 - reported to the driver
                emit({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        await dp.stop()
        udp.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_standalone())
