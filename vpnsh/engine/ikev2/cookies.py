"""Stateless cookies for IKE_SA_INIT (RFC 7296 2.6)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os

COOKIE_VERSION = b"\x01"


class CookieJar:
    """Makes and checks cookies; the secret is kept in memory only."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)

    def make(self, ni: bytes, remote_ip: str, spi_i: bytes) -> bytes:
        ip = ipaddress.ip_address(remote_ip).packed
        digest = hmac.new(self._secret, ni + ip + spi_i, hashlib.sha256).digest()
        return COOKIE_VERSION + digest[:16]

    def check(self, cookie: bytes, ni: bytes, remote_ip: str, spi_i: bytes) -> bool:
        return hmac.compare_digest(cookie, self.make(ni, remote_ip, spi_i))
