"""The ESP transform, tunnel mode (RFC 4303), pure: bytes in, bytes out.

``seal_payload``/``open_payload`` are the generic transform (any next header);
``encapsulate(sa, inner)`` gives the ESP packet (SPI .. ICV) for an outbound SA; the
caller puts it in an outer IP header (protocol 50) or a UDP datagram (RFC 3948).
``decapsulate(sa, esp)`` gives the inner IP packet of an inbound SA, or raises
``EspDrop`` with a ``DropReason``. The SA's counters are updated here, drops
included, so callers only log or count the reason elsewhere if they want to.

AEAD (RFC 4106 GCM, RFC 4309 CCM, RFC 7634 ChaCha20-Poly1305): the 8-byte explicit
IV is the 64-bit sequence number (unique per key); AAD is SPI | seq (low 32 bits), or
SPI | seq high | seq low with ESN. CBC: an unpredictable IV per packet (see
``BlockCipher.encrypt_fresh_iv``), and the ICV
covers SPI | seq | IV | ciphertext, followed by the high 32 bits of the sequence
number with ESN (RFC 4303 2.2.1), which are never sent.

``python -m vpnsh.engine.dataplane.esp`` prints microseconds per 1400-byte packet.
"""

from __future__ import annotations

import os
import struct
from enum import StrEnum

from ..crypto.cipher import AuthenticationFailed
from .sa import Direction, EspSA, SelectorRange

NH_IPV4 = 4
NH_IPV6 = 41
NH_NO_NEXT = 59  # dummy packet (TFC, RFC 4303 2.6)

_MAX_SEQ_32 = 0xFFFFFFFF
_MAX_SEQ_64 = 0xFFFFFFFFFFFFFFFF
_PADS = tuple(bytes(range(1, n + 1)) for n in range(256))
# padding | pad length | next header, precomputed for the tunnel-mode next headers
_TRAILERS = {nh: tuple(_PADS[n] + bytes((n, nh)) for n in range(256)) for nh in (4, 41)}
_HDR = struct.Struct(">II")
_SEQHI = struct.Struct(">I")
_PORT_PROTOS = frozenset({6, 17, 132, 33, 136})  # TCP UDP SCTP DCCP UDP-Lite
_ICMP_PROTOS = frozenset({1, 58})


class DropReason(StrEnum):
    SHORT = "short"  # too short to hold header, IV, trailer and ICV
    SPI = "spi"  # not this SA's SPI
    REPLAY = "replay"  # duplicate or left of the window
    AUTH = "auth"  # ICV / tag mismatch
    PADDING = "padding"  # bad pad length or pad bytes, ciphertext not whole blocks
    NEXT_HEADER = "next-header"  # not IPv4 (4) or IPv6 (41), or inner version disagrees
    DUMMY = "dummy"  # next header 59: a TFC dummy packet, to discard silently
    SELECTOR = "selector"  # inner packet outside the SA's traffic selectors
    SEQ_OVERFLOW = "seq-overflow"  # outbound counter exhausted: rekey
    EXPIRED = "expired"  # hard lifesize reached


class EspDrop(Exception):
    """A packet the transform refused; ``reason`` says why (for counters and logs)."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


def _count_drop(sa: EspSA, reason: DropReason) -> None:
    c = sa.counters
    if reason == DropReason.AUTH:
        c.auth_fail += 1
    elif reason == DropReason.REPLAY:
        c.replay += 1
    elif reason == DropReason.SELECTOR:
        c.selector_drop += 1
    elif reason == DropReason.PADDING:
        c.pad_errors += 1
    elif reason != DropReason.DUMMY:
        c.other_drops += 1


def _drop(sa: EspSA, reason: DropReason, detail: str = "") -> EspDrop:
    _count_drop(sa, reason)
    return EspDrop(reason, detail)


def seal_payload(
    sa: EspSA, payload: bytes, next_header: int, *, iv: bytes | None = None
) -> bytes:
    """The generic RFC 4303 transform: ESP packet carrying ``payload`` with
    ``next_header``. Takes the next sequence number. ``iv`` overrides the per-packet
    IV (test vectors only). Does not count the packet (``encapsulate`` does)."""
    hard_kb = sa.lifesize_hard_kb
    if hard_kb and sa.counters.bytes >= hard_kb << 10:
        raise _drop(sa, DropReason.EXPIRED, "hard lifesize reached")
    seq = sa.seq + 1
    if seq > (_MAX_SEQ_64 if sa.esn else _MAX_SEQ_32):
        raise _drop(sa, DropReason.SEQ_OVERFLOW, "sequence number would cycle")
    sa.seq = seq
    padlen = -(len(payload) + 2) % sa.pad_align
    trailers = _TRAILERS.get(next_header)
    trailer = trailers[padlen] if trailers else _PADS[padlen] + bytes((padlen, next_header))
    plaintext = payload + trailer
    header = _HDR.pack(sa.spi, seq & _MAX_SEQ_32)
    aead = sa.aead
    if aead is not None:
        if iv is None:
            iv = seq.to_bytes(8, "big")
        aad = header if not sa.esn else header[:4] + _SEQHI.pack(seq >> 32) + header[4:]
        return b"".join((header, iv, aead.seal(iv, plaintext, aad)))
    assert sa.cipher is not None
    if iv is None:
        body = header + sa.cipher.encrypt_fresh_iv(plaintext)
    else:
        body = b"".join((header, iv, sa.cipher.encrypt(iv, plaintext)))
    if sa.esn:
        return body + sa.integrity.sign_parts(body, _SEQHI.pack(seq >> 32))
    return body + sa.integrity.sign(body)


def open_payload(sa: EspSA, esp: bytes) -> tuple[bytes, int]:
    """The generic RFC 4303 inverse: (payload, next header) of an ESP packet, after
    the SPI, anti-replay, ICV and padding checks; ``EspDrop`` (counted) otherwise.
    Marks the sequence number seen. Does not count the packet (``decapsulate`` does)."""
    encr = sa.encr_alg
    iv_size = encr.iv_size
    aead = sa.aead
    icv_size = sa.icv_size
    n = len(esp)
    if n < 8 + iv_size + icv_size + 2:
        raise _drop(sa, DropReason.SHORT, f"{n} bytes")
    spi, seq_low = _HDR.unpack_from(esp)
    if spi != sa.spi:
        raise _drop(sa, DropReason.SPI, f"SPI {spi:08x} is not {sa.spi:08x}")
    window = sa.replay
    seq = window.infer(seq_low) if sa.esn else seq_low
    if sa.anti_replay and not window.check(seq):
        raise _drop(sa, DropReason.REPLAY, f"sequence {seq}")
    iv = esp[8 : 8 + iv_size]
    if aead is not None:
        aad = esp[:8] if not sa.esn else esp[:4] + _SEQHI.pack(seq >> 32) + esp[4:8]
        try:
            plaintext = aead.open(iv, esp[8 + iv_size :], aad)
        except AuthenticationFailed:
            raise _drop(sa, DropReason.AUTH, f"sequence {seq}") from None
    else:
        if icv_size:
            integrity = sa.integrity
            body = esp[: n - icv_size]
            if sa.esn:
                expected = integrity.sign_parts(body, _SEQHI.pack(seq >> 32))
            else:
                expected = integrity.sign(body)
            try:
                integrity.verify_icv(expected, esp[n - icv_size :])  # constant time
            except AuthenticationFailed:
                raise _drop(sa, DropReason.AUTH, f"sequence {seq}") from None
        ciphertext = esp[8 + iv_size : n - icv_size]
        if not ciphertext or len(ciphertext) % encr.block_size:
            raise _drop(sa, DropReason.PADDING, "ciphertext is not whole blocks")
        assert sa.cipher is not None
        plaintext = sa.cipher.decrypt_iv_prefixed(esp[8 : n - icv_size])
    window.update(seq)
    if len(plaintext) < 2:
        raise _drop(sa, DropReason.PADDING, "no ESP trailer")
    padlen = plaintext[-2]
    end = len(plaintext) - 2 - padlen
    if end < 0 or plaintext[end:-2] != _PADS[padlen]:
        raise _drop(sa, DropReason.PADDING, f"pad length {padlen}")
    return plaintext[:end], plaintext[-1]


def encapsulate(sa: EspSA, inner: bytes, *, iv: bytes | None = None) -> bytes:
    """Tunnel mode: the ESP packet (SPI .. ICV) carrying the IP packet ``inner``,
    next header 4 or 41 from its version. ``iv`` is for test vectors only."""
    version = inner[0] >> 4 if inner else 0
    if version == 4:
        nh = NH_IPV4
    elif version == 6:
        nh = NH_IPV6
    else:
        raise _drop(sa, DropReason.NEXT_HEADER, f"inner packet is not IP (version {version})")
    out = seal_payload(sa, inner, nh, iv=iv)
    c = sa.counters
    c.packets += 1
    c.bytes += len(inner)
    return out


def decapsulate(sa: EspSA, esp: bytes, *, check_selectors: bool = True) -> bytes:
    """Tunnel mode: the inner IP packet of the ESP packet ``esp``, or ``EspDrop``.

    With ``check_selectors`` (and selectors on the SA) the inner packet must fall
    within them; pass False when the caller matches selectors itself.
    """
    inner, nh = open_payload(sa, esp)
    if nh == NH_NO_NEXT:
        raise _drop(sa, DropReason.DUMMY)
    if not inner or (nh, inner[0] >> 4) not in ((NH_IPV4, 4), (NH_IPV6, 6)):
        raise _drop(sa, DropReason.NEXT_HEADER, f"next header {nh}")
    if check_selectors and (sa.src_ranges or sa.dst_ranges) and not selectors_match(sa, inner):
        raise _drop(sa, DropReason.SELECTOR, describe_packet(inner))
    c = sa.counters
    c.packets += 1
    c.bytes += len(inner)
    return inner


# --- selectors ----------------------------------------------------------------------


def packet_fields(inner: bytes) -> tuple[int, int, int, int, int | None]:
    """(version, proto, src, dst, port-or-None) of an IP packet, addresses as ints.

    The port is the destination port for TCP/UDP/SCTP/DCCP, ``type << 8 | code`` for
    ICMP (RFC 4301 4.4.1.1), None for other protocols and non-first fragments.
    IPv6 extension headers are not walked: their packets match port-less.
    """
    version = inner[0] >> 4
    port: int | None = None
    if version == 4:
        if len(inner) < 20:
            raise ValueError("short IPv4 header")
        ihl = (inner[0] & 0x0F) * 4
        proto = inner[9]
        src = int.from_bytes(inner[12:16], "big")
        dst = int.from_bytes(inner[16:20], "big")
        first = not (int.from_bytes(inner[6:8], "big") & 0x1FFF)
        l4 = ihl
    elif version == 6:
        if len(inner) < 40:
            raise ValueError("short IPv6 header")
        proto = inner[6]
        src = int.from_bytes(inner[8:24], "big")
        dst = int.from_bytes(inner[24:40], "big")
        first = True
        l4 = 40
    else:
        raise ValueError(f"IP version {version}")
    if first:
        if proto in _PORT_PROTOS and len(inner) >= l4 + 4:
            port = int.from_bytes(inner[l4 + 2 : l4 + 4], "big")
        elif proto in _ICMP_PROTOS and len(inner) >= l4 + 2:
            port = inner[l4] << 8 | inner[l4 + 1]
    return version, proto, src, dst, port


def _addr_in(
    ranges: tuple[SelectorRange, ...], version: int, proto: int, addr: int, port: int | None
) -> bool:
    if not ranges:
        return True
    for r in ranges:
        if r.version != version or not r.lo <= addr <= r.hi:
            continue
        if r.proto and r.proto != proto:
            continue
        if port is None:
            if r.port_lo == 0 and r.port_hi == 65535:
                return True
            continue
        if r.port_lo <= port <= r.port_hi:
            return True
    return False


def selectors_match(sa: EspSA, inner: bytes) -> bool:
    """Inner source in the SA's source selectors and destination in its destination
    selectors (inbound: remote -> local). Ports are matched on the destination side;
    the source side matches any port."""
    try:
        version, proto, src, dst, port = packet_fields(inner)
    except ValueError:
        return False
    return _addr_in(sa.src_ranges, version, proto, src, None if sa.src_ranges else port) and (
        _addr_in(sa.dst_ranges, version, proto, dst, port)
    )


def describe_packet(inner: bytes) -> str:
    try:
        version, proto, src, dst, port = packet_fields(inner)
    except ValueError as e:
        return str(e)
    import ipaddress

    s = ipaddress.ip_address(src if version == 4 else src.to_bytes(16, "big"))
    d = ipaddress.ip_address(dst if version == 4 else dst.to_bytes(16, "big"))
    return f"{s} -> {d} proto {proto}" + (f" port {port}" if port is not None else "")


def outer_tos(sa: EspSA, inner: bytes) -> int:
    """TOS / traffic class for the outer header: the inner one with copy-tos, else 0."""
    if not sa.copy_tos or not inner:
        return 0
    if inner[0] >> 4 == 4:
        return inner[1]
    if len(inner) >= 2:
        return ((inner[0] & 0x0F) << 4) | (inner[1] >> 4)
    return 0


def bench(rounds: int = 20000) -> None:  # pragma: no cover - a figure, not a test
    """Print microseconds per 1400-byte packet, encap and decap, for common suites."""
    import time

    from ..crypto.algorithms import EncrId, IntegId

    inner = bytes([0x45]) + bytes(1399)
    suites = [
        ("aes-128-gcm", EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE, 0),
        ("aes-256-gcm", EncrId.ENCR_AES_GCM_16, 256, IntegId.NONE, 0),
        ("aes-128-cbc/sha1", EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA1_96, 20),
        ("aes-256-cbc/sha256", EncrId.ENCR_AES_CBC, 256, IntegId.AUTH_HMAC_SHA2_256_128, 32),
        ("3des/sha1", EncrId.ENCR_3DES, 192, IntegId.AUTH_HMAC_SHA1_96, 20),
    ]
    for name, encr, bits, integ, ikey in suites:
        klen = bits // 8 + (4 if encr == EncrId.ENCR_AES_GCM_16 else 0)
        key, akey = os.urandom(klen), os.urandom(ikey)
        out = EspSA(1, Direction.OUT, encr, bits, key, integ, akey)
        inb = EspSA(1, Direction.IN, encr, bits, key, integ, akey)
        n = (rounds if encr != EncrId.ENCR_3DES else rounds // 10) // 5
        enc_best = dec_best = float("inf")
        for _ in range(5):  # best of five batches: the figure, not the noise
            t0 = time.perf_counter()
            packets = [encapsulate(out, inner) for _ in range(n)]
            t1 = time.perf_counter()
            for p in packets:
                decapsulate(inb, p)
            t2 = time.perf_counter()
            enc_best, dec_best = min(enc_best, t1 - t0), min(dec_best, t2 - t1)
        enc_us, dec_us = enc_best / n * 1e6, dec_best / n * 1e6
        print(
            f"{name:20s} encap {enc_us:6.1f} us  decap {dec_us:6.1f} us  "
            f"both {enc_us + dec_us:6.1f} us  per 1400-byte packet"
        )


if __name__ == "__main__":  # pragma: no cover
    bench()
