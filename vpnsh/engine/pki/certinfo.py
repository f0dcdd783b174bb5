"""Plain facts about a certificate, for people and for the checks: names, key, usages."""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_SHORT = {
    NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN", NameOID.EMAIL_ADDRESS: "E", NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
}
_EKU = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.IPSEC_IKE: "ipsecIKE", ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning", ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
}
_KU = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
       "key_agreement", "key_cert_sign", "crl_sign")
_KU_NAMES = {"digital_signature": "digitalSignature", "content_commitment": "nonRepudiation",
             "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment",
             "key_agreement": "keyAgreement", "key_cert_sign": "keyCertSign", "crl_sign": "cRLSign"}


def _rdns(name: x509.Name) -> list[str]:
    out = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _SHORT.get(attr.oid, attr.oid.dotted_string)
            out.append(f"{key}={attr.value!s}")
    return out


def dn_slash(name: x509.Name) -> str:
    """OpenSSL's one-line form, as PAN-OS shows it: ``/C=US/O=Lab/CN=peer``."""
    return "".join("/" + part for part in _rdns(name))


def dn_text(name: x509.Name) -> str:
    """strongSwan's form (RDNs in certificate order): ``C=US, O=Lab, CN=peer``."""
    return ", ".join(_rdns(name))


def not_before(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_after_utc


def key_type(key: Any) -> str:
    """``RSA 3072``, ``ECDSA P-256``, ``Ed25519`` ... for a public or private key."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return f"RSA {key.key_size}"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"ECDSA {curve.get(key.curve.name, key.curve.name)}"
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "Ed25519"
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return "Ed448"
    if isinstance(key, (dsa.DSAPublicKey, dsa.DSAPrivateKey)):
        return f"DSA {key.key_size}"
    return "unknown"


def _ext(cert: x509.Certificate, cls: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    bc = _ext(cert, x509.BasicConstraints)
    return bool(bc is not None and bc.ca)


def key_usage(cert: x509.Certificate) -> list[str] | None:
    """The key usage bits set, or None when the certificate has no key usage extension."""
    ku = _ext(cert, x509.KeyUsage)
    if ku is None:
        return None
    return [_KU_NAMES[k] for k in _KU if getattr(ku, k)]


def ext_key_usage(cert: x509.Certificate) -> list[str] | None:
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if eku is None:
        return None
    return [_EKU.get(oid, oid.dotted_string) for oid in eku]


def subject_alt_names(cert: x509.Certificate) -> dict[str, list[str]]:
    """SAN entries by kind: ``dns``, ``email``, ``ip``."""
    san = _ext(cert, x509.SubjectAlternativeName)
    out: dict[str, list[str]] = {"dns": [], "email": [], "ip": []}
    if san is None:
        return out
    out["dns"] = [str(v) for v in san.get_values_for_type(x509.DNSName)]
    out["email"] = [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    out["ip"] = [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    return out


def san_text(cert: x509.Certificate) -> str:
    sans = subject_alt_names(cert)
    parts = ([f"DNS:{v}" for v in sans["dns"]] + [f"email:{v}" for v in sans["email"]]
             + [f"IP:{v}" for v in sans["ip"]])
    return ", ".join(parts)


def describe(cert: x509.Certificate, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The facts ``show`` prints, as data (``--output json`` shows exactly this)."""
    now = now or datetime.datetime.now(datetime.UTC)
    if now < not_before(cert):
        status = "not-yet-valid"
    elif now > not_after(cert):
        status = "expired"
    else:
        status = "valid"
    return {
        "subject": dn_slash(cert.subject),
        "issuer": dn_slash(cert.issuer),
        "serial": format(cert.serial_number, "X"),
        "not_before": not_before(cert).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": status,
        "key_type": key_type(cert.public_key()),
        "ca": is_ca(cert),
        "key_usage": key_usage(cert),
        "ext_key_usage": ext_key_usage(cert),
        "subject_alt_name": subject_alt_names(cert),
        "self_signed": cert.issuer == cert.subject,
    }
