"""IKEv1 (RFC 2409): main, aggressive and quick mode; sans-IO like the IKEv2 engine.

``engine.Ikev1Engine``; the codec is ``message`` (``is_ikev1``); ``dual.DualEngine`` puts
IKEv1 and IKEv2 behind one interface. This ``__init__`` imports nothing: importing the codec
must not load the engine.
"""
