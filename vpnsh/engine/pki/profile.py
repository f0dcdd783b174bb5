"""Certificate profiles (``set shared certificate-profile ...``) as the IKE tasks use them.

:func:`profiles_from_config` turns the running config into :class:`CertProfile` objects;
:func:`check_profiles` says which profiles name certificates the store lacks (commit-time
problems for the engine to report); :meth:`CertProfile.validate` runs the chain checks with
the store's CAs and CRLs.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from vpnsh.engine.pki import certinfo
from vpnsh.engine.pki.store import CertStore, PkiError
from vpnsh.engine.pki.validate import Policy, Result, validate_chain

CERT_PROFILES = ("shared", "certificate-profile")


@dataclass(frozen=True)
class CertProfile:
    name: str
    cas: tuple[str, ...]  # certificate names in the store
    use_crl: bool = False
    block_unknown_cert: bool = False
    block_expired_cert: bool = False

    def policy(self, strict_revocation: bool = False) -> Policy:
        """The checks: validity is always enforced for IKE (as strongSwan and RFC 5280 do;
        ``block-expired-cert no`` is a PAN-OS option for SSL decryption, not for IKE peers).
        The gateway's ``strict-validation-revocation yes`` makes a missing or stale CRL a
        failure, and requires an IKE-capable extended key usage."""
        return Policy(use_crl=self.use_crl or strict_revocation,
                      block_unknown=self.block_unknown_cert or strict_revocation,
                      block_expired=True, strict_eku=strict_revocation)

    def anchors(self, store: CertStore) -> list[x509.Certificate]:
        return [store.certificate(n) for n in self.cas if store.exists(n)]

    def validate(self, store: CertStore, end_entity: x509.Certificate,
                 intermediates: Sequence[x509.Certificate], *, now: datetime.datetime,
                 strict_revocation: bool = False) -> Result:
        """Check the peer's certificate and the intermediates it sent (plus CA certificates
        of the store, so a peer that does not send its intermediate still validates)."""
        pool = list(intermediates) + list(store.ca_certificates().values())
        by_subject = {store.certificate(n).subject.public_bytes(): n for n in store.names()}

        def crl_for(ca: x509.Certificate) -> x509.CertificateRevocationList | None:
            name = by_subject.get(ca.subject.public_bytes())
            return store.crl(name) if name else None

        return validate_chain(end_entity, pool, self.anchors(store), now=now,
                              policy=self.policy(strict_revocation), crl_for=crl_for)


def _yes(value: Any) -> bool:
    return value == "yes"


def profiles_from_config(tree: Mapping[str, Any]) -> dict[str, CertProfile]:
    node: Any = tree
    for key in CERT_PROFILES:
        node = node.get(key) if isinstance(node, Mapping) else None
    out = {}
    for name, p in (node or {}).items():
        out[name] = CertProfile(name, tuple((p.get("CA") or {}).keys()),
                                use_crl=_yes(p.get("use-crl")),
                                block_unknown_cert=_yes(p.get("block-unknown-cert")),
                                block_expired_cert=_yes(p.get("block-expired-cert")))
    return out


def check_profiles(profiles: Mapping[str, CertProfile], store: CertStore) -> list[str]:
    """Problems in words: a CA entry naming no certificate, or a certificate that is no CA."""
    problems = []
    for prof in profiles.values():
        for ca in prof.cas:
            try:
                cert = store.certificate(ca)
            except PkiError:
                problems.append(f"certificate-profile {prof.name}: CA {ca} is not a certificate "
                                f"of this device (request certificate generate / scp import)")
                continue
            if not certinfo.is_ca(cert):
                problems.append(f"certificate-profile {prof.name}: certificate {ca} is not a CA")
    return problems
