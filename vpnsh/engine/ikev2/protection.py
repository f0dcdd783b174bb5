"""The SK payload of one IKE SA: encrypt-then-MAC (RFC 7296 3.14) or AEAD (RFC 5282)."""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag

from ..crypto.algorithms import encr_alg, integ_alg
from ..crypto.cipher import AuthenticationFailed, BlockCipher, Integrity, aead_keyed
from .constants import PayloadType
from .message import GENERIC_HEADER_LEN, HEADER_LEN
from .payloads import ParseError

_RANDOM_POOL = 4096  # bytes of os.urandom taken at once for IVs (one system call, not one per IV)


class _Ivs:
    """Fresh random IVs, cut from one ``os.urandom`` block at a time: unpredictable as CBC
    wants (RFC 7296 3.14), unique as AEAD wants (RFC 5282 3) at 2^-64 odds per pair."""

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        pos = self._pos
        if pos + n > len(self._pool):
            self._pool, pos = os.urandom(_RANDOM_POOL), 0
        self._pos = pos + n
        return self._pool[pos:pos + n]


_ivs = _Ivs()
_SK_HEAD = struct.Struct("!BBH")
_LENGTH = struct.Struct("!I")


class SkProtection:
    """Seals outgoing and opens incoming SK payloads with the keys of one side.

    It keeps the keys, not keyed ``cryptography`` objects: an AES-GCM context holds about
    1.4 KB, a CBC cipher with its HMAC more, and an idle IKE SA uses its keys once per DPD
    interval; keying one for a message costs about half a microsecond. 10,000 IKE SAs
    spare about 28 MB this way (``tests/unit/test_ikev2_memory.py``).
    """

    # AEAD: _encr_* are the keys without the salt, _salt_* the salts; else the CBC and
    # integrity keys. _new makes a keyed AEAD object (shared by every SA of the algorithm)
    __slots__ = ("alg", "_ialg", "icv_size", "_encr_out", "_encr_in", "_integ_out", "_integ_in",
                 "_new", "_salt_out", "_salt_in")

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
        self._encr_out, self._encr_in = encr_key_out, encr_key_in
        self._integ_out, self._integ_in = integ_key_out, integ_key_in
        if self.alg.aead:
            self._ialg = None
            self.icv_size = self.alg.icv_size
            self._new, self._encr_out, self._salt_out = aead_keyed(self.alg, encr_key_out)
            self._new, self._encr_in, self._salt_in = aead_keyed(self.alg, encr_key_in)
        else:
            ialg = self._ialg = integ_alg(integ)
            BlockCipher(self.alg, encr_key_out, False)
            Integrity(ialg, integ_key_out)
            self.icv_size = ialg.icv_size


    def _cbc(self, out: bool) -> tuple[BlockCipher, Integrity]:
        assert self._ialg is not None
        if out:
            return BlockCipher(self.alg, self._encr_out, False), Integrity(self._ialg, self._integ_out)
        return BlockCipher(self.alg, self._encr_in, False), Integrity(self._ialg, self._integ_in)

    def seal(self, header_without_length: bytes, first_inner: int, inner: bytes) -> bytes:
        alg = self.alg
        iv = _ivs.take(alg.iv_size)
        block = alg.block_size if alg.block_size > 1 else 1
        pad = (block - (len(inner) + 1) % block) % block
        plaintext = inner + bytes(pad) + bytes((pad,)) if pad else inner + b"\x00"
        sk_len = GENERIC_HEADER_LEN + len(iv) + len(plaintext) + self.icv_size
        head = header_without_length + _LENGTH.pack(HEADER_LEN + sk_len)
        sk_head = _SK_HEAD.pack(first_inner, 0, sk_len)
        if self._ialg is None:
            sealed = self._new(self._encr_out).encrypt(self._salt_out + iv, plaintext, head + sk_head)
            return head + sk_head + iv + sealed
        cbc, mac = self._cbc(True)
        data = head + sk_head + iv + cbc.encrypt(iv, plaintext)
        return data + mac.sign(data)

    def seal_raw(self, prefix: bytes, iv: bytes, padded: bytes) -> bytes:
        """Ciphertext || ICV of an already padded plaintext (an RFC 7383 fragment): for
        AEAD ``prefix`` is the associated data, else the ICV covers prefix || iv || cipher."""
        if self._ialg is None:
            return self._new(self._encr_out).encrypt(self._salt_out + iv, padded, prefix)
        cbc, mac = self._cbc(True)
        cipher = cbc.encrypt(iv, padded)
        return cipher + mac.sign(prefix + iv + cipher)

    def open(self, data: bytes, sk_offset: int) -> bytes:
        start = sk_offset + GENERIC_HEADER_LEN
        iv_end = start + self.alg.iv_size
        if len(data) < iv_end + self.icv_size + 1:
            raise ParseError("SK payload too short")
        iv = data[start:iv_end]
        try:
            if self._ialg is None:
                try:
                    plaintext = self._new(self._encr_in).decrypt(self._salt_in + iv, data[iv_end:],
                                                       data[:start])
                except InvalidTag:
                    raise AuthenticationFailed(f"{self.alg.id.name} ICV mismatch") from None
            else:
                cbc, mac = self._cbc(False)
                icv_at = len(data) - self.icv_size
                mac.verify(data[:icv_at], data[icv_at:])
                body = data[iv_end:icv_at]
                if len(body) % max(self.alg.block_size, 1):
                    raise ParseError("SK ciphertext not a whole number of blocks")
                plaintext = cbc.decrypt(iv, body)
        except AuthenticationFailed as exc:
            raise ParseError(f"SK integrity check failed: {exc}") from None
        pad = plaintext[-1] if plaintext else 0
        if not plaintext or pad + 1 > len(plaintext):
            raise ParseError("SK padding")
        return plaintext[: len(plaintext) - pad - 1]


__all__ = ["SkProtection", "PayloadType"]
