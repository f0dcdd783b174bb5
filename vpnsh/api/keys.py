"""API keys (``type=keygen``) for the vpnsh admins: the accounts of ``STATE_DIR/ssh/passwords``.

A key is 48 random bytes shown once, in base64 without ``+`` or ``/`` (pan-python appends
``&key=`` unencoded).  Only its SHA-256 is kept, in ``STATE_DIR/api/keys`` (mode 0600), one
line per key: ``USER:SHA256-HEX:CREATED``.  A key is valid while its line is there and its
admin still has a password line.  Revoke:

    python -m vpnsh.api.keys STATE_DIR list
    python -m vpnsh.api.keys STATE_DIR revoke USER      (every key of USER)
    python -m vpnsh.api.keys STATE_DIR revoke-all

(removing an admin's password line also revokes their keys).  The file is read again when it
changes, so a revocation takes effect at the next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vpnsh.ssh import passwords

KEYS_FILE = "keys"
KEY_BYTES = 48


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    raw = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    return raw.replace("+", "A").replace("/", "B")


class KeyStore:
    """Keys of ``directory/keys`` checked against ``state_dir/ssh/passwords``."""

    def __init__(self, state_dir: str | Path, directory: str | Path | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.dir = Path(directory) if directory else self.state_dir / "api"
        self.path = self.dir / KEYS_FILE
        self.passwords = self.state_dir / "ssh" / passwords.FILE_NAME
        self._cache: tuple[float, dict[str, str]] | None = None  # (mtime, digest -> user)

    # -- the file

    def _lines(self) -> list[tuple[str, str, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and not line.startswith("#"):
                out.append((parts[0], parts[1], parts[2]))
        return out

    def _write(self, lines: list[tuple[str, str, str]]) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(KEYS_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(f"{u}:{d}:{c}\n" for u, d, c in lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._cache = None

    # -- keygen and checks

    def keygen(self, user: str, password: str) -> str | None:
        """A new key for USER if the password is theirs, else None."""
        stored = passwords.read_passwords(self.passwords).get(user)
        if stored is None or not passwords.verify_password(password, stored):
            return None
        key = new_key()
        self._write([*self._lines(), (user, _digest(key), str(int(time.time())))])
        return key

    def user_of(self, key: str) -> str | None:
        """The admin a key belongs to, or None (unknown, revoked, or admin removed)."""
        if not key:
            return None
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if self._cache is None or self._cache[0] != mtime:
            self._cache = (mtime, {d: u for u, d, _c in self._lines()})
        want = _digest(key)
        user = None
        for digest, owner in self._cache[1].items():
            if hmac.compare_digest(digest, want):
                user = owner
        if user is None or user not in passwords.read_passwords(self.passwords):
            return None
        return user

    def revoke(self, user: str | None = None) -> int:
        """Remove USER's keys (every key with None); how many were removed."""
        lines = self._lines()
        keep = [line for line in lines if user is not None and line[0] != user]
        self._write(keep)
        return len(lines) - len(keep)

    def list(self) -> list[tuple[str, str]]:
        """(user, created) of each key (never the key)."""
        return [(u, time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(int(c)))) for u, _d, c in self._lines()]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m vpnsh.api.keys STATE_DIR list|revoke USER|revoke-all"
    if len(args) < 2:
        print(usage, file=sys.stderr)
        return 2
    store = KeyStore(args[0])
    if args[1] == "list" and len(args) == 2:
        for user, created in store.list():
            print(f"{user}\t{created}")
        return 0
    if args[1] == "revoke" and len(args) == 3:
        print(f"{store.revoke(args[2])} key(s) of {args[2]} revoked")
        return 0
    if args[1] == "revoke-all" and len(args) == 2:
        print(f"{store.revoke(None)} key(s) revoked")
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
