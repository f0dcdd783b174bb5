"""Encryption of secrets (pre-shared keys) under a master key kept in the state directory.

The stored form is ``-AQ==`` followed by base64(nonce || AES-256-GCM ciphertext), so a key
looks like PAN-OS's encrypted form and never appears in clear in a config or a log.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "-AQ=="
_AAD = b"vpnsh-secret-v1"
log = logging.getLogger("vpnshd.secrets")


class SecretBox:
    """Encrypts and decrypts secrets with the master key ``state_dir/master.key`` (0600)."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / "master.key"
        self._key: bytes | None = None

    def exists(self) -> bool:
        return self._key is not None or self.path.exists()

    def _master(self, create: bool = False) -> bytes:
        """The master key; created only to encrypt (``create``), never to decrypt: a lost key
        replaced by a new one would turn every stored secret into noise without a word."""
        if self._key is None:
            self._key = self._load_or_create() if create else self._load()
        return self._key

    def _load(self) -> bytes:
        try:
            key = self.path.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"the master key {self.path} is missing") from None
        if len(key) != 32:
            raise ValueError(f"{self.path} is not a valid master key")
        return key

    def _load_or_create(self) -> bytes:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._load()
        key = AESGCM.generate_key(bit_length=256)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        log.warning("created a new master key %s (secrets encrypted under another one cannot "
                    "be decrypted with it)", self.path)
        return key

    @staticmethod
    def is_encrypted(text: str) -> bool:
        return text.startswith(PREFIX)

    def encrypt(self, plain: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._master(create=True)).encrypt(nonce, plain.encode(), _AAD)
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def can_decrypt(self, text: str) -> bool:
        try:
            self.decrypt(text)
        except ValueError:
            return False
        return True

    def decrypt(self, text: str) -> str:
        """The clear text of an encrypted secret; ValueError if it is not one of ours."""
        if not self.is_encrypted(text):
            raise ValueError("not an encrypted secret")
        master = self._master()  # ValueError: missing or invalid master key, said as such
        try:
            blob = base64.b64decode(text[len(PREFIX):], validate=True)
            return AESGCM(master).decrypt(blob[:12], blob[12:], _AAD).decode()
        except (binascii.Error, InvalidTag, ValueError, UnicodeDecodeError):
            raise ValueError("secret cannot be decrypted with this master key") from None
