"""IKE pseudorandom functions: prf and prf+ (RFC 7296 section 2.13)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hmac

from .algorithms import PrfId, prf_alg


def prf(prf_id: int, key: bytes, data: bytes) -> bytes:
    """HMAC of ``data`` under ``key`` with the PRF's hash (full output, not truncated)."""
    h = hmac.HMAC(key, prf_alg(prf_id).hash)
    h.update(data)
    return h.finalize()


def prf_plus(prf_id: int, key: bytes, seed: bytes, length: int) -> bytes:
    """``prf+ (K, S) = T1 | T2 | ...`` truncated to ``length`` bytes.

    ``T1 = prf(K, S | 0x01)``, ``Tn = prf(K, Tn-1 | S | n)``; at most 255 blocks.
    """
    alg = prf_alg(prf_id)
    if length < 0:
        raise ValueError("negative length")
    blocks = -(-length // alg.out_size)
    if blocks > 255:
        raise ValueError(f"prf+ cannot produce {length} bytes with {PrfId(prf_id).name}")
    keyed = hmac.HMAC(key, alg.hash)
    out = bytearray()
    t = b""
    for n in range(1, blocks + 1):
        h = keyed.copy()
        h.update(t + seed + bytes((n,)))
        t = h.finalize()
        out += t
    return bytes(out[:length])
