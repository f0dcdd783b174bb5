"""IKEv1 (RFC 2409): main, aggressive and quick mode; sans-IO like the IKEv2 engine."""

from .engine import Ikev1Engine
from .message import is_ikev1
from .sa import Ikev1ChildInfo, Ikev1SaInfo

__all__ = ["Ikev1ChildInfo", "Ikev1Engine", "Ikev1SaInfo", "is_ikev1"]
