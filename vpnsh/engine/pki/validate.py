"""Chain validation against a certificate profile's CAs, and the peer ID against a certificate.

Pure functions over ``cryptography`` objects; the caller passes the time. Each failure is a
:class:`Failure` with a stable ``code`` (for counters and tests) and a ``reason`` in plain
words naming the certificates involved (for ``test vpn ike-sa`` and ikemgr.log).

Checks, in order: a path from the end entity to one of the trusted CAs (signatures verified
on every link), validity times of every certificate on the path, basic constraints (issuers
are CAs, path length), key usage (issuers may sign certificates; the end entity may sign),
extended key usage when strict, revocation from each issuer's CRL.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vpnsh.engine.pki import certinfo

MAX_DEPTH = 8
# codes
UNTRUSTED_CA = "untrusted-ca"
BAD_SIGNATURE = "bad-signature"
EXPIRED = "expired"
NOT_YET_VALID = "not-yet-valid"
NOT_A_CA = "not-a-ca"
PATH_LENGTH = "path-length"
KEY_USAGE = "key-usage"
REVOKED = "revoked"
REVOCATION_UNKNOWN = "revocation-unknown"
ID_MISMATCH = "id-mismatch"

CrlLookup = Callable[[x509.Certificate], "x509.CertificateRevocationList | None"]


@dataclass(frozen=True)
class Failure:
    code: str
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Policy:
    """What a certificate profile asks (vpnsh.engine.pki.profile builds it from config)."""

    use_crl: bool = True
    # no CRL, or a stale one, for an issuer on the path: fail (PAN-OS block-unknown-cert, or the
    # gateway's strict-validation-revocation); otherwise the certificate passes unchecked
    block_unknown: bool = False
    # expired or not-yet-valid certificates fail (block-expired-cert); IKE peers always check
    # validity, so profiles default to yes here
    block_expired: bool = True
    # the end entity must allow IKE use: EKU absent, or serverAuth/clientAuth/ipsecIKE/any
    strict_eku: bool = False


@dataclass
class Result:
    ok: bool
    chain: list[x509.Certificate] = field(default_factory=list)  # end entity ... trust anchor
    failure: Failure | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return self.failure.reason if self.failure else ""


def _who(cert: x509.Certificate) -> str:
    return f"'{certinfo.dn_text(cert.subject)}'"


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """True: signed by issuer; False: names match but the signature does not; None: other CA."""
    if cert.issuer != issuer.subject:
        return None
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def build_path(end_entity: x509.Certificate, intermediates: Sequence[x509.Certificate],
               anchors: Sequence[x509.Certificate]) -> tuple[list[x509.Certificate], Failure | None]:
    """A path end entity -> ... -> a trust anchor (included), or the failure in words."""
    anchor_der = {a.tbs_certificate_bytes for a in anchors}
    path = [end_entity]
    bad_sig: x509.Certificate | None = None
    while len(path) <= MAX_DEPTH:
        cur = path[-1]
        if cur.tbs_certificate_bytes in anchor_der:
            return path, None
        for a in anchors:
            hit = _issued_by(cur, a)
            if hit:
                path.append(a)
                return path, None
            if hit is False:
                bad_sig = cur
        nxt = None
        for c in intermediates:
            if any(c.tbs_certificate_bytes == p.tbs_certificate_bytes for p in path):
                continue
            hit = _issued_by(cur, c)
            if hit:
                nxt = c
                break
            if hit is False:
                bad_sig = cur
        if nxt is None:
            break
        path.append(nxt)
    if bad_sig is not None:
        return path, Failure(BAD_SIGNATURE, f"the signature on certificate {_who(bad_sig)} "
                                            f"does not verify with its issuer's key")
    top = path[-1]
    names = ", ".join(_who(a) for a in anchors) or "none"
    return path, Failure(UNTRUSTED_CA, f"untrusted CA: certificate {_who(top)} is issued by "
                                       f"'{certinfo.dn_text(top.issuer)}', not by a trusted CA "
                                       f"(trusted: {names})")


def _validity(cert: x509.Certificate, now: datetime.datetime) -> Failure | None:
    nb, na = certinfo.not_before(cert), certinfo.not_after(cert)
    if now < nb:
        return Failure(NOT_YET_VALID, f"certificate {_who(cert)} is not yet valid "
                                      f"(valid from {nb:%Y-%m-%d %H:%M:%S} UTC)")
    if now > na:
        return Failure(EXPIRED, f"certificate {_who(cert)} expired on {na:%Y-%m-%d %H:%M:%S} UTC")
    return None


def _ext(cert: x509.Certificate, cls: type) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _issuer_checks(path: list[x509.Certificate]) -> Failure | None:
    for depth, ca in enumerate(path[1:]):  # depth: intermediates below this CA on the path
        bc = _ext(ca, x509.BasicConstraints)
        if not isinstance(bc, x509.BasicConstraints) or not bc.ca:
            return Failure(NOT_A_CA, f"certificate {_who(ca)} issued {_who(path[depth])} but is "
                                     f"not a CA (basic constraints)")
        if bc.path_length is not None and depth > bc.path_length:
            return Failure(PATH_LENGTH, f"CA {_who(ca)} allows {bc.path_length} intermediate(s) "
                                        f"below it, the path has {depth}")
        ku = _ext(ca, x509.KeyUsage)
        if isinstance(ku, x509.KeyUsage) and not ku.key_cert_sign:
            return Failure(KEY_USAGE, f"CA {_who(ca)} may not sign certificates (key usage)")
    return None


_IKE_EKU = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH,
            ExtendedKeyUsageOID.IPSEC_IKE, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}


def _end_entity_checks(cert: x509.Certificate, policy: Policy) -> Failure | None:
    ku = _ext(cert, x509.KeyUsage)
    if isinstance(ku, x509.KeyUsage) and not (ku.digital_signature or ku.content_commitment):
        return Failure(KEY_USAGE, f"certificate {_who(cert)} may not sign (key usage has no "
                                  f"digitalSignature)")
    if policy.strict_eku:
        eku = _ext(cert, x509.ExtendedKeyUsage)
        if isinstance(eku, x509.ExtendedKeyUsage) and not _IKE_EKU & set(eku):
            names = ", ".join(certinfo.ext_key_usage(cert) or [])
            return Failure(KEY_USAGE, f"certificate {_who(cert)} is not for IKE "
                                      f"(extended key usage: {names})")
    return None


def _revocation(cert: x509.Certificate, issuer: x509.Certificate, crl_for: CrlLookup,
                policy: Policy, now: datetime.datetime, warnings: list[str]) -> Failure | None:
    crl = crl_for(issuer)
    problem = None
    if crl is None:
        problem = f"no CRL for CA {_who(issuer)}"
    elif crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        problem = f"the CRL for CA {_who(issuer)} is not signed by it"
    else:
        nu = crl.next_update_utc
        if nu is not None and now > nu:
            problem = f"the CRL of CA {_who(issuer)} is stale (next update was {nu:%Y-%m-%d %H:%M} UTC)"
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None and entry.revocation_date_utc <= now:
            why = ""
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                why = f", reason {reason.value}"
            except x509.ExtensionNotFound:
                pass
            return Failure(REVOKED, f"certificate {_who(cert)} (serial {cert.serial_number:X}) is "
                                   f"revoked by CA {_who(issuer)} since "
                                   f"{entry.revocation_date_utc:%Y-%m-%d %H:%M:%S} UTC{why}")
    if problem is None:
        return None
    if policy.block_unknown:
        return Failure(REVOCATION_UNKNOWN, f"revocation status of {_who(cert)} unknown: {problem}")
    warnings.append(f"revocation of {_who(cert)} not checked: {problem}")
    return None


def validate_chain(end_entity: x509.Certificate, intermediates: Sequence[x509.Certificate],
                   anchors: Sequence[x509.Certificate], *, now: datetime.datetime,
                   policy: Policy = Policy(), crl_for: CrlLookup | None = None) -> Result:
    """Validate ``end_entity`` (the peer's certificate) with the ``intermediates`` it sent (and
    any others known) to one of ``anchors`` (the profile's CAs) at time ``now``."""
    path, fail = build_path(end_entity, intermediates, anchors)
    if fail is not None:
        return Result(False, path, fail)
    if policy.block_expired:
        for c in path:
            fail = _validity(c, now)
            if fail is not None:
                return Result(False, path, fail)
    fail = _issuer_checks(path) or _end_entity_checks(end_entity, policy)
    if fail is not None:
        return Result(False, path, fail)
    warnings: list[str] = []
    if policy.use_crl:
        lookup = crl_for or (lambda _ca: None)
        for cert, issuer in zip(path, path[1:], strict=False):
            fail = _revocation(cert, issuer, lookup, policy, now, warnings)
            if fail is not None:
                return Result(False, path, fail, warnings)
    return Result(True, path, None, warnings)


# ---------------------------------------------------------------------- peer ID

_DN_KEYS = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
            "L": NameOID.LOCALITY_NAME, "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME,
            "E": NameOID.EMAIL_ADDRESS, "EMAIL": NameOID.EMAIL_ADDRESS,
            "EMAILADDRESS": NameOID.EMAIL_ADDRESS, "DC": NameOID.DOMAIN_COMPONENT,
            "SERIALNUMBER": NameOID.SERIAL_NUMBER}


def parse_dn(text: str) -> list[tuple[str, str]]:
    """``C=US, O=Lab, CN=peer`` or ``/C=US/O=Lab/CN=peer`` -> [(oid, value)] in written order.
    ValueError for text that is not a DN."""
    text = text.strip()
    if text.startswith("/"):
        parts = [p for p in text.split("/") if p]
    else:
        parts, cur, esc = [], "", False
        for ch in text:
            if esc:
                cur += ch
                esc = False
            elif ch == "\\":
                esc = True
            elif ch in ",;":
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
    out = []
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().upper()
        if not sep or not key:
            raise ValueError(f"{text!r} is not a distinguished name")
        oid = _DN_KEYS.get(key)
        out.append((oid.dotted_string if oid else key, value.strip()))
    return out


def _dn_pairs(name: x509.Name) -> list[tuple[str, str]]:
    return [(a.oid.dotted_string, str(a.value).strip()) for rdn in name.rdns for a in rdn]


def dn_equal(name: x509.Name, other: x509.Name | str) -> bool:
    """Same RDNs (case-insensitive values), in either order (strongSwan writes certificate
    order, RFC 4514 reverses it)."""
    try:
        theirs = _dn_pairs(other) if isinstance(other, x509.Name) else parse_dn(other)
    except ValueError:
        return False
    ours = _dn_pairs(name)
    norm = [(k, v.casefold()) for k, v in ours]
    norm_t = [(k, v.casefold()) for k, v in theirs]
    return norm == norm_t or norm == norm_t[::-1]


ID_TYPES = ("dn", "fqdn", "ufqdn", "ipaddr", "keyid")


def check_peer_id(cert: x509.Certificate, id_type: str, id_value: str | x509.Name) -> Failure | None:
    """Does the certificate carry the ID (IKE ID payload or configured peer-id)? ``dn``: the
    subject; ``fqdn``/``ufqdn``/``ipaddr``: a SAN DNS name / email / IP address."""
    sans = certinfo.subject_alt_names(cert)
    value = id_value if isinstance(id_value, str) else certinfo.dn_text(id_value)
    ok = False
    if id_type == "dn":
        ok = dn_equal(cert.subject, id_value)
    elif id_type == "fqdn":
        ok = value.rstrip(".").casefold() in {d.rstrip(".").casefold() for d in sans["dns"]}
    elif id_type == "ufqdn":
        ok = value.casefold() in {e.casefold() for e in sans["email"]}
    elif id_type == "ipaddr":
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            ok = False
        else:
            ok = any(ipaddress.ip_address(s) == ip for s in sans["ip"])
    if ok:
        return None
    san = certinfo.san_text(cert) or "none"
    return Failure(ID_MISMATCH, f"ID mismatch: peer ID {id_type}:{value} is not in certificate "
                                f"{_who(cert)} (subject {certinfo.dn_text(cert.subject)}; "
                                f"subjectAltName {san})")


def crl_lookup(crls: Mapping[bytes, x509.CertificateRevocationList]) -> CrlLookup:
    """A CRL lookup from CRLs keyed by their issuer's DER subject name."""
    return lambda ca: crls.get(ca.subject.public_bytes())
