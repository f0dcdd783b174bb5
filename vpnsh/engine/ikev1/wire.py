"""How the daemon tells IKEv1 datagrams from IKEv2 ones on the shared IKE sockets."""

from .message import is_ikev1

__all__ = ["is_ikev1"]
