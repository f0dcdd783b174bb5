"""IKE signature formats, as pure functions over ``cryptography`` keys and bytes.

IKEv2 (RFC 7296 section 3.8, RFC 4754, RFC 7427):

* AUTH method 1 (RSA Digital Signature): RSASSA-PKCS1-v1_5 with SHA-1, the only hash a
  peer without RFC 7427 understands; methods 9/10 (ECDSA P-256/SHA-256, P-384/SHA-384, the
  signature as r||s);
* AUTH method 14 (Digital Signature, RFC 7427): one length octet, the AlgorithmIdentifier
  (DER), then the signature: RSA PKCS#1 v1.5 or RSASSA-PSS with SHA-256/384/512, ECDSA
  P-256/P-384 (DER ``Ecdsa-Sig-Value``);
* the SIGNATURE_HASH_ALGORITHMS notify (16431): two octets per hash;
* CERT (encoding 4, X.509 signature: DER certificate) and CERTREQ (encoding 4: SHA-1
  hashes of the trusted CAs' SubjectPublicKeyInfo, 20 octets each).

IKEv1 (RFC 2409 section 5.1) auth method 3 (RSA signatures): SIG_I/SIG_R is HASH_I/HASH_R
padded as PKCS#1 v1.5 type 1 and signed *without* a DigestInfo, as strongSwan and other
implementations do.

The IKE tasks compute the signed octets (RFC 7296 2.15: RealMessage | Nonce | prf(SK_p, ID'))
with :func:`ikev2_signed_octets`, then call :func:`choose_auth`, :func:`sign_auth` and
:func:`verify_auth`.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import ObjectIdentifier

from vpnsh.engine.pki.validate import parse_dn

# IKEv2 AUTH methods
AUTH_RSA = 1
AUTH_PSK = 2
AUTH_ECDSA_256 = 9
AUTH_ECDSA_384 = 10
AUTH_ECDSA_521 = 11
AUTH_DIGITAL_SIGNATURE = 14
# IKEv1 authentication method attribute values
IKEV1_AUTH_RSA_SIG = 3

# SIGNATURE_HASH_ALGORITHMS notify and its hash identifiers (IANA "IKEv2 Hash Algorithms")
N_SIGNATURE_HASH_ALGORITHMS = 16431
HASH_SHA1 = 1
HASH_SHA256 = 2
HASH_SHA384 = 3
HASH_SHA512 = 4
HASH_IDENTITY = 5
HASH_NAMES = {HASH_SHA1: "SHA1", HASH_SHA256: "SHA2_256", HASH_SHA384: "SHA2_384",
              HASH_SHA512: "SHA2_512", HASH_IDENTITY: "IDENTITY"}
OUR_HASHES = (HASH_SHA256, HASH_SHA384, HASH_SHA512)  # what vpnsh announces and accepts

# CERT / CERTREQ encodings
CERT_X509_SIGNATURE = 4

_HASHES: dict[int, Callable[[], hashes.HashAlgorithm]] = {
    HASH_SHA1: hashes.SHA1, HASH_SHA256: hashes.SHA256, HASH_SHA384: hashes.SHA384,
    HASH_SHA512: hashes.SHA512}


class SignatureError(ValueError):
    """A signature that cannot be made or does not verify; the message is plain words."""


class NoSignatureAlgorithm(SignatureError):
    """No signature scheme both sides support for this key."""


# ---------------------------------------------------------------------- minimal DER

def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _read_tlv(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, body, next position); ValueError on anything malformed."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        n = first
    else:
        k = first & 0x7F
        if k == 0 or k > 3 or pos + k > len(data):
            raise ValueError("bad DER length")
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    if pos + n > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos:pos + n], pos + n


def _decode_oid(body: bytes) -> str:
    if not body:
        raise ValueError("empty OID")
    parts = [body[0] // 40, body[0] % 40]
    val = 0
    for b in body[1:]:
        val = (val << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(val)
            val = 0
    return ".".join(map(str, parts))


OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
OID_MGF1 = "1.2.840.113549.1.1.8"
_OID_HASH = {HASH_SHA1: "1.3.14.3.2.26", HASH_SHA256: "2.16.840.1.101.3.4.2.1",
             HASH_SHA384: "2.16.840.1.101.3.4.2.2", HASH_SHA512: "2.16.840.1.101.3.4.2.3"}
_HASH_OF_OID = {v: k for k, v in _OID_HASH.items()}
_OID_RSA_PKCS1 = {HASH_SHA1: "1.2.840.113549.1.1.5", HASH_SHA256: "1.2.840.113549.1.1.11",
                  HASH_SHA384: "1.2.840.113549.1.1.12", HASH_SHA512: "1.2.840.113549.1.1.13"}
_OID_ECDSA = {HASH_SHA1: "1.2.840.10045.4.1", HASH_SHA256: "1.2.840.10045.4.3.2",
              HASH_SHA384: "1.2.840.10045.4.3.3", HASH_SHA512: "1.2.840.10045.4.3.4"}
_NULL = b"\x05\x00"


# ---------------------------------------------------------------------- schemes

@dataclass(frozen=True)
class SigScheme:
    """One RFC 7427 signature scheme: key kind, hash, RSA padding."""

    key: str   # "rsa" | "ecdsa"
    hash_id: int
    pss: bool = False

    @property
    def name(self) -> str:
        h = HASH_NAMES[self.hash_id].replace("SHA2_", "sha").replace("SHA1", "sha1")
        if self.key == "ecdsa":
            return f"ecdsa-with-{h}"
        return f"rsassa-pss-{h}" if self.pss else f"{h}WithRSAEncryption"

    def algorithm_identifier(self) -> bytes:
        """The DER AlgorithmIdentifier RFC 7427 puts in front of the signature. RSASSA-PSS
        parameters: hash, MGF1 with the same hash, salt length = hash length; the default
        trailerField is omitted (DER), as strongSwan does."""
        if self.key == "ecdsa":
            return _tlv(0x30, _oid(_OID_ECDSA[self.hash_id]))
        if not self.pss:
            return _tlv(0x30, _oid(_OID_RSA_PKCS1[self.hash_id]) + _NULL)
        halg = _tlv(0x30, _oid(_OID_HASH[self.hash_id]) + _NULL)
        params = (_tlv(0xA0, halg) + _tlv(0xA1, _tlv(0x30, _oid(OID_MGF1) + halg))
                  + _tlv(0xA2, _tlv(0x02, bytes([_HASHES[self.hash_id]().digest_size]))))
        return _tlv(0x30, _oid(OID_RSASSA_PSS) + _tlv(0x30, params))

    def salt_length(self) -> int:
        return _HASHES[self.hash_id]().digest_size


def parse_algorithm_identifier(der: bytes) -> SigScheme:
    """The scheme of an RFC 7427 AlgorithmIdentifier; SignatureError for anything else
    (unknown OIDs, PSS with mismatched MGF1 hash or a salt other than the hash length)."""
    try:
        tag, body, end = _read_tlv(der)
        if tag != 0x30 or end != len(der):
            raise ValueError("not a SEQUENCE")
        tag, oid_body, pos = _read_tlv(body)
        if tag != 0x06:
            raise ValueError("no OID")
        oid = _decode_oid(oid_body)
        params = body[pos:]
        for hid, o in _OID_RSA_PKCS1.items():
            if oid == o and params in (b"", _NULL):
                return SigScheme("rsa", hid)
        for hid, o in _OID_ECDSA.items():
            if oid == o and params == b"":
                return SigScheme("ecdsa", hid)
        if oid == OID_RSASSA_PSS:
            return _parse_pss(params)
    except ValueError as exc:
        raise SignatureError(f"malformed signature AlgorithmIdentifier ({exc})") from None
    raise SignatureError(f"unsupported signature algorithm {oid}")


def _parse_pss(params: bytes) -> SigScheme:
    tag, body, end = _read_tlv(params)
    if tag != 0x30 or end != len(params):
        raise ValueError("bad RSASSA-PSS parameters")
    hash_id, mgf_hash, salt, trailer = HASH_SHA1, HASH_SHA1, 20, 1
    pos = 0
    while pos < len(body):
        tag, inner, pos = _read_tlv(body, pos)
        if tag == 0xA0:
            hash_id = _hash_alg(inner)
        elif tag == 0xA1:
            t, seq, _ = _read_tlv(inner)
            t2, ob, p2 = _read_tlv(seq)
            if t != 0x30 or t2 != 0x06 or _decode_oid(ob) != OID_MGF1:
                raise ValueError("mask generation is not MGF1")
            mgf_hash = _hash_alg(seq[p2:])
        elif tag == 0xA2:
            t, ib, _ = _read_tlv(inner)
            salt = int.from_bytes(ib, "big")
        elif tag == 0xA3:
            t, ib, _ = _read_tlv(inner)
            trailer = int.from_bytes(ib, "big")
        else:
            raise ValueError("unknown RSASSA-PSS parameter")
    if trailer != 1 or mgf_hash != hash_id or hash_id == HASH_SHA1:
        raise ValueError("RSASSA-PSS parameters not supported")
    if salt != _HASHES[hash_id]().digest_size:
        raise ValueError(f"RSASSA-PSS salt length {salt} is not the hash length")
    return SigScheme("rsa", hash_id, pss=True)


def _hash_alg(der: bytes) -> int:
    tag, body, _ = _read_tlv(der)
    t, ob, pos = _read_tlv(body)
    if tag != 0x30 or t != 0x06 or body[pos:] not in (b"", _NULL):
        raise ValueError("bad hash AlgorithmIdentifier")
    hid = _HASH_OF_OID.get(_decode_oid(ob))
    if hid is None:
        raise ValueError("unknown hash")
    return hid


SCHEMES = tuple([SigScheme("rsa", h) for h in OUR_HASHES]
                + [SigScheme("rsa", h, pss=True) for h in OUR_HASHES]
                + [SigScheme("ecdsa", HASH_SHA256), SigScheme("ecdsa", HASH_SHA384),
                   SigScheme("ecdsa", HASH_SHA512)])


# ---------------------------------------------------------------------- notify

def signature_hash_algorithms(ids: Iterable[int] = OUR_HASHES) -> bytes:
    """The SIGNATURE_HASH_ALGORITHMS notification data."""
    return b"".join(i.to_bytes(2, "big") for i in ids)


def parse_signature_hash_algorithms(data: bytes) -> list[int]:
    if len(data) % 2 or not data:
        raise ValueError(f"SIGNATURE_HASH_ALGORITHMS data of {len(data)} octets (must be a "
                         f"non-empty even number)")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


# ---------------------------------------------------------------------- AUTH

def _curve(key: Any) -> str:
    return str(key.curve.name)


def ikev2_signed_octets(message: bytes, nonce: bytes, maced_id: bytes) -> bytes:
    """RFC 7296 2.15: the first message of the signer | the peer's nonce | prf(SK_p, ID')."""
    return message + nonce + maced_id


def choose_auth(private_key: Any, peer_hashes: Sequence[int] | None,
                prefer_pss: bool = False) -> tuple[int, SigScheme | None]:
    """The AUTH method (and RFC 7427 scheme) to sign with, given the hashes the peer
    announced (None: it sent no SIGNATURE_HASH_ALGORITHMS, so no method 14)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        if peer_hashes is None:
            return AUTH_RSA, None
        for h in (HASH_SHA256, HASH_SHA384, HASH_SHA512):  # strongSwan's default order
            if h in peer_hashes:
                return AUTH_DIGITAL_SIGNATURE, SigScheme("rsa", h, pss=prefer_pss)
        return AUTH_RSA, None  # RFC 7427 4: method 1 stays possible
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        curve = _curve(private_key)
        own = {"secp256r1": (HASH_SHA256, AUTH_ECDSA_256),
               "secp384r1": (HASH_SHA384, AUTH_ECDSA_384)}.get(curve)
        if own is None:
            raise NoSignatureAlgorithm(f"no usable signature algorithm for an ECDSA {curve} key")
        if peer_hashes is None:
            return own[1], None
        if own[0] in peer_hashes:
            return AUTH_DIGITAL_SIGNATURE, SigScheme("ecdsa", own[0])
        for h in OUR_HASHES:
            if h in peer_hashes:
                return AUTH_DIGITAL_SIGNATURE, SigScheme("ecdsa", h)
        return own[1], None
    raise NoSignatureAlgorithm(f"no usable signature algorithm for a {type(private_key).__name__}")


def _rsa_pad(scheme: SigScheme) -> padding.AsymmetricPadding:
    if scheme.pss:
        h = _HASHES[scheme.hash_id]()
        return padding.PSS(mgf=padding.MGF1(h), salt_length=scheme.salt_length())
    return padding.PKCS1v15()


def sign_auth(private_key: Any, octets: bytes, method: int,
              scheme: SigScheme | None = None) -> bytes:
    """The Authentication Data of an AUTH payload (after method and reserved octets)."""
    if method == AUTH_RSA:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise SignatureError("AUTH method 1 needs an RSA key")
        return private_key.sign(octets, padding.PKCS1v15(), hashes.SHA1())
    if method in (AUTH_ECDSA_256, AUTH_ECDSA_384):
        want = "secp256r1" if method == AUTH_ECDSA_256 else "secp384r1"
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or _curve(private_key) != want:
            raise SignatureError(f"AUTH method {method} needs an ECDSA {want} key")
        ecdsa_hash: hashes.HashAlgorithm = (hashes.SHA256() if method == AUTH_ECDSA_256
                                            else hashes.SHA384())
        r, s = decode_dss_signature(private_key.sign(octets, ec.ECDSA(ecdsa_hash)))
        n = private_key.curve.key_size // 8 + (1 if private_key.curve.key_size % 8 else 0)
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")
    if method == AUTH_DIGITAL_SIGNATURE:
        if scheme is None:
            raise SignatureError("AUTH method 14 needs a signature scheme")
        h = _HASHES[scheme.hash_id]()
        if scheme.key == "rsa" and isinstance(private_key, rsa.RSAPrivateKey):
            sig = private_key.sign(octets, _rsa_pad(scheme), h)
        elif scheme.key == "ecdsa" and isinstance(private_key, ec.EllipticCurvePrivateKey):
            sig = private_key.sign(octets, ec.ECDSA(h))  # DER Ecdsa-Sig-Value
        else:
            raise SignatureError(f"{scheme.name} does not fit a {type(private_key).__name__}")
        algid = scheme.algorithm_identifier()
        return bytes([len(algid)]) + algid + sig
    raise SignatureError(f"AUTH method {method} is not a signature method")


def verify_auth(public_key: Any, octets: bytes, method: int, data: bytes,
                accepted_hashes: Sequence[int] = OUR_HASHES) -> SigScheme | None:
    """Check the peer's AUTH data over ``octets`` with the public key of its certificate.
    Returns the RFC 7427 scheme used (None for methods 1/9/10); SignatureError in words."""
    try:
        if method == AUTH_RSA:
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureError("AUTH method 1 (RSA) but the peer's certificate key is not RSA")
            public_key.verify(data, octets, padding.PKCS1v15(), hashes.SHA1())
            return None
        if method in (AUTH_ECDSA_256, AUTH_ECDSA_384):
            want = "secp256r1" if method == AUTH_ECDSA_256 else "secp384r1"
            if not isinstance(public_key, ec.EllipticCurvePublicKey) or _curve(public_key) != want:
                raise SignatureError(f"AUTH method {method} does not match the peer's "
                                     f"certificate key")
            n = len(data) // 2
            if len(data) % 2 or n * 8 < public_key.curve.key_size:
                raise SignatureError("ECDSA AUTH data has the wrong length")
            der = encode_dss_signature(int.from_bytes(data[:n], "big"),
                                       int.from_bytes(data[n:], "big"))
            vh: hashes.HashAlgorithm = (hashes.SHA256() if method == AUTH_ECDSA_256
                                        else hashes.SHA384())
            public_key.verify(der, octets, ec.ECDSA(vh))
            return None
        if method == AUTH_DIGITAL_SIGNATURE:
            if not data or 1 + data[0] > len(data):
                raise SignatureError("AUTH method 14 data is truncated")
            scheme = parse_algorithm_identifier(data[1:1 + data[0]])
            sig = data[1 + data[0]:]
            if scheme.hash_id not in accepted_hashes:
                raise NoSignatureAlgorithm(
                    f"the peer signed with {HASH_NAMES[scheme.hash_id]}, which was not offered "
                    f"({', '.join(HASH_NAMES[h] for h in accepted_hashes)})")
            h = _HASHES[scheme.hash_id]()
            if scheme.key == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(sig, octets, _rsa_pad(scheme), h)
            elif scheme.key == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
                public_key.verify(sig, octets, ec.ECDSA(h))
            else:
                raise SignatureError(f"the peer signed with {scheme.name} but its certificate "
                                     f"key is {type(public_key).__name__}")
            return scheme
    except InvalidSignature:
        raise SignatureError("the peer's AUTH signature does not verify with the public key "
                             "of its certificate") from None
    except ValueError as exc:
        if isinstance(exc, SignatureError):
            raise
        raise SignatureError(f"malformed signature ({exc})") from None
    raise SignatureError(f"AUTH method {method} is not a signature method")


def auth_payload_body(method: int, data: bytes) -> bytes:
    """An AUTH payload's body: method, three reserved octets, the data."""
    return bytes([method, 0, 0, 0]) + data


def parse_auth_payload_body(body: bytes) -> tuple[int, bytes]:
    if len(body) < 5:
        raise ValueError("AUTH payload too short")
    return body[0], body[4:]


# ---------------------------------------------------------------------- CERT / CERTREQ

def cert_payload_body(cert: x509.Certificate) -> bytes:
    """A CERT payload body: encoding 4 (X.509 signature), the DER certificate."""
    return bytes([CERT_X509_SIGNATURE]) + cert.public_bytes(serialization.Encoding.DER)


def parse_cert_payload_body(body: bytes) -> x509.Certificate:
    """The certificate in a CERT payload; ValueError for other encodings or bad DER."""
    if not body:
        raise ValueError("empty CERT payload")
    if body[0] != CERT_X509_SIGNATURE:
        raise ValueError(f"CERT encoding {body[0]} is not supported (4: X.509 signature)")
    return x509.load_der_x509_certificate(body[1:])


def spki_sha1(cert: x509.Certificate) -> bytes:
    """SHA-1 of the certificate's SubjectPublicKeyInfo: what CERTREQ lists for a CA."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    h = hashes.Hash(hashes.SHA1())
    h.update(spki)
    return h.finalize()


def certreq_payload_body(cas: Iterable[x509.Certificate]) -> bytes:
    """A CERTREQ payload body naming the trusted CAs."""
    return bytes([CERT_X509_SIGNATURE]) + b"".join(spki_sha1(c) for c in cas)


def parse_certreq_payload_body(body: bytes) -> list[bytes]:
    """The CA key hashes of a CERTREQ (encoding 4); ValueError if not a multiple of 20."""
    if not body:
        raise ValueError("empty CERTREQ payload")
    if body[0] != CERT_X509_SIGNATURE:
        raise ValueError(f"CERTREQ encoding {body[0]} is not supported")
    data = body[1:]
    if len(data) % 20:
        raise ValueError("CERTREQ authority list is not a list of SHA-1 hashes")
    return [data[i:i + 20] for i in range(0, len(data), 20)]


def requested_cas(hashes_: Iterable[bytes], cas: dict[str, x509.Certificate]) -> list[str]:
    """Names of our CA certificates the peer asked for (to pick the local certificate)."""
    wanted = set(hashes_)
    return [name for name, c in cas.items() if spki_sha1(c) in wanted]


# ---------------------------------------------------------------------- IKE ID for certs

ID_IPV4_ADDR = 1
ID_FQDN = 2
ID_RFC822_ADDR = 3
ID_IPV6_ADDR = 5
ID_DER_ASN1_DN = 9
ID_KEY_ID = 11


def id_payload_data(id_type: str, value: str, cert: x509.Certificate | None = None
                    ) -> tuple[int, bytes]:
    """(IKE ID type, identification data) for a configured ``local-id`` (``dn`` without a
    value: the certificate's subject)."""
    if id_type == "dn":
        if value:
            pairs = parse_dn(value)
            name = x509.Name([x509.NameAttribute(ObjectIdentifier(k), v) for k, v in pairs])
            return ID_DER_ASN1_DN, name.public_bytes()
        if cert is None:
            raise ValueError("local-id type dn needs an id or a certificate")
        return ID_DER_ASN1_DN, cert.subject.public_bytes()
    if id_type == "fqdn":
        return ID_FQDN, value.encode()
    if id_type == "ufqdn":
        return ID_RFC822_ADDR, value.encode()
    if id_type == "ipaddr":
        ip = ipaddress.ip_address(value)
        return (ID_IPV4_ADDR if ip.version == 4 else ID_IPV6_ADDR), ip.packed
    if id_type == "keyid":
        return ID_KEY_ID, value.encode()
    raise ValueError(f"unknown ID type {id_type}")


def peer_id(id_type: int, data: bytes) -> tuple[str, str | x509.Name]:
    """A received ID payload as (PAN-OS ID type, value) for :func:`validate.check_peer_id`."""
    if id_type == ID_DER_ASN1_DN:
        return "dn", _load_name(data)
    if id_type == ID_FQDN:
        return "fqdn", data.decode("ascii", "replace")
    if id_type == ID_RFC822_ADDR:
        return "ufqdn", data.decode("ascii", "replace")
    if id_type == ID_IPV4_ADDR and len(data) == 4 or id_type == ID_IPV6_ADDR and len(data) == 16:
        return "ipaddr", str(ipaddress.ip_address(data))
    if id_type == ID_KEY_ID:
        return "keyid", data.hex()
    raise ValueError(f"ID type {id_type} cannot name a certificate")


def _load_name(der: bytes) -> x509.Name:
    """A DER Name (an ID_DER_ASN1_DN): cryptography has no loader for a bare Name, so read
    its RDN sequence. ValueError for anything malformed."""
    tag, body, end = _read_tlv(der)
    if tag != 0x30 or end != len(der):
        raise ValueError("ID_DER_ASN1_DN is not a DER Name")
    rdns = []
    pos = 0
    while pos < len(body):
        t, rdn, pos = _read_tlv(body, pos)
        if t != 0x31:
            raise ValueError("bad RDN in ID_DER_ASN1_DN")
        attrs = []
        p = 0
        while p < len(rdn):
            t2, atv, p = _read_tlv(rdn, p)
            t3, ob, q = _read_tlv(atv)
            t4, val, _ = _read_tlv(atv, q)
            if t2 != 0x30 or t3 != 0x06:
                raise ValueError("bad attribute in ID_DER_ASN1_DN")
            attrs.append(x509.NameAttribute(
                ObjectIdentifier(_decode_oid(ob)),
                val.decode("utf-16-be" if t4 == 0x1E else "utf-8", "replace")))
        rdns.append(x509.RelativeDistinguishedName(attrs))
    return x509.Name(rdns)


# ---------------------------------------------------------------------- IKEv1 method 3

def _emsa_pkcs1_type1(data: bytes, k: int) -> int:
    if len(data) > k - 11:
        raise SignatureError("hash too long for the RSA key")
    return int.from_bytes(b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data, "big")


def ikev1_sign(private_key: Any, hash_i: bytes) -> bytes:
    """SIG_I/SIG_R of IKEv1 RSA-signature authentication: HASH_I/HASH_R PKCS#1 v1.5 type-1
    padded and signed raw (no DigestInfo), computed with RSA blinding and CRT."""
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise SignatureError("IKEv1 RSA-signature authentication needs an RSA key")
    nums = private_key.private_numbers()
    pub = nums.public_numbers
    n, e = pub.n, pub.e
    k = (n.bit_length() + 7) // 8
    m = _emsa_pkcs1_type1(hash_i, k)
    while True:
        r = secrets.randbelow(n - 2) + 2
        try:
            r_inv = pow(r, -1, n)
            break
        except ValueError:
            continue
    blinded = (m * pow(r, e, n)) % n
    s1 = pow(blinded, nums.dmp1, nums.p)
    s2 = pow(blinded, nums.dmq1, nums.q)
    h = (nums.iqmp * (s1 - s2)) % nums.p
    s = ((s2 + h * nums.q) * r_inv) % n
    if pow(s, e, n) != m:  # a fault must never leak a wrong signature
        raise SignatureError("RSA signature self-check failed")
    return s.to_bytes(k, "big")


def ikev1_verify(public_key: Any, hash_i: bytes, signature: bytes) -> None:
    """Check SIG_I/SIG_R against HASH_I/HASH_R; SignatureError in words."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SignatureError("RSA signature but the peer's certificate key is not RSA")
    try:
        got = public_key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        raise SignatureError("the peer's RSA signature does not verify with the public key "
                             "of its certificate") from None
    if not hmac.compare_digest(got, hash_i):
        raise SignatureError("the peer's RSA signature does not verify with the public key "
                             "of its certificate")
