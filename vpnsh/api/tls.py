"""The API's TLS: a self-signed certificate made on first start, TLS 1.2 and later only.

``STATE_DIR/api/cert.pem`` and ``STATE_DIR/api/key.pem`` (mode 0600).  Replace both files
(and restart vpnshd) to serve a certificate of your own.  The certificate is ECDSA P-256,
valid ten years, named after the host (CN and subjectAltName) and the listen address.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 3650


def ensure_certificate(directory: str | Path, hostname: str, address: str = "") -> tuple[Path, Path]:
    """The certificate and key paths, made first if absent (the key written 0600)."""
    d = Path(directory)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = d / CERT_FILE, d / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64] or "vpnsh"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vpnsh")])
    alt: list[x509.GeneralName] = [x509.DNSName(hostname or "vpnsh")]
    try:
        if address and address not in ("0.0.0.0", "::"):
            alt.append(x509.IPAddress(ipaddress.ip_address(address)))
    except ValueError:
        pass
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    tmp = key_path.with_name(KEY_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem_key)
    os.replace(tmp, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx
