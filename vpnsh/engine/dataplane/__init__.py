"""Data planes: ``none``, ``userspace`` (TUN + ESP in Python), ``kernel`` (XFRM).

``factory.make_dataplane`` picks one. This ``__init__`` imports nothing.
"""
