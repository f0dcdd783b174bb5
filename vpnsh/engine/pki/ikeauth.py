"""Certificate authentication for the IKE tasks: one call to prove who we are, one call to
check the peer. Built on :mod:`.store`, :mod:`.profile`, :mod:`.validate`, :mod:`.ikesig`.

For a gateway with ``authentication certificate local-certificate name X certificate-profile
P`` the IKEv2 task does, around IKE_AUTH:

* IKE_SA_INIT: send SIGNATURE_HASH_ALGORITHMS (:func:`ikesig.signature_hash_algorithms`) and
  CERTREQ (:meth:`PeerCheck.certreq`); remember the peer's hash list, if any.
* sending IKE_AUTH: ``me = LocalCredential.load(store, X, local_id_type, local_id)``;
  ID payload ``me.id_payload``, CERT payloads ``me.cert_payloads()``, AUTH payload body
  ``me.auth_payload(signed_octets, peer_hashes)``.
* receiving IKE_AUTH: ``PeerCheck(store, profile, ...).check(cert_bodies, id_type, id_data,
  auth_body, signed_octets, now)`` -> :class:`Verdict` (``ok``, ``reason`` in plain words for
  ``test vpn ike-sa`` and ikemgr.log, ``code`` for counters, the peer's ID and chain).

IKEv1 main mode with RSA signatures uses :meth:`LocalCredential.sign_ikev1` and
:meth:`PeerCheck.check_ikev1` with HASH_I/HASH_R in place of the AUTH octets.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from vpnsh.engine.pki import certinfo, ikesig
from vpnsh.engine.pki.profile import CertProfile
from vpnsh.engine.pki.store import CertStore
from vpnsh.engine.pki.validate import ID_MISMATCH, Failure, check_peer_id

BAD_SIGNATURE = "auth-signature"
NO_ALGORITHM = "no-signature-algorithm"
BAD_CERT_PAYLOAD = "bad-cert-payload"
NO_CERT = "no-certificate"


@dataclass
class LocalCredential:
    """Our certificate, key and the intermediates to send."""

    name: str
    cert: x509.Certificate
    key: Any
    chain: list[x509.Certificate]           # intermediates (not the root)
    id_type: int
    id_data: bytes

    @classmethod
    def load(cls, store: CertStore, name: str, local_id_type: str = "dn",
             local_id: str = "") -> LocalCredential:
        """The store's certificate ``name`` with its key; the IKE ID from ``local-id`` (or the
        subject DN when none is configured). ValueError/PkiError in words."""
        cert = store.certificate(name)
        key = store.private_key(name)
        chain = store.chain_for(name)[1:]
        if local_id and local_id_type != "dn":
            fail = check_peer_id(cert, local_id_type, local_id)
            if fail is not None:  # PAN-OS: IP/FQDN/email IDs must be in the certificate's SAN
                raise ValueError(f"local-id {local_id_type}:{local_id} is not in certificate "
                                 f"{name} (subjectAltName {certinfo.san_text(cert) or 'none'})")
        id_type, id_data = ikesig.id_payload_data(local_id_type, local_id, cert)
        return cls(name, cert, key, chain, id_type, id_data)

    @property
    def auth_label(self) -> str:
        """``RSA signature`` / ``ECDSA signature``: for show vpn ike-sa detail."""
        return certinfo.key_type(self.key).split()[0] + " signature"

    def cert_payloads(self) -> list[bytes]:
        """CERT payload bodies: our certificate first, then the intermediates."""
        return [ikesig.cert_payload_body(c) for c in [self.cert, *self.chain]]

    def auth_payload(self, signed_octets: bytes, peer_hashes: Sequence[int] | None,
                     prefer_pss: bool = False) -> bytes:
        """The AUTH payload body (method, reserved, data) over the RFC 7296 2.15 octets."""
        method, scheme = ikesig.choose_auth(self.key, peer_hashes, prefer_pss)
        return ikesig.auth_payload_body(
            method, ikesig.sign_auth(self.key, signed_octets, method, scheme))

    def sign_ikev1(self, hash_i: bytes) -> bytes:
        """IKEv1 SIG_I/SIG_R (auth method 3)."""
        return ikesig.ikev1_sign(self.key, hash_i)


@dataclass
class Verdict:
    ok: bool
    code: str = ""
    reason: str = ""
    peer_cert: x509.Certificate | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    peer_id: str = ""                       # "dn:C=US, O=Lab, CN=peer" for show and logs
    scheme: str = ""                        # "ecdsa-with-sha256", "RSA (method 1)"...
    warnings: list[str] = field(default_factory=list)


@dataclass
class PeerCheck:
    """How one gateway checks its peer: the profile's CAs, the gateway's options."""

    store: CertStore
    profile: CertProfile
    peer_id_type: str | None = None         # configured peer-id (None: any ID the cert carries)
    peer_id: str = ""
    allow_id_payload_mismatch: bool = False
    strict_validation_revocation: bool = False
    peer_id_wildcard: bool = False          # peer-id matching wildcard: * and ? in the id

    def certreq(self) -> bytes:
        """The CERTREQ payload body naming the profile's CAs."""
        return ikesig.certreq_payload_body(self.profile.anchors(self.store))

    def _validate(self, cert_bodies: Sequence[bytes], id_type: int, id_data: bytes,
                  now: datetime.datetime) -> Verdict:
        if not cert_bodies:
            return Verdict(False, NO_CERT, "the peer sent no certificate")
        try:
            certs = [ikesig.parse_cert_payload_body(b) for b in cert_bodies]
        except ValueError as exc:
            return Verdict(False, BAD_CERT_PAYLOAD, f"the peer's CERT payload: {exc}")
        peer, intermediates = certs[0], certs[1:]
        try:
            kind, value = ikesig.peer_id(id_type, id_data)
        except ValueError as exc:
            return Verdict(False, ID_MISMATCH, f"ID mismatch: {exc}", peer)
        shown = f"{kind}:{value if isinstance(value, str) else certinfo.dn_text(value)}"
        result = self.profile.validate(self.store, peer, intermediates, now=now,
                                       strict_revocation=self.strict_validation_revocation)
        if not result.ok:
            assert result.failure is not None
            return Verdict(False, result.failure.code, result.failure.reason, peer,
                           result.chain, shown, warnings=result.warnings)
        fail: Failure | None = None
        if not self.allow_id_payload_mismatch:
            fail = check_peer_id(peer, kind, value)
        if fail is None and self.peer_id_type is not None:
            configured = (self.peer_id_type, self.peer_id)
            if self.peer_id_wildcard:
                sent = value if isinstance(value, str) else certinfo.dn_text(value)
                got_ok = kind == self.peer_id_type and fnmatch.fnmatchcase(
                    sent.casefold(), self.peer_id.casefold())
            else:
                got_ok = check_peer_id(peer, *configured) is None if self.peer_id else True
            if not got_ok:
                fail = Failure(ID_MISMATCH, f"ID mismatch: the peer's certificate "
                                            f"'{certinfo.dn_text(peer.subject)}' does not carry "
                                            f"the configured peer-id {configured[0]}:"
                                            f"{configured[1]} (the peer sent {shown})")
        if fail is not None:
            return Verdict(False, fail.code, fail.reason, peer, result.chain, shown,
                           warnings=result.warnings)
        return Verdict(True, peer_cert=peer, chain=result.chain, peer_id=shown,
                       warnings=result.warnings)

    def check(self, cert_bodies: Sequence[bytes], id_type: int, id_data: bytes,
              auth_body: bytes, signed_octets: bytes, now: datetime.datetime,
              accepted_hashes: Sequence[int] = ikesig.OUR_HASHES) -> Verdict:
        """The peer's IKE_AUTH: certificate chain to the profile's CAs, ID against the
        certificate (and the configured peer-id), AUTH signature with the certificate's key."""
        v = self._validate(cert_bodies, id_type, id_data, now)
        if not v.ok:
            return v
        assert v.peer_cert is not None
        try:
            method, data = ikesig.parse_auth_payload_body(auth_body)
            scheme = ikesig.verify_auth(v.peer_cert.public_key(), signed_octets, method, data,
                                        accepted_hashes)
        except ikesig.NoSignatureAlgorithm as exc:
            return Verdict(False, NO_ALGORITHM, f"no usable signature algorithm: {exc}",
                           v.peer_cert, v.chain, v.peer_id)
        except ValueError as exc:
            return Verdict(False, BAD_SIGNATURE, str(exc), v.peer_cert, v.chain, v.peer_id)
        v.scheme = scheme.name if scheme else f"method {method}"
        return v

    def check_ikev1(self, cert_bodies: Sequence[bytes], id_type: int, id_data: bytes,
                    hash_r: bytes, signature: bytes, now: datetime.datetime) -> Verdict:
        """IKEv1 main mode, auth method 3: the same checks, SIG over HASH_I/HASH_R."""
        v = self._validate(cert_bodies, id_type, id_data, now)
        if not v.ok:
            return v
        assert v.peer_cert is not None
        try:
            ikesig.ikev1_verify(v.peer_cert.public_key(), hash_r, signature)
        except ValueError as exc:
            return Verdict(False, BAD_SIGNATURE, str(exc), v.peer_cert, v.chain, v.peer_id)
        v.scheme = "RSA signature"
        return v
