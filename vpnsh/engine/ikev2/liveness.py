"""The IKEv2 liveness check (RFC 7296 1.4, 2.4) on its short path: an empty INFORMATIONAL
request from the timers, its answer, and both on receipt.

10,000 idle tunnels with DPD every 5 s are 2,000 of these exchanges a second per daemon;
through the general path (message objects, the task queue, passive tasks) each side spent
~40 us of Python on one. Here each is a few header checks, one AEAD operation and the same
state changes the general path makes: the message IDs and window (``sa.py``), the cached
answer for a retransmitted request, ``last_rx`` (any protected message from the peer counts
as traffic, which moves the next check), and the timer heap (the SA's setters). Anything
else (a fragment, a payload, a message ID out of order, an unknown SA, a request while a
task waits) returns False and takes the general path, which counts and drops or answers it
as before.
"""

from __future__ import annotations

import struct
from typing import Protocol

from ..ike.retransmit import Retransmit
from .constants import IKE_VERSION, ExchangeType, HeaderFlag, PayloadType
from .message import GENERIC_HEADER_LEN, HEADER_LEN
from .payloads import ParseError
from .sa import Address, IkeSa, IkeState
from .tasks.informational import DpdTask

_HEAD = struct.Struct("!BBBBII")  # next payload, version, exchange, flags, message ID, length
_SK_LEN = struct.Struct("!H")
_INFORMATIONAL = int(ExchangeType.INFORMATIONAL)
_SK = int(PayloadType.SK)
_RESPONSE = int(HeaderFlag.RESPONSE)
_INITIATOR = int(HeaderFlag.INITIATOR)
_ESTABLISHED = (IkeState.ESTABLISHED, IkeState.REKEYED, IkeState.DELETING)
CHECK = DpdTask()  # stateless: one for every SA


class Sender(Protocol):
    retransmit: Retransmit

    def send(self, data: bytes, local: Address, remote: Address) -> None: ...


class Engine(Sender, Protocol):
    def sa_by_spi(self, spi: bytes) -> IkeSa | None: ...
    def touch(self, sa: IkeSa) -> None: ...
    def follow(self, sa: IkeSa, local: Address, remote: Address) -> None: ...
    def kick_tasks(self, sa: IkeSa, now: float) -> None: ...


def send_check(engine: Sender, sa: IkeSa, now: float) -> None:
    """The liveness check of ``sa`` (no request in flight, no task waiting): what queueing
    a ``DpdTask`` sends, with the same request bookkeeping."""
    engine.send(sa.start_request(CHECK, [], now, engine.retransmit), sa.local, sa.remote)


def receive(engine: Engine, data: bytes, local: Address, remote: Address, now: float) -> bool:
    """Handles ``data`` if it is an empty INFORMATIONAL request or the answer to our check;
    False: it is something else (nothing was changed). Raises ParseError as the general path
    would (a message that fails its integrity check)."""
    size = len(data)
    if size < HEADER_LEN + GENERIC_HEADER_LEN or data[16] != _SK or data[18] != _INFORMATIONAL:
        return False
    _nxt, version, _ex, flags, message_id, length = _HEAD.unpack_from(data, 16)
    if version >> 4 != IKE_VERSION >> 4 or length != size or data[HEADER_LEN] != PayloadType.NONE:
        return False  # not empty inside (the SK payload's first inner type is in the clear)
    if HEADER_LEN + _SK_LEN.unpack_from(data, HEADER_LEN + 2)[0] != size:
        return False
    from_initiator = bool(flags & _INITIATOR)
    sa = engine.sa_by_spi(data[8:16] if from_initiator else data[0:8])
    if sa is None or sa.protection is None or from_initiator == sa.initiator \
            or data[0:8] != sa.spi_i or data[8:16] != sa.spi_r or sa.state not in _ESTABLISHED:
        return False
    if flags & _RESPONSE:
        out = sa.outstanding
        if out is None or out.message_id != message_id or out.task is not CHECK:
            return False
        _open_empty(sa, data)
        sa.last_rx = now
        engine.follow(sa, local, remote)
        sa.finish_request()  # DpdTask.process_i has nothing to do
    else:
        if message_id != sa.expected_request_id:
            return False  # a retransmission (answered again) or out of order (dropped)
        _open_empty(sa, data)
        sa.last_rx = now
        engine.follow(sa, local, remote)
        engine.send(sa.respond_empty(_INFORMATIONAL, message_id), sa.local, sa.remote)
    if sa.tasks:
        engine.kick_tasks(sa, now)
    return True


def _open_empty(sa: IkeSa, data: bytes) -> None:
    assert sa.protection is not None
    if sa.protection.open(data, HEADER_LEN):
        raise ParseError("trailing bytes after last payload")
