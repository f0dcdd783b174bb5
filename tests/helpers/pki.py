"""Test PKIs made with vpnsh's own certificate store (no files from outside the test)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from vpnsh.engine.pki.store import CertStore


def keypair_pem(src: CertStore, name: str) -> bytes:
    """Certificate ``name`` of ``src`` followed by its private key, in clear (PKCS#8 PEM)."""
    return src.export_pem(name) + src.private_key(name).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def two_gateway_stores(factory: pytest.TempPathFactory, *, b_key: tuple[str, int],
                       b_knows_intermediate: bool) -> dict[str, CertStore]:
    """A root, an intermediate, gateway certificates ``a`` (RSA 3072) and ``b`` (``b_key``)
    for a.example and b.example, and ``rogue``: b.example from another root (``b_key``'s
    algorithm). Returns the stores of side "a", "b" and "r" (the rogue): each holds the
    root and its own key pair; A always holds the intermediate, B and the rogue only if
    ``b_knows_intermediate`` (else B needs it from A's CERT payloads)."""
    alg, bits = b_key
    ca = CertStore(factory.mktemp("ca"))
    ca.generate("root", "Lab Root", "RSA", 2048, ca=True)
    ca.generate("int", "Lab Intermediate", "RSA", 2048, ca=True, signed_by="root")
    ca.generate("a", "a.example", "RSA", 3072, signed_by="int", hostnames=["a.example"])
    ca.generate("b", "b.example", alg, bits, signed_by="int", hostnames=["b.example"])
    ca.generate("other", "Other Root", alg, bits, ca=True)
    ca.generate("rogue", "b.example", alg, bits, signed_by="other", hostnames=["b.example"])
    out = {}
    for side, mine in (("a", "a"), ("b", "b"), ("r", "rogue")):
        st = CertStore(factory.mktemp(side))
        st.import_file("root", ca.export_pem("root"), "pem")
        if side == "a" or b_knows_intermediate:
            st.import_file("int", ca.export_pem("int"), "pem")
        st.import_file(mine, keypair_pem(ca, mine), "pem", keypair=True)
        out[side] = st
    return out
