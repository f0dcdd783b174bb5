"""Crypto primitives for IKE and ESP, built on ``cryptography``.

Modules: ``algorithms`` (IANA IDs, descriptors, PAN-OS keywords), ``prf``, ``dh``,
``cipher``, ``keymat``.
"""
