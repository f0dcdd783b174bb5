"""Symmetric primitives for IKE and ESP on ``cryptography``.

* ``BlockCipher``: CBC (AES, 3DES) and NULL, no padding inside (callers pad).
* ``Aead``: AES-GCM (RFC 4106/5282), AES-CCM (RFC 4309), ChaCha20-Poly1305
  (RFC 7634); the salt is the tail of the keying material; the nonce is salt | IV.
* ``Integrity``: truncated HMAC with a constant-time verify.

Objects are built once per SA (keys scheduled once) and reused per packet on the ESP
path; IKE's SK payload keys one per message (``aead_keyed``, ``BlockCipher(streams=False)``):
an idle IKE SA uses its keys every few seconds, and a keyed context is ~1.4 KB.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import constant_time, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from .algorithms import EncrAlg, EncrId, IntegAlg, IntegId, UnsupportedAlgorithm


class AuthenticationFailed(ValueError):
    """An ICV or AEAD tag did not verify."""


class BlockCipher:
    """CBC encryption without padding; ENCR_NULL is the identity."""

    __slots__ = ("encr", "_algorithm", "_stream_enc", "_stream_dec")

    def __init__(self, encr: EncrAlg, key: bytes, streams: bool = True) -> None:
        """``streams``: keep the long-lived contexts of the per-packet ESP path
        (``encrypt_fresh_iv``/``decrypt_iv_prefixed``); IKE builds one per message."""
        if len(key) != encr.key_size:
            raise ValueError(f"{encr.id.name} key is {len(key)} bytes, want {encr.key_size}")
        self.encr = encr
        self._algorithm: algorithms.AES | TripleDES | None
        if encr.id == EncrId.ENCR_AES_CBC:
            self._algorithm = algorithms.AES(key)
        elif encr.id == EncrId.ENCR_3DES:
            self._algorithm = TripleDES(key)
        elif encr.id == EncrId.ENCR_NULL:
            self._algorithm = None
        else:
            raise UnsupportedAlgorithm(f"{encr.id.name} is not a block cipher mode")
        # Long-lived CBC contexts for the per-packet path (see encrypt_fresh_iv).
        self._stream_enc: CipherContext | None = None
        self._stream_dec: CipherContext | None = None
        if self._algorithm is not None and streams:
            zero = bytes(encr.block_size)
            self._stream_enc = Cipher(self._algorithm, modes.CBC(zero)).encryptor()
            self._stream_dec = Cipher(self._algorithm, modes.CBC(zero)).decryptor()

    def _check(self, iv: bytes, data: bytes) -> None:
        if len(iv) != self.encr.iv_size:
            raise ValueError(f"IV is {len(iv)} bytes, want {self.encr.iv_size}")
        if len(data) % self.encr.block_size:
            raise ValueError(f"{len(data)} bytes is not a multiple of the block size")

    def encrypt(self, iv: bytes, plaintext: bytes) -> bytes:
        self._check(iv, plaintext)
        if self._algorithm is None:
            return bytes(plaintext)
        enc = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        return enc.update(plaintext) + enc.finalize()

    def decrypt(self, iv: bytes, ciphertext: bytes) -> bytes:
        self._check(iv, ciphertext)
        if self._algorithm is None:
            return bytes(ciphertext)
        dec = Cipher(self._algorithm, modes.CBC(iv)).decryptor()
        return dec.update(ciphertext) + dec.finalize()

    def encrypt_fresh_iv(self, plaintext: bytes) -> bytes:
        """``IV | ciphertext`` with a fresh unpredictable IV (per-packet ESP path).

        One CBC context lives as long as this object: a random block R goes in first,
        and its ciphertext E(R xor previous block) is the IV of this message (IV by
        encrypting a random block under the same key, SP 800-38A appendix C); the
        plaintext follows, chained to it as CBC requires. This spares building a
        cipher context per packet. Not for concurrent use from several threads.
        """
        if self._algorithm is None:
            return bytes(plaintext)
        if self._stream_enc is None:
            raise ValueError("built without streams")
        if len(plaintext) % self.encr.block_size:
            raise ValueError(f"{len(plaintext)} bytes is not a multiple of the block size")
        return self._stream_enc.update(os.urandom(self.encr.block_size) + plaintext)

    def decrypt_iv_prefixed(self, iv_and_ciphertext: bytes) -> bytes:
        """Plaintext of ``IV | ciphertext`` through a long-lived CBC context: each
        plaintext block depends only on its ciphertext block and the one before, so
        feeding the IV first and dropping its output block decrypts exactly."""
        if self._algorithm is None:
            return bytes(iv_and_ciphertext)
        if self._stream_dec is None:
            raise ValueError("built without streams")
        bs = self.encr.block_size
        if len(iv_and_ciphertext) % bs or len(iv_and_ciphertext) < bs:
            raise ValueError(f"{len(iv_and_ciphertext)} bytes is not IV and whole blocks")
        return self._stream_dec.update(iv_and_ciphertext)[bs:]

    def __repr__(self) -> str:
        return f"<BlockCipher {self.encr.id.name}-{self.encr.key_bits}>"


class Aead:
    """An AEAD cipher keyed with ``key | salt`` (``encr.key_size`` bytes)."""

    __slots__ = ("encr", "_salt", "_cipher")

    def __init__(self, encr: EncrAlg, key_with_salt: bytes) -> None:
        if not encr.aead:
            raise UnsupportedAlgorithm(f"{encr.id.name} is not an AEAD")
        if len(key_with_salt) != encr.key_size:
            raise ValueError(
                f"{encr.id.name} keying material is {len(key_with_salt)} bytes, "
                f"want {encr.key_size}"
            )
        self.encr = encr
        key = key_with_salt[: encr.key_bits // 8]
        self._salt = bytes(key_with_salt[encr.key_bits // 8 :])
        self._cipher: AESGCM | AESCCM | ChaCha20Poly1305
        if encr.id == EncrId.ENCR_AES_GCM_16:
            self._cipher = AESGCM(key)
        elif encr.id in (EncrId.ENCR_AES_CCM_8, EncrId.ENCR_AES_CCM_12, EncrId.ENCR_AES_CCM_16):
            self._cipher = AESCCM(key, tag_length=encr.icv_size)
        elif encr.id == EncrId.ENCR_CHACHA20_POLY1305:
            self._cipher = ChaCha20Poly1305(key)
        else:
            raise UnsupportedAlgorithm(f"{encr.id.name} is not supported")

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Ciphertext | ICV."""
        if len(iv) != self.encr.iv_size:
            raise ValueError(f"IV is {len(iv)} bytes, want {self.encr.iv_size}")
        return self._cipher.encrypt(self._salt + iv, plaintext, aad)

    def primitive(self) -> tuple[AESGCM | AESCCM | ChaCha20Poly1305, bytes]:
        """The keyed ``cryptography`` object and the salt (the nonce is salt | IV), for
        callers that seal many packets into one buffer (``encrypt_into``)."""
        return self._cipher, self._salt

    def open(self, iv: bytes, ciphertext_and_icv: bytes, aad: bytes) -> bytes:
        """Plaintext, or ``AuthenticationFailed``."""
        if len(iv) != self.encr.iv_size:
            raise ValueError(f"IV is {len(iv)} bytes, want {self.encr.iv_size}")
        if len(ciphertext_and_icv) < self.encr.icv_size:
            raise AuthenticationFailed("shorter than the ICV")
        try:
            return self._cipher.decrypt(self._salt + iv, ciphertext_and_icv, aad)
        except InvalidTag:
            raise AuthenticationFailed(f"{self.encr.id.name} ICV mismatch") from None

    def __repr__(self) -> str:
        return f"<Aead {self.encr.id.name}-{self.encr.key_bits}>"


def aead_keyed(encr: EncrAlg, key_with_salt: bytes) -> tuple[Callable[[bytes], Any], bytes, bytes]:
    """For keying on use: the maker of a keyed ``cryptography`` AEAD object (one per
    algorithm, shared), the key and the salt (the nonce is salt | IV). Checks as ``Aead``."""
    cipher, salt = Aead(encr, key_with_salt).primitive()
    key = key_with_salt[: encr.key_bits // 8]
    if isinstance(cipher, AESCCM):
        return _ccm_maker(encr.icv_size), key, salt
    return type(cipher), key, salt


@functools.lru_cache(maxsize=4)
def _ccm_maker(icv_size: int) -> Callable[[bytes], Any]:
    return functools.partial(AESCCM, tag_length=icv_size)


class Integrity:
    """Truncated HMAC (RFC 2404, 2403, 4868). ``IntegId.NONE`` signs as b''."""

    __slots__ = ("integ", "_keyed")

    def __init__(self, integ: IntegAlg, key: bytes) -> None:
        if len(key) != integ.key_size:
            raise ValueError(f"{integ.id.name} key is {len(key)} bytes, want {integ.key_size}")
        self.integ = integ
        self._keyed: hmac.HMAC | None = None
        if integ.id != IntegId.NONE:
            if integ.hash is None:
                raise UnsupportedAlgorithm(f"{integ.id.name} is not supported")
            self._keyed = hmac.HMAC(key, integ.hash)

    @property
    def icv_size(self) -> int:
        return self.integ.icv_size

    def sign(self, data: bytes) -> bytes:
        if self._keyed is None:
            return b""
        h = self._keyed.copy()
        h.update(data)
        return h.finalize()[: self.integ.icv_size]

    def sign_parts(self, *parts: bytes) -> bytes:
        """``sign(b''.join(parts))`` without the copy."""
        if self._keyed is None:
            return b""
        h = self._keyed.copy()
        for p in parts:
            h.update(p)
        return h.finalize()[: self.integ.icv_size]

    def verify_icv(self, expected: bytes, icv: bytes) -> bool:
        """Constant-time comparison of a computed ICV with a received one."""
        if not constant_time.bytes_eq(expected, bytes(icv)):
            raise AuthenticationFailed(f"{self.integ.id.name} ICV mismatch")
        return True

    def verify(self, data: bytes, icv: bytes) -> bool:
        """True if ``icv`` is right; raises ``AuthenticationFailed`` otherwise."""
        if not constant_time.bytes_eq(self.sign(data), bytes(icv)):
            raise AuthenticationFailed(f"{self.integ.id.name} ICV mismatch")
        return True

    def __repr__(self) -> str:
        return f"<Integrity {self.integ.id.name}>"
