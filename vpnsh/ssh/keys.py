"""The SSH host key and the authorized keys under ``STATE_DIR/ssh/``."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

HOST_KEY = "host_key"
AUTHORIZED_KEYS = "authorized_keys"


def ssh_dir(state_dir: str | Path) -> Path:
    path = Path(state_dir) / "ssh"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def host_key(state_dir: str | Path) -> asyncssh.SSHKey:
    """The host key, generated (ed25519, mode 0600) on first start."""
    path = ssh_dir(state_dir) / HOST_KEY
    try:
        return asyncssh.read_private_key(str(path))
    except FileNotFoundError:
        pass
    key = asyncssh.generate_private_key("ssh-ed25519", comment="vpnshd host key")
    data = key.export_private_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another start won the race
        return asyncssh.read_private_key(str(path))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return key


def authorized_keys(state_dir: str | Path) -> asyncssh.SSHAuthorizedKeys | None:
    """The authorized keys, read at each login (so new keys need no restart); None: none."""
    path = Path(state_dir) / "ssh" / AUTHORIZED_KEYS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return None
    return asyncssh.import_authorized_keys(text)
