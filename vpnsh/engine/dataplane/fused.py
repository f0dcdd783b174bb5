"""The fused outbound path: a TCP super-packet from the TUN to a train of ESP datagrams.

One TSO read (up to 64 KB, see :mod:`.segment`) becomes one buffer holding every ESP
packet, ready for one UDP GSO ``sendmsg`` per 64 KB: the segments' headers are built
for all segments at once, the plaintexts (header | payload slice | ESP trailer) are laid
out in one NumPy array with a single copy of the payload, the ESP headers (SPI, sequence
number, IV) are written for all rows at once, and each segment is then sealed with one
``encrypt_into`` straight into its place in the send buffer: no per-packet bytes objects,
no joins. This is wireguard-go's design (segmentation at the encryption boundary, batches
through every stage) within what Python allows.

Exactness: the sequence numbers of the ``count`` datagrams are taken from the SA in one
step (``seq + 1 .. seq + count``, all by the one outbound thread that owns them), the
counters grow by exactly the packets and inner bytes sealed, and the caller uses this
path only when no limit can be crossed inside the batch (hard lifesize, sequence number
space); near a limit it falls back to the per-packet transform, which stops exactly at it.
Only AEAD SAs (AES-GCM, ChaCha20-Poly1305, AES-CCM) come here; CBC goes packet by packet.

Inbound, :func:`open_train` does the same for a UDP GRO train: every datagram of one SA
is checked against the replay window and opened with ``decrypt_into`` into one buffer,
in order, with the checks and counters of :func:`.esp.open_payload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag

from .esp import _PADS, NH_IPV4, NH_IPV6, NH_NO_NEXT
from .sa import EspSA
from .segment import tcp_segments
from .shared import C_RTURN, end_turn, wait_turn

_MASK32 = 0xFFFFFFFF
_MAX_SEQ_32 = 0xFFFFFFFF
_MAX_SEQ_64 = 0xFFFFFFFFFFFFFFFF


@dataclass
class Train:
    """ESP packets back to back in ``buf``: ``count`` of them, each ``size`` bytes but
    the last, which may be shorter (``last_size``): the layout UDP GSO sends."""

    buf: bytearray
    size: int
    count: int
    last_size: int
    inner_bytes: int


_ESP_HEADS: dict[int, np.dtype] = {}


def _esp_head(size: int) -> np.dtype:
    """A record of ``size`` bytes (one ESP datagram of a train) naming its header:
    SPI, low 32 bits of the sequence number, IV (the 64-bit sequence number)."""
    dt = _ESP_HEADS.get(size)
    if dt is None:
        if len(_ESP_HEADS) >= 64:  # one per datagram size seen: a few
            _ESP_HEADS.clear()
        dt = _ESP_HEADS[size] = np.dtype({"names": ["spi", "seq", "iv"], "formats": [">u4", ">u4", ">u8"],
                                          "offsets": [0, 4, 8], "itemsize": size})
    return dt


def can_fuse(sa: EspSA, count: int, inner_bytes: int) -> bool:
    """May ``count`` packets of ``inner_bytes`` in all be sealed in one step without
    crossing a limit the per-packet transform enforces?"""
    if sa.aead is None:
        return False
    if sa.seq + count > (_MAX_SEQ_64 if sa.esn else _MAX_SEQ_32):
        return False
    hard_kb = sa.lifesize_hard_kb
    # the per-packet transform refuses a packet once bytes >= the limit; all of this
    # batch goes only if even its last packet starts below it
    return not hard_kb or sa.counters.bytes + inner_bytes < hard_kb << 10


def seal_tcp_super(sa: EspSA, packet: memoryview, mss: int,
                   turn: tuple[Any, int, Any] | None = None) -> Train | None:
    """The ESP train of a TCP super-packet on the AEAD SA ``sa``, or None when the
    fused path may not take it (the caller cuts it with :func:`.segment.split` and
    seals packet by packet). ``SegmentError`` for a malformed super-packet. ``turn``:
    a worker's ticket for its TUN read (cells, ticket, lock; see .shared): the sequence
    numbers are taken in the order of the reads, the rest of the work in parallel."""
    segs = tcp_segments(packet, mss)
    count, hlen, last_len = segs.count, segs.hlen, segs.last_len
    inner_bytes = count * hlen + len(packet) - hlen
    aead = sa.aead
    if aead is None or sa.encr_alg.iv_size != 8:
        return None
    # the train's sequence numbers and counts, taken in one step under the SA's lock
    # (several worker processes may carry the SA: see .shared); the limits are checked
    # in the same step, so they hold across workers
    if turn is not None:
        wait_turn(turn[0], turn[1], C_RTURN)
    try:
        with sa.lock:
            if not can_fuse(sa, count, inner_bytes):
                return None
            seq0 = sa.seq + 1
            sa.seq = seq0 + count - 1
            c = sa.counters
            c.packets += count
            c.bytes += inner_bytes
    finally:
        if turn is not None:
            end_turn(turn[0], turn[1], turn[2], C_RTURN)
    cipher, salt = aead.primitive()
    nh = NH_IPV4 if segs.version == 4 else NH_IPV6
    align, icv = sa.pad_align, sa.icv_size
    full = count if last_len == mss else count - 1
    inner = hlen + mss
    pad = -(inner + 2) % align
    plen = inner + pad + 2
    size = 16 + plen + icv
    inner_last = hlen + last_len
    pad_last = -(inner_last + 2) % align
    plen_last = inner_last + pad_last + 2
    last_size = size if full == count else 16 + plen_last + icv
    buf = bytearray(size * full + (0 if full == count else last_size))
    # ESP headers and IVs of every packet: SPI | seq low 32 | IV = seq (64 bits)
    seqs = np.arange(seq0, seq0 + count, dtype=np.uint64)
    out = np.frombuffer(buf, dtype=np.uint8)
    if full:
        heads = out[:size * full].view(_esp_head(size))  # one record per row
        heads["spi"] = sa.spi
        heads["seq"] = seqs[:full] & _MASK32
        heads["iv"] = seqs[:full]
        plain = np.empty((full, plen), dtype=np.uint8)
        plain[:, :hlen] = segs.rows[:full]
        plain[:, hlen:inner] = np.frombuffer(packet, dtype=np.uint8, count=full * mss,
                                             offset=hlen).reshape(full, mss)
        plain[:, inner:] = np.frombuffer(_PADS[pad] + bytes((pad, nh)), dtype=np.uint8)
        pview = memoryview(plain.reshape(-1))  # type: ignore[arg-type]
    view = memoryview(buf)
    encrypt_into = cipher.encrypt_into
    esn = sa.esn
    spi_bytes = sa.spi.to_bytes(4, "big")
    for i in range(full):
        o = i * size
        seq = seq0 + i
        aad = view[o:o + 8] if not esn else spi_bytes + (seq >> 32).to_bytes(4, "big") + view[o + 4:o + 8]
        encrypt_into(salt + view[o + 8:o + 16], pview[i * plen:(i + 1) * plen], aad,
                     view[o + 16:o + size])
    if full < count:
        seq = seq0 + full
        o = size * full
        buf[o:o + 16] = spi_bytes + (seq & _MASK32).to_bytes(4, "big") + seq.to_bytes(8, "big")
        start = hlen + full * mss
        plaintext = b"".join((segs.rows[full].tobytes(), packet[start:],
                              bytes(range(1, pad_last + 1)), bytes((pad_last, nh))))
        aad = view[o:o + 8] if not esn else spi_bytes + (seq >> 32).to_bytes(4, "big") + view[o + 4:o + 8]
        encrypt_into(salt + view[o + 8:o + 16], plaintext, aad, view[o + 16:o + last_size])
    return Train(buf, size, count, last_size, inner_bytes)


def open_train(sa: EspSA, data: bytes, seg: int) -> tuple[bytearray, list[tuple[int, int]]]:
    """The inbound mirror for a UDP GRO train of ESP datagrams of the AEAD SA ``sa``
    (every ``seg`` bytes of ``data`` one datagram, the last maybe shorter, all with
    ``sa``'s SPI: the caller checked). Each is checked and opened in order exactly as
    :func:`.esp.open_payload` does (replay check before, window update after the ICV,
    padding, next header), but decrypted with ``decrypt_into`` into one buffer: returns
    it and the (offset, length) of each inner packet accepted. Drops and the accepted
    packets are counted on ``sa`` (selectors are the caller's, as with
    ``decapsulate(check_selectors=False)``).

    The usual train (no ESN, every datagram long enough, numbers consecutive and above
    the window, every tag good, the same padding and next header in every full row)
    takes no Python step per datagram but its ``decrypt_into``: the window is recorded
    with one ``update_run`` and the plaintexts' trailers are checked by strided slices
    of the output buffer (C loops). Anything else goes row by row."""
    aead = sa.aead
    assert aead is not None
    cipher, salt = aead.primitive()
    icv = sa.icv_size
    n = len(data)
    view = memoryview(data)
    stride = seg - 16 - icv
    k = -(-n // seg)
    out = bytearray(max(stride, 0) * k)
    ov = memoryview(out)
    window, esn, anti = sa.replay, sa.esn, sa.anti_replay
    c = sa.counters
    decrypt_into = cipher.decrypt_into
    last = (k - 1) * seg
    last_plen = n - last - 16 - icv
    # every datagram's low 32 bits of sequence number in one call (a strided view)
    lows: list[int] = np.ndarray((k,), dtype=">u4", buffer=data, offset=4, strides=(seg,)).tolist() \
        if n - last >= 8 else [int.from_bytes(view[o + 4:o + 8], "big") if n - o >= 8 else 0
                               for o in range(0, n, seg)]
    # 1. under the SA's lock: each datagram's sequence number, and the window's verdict
    # before any work (a worker process may share the SA: see .shared)
    with sa.lock:
        # the usual train: every datagram long enough and every number above the
        # window, so check() would pass each (it says nothing of duplicates inside the
        # train: step 3 refuses those); no call per datagram
        usual = not esn and stride >= 2 and last_plen >= 2 and (not anti or min(lows) > window.top)
        if not usual:
            rows = _checked_rows(sa, lows, n, seg, stride)
    # 2. the tags, with no lock held
    opened: list[tuple[int, int, int]] = []  # plain offset, length, seq
    forged = 0
    if usual:
        bad: list[int] = []
        po = 0
        for o in range(0, last, seg):
            try:
                decrypt_into(salt + data[o + 8:o + 16], view[o + 16:o + seg], data[o:o + 8],
                             ov[po:po + stride])
            except InvalidTag:
                bad.append(po)
            po += stride
        try:
            decrypt_into(salt + data[last + 8:last + 16], view[last + 16:n], data[last:last + 8],
                         ov[po:po + last_plen])
        except InvalidTag:
            bad.append(po)
        if bad:
            forged = len(bad)
            opened = _every_row(lows, stride, last_plen, skip=bad)
    else:
        for o, end, po, plen, seq in rows:
            aad = view[o:o + 8] if not esn else b"".join((view[o:o + 4], (seq >> 32).to_bytes(4, "big"),
                                                           view[o + 4:o + 8]))
            try:
                decrypt_into(salt + data[o + 8:o + 16], view[o + 16:end], aad, ov[po:po + plen])
            except InvalidTag:
                forged += 1
                continue
            opened.append((po, plen, seq))
    # 3. under the lock again: the window checked once more (another worker may have
    # accepted the same number meanwhile) and updated, then the plaintext's checks
    with sa.lock:
        c.auth_fail += forged
        first = lows[0]
        if (usual and not forged and first > window.top and k <= 64
                and lows == list(range(first, first + k))):
            # every check() would pass, and update_run() does what an update() of each
            # would: no call per datagram
            window.update_run(first, first + k - 1)
            accepted = _trailers_ok(out, stride, k - 1)
            if accepted is not None:
                if accepted:
                    c.packets += len(accepted)
                    c.bytes += len(accepted) * accepted[0][1]
                # the last row (maybe shorter) as any other
                return out, accepted + _open_rows(c, out, ov, [((k - 1) * stride, last_plen, 0)],
                                                  window, False, False)
            return out, _open_rows(c, out, ov, _every_row(lows, stride, last_plen), window, False, False)
        if usual and not forged:
            opened = _every_row(lows, stride, last_plen)
        # an in-order run (read again: another worker may have moved the window) is
        # recorded with one update_run() too
        first = opened[0][2] if opened else 0
        top = opened[-1][2] if opened else 0
        each = not (first > window.top and top - first == len(opened) - 1 < 64
                    and [seq for _, _, seq in opened] == list(range(first, top + 1)))
        if not each:
            window.update_run(first, top)
        return out, _open_rows(c, out, ov, opened, window, each, anti)


def _every_row(lows: list[int], stride: int, last_plen: int,
               skip: list[int] | tuple[()] = ()) -> list[tuple[int, int, int]]:
    """(plain offset, length, seq) of each row of a usual train but those at ``skip``."""
    k = len(lows)
    return [(i * stride, stride if i < k - 1 else last_plen, seq)
            for i, seq in enumerate(lows) if i * stride not in skip]


def _checked_rows(sa: EspSA, lows: list[int], n: int, seg: int,
                  stride: int) -> list[tuple[int, int, int, int, int]]:
    """Each datagram of a train that is long enough and passes the window's check
    (offset, end, plain offset, length, seq); the others counted. Under the SA's lock."""
    window, esn, anti, icv = sa.replay, sa.esn, sa.anti_replay, sa.icv_size
    rows: list[tuple[int, int, int, int, int]] = []
    short = replayed = 0
    for i, low in enumerate(lows):
        o = i * seg
        end = min(o + seg, n)
        plen = end - o - 16 - icv
        if plen < 2:
            short += 1
            continue
        seq = window.infer(low) if esn else low
        if anti and not window.check(seq):
            replayed += 1
            continue
        rows.append((o, end, i * stride, plen, seq))
    sa.counters.other_drops += short
    sa.counters.replay += replayed
    return rows


def _trailers_ok(out: bytearray, stride: int, m: int) -> list[tuple[int, int]] | None:
    """The first ``m`` rows of ``out`` (``stride`` bytes each, all opened): when every
    one has the same pad length and next header, good padding and an IP header of that
    version, their (offset, inner length); None when any differs or fails (the caller
    then checks row by row, which counts what fails). Strided slices: C loops."""
    if m == 0:
        return []
    end = m * stride
    pads = out[stride - 2:end:stride]
    padlen = pads[0]
    nhs = out[stride - 1:end:stride]
    nh = nhs[0]
    ilen = stride - 2 - padlen
    if ilen <= 0 or pads.count(padlen) != m or nhs.count(nh) != m:
        return None
    version = 4 if nh == NH_IPV4 else 6 if nh == NH_IPV6 else 0
    firsts = out[0:end:stride]
    if not version or firsts.count(firsts[0]) != m or firsts[0] >> 4 != version:
        return None
    for j in range(padlen):  # pad byte j is j + 1 in every row
        if out[ilen + j:end:stride].count(j + 1) != m:
            return None
    return [(po, ilen) for po in range(0, end, stride)]


def _open_rows(c: Any, out: bytearray, ov: memoryview, opened: list[tuple[int, int, int]],
               window: Any, each: bool, anti: bool) -> list[tuple[int, int]]:
    """Row by row, under the SA's lock: the window (``each``: checked and updated per
    row) and the plaintext's checks of each opened row, counted on ``c``; the accepted
    (offset, inner length)."""
    accepted: list[tuple[int, int]] = []
    packets = inner_bytes = pad_errors = malformed = 0
    for po, plen, seq in opened:
        if each:
            if anti and not window.check(seq):
                c.replay += 1
                continue
            window.update(seq)
        padlen = out[po + plen - 2]
        nh = out[po + plen - 1]
        ilen = plen - 2 - padlen
        if ilen < 0 or ov[po + ilen:po + plen - 2] != _PADS[padlen]:
            pad_errors += 1
            continue
        if nh == NH_NO_NEXT:
            continue  # a TFC dummy: discarded silently, as decapsulate does
        if ilen == 0 or (nh, out[po] >> 4) not in ((NH_IPV4, 4), (NH_IPV6, 6)):
            malformed += 1
            continue
        packets += 1
        inner_bytes += ilen
        accepted.append((po, ilen))
    c.pad_errors += pad_errors
    c.other_drops += malformed
    c.packets += packets
    c.bytes += inner_bytes
    return accepted
