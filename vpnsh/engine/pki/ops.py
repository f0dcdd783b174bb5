"""The operational certificate commands, as engine ops over a :class:`CertStore`.

Each takes the parsed args of the shell (``vpnsh.shell.opcommands``) and returns data
(``--output json`` prints it as is; ``vpnsh.render.pki`` turns it into text):

* ``pki.certificate.generate``  request certificate generate certificate-name N name CN ...
* ``pki.certificate.import``    scp import certificate from PATH certificate-name N format F
* ``pki.keypair.import``        scp import keypair from PATH certificate-name N format F passphrase P
* ``pki.crl.import``            scp import crl from PATH certificate-name CA
* ``pki.certificate.export``    scp export certificate to PATH certificate-name N [format pem]
* ``pki.certificate.show``      show sslmgr-store config-certificate-info
* ``pki.certificate.delete``    request certificate delete certificate-name N

PAN-OS imports and exports with ``scp import|export ... from|to user@host:path``; vpnsh has
no SCP client in the daemon, so the same command shape takes a local absolute path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vpnsh.engine.pki.store import CertStore, PkiError, read_local_file


def _one(args: dict[str, Any], key: str, what: str) -> str:
    value = args.get(key)
    if value is None:
        raise PkiError(f"{what} is required")
    if isinstance(value, list):
        raise PkiError(f"{what} given more than once")
    return str(value)


def _many(args: dict[str, Any], key: str) -> list[str]:
    value = args.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def generate(store: CertStore, args: dict[str, Any]) -> dict[str, Any]:
    name = _one(args, "certificate_name", "certificate-name")
    cn = _one(args, "common_name", "name")
    algorithm = str(args.get("algorithm", "RSA"))
    if algorithm == "RSA":
        if "ecdsa_nbits" in args:
            raise PkiError("ecdsa-nbits goes with algorithm ECDSA")
        nbits = int(args.get("rsa_nbits", 2048))
    else:
        if "rsa_nbits" in args:
            raise PkiError("rsa-nbits goes with algorithm RSA")
        nbits = int(args.get("ecdsa_nbits", 256))
    signed_by = args.get("signed_by")
    if signed_by == "external":
        raise PkiError("signed-by external (a CSR) is not supported: sign with a CA of this "
                       "device or import the certificate")
    store.generate(name, cn, algorithm, nbits, ca=args.get("ca") == "yes",
                   signed_by=str(signed_by) if signed_by else None,
                   digest=str(args.get("digest", "sha256")),
                   days=int(args.get("days_till_expiry", 365)),
                   hostnames=_many(args, "hostname"), ips=_many(args, "ip"),
                   emails=_many(args, "alt_email"), country=args.get("country_code"),
                   organization=args.get("organization"),
                   organization_units=_many(args, "organization_unit"))
    return {"result": "success", "certificate": store.describe(name),
            "message": f"Successfully generated certificate {name}"}


def _import(store: CertStore, args: dict[str, Any], keypair: bool) -> dict[str, Any]:
    name = _one(args, "certificate_name", "certificate-name")
    path = _one(args, "from", "from")
    fmt = str(args.get("format_cert", "pem"))
    data = read_local_file(path)
    store.import_file(name, data, fmt, passphrase=args.get("passphrase"), keypair=keypair)
    return {"result": "success", "certificate": store.describe(name),
            "message": f"{Path(path).name} saved"}


def import_certificate(store: CertStore, args: dict[str, Any]) -> dict[str, Any]:
    return _import(store, args, keypair=False)


def import_keypair(store: CertStore, args: dict[str, Any]) -> dict[str, Any]:
    return _import(store, args, keypair=True)


def import_crl(store: CertStore, args: dict[str, Any]) -> dict[str, Any]:
    name = _one(args, "certificate_name", "certificate-name")
    path = _one(args, "from", "from")
    crl = store.import_crl(name, read_local_file(path))
    return {"result": "success", "ca": name, "revoked": len(list(crl)),
            "message": f"{Path(path).name} saved"}


def export_certificate(store: CertStore, args: dict[str, Any]) -> dict[str, Any]:
    name = _one(args, "certificate_name", "certificate-name")
    path = Path(_one(args, "to", "to"))
    if str(args.get("format_export", "pem")) != "pem":
        raise PkiError("only format pem can be exported (the public certificate)")
    if not path.is_absolute():
        raise PkiError(f"{path}: give an absolute path")
    if not path.parent.is_dir():
        raise PkiError(f"{path.parent}: no such directory")
    pem = store.export_pem(name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    except OSError as exc:
        raise PkiError(f"{path}: cannot write: {exc.strerror}") from None
    return {"result": "success", "certificate_name": name, "file": str(path),
            "message": f"{name} exported to {path}"}


def show(store: CertStore, args: dict[str, Any]) -> dict[str, Any]:
    return store.show()


def delete(store: CertStore, args: dict[str, Any]) -> dict[str, Any]:
    name = _one(args, "certificate_name", "certificate-name")
    store.delete(name)
    return {"result": "success", "message": f"Certificate {name} deleted"}


OPS = {
    "pki.certificate.generate": generate,
    "pki.certificate.import": import_certificate,
    "pki.keypair.import": import_keypair,
    "pki.crl.import": import_crl,
    "pki.certificate.export": export_certificate,
    "pki.certificate.show": show,
    "pki.certificate.delete": delete,
}
