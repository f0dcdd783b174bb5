"""The keys of an IKEv2 SA (RFC 7296 2.14, 2.18) and the SK payload protection made of them."""

from __future__ import annotations

from ..crypto.algorithms import encr_alg, integ_alg
from ..crypto.keymat import IkeKeys, ike_sa_keys, ike_sa_keys_rekey
from .proposals import IkeSuite
from .protection import SkProtection
from .sa import IkeSa


def derive(sa: IkeSa, shared: bytes) -> None:
    """SKEYSEED and the SK_* keys of a new IKE SA from IKE_SA_INIT (nonces, SPIs, DH)."""
    suite = sa.suite
    assert suite is not None
    encr = encr_alg(suite.encr, suite.key_bits or None)
    integ = None if suite.aead else integ_alg(suite.integ)
    sa.keys = ike_sa_keys(suite.prf, encr, integ, sa.ni, sa.nr, shared, sa.spi_i, sa.spi_r)


def rekeyed(old: IkeSa, suite: IkeSuite, shared: bytes, ni: bytes, nr: bytes,
            spi_i: bytes, spi_r: bytes) -> IkeKeys:
    """The keys of the IKE SA that rekeys ``old`` (SKEYSEED from ``old``'s SK_d)."""
    assert old.suite is not None and old.keys is not None
    encr = encr_alg(suite.encr, suite.key_bits or None)
    integ = None if suite.aead else integ_alg(suite.integ)
    return ike_sa_keys_rekey(suite.prf, old.keys.sk_d, encr, integ, shared, ni, nr, spi_i,
                             spi_r, old_prf_id=old.suite.prf)


def protect(sa: IkeSa) -> None:
    """The SK payload protection of ``sa``, in our direction (initiator or responder)."""
    suite, k = sa.suite, sa.keys
    assert suite is not None and k is not None
    if sa.initiator:
        sa.protection = SkProtection(
            suite.encr, suite.key_bits, suite.integ, k.sk_ei, k.sk_ai, k.sk_er, k.sk_ar
        )
    else:
        sa.protection = SkProtection(
            suite.encr, suite.key_bits, suite.integ, k.sk_er, k.sk_ar, k.sk_ei, k.sk_ai
        )
