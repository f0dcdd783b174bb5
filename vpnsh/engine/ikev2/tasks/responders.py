"""The responder side of each IKEv2 exchange, picked by the exchange type of the request.

The task manager (``Ikev2Engine._handle_request``) asks :func:`responder_for` for the
request's exchange type and the IKE SA's state; the responder processes the request and
returns the response payloads. The initiator side of the same exchange is the task class
in the same module (``IkeAuthTask``, ``ChildCreateTask``, ``IkeDeleteTask``/``DpdTask``...).
"""

from __future__ import annotations

from collections.abc import Callable

from ..constants import ExchangeType, NotifyType
from ..message import Message
from ..payloads import NotifyPayload, Payload
from ..sa import IkeSa, IkeState, TaskContext
from .child_create import respond_create_child
from .ike_auth import respond_auth
from .informational import respond_informational

Responder = Callable[[TaskContext, IkeSa, Message, float], list[Payload]]


def _busy(engine: TaskContext, sa: IkeSa, msg: Message, now: float) -> list[Payload]:
    """A CREATE_CHILD_SA while our IKE SA is being deleted: try again later (2.25)."""
    return [NotifyPayload(NotifyType.TEMPORARY_FAILURE)]


def responder_for(exchange: int, sa: IkeSa) -> Responder | None:
    """What answers a request of ``exchange`` on ``sa`` in its state; None: drop it."""
    state = sa.state
    if exchange == ExchangeType.IKE_AUTH:
        return respond_auth if not sa.initiator and state == IkeState.CONNECTING else None
    if exchange == ExchangeType.CREATE_CHILD_SA:
        if state in (IkeState.ESTABLISHED, IkeState.REKEYED):
            return respond_create_child
        return _busy if state == IkeState.DELETING else None
    if exchange == ExchangeType.INFORMATIONAL:
        return respond_informational if state != IkeState.CONNECTING else None
    return None
