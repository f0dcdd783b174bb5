"""Diffie-Hellman groups for IKE: MODP (RFC 2409, RFC 3526) and ECP (RFC 5903).

Public values on the wire: MODP is the big-endian integer zero-padded to the length
of the prime; ECP is x | y, each padded to the field size (RFC 5903 section 7). The
shared secret is g^ir zero-padded to the prime length (RFC 7296 2.14), or the x
coordinate for ECP (RFC 5903 section 9).
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

from cryptography.hazmat.primitives.asymmetric import dh, ec
from cryptography.utils import CryptographyDeprecationWarning

from .algorithms import DhId, UnsupportedAlgorithm


@contextmanager
def _ffdh_allowed() -> Iterator[None]:
    """IKE still negotiates MODP groups; cryptography warns on every FFDH call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


# The MODP primes are p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + k),
# generator 2; tests/unit/test_crypto_dh.py recomputes them from that formula.
MODP_PRIMES: dict[DhId, int] = {
    # RFC 2409 6.1
    DhId.MODP_768: int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
        16,
    ),
    # RFC 2409 6.2
    DhId.MODP_1024: int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
        16,
    ),
    # RFC 3526 2
    DhId.MODP_1536: int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
        16,
    ),
    # RFC 3526 3
    DhId.MODP_2048: int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
        16,
    ),
    # RFC 3526 4
    DhId.MODP_3072: int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
        "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
        "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
        "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
        16,
    ),
    # RFC 3526 5
    DhId.MODP_4096: int(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
        "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
        "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
        "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
        "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
        "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
        "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
        "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
        16,
    ),
}

_ECP_CURVES: dict[DhId, tuple[type[ec.EllipticCurve], int]] = {
    DhId.ECP_256: (ec.SECP256R1, 32),
    DhId.ECP_384: (ec.SECP384R1, 48),
    DhId.ECP_521: (ec.SECP521R1, 66),
}


class DhKeyPair:
    """One ephemeral key pair. ``public`` is the KE payload data."""

    public: bytes

    def shared(self, peer_public: bytes) -> bytes:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} public={len(self.public)} bytes>"


class DhGroup:
    """A DH group: ``generate()`` makes a key pair."""

    id: DhId
    public_size: int

    def generate(self) -> DhKeyPair:
        raise NotImplementedError

    def from_private(self, private_value: int) -> DhKeyPair:
        """A key pair from a known private value (test vectors only)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id.name}>"


@dataclass(repr=False)
class ModpKeyPair(DhKeyPair):
    group: ModpGroup
    _key: dh.DHPrivateKey
    public: bytes = field(init=False)

    def __post_init__(self) -> None:
        with _ffdh_allowed():
            y = self._key.public_key().public_numbers().y
        self.public = y.to_bytes(self.group.public_size, "big")

    def shared(self, peer_public: bytes) -> bytes:
        g = self.group
        y = _peer_value(g, peer_public)
        with _ffdh_allowed():
            peer = dh.DHPublicNumbers(y, g.numbers).public_key()
            secret = self._key.exchange(peer)
        return secret.rjust(g.public_size, b"\x00")


def _peer_value(group: ModpGroup, peer_public: bytes) -> int:
    """The peer's public value y, checked: the group's length and 1 < y < p - 1."""
    if len(peer_public) != group.public_size:
        raise ValueError(
            f"{group.id.name} public value is {len(peer_public)} bytes, want {group.public_size}"
        )
    y = int.from_bytes(peer_public, "big")
    if not 1 < y < group.p - 1:
        raise ValueError(f"{group.id.name} public value out of range")
    return y


# OpenSSL knows the RFC 3526 primes by name and takes a peer value in them cheaply; the
# RFC 2409 groups 1 and 2 it does not know, and it re-checks their parameters (primality
# tests: 20-70 ms) for every peer value it is given. Those two groups are computed here
# instead: the modular exponentiation, with the range check above.
_PLAIN_MODP = frozenset({DhId.MODP_768, DhId.MODP_1024})
# exponent length for those groups: twice their ~80-bit strength and then some (OpenSSL
# uses 224 bits for group 14)
_PLAIN_EXPONENT_BITS = 256


@dataclass(repr=False)
class PlainModpKeyPair(DhKeyPair):
    group: ModpGroup
    _x: int
    public: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.public = pow(2, self._x, self.group.p).to_bytes(self.group.public_size, "big")

    def shared(self, peer_public: bytes) -> bytes:
        g = self.group
        y = _peer_value(g, peer_public)
        return pow(y, self._x, g.p).to_bytes(g.public_size, "big")


class ModpGroup(DhGroup):
    def __init__(self, dh_id: DhId) -> None:
        self.id = dh_id
        self.p = MODP_PRIMES[dh_id]
        self.public_size = (self.p.bit_length() + 7) // 8
        self.plain = dh_id in _PLAIN_MODP
        with _ffdh_allowed():
            self.numbers = dh.DHParameterNumbers(self.p, 2)
            self.parameters = None if self.plain else self.numbers.parameters()

    def generate(self) -> DhKeyPair:
        if self.parameters is None:
            x = secrets.randbits(_PLAIN_EXPONENT_BITS) | (1 << (_PLAIN_EXPONENT_BITS - 1))
            return PlainModpKeyPair(self, x)
        with _ffdh_allowed():
            return ModpKeyPair(self, self.parameters.generate_private_key())

    def from_private(self, private_value: int) -> DhKeyPair:
        if self.plain:
            return PlainModpKeyPair(self, private_value)
        y = pow(2, private_value, self.p)
        with _ffdh_allowed():
            key = dh.DHPrivateNumbers(private_value, dh.DHPublicNumbers(y, self.numbers))
            return ModpKeyPair(self, key.private_key())


@dataclass(repr=False)
class EcpKeyPair(DhKeyPair):
    group: EcpGroup
    _key: ec.EllipticCurvePrivateKey
    public: bytes = field(init=False)

    def __post_init__(self) -> None:
        n = self._key.public_key().public_numbers()
        size = self.group.coord_size
        self.public = n.x.to_bytes(size, "big") + n.y.to_bytes(size, "big")

    def shared(self, peer_public: bytes) -> bytes:
        g = self.group
        if len(peer_public) != g.public_size:
            raise ValueError(
                f"{g.id.name} public value is {len(peer_public)} bytes, want {g.public_size}"
            )
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(
                g.curve, b"\x04" + peer_public
            )
        except ValueError:
            raise ValueError(f"{g.id.name} public value is not a point on the curve") from None
        return self._key.exchange(ec.ECDH(), peer).rjust(g.coord_size, b"\x00")


class EcpGroup(DhGroup):
    def __init__(self, dh_id: DhId) -> None:
        curve_type, coord = _ECP_CURVES[dh_id]
        self.id = dh_id
        self.curve = curve_type()
        self.coord_size = coord
        self.public_size = 2 * coord

    def generate(self) -> DhKeyPair:
        return EcpKeyPair(self, ec.generate_private_key(self.curve))

    def from_private(self, private_value: int) -> DhKeyPair:
        return EcpKeyPair(self, ec.derive_private_key(private_value, self.curve))


@cache
def group(dh_id: int) -> DhGroup:
    """The (cached) group for an IANA DH transform ID; UnsupportedAlgorithm if unknown."""
    try:
        gid = DhId(dh_id)
    except ValueError:
        raise UnsupportedAlgorithm(f"DH group {dh_id} not supported") from None
    if gid in MODP_PRIMES:
        return ModpGroup(gid)
    return EcpGroup(gid)
