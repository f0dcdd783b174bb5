"""The certificate store: ``STATE_DIR/pki/`` holds certificates, keys and CRLs by name.

Layout (one file per fact, written atomically):

* ``certs/NAME.pem``  the certificate (public part, PEM);
* ``keys/NAME.key``   its private key: PKCS#8 PEM encrypted with the master key
                      (:class:`vpnsh.config.secrets.SecretBox`, ``-AQ==...``), mode 0600;
* ``crls/NAME.crl``   the CRL issued by the CA certificate ``NAME`` (PEM), checked
                      against that CA's key when imported.

The IKE tasks read it through :meth:`CertStore.certificate`, :meth:`CertStore.private_key`,
:meth:`CertStore.crl` and :meth:`CertStore.chain_for` (the local certificate and the
intermediates to send in CERT payloads).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from vpnsh.config.secrets import SecretBox
from vpnsh.engine.pki import certinfo

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # PAN-OS object names: 63 chars
RSA_BITS = (1024, 2048, 3072, 4096)  # PAN-OS also offers 512: too weak to make at all
ECDSA_BITS = {256: ec.SECP256R1, 384: ec.SECP384R1}
DIGESTS: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
MAX_FILE = 1 << 20  # an imported file larger than this is not a certificate


class PkiError(ValueError):
    """A store request that cannot be done; the message says why in plain words."""


def check_name(name: str, what: str = "certificate-name") -> str:
    if not NAME_RE.match(name or ""):
        raise PkiError(f"{what} {name!r} is not valid: 1-63 letters, digits, '.', '_' or '-'")
    return name


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def read_local_file(path: str) -> bytes:
    """The bytes of a local file named in an import; remote ``user@host:`` paths refused."""
    if re.match(r"^[^/]*@[^/]*:", path) or re.match(r"^[A-Za-z0-9.-]+:", path):
        raise PkiError(f"{path}: only files on this system can be imported (give a local path)")
    p = Path(path)
    if not p.is_absolute():
        raise PkiError(f"{path}: give an absolute path")
    try:
        if p.stat().st_size > MAX_FILE:
            raise PkiError(f"{path}: file too large for a certificate ({p.stat().st_size} bytes)")
        return p.read_bytes()
    except OSError as exc:
        raise PkiError(f"{path}: cannot read: {exc.strerror}") from None


class CertStore:
    """Named certificates with optional private keys, and per-CA CRLs, in ``state_dir/pki``."""

    def __init__(self, state_dir: str | os.PathLike[str], secrets: SecretBox | None = None) -> None:
        self.root = Path(state_dir) / "pki"
        self.secrets = secrets or SecretBox(state_dir)

    # ------------------------------------------------------------------ paths

    def _cert_path(self, name: str) -> Path:
        return self.root / "certs" / f"{check_name(name)}.pem"

    def _key_path(self, name: str) -> Path:
        return self.root / "keys" / f"{check_name(name)}.key"

    def _crl_path(self, name: str) -> Path:
        return self.root / "crls" / f"{check_name(name)}.crl"

    # ------------------------------------------------------------------ reading

    def names(self) -> list[str]:
        d = self.root / "certs"
        if not d.is_dir():
            return []
        return sorted(p.stem for p in d.glob("*.pem") if NAME_RE.match(p.stem))

    def exists(self, name: str) -> bool:
        return self._cert_path(name).exists()

    def certificate(self, name: str) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self._cert_path(name).read_bytes())
        except FileNotFoundError:
            raise PkiError(f"certificate {name} does not exist") from None

    def has_key(self, name: str) -> bool:
        return self._key_path(name).exists()

    def private_key(self, name: str) -> Any:
        """The private key of certificate ``name`` (decrypted in memory only)."""
        try:
            sealed = self._key_path(name).read_text()
        except FileNotFoundError:
            raise PkiError(f"certificate {name} has no private key") from None
        pem = self.secrets.decrypt(sealed.strip())
        return serialization.load_pem_private_key(pem.encode(), password=None)

    def crl(self, ca_name: str) -> x509.CertificateRevocationList | None:
        try:
            return x509.load_pem_x509_crl(self._crl_path(ca_name).read_bytes())
        except FileNotFoundError:
            return None

    def ca_certificates(self) -> dict[str, x509.Certificate]:
        return {n: c for n in self.names() if certinfo.is_ca(c := self.certificate(n))}

    def chain_for(self, name: str) -> list[x509.Certificate]:
        """Certificate ``name`` then its issuers found in the store, up to (not including) a
        self-signed root: what an IKE peer sends in CERT payloads."""
        chain = [self.certificate(name)]
        cas = list(self.ca_certificates().values())
        while len(chain) < 8:
            cur = chain[-1]
            if cur.issuer == cur.subject:
                break
            issuer = next((c for c in cas if c.subject == cur.issuer and _signed_by(cur, c)), None)
            if issuer is None or issuer.issuer == issuer.subject or issuer in chain:
                break
            chain.append(issuer)
        return chain

    # ------------------------------------------------------------------ writing

    def _store(self, name: str, cert: x509.Certificate, key: Any | None) -> None:
        if key is not None:
            if key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
                    cert.public_key().public_bytes(
                        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
                raise PkiError(f"the private key does not belong to certificate {name}")
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
            _write_atomic(self._key_path(name), self.secrets.encrypt(pem).encode() + b"\n", 0o600)
        elif self.has_key(name):
            self._key_path(name).unlink()  # a new certificate does not keep another's key
        _write_atomic(self._cert_path(name), cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def delete(self, name: str) -> None:
        if not self.exists(name):
            raise PkiError(f"certificate {name} does not exist")
        for p in (self._key_path(name), self._crl_path(name), self._cert_path(name)):
            p.unlink(missing_ok=True)

    def generate(self, name: str, common_name: str, algorithm: str = "RSA", nbits: int = 2048, *,
                 ca: bool = False, signed_by: str | None = None, digest: str = "sha256",
                 days: int = 365, hostnames: Sequence[str] = (), ips: Sequence[str] = (),
                 emails: Sequence[str] = (), country: str | None = None,
                 organization: str | None = None, organization_units: Sequence[str] = (),
                 now: datetime.datetime | None = None) -> x509.Certificate:
        """``request certificate generate``: a new key and a certificate, self-signed or signed
        by the CA certificate ``signed_by`` (which must have its private key here)."""
        check_name(name)
        if not common_name:
            raise PkiError("name (the common name) is required")
        if self.exists(name):
            raise PkiError(f"certificate {name} already exists")
        if digest not in DIGESTS:
            raise PkiError(f"digest {digest} is not supported (sha256, sha384 or sha512)")
        if not 1 <= days <= 7300:
            raise PkiError("days-till-expiry must be 1-7300")
        key: Any
        if algorithm.upper() == "RSA":
            if nbits not in RSA_BITS:
                raise PkiError(f"rsa-nbits {nbits} is not supported ({', '.join(map(str, RSA_BITS))})")
            key = rsa.generate_private_key(public_exponent=65537, key_size=nbits)
        elif algorithm.upper() == "ECDSA":
            if nbits not in ECDSA_BITS:
                raise PkiError(f"ecdsa-nbits {nbits} is not supported (256 or 384)")
            key = ec.generate_private_key(ECDSA_BITS[nbits]())
        else:
            raise PkiError(f"algorithm {algorithm} is not supported (RSA or ECDSA)")
        attrs = []
        if country:
            if len(country) != 2:
                raise PkiError("country-code must be two letters")
            attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        attrs += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in organization_units]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        subject = x509.Name(attrs)
        if signed_by:
            issuer_cert = self.certificate(signed_by)
            if not certinfo.is_ca(issuer_cert):
                raise PkiError(f"signed-by {signed_by} is not a CA certificate")
            issuer_key = self.private_key(signed_by)
            issuer_name = issuer_cert.subject
        else:
            issuer_cert, issuer_key, issuer_name = None, key, subject
        sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
        sans += [x509.RFC822Name(e) for e in emails]
        for ip in ips:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
            except ValueError:
                raise PkiError(f"ip {ip} is not an IP address") from None
        now = now or _utcnow()
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False))
        if ca:
            ku = x509.KeyUsage(digital_signature=True, content_commitment=False,
                               key_encipherment=False, data_encipherment=False,
                               key_agreement=False, key_cert_sign=True, crl_sign=True,
                               encipher_only=False, decipher_only=False)
        else:
            ku = x509.KeyUsage(digital_signature=True, content_commitment=False,
                               key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                               data_encipherment=False, key_agreement=False, key_cert_sign=False,
                               crl_sign=False, encipher_only=False, decipher_only=False)
        builder = builder.add_extension(ku, critical=True)
        if issuer_cert is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer_cert.public_key()),  # type: ignore[arg-type]
                critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(issuer_key, DIGESTS[digest]())
        self._store(name, cert, key)
        return cert

    def import_file(self, name: str, data: bytes, fmt: str, passphrase: str | None = None,
                    keypair: bool = False) -> x509.Certificate:
        """``scp import certificate|keypair``: a PEM file (certificate, optionally its key,
        plain or encrypted with ``passphrase``) or a PKCS#12 file. ``keypair`` requires a key.
        Further certificates in the file (a chain) are ignored: import each CA by name."""
        check_name(name)
        pw = passphrase.encode() if passphrase else None
        key: Any = None
        if fmt == "pkcs12":
            try:
                key, cert, _extra = pkcs12.load_key_and_certificates(data, pw)
            except ValueError:
                raise PkiError("not a PKCS#12 file, or the passphrase is wrong") from None
            if cert is None:
                raise PkiError("the PKCS#12 file holds no certificate")
        elif fmt == "pem":
            try:
                certs = x509.load_pem_x509_certificates(data)
            except ValueError:
                raise PkiError("no PEM certificate in the file") from None
            cert = certs[0]
            if b"PRIVATE KEY-----" in data:
                start = data.index(b"-----BEGIN", max(0, data.index(b"PRIVATE KEY-----") - 40))
                try:
                    key = serialization.load_pem_private_key(data[start:], password=pw)
                except TypeError:
                    raise PkiError("the private key is encrypted: give its passphrase") from None
                except ValueError:
                    raise PkiError("the private key cannot be read (wrong passphrase?)") from None
        else:
            raise PkiError(f"format {fmt} is not supported (pem or pkcs12)")
        if keypair and key is None:
            raise PkiError("the file holds no private key (import it as a certificate)")
        self._store(name, cert, key)
        return cert

    def export_pem(self, name: str) -> bytes:
        """The certificate's public part, PEM: never the key."""
        return self.certificate(name).public_bytes(serialization.Encoding.PEM)

    def import_crl(self, ca_name: str, data: bytes,
                   now: datetime.datetime | None = None) -> x509.CertificateRevocationList:
        """A CRL for the CA certificate ``ca_name``: it must be signed by that CA."""
        ca = self.certificate(ca_name)
        try:
            crl = (x509.load_pem_x509_crl(data) if b"-----BEGIN X509 CRL" in data
                   else x509.load_der_x509_crl(data))
        except ValueError:
            raise PkiError("not a CRL (PEM or DER)") from None
        if crl.issuer != ca.subject or not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
            raise PkiError(f"the CRL is not issued by {ca_name} ({certinfo.dn_slash(crl.issuer)})")
        old = self.crl(ca_name)
        if old is not None and _crl_number(old) > _crl_number(crl) >= 0:
            raise PkiError(f"the CRL is older than the one held for {ca_name} "
                           f"(number {_crl_number(crl)} < {_crl_number(old)})")
        _write_atomic(self._crl_path(ca_name), crl.public_bytes(serialization.Encoding.PEM), 0o644)
        return crl

    # ------------------------------------------------------------------ showing

    def describe(self, name: str, now: datetime.datetime | None = None) -> dict[str, Any]:
        cert = self.certificate(name)
        info = {"name": name, **certinfo.describe(cert, now), "private_key": self.has_key(name)}
        crl = self.crl(name)
        if crl is not None:
            info["crl"] = {
                "revoked": len(list(crl)),
                "this_update": crl.last_update_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "next_update": (crl.next_update_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
                                if crl.next_update_utc else None),
            }
        if not info["self_signed"] and not info["ca"] or info["issuer"] != info["subject"]:
            signer = next((n for n, c in self.ca_certificates().items()
                           if c.subject == cert.issuer and _signed_by(cert, c)), None)
            info["signed_by"] = signer
        return info

    def show(self, names: Iterable[str] | None = None,
             now: datetime.datetime | None = None) -> dict[str, Any]:
        return {"certificates": [self.describe(n, now) for n in (names or self.names())]}


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return -1


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
