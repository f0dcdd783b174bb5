"""The IKE core shared by IKEv1 and IKEv2: events, retransmission, SPI allocation, timers.

Nothing here imports a protocol package (``ikev1``/``ikev2``); both engines import it.
This package's ``__init__`` imports nothing, so importing one module loads only that module.
"""
