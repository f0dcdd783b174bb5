"""The SSH password file, ``STATE_DIR/ssh/passwords`` (optional; mode 0600).

One line per user, ``USER:scrypt$N$r$p$SALT$HASH`` (SALT and HASH in base64,
HASH = scrypt(password, SALT, N, r, p, 32 bytes)).  Lines starting with ``#``
are comments.  Set or change a password with

    python -m vpnsh.ssh.passwords STATE_DIR USER      (reads it from the terminal or stdin)
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import sys
from collections.abc import Sequence
from pathlib import Path

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
HASH_LEN = 32
FILE_NAME = "passwords"


def hash_password(password: str, *, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_LEN)
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def read_passwords(path: str | Path) -> dict[str, str]:
    """user -> stored hash; an absent file is no passwords."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    users = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            user, _, stored = line.partition(":")
            users[user] = stored
    return users


def set_password(path: str | Path, user: str, password: str) -> None:
    """Add or replace USER's line (atomic rewrite, mode 0600)."""
    if not user or ":" in user or any(ch.isspace() for ch in user):
        raise ValueError(f"bad user name {user!r}")
    users = read_passwords(path)
    users[user] = hash_password(password)
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(f"{u}:{h}\n" for u, h in users.items()))
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m vpnsh.ssh.passwords STATE_DIR USER", file=sys.stderr)
        return 2
    state_dir, user = args
    if sys.stdin.isatty():
        password = getpass.getpass(f"New password for {user}: ")
        if getpass.getpass("Again: ") != password:
            print("passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("empty password refused", file=sys.stderr)
        return 1
    set_password(Path(state_dir) / "ssh" / FILE_NAME, user, password)
    return 0


if __name__ == "__main__":
    sys.exit(main())
