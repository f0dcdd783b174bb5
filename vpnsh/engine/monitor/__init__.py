"""Tunnel monitor and static-route path monitor.

* :mod:`.heartbeat`: one probed destination, sans-IO (probes out; replies and ``now`` in).
* :mod:`.state`: the monitors of one running config (tunnel monitors with their profile
  action, path-monitored static routes with failure condition and hold time), sans-IO:
  probes out, replies and ``now`` in, status changes out as events.
* :mod:`.probe_io`: the asyncio shell, ICMP echo on raw sockets bound to the tunnel
  interfaces.
"""
