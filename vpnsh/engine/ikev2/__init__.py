"""IKEv2 (RFC 7296), sans-IO: datagrams and a clock in; datagrams, timers and events out.

Public surface::

    from vpnsh.engine.ikev2.engine import Ikev2Engine   # events: vpnsh.engine.ike.events
    engine = Ikev2Engine(clock=time.monotonic)
    engine.add_policies([IkePolicy...], [ChildPolicy...], now=t); engine.remove_policies(names, names, now=t)
    engine.initiate(gateway, child=None, now=t) -> bool  # False: passive / disabled / dynamic / ikev1
    engine.delete_ike(gateway=None, now=t) -> int; engine.delete_child(name=None, now=t) -> int; engine.shutdown(now=t)
    engine.child_lifesize_exceeded(spi_in, hard, now=t)
    engine.receive(data, local_addr, remote_addr, now)   # now: monotonic seconds, required
    engine.handle_timer(now); engine.next_timer() -> float | None
    engine.datagrams_to_send() -> [(data, local_addr, remote_addr)]
    engine.next_event() -> IkeEstablished | IkeFailed | IkeDeleted | ChildInstalled
                           | ChildRemoved | ChildFailed | LogLine | None
    engine.ike_sas(gateway=None) -> [IkeSaInfo]; engine.child_sas(tunnel=None) -> [ChildSaInfo]
    engine.drops  # Counter of dropped datagrams by reason

Addresses are ``(ip, port)``; the local address must be the real local IP the
datagram arrived on. On port 4500 the I/O layer adds/strips the non-ESP marker;
a datagram equal to ``b"\\xff"`` is a NAT keepalive and goes out without it.
This ``__init__`` imports nothing: importing the codec (``payloads``, ``message``) must not
load the engine.
"""
