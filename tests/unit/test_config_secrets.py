import os
import stat

import pytest

from vpnsh.config.secrets import SecretBox


def test_encrypt_decrypt_round_trip_and_prefix(tmp_path):
    box = SecretBox(tmp_path)
    enc = box.encrypt("MySecret123")
    assert enc.startswith("-AQ==") and "MySecret123" not in enc
    assert box.is_encrypted(enc) and not box.is_encrypted("MySecret123")
    assert box.decrypt(enc) == "MySecret123"
    assert box.encrypt("MySecret123") != enc  # random nonce


def test_master_key_is_created_once_with_mode_0600(tmp_path):
    enc = SecretBox(tmp_path).encrypt("k")
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    before = key_file.read_bytes()
    assert SecretBox(tmp_path).decrypt(enc) == "k"  # a new box reads the same key
    assert key_file.read_bytes() == before


def test_other_master_key_or_tampering_fails(tmp_path):
    enc = SecretBox(tmp_path / "a").encrypt("k")
    with pytest.raises(ValueError):
        SecretBox(tmp_path / "b").decrypt(enc)
    box = SecretBox(tmp_path / "a")
    tampered = enc[:-4] + ("AAAA" if enc[-4:] != "AAAA" else "BBBB")
    with pytest.raises(ValueError):
        box.decrypt(tampered)
    with pytest.raises(ValueError):
        box.decrypt("-AQ==not base64!")
    with pytest.raises(ValueError):
        box.decrypt("plain")
