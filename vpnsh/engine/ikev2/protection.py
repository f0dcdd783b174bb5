"""The SK payload of one IKE SA: encrypt-then-MAC (RFC 7296 3.14) or AEAD (RFC 5282)."""

from __future__ import annotations

import os
import struct

from ..crypto.algorithms import encr_alg, integ_alg
from ..crypto.cipher import Aead, AuthenticationFailed, BlockCipher, Integrity
from .constants import PayloadType
from .message import GENERIC_HEADER_LEN, HEADER_LEN
from .payloads import ParseError


class SkProtection:
    """Seals outgoing and opens incoming SK payloads with the keys of one side."""

    def __init__(
        self,
        encr: int,
        key_bits: int,
        integ: int,
        encr_key_out: bytes,
        integ_key_out: bytes,
        encr_key_in: bytes,
        integ_key_in: bytes,
    ) -> None:
        self.alg = encr_alg(encr, key_bits or None)
        self._aead_out: Aead | None = None
        self._aead_in: Aead | None = None
        self._cbc_out: BlockCipher | None = None
        self._cbc_in: BlockCipher | None = None
        self._mac_out: Integrity | None = None
        self._mac_in: Integrity | None = None
        if self.alg.aead:
            self._aead_out = Aead(self.alg, encr_key_out)
            self._aead_in = Aead(self.alg, encr_key_in)
            self.icv_size = self.alg.icv_size
        else:
            ialg = integ_alg(integ)
            self._cbc_out = BlockCipher(self.alg, encr_key_out)
            self._cbc_in = BlockCipher(self.alg, encr_key_in)
            self._mac_out = Integrity(ialg, integ_key_out)
            self._mac_in = Integrity(ialg, integ_key_in)
            self.icv_size = ialg.icv_size

    def seal(self, header_without_length: bytes, first_inner: int, inner: bytes) -> bytes:
        iv = os.urandom(self.alg.iv_size)
        block = max(self.alg.block_size, 1)
        pad = (block - (len(inner) + 1) % block) % block
        plaintext = inner + bytes(pad) + bytes((pad,))
        sk_len = GENERIC_HEADER_LEN + len(iv) + len(plaintext) + self.icv_size
        total = HEADER_LEN + sk_len
        head = header_without_length + struct.pack("!I", total)
        sk_head = struct.pack("!BBH", first_inner, 0, sk_len)
        if self._aead_out is not None:
            sealed = self._aead_out.seal(iv, plaintext, head + sk_head)
            return head + sk_head + iv + sealed
        assert self._cbc_out is not None and self._mac_out is not None
        data = head + sk_head + iv + self._cbc_out.encrypt(iv, plaintext)
        return data + self._mac_out.sign(data)

    def seal_raw(self, prefix: bytes, iv: bytes, padded: bytes) -> bytes:
        """Ciphertext || ICV of an already padded plaintext (an RFC 7383 fragment): for
        AEAD ``prefix`` is the associated data, else the ICV covers prefix || iv || cipher."""
        if self._aead_out is not None:
            return self._aead_out.seal(iv, padded, prefix)
        assert self._cbc_out is not None and self._mac_out is not None
        cipher = self._cbc_out.encrypt(iv, padded)
        return cipher + self._mac_out.sign(prefix + iv + cipher)

    def open(self, data: bytes, sk_offset: int) -> bytes:
        start = sk_offset + GENERIC_HEADER_LEN
        iv_end = start + self.alg.iv_size
        if len(data) < iv_end + self.icv_size + 1:
            raise ParseError("SK payload too short")
        iv = data[start:iv_end]
        try:
            if self._aead_in is not None:
                plaintext = self._aead_in.open(iv, data[iv_end:], data[:start])
            else:
                assert self._cbc_in is not None and self._mac_in is not None
                icv_at = len(data) - self.icv_size
                self._mac_in.verify(data[:icv_at], data[icv_at:])
                body = data[iv_end:icv_at]
                if len(body) % max(self.alg.block_size, 1):
                    raise ParseError("SK ciphertext not a whole number of blocks")
                plaintext = self._cbc_in.decrypt(iv, body)
        except AuthenticationFailed as exc:
            raise ParseError(f"SK integrity check failed: {exc}") from None
        pad = plaintext[-1] if plaintext else 0
        if not plaintext or pad + 1 > len(plaintext):
            raise ParseError("SK padding")
        return plaintext[: len(plaintext) - pad - 1]


__all__ = ["SkProtection", "PayloadType"]
