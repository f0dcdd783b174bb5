"""Anti-replay window for inbound ESP (RFC 4303 3.4.3, appendix A; RFC 6479).

The bitmap is a ring of 64-bit blocks indexed by ``seq >> 6`` (RFC 6479): moving the
window forward clears whole blocks instead of shifting bits, so every operation is a
few integer operations whatever the window size. With ESN the receiver keeps 64-bit
sequence numbers and infers the high 32 bits of an arriving packet from the window
(RFC 4303 appendix A2.2). Usage per packet::

    seq = window.infer(seq_low)          # identity without ESN
    if not window.check(seq): drop       # before the ICV (cheap)
    ...verify ICV with seq's high bits...
    window.update(seq)                   # only after the ICV passed
"""

from __future__ import annotations

MIN_WINDOW = 64
MAX_WINDOW = 4096
_BLOCK_BITS = 64
_MASK32 = 0xFFFFFFFF


class ReplayWindow:
    """A window of ``size`` sequence numbers ending at the highest one accepted."""

    __slots__ = ("size", "esn", "top", "_blocks", "_nblocks")

    def __init__(self, size: int = 1024, esn: bool = False) -> None:
        if not MIN_WINDOW <= size <= MAX_WINDOW:
            raise ValueError(f"replay window {size} outside {MIN_WINDOW}..{MAX_WINDOW}")
        self.size = size
        self.esn = esn
        self.top = 0  # highest sequence number accepted (64-bit with ESN), 0 = none yet
        # one spare block so that the block holding ``top`` can be partly in use
        self._nblocks = -(-size // _BLOCK_BITS) + 1
        self._blocks = [0] * self._nblocks

    def infer(self, seq_low: int) -> int:
        """The full sequence number of a packet carrying ``seq_low`` (RFC 4303 A2.2)."""
        if not self.esn:
            return seq_low
        top = self.top
        th, tl = top >> 32, top & _MASK32
        w = self.size
        if tl >= w - 1:
            # window within one 2^32 subspace
            seqh = th if seq_low >= tl - w + 1 else th + 1
        else:
            # window spans two subspaces
            seqh = th - 1 if seq_low >= (tl - w + 1) & _MASK32 else th
            if seqh < 0:
                seqh = 0
        return (seqh << 32) | seq_low

    def check(self, seq: int) -> bool:
        """False if ``seq`` is 0, too old, or already seen."""
        if seq == 0:
            return False
        top = self.top
        if seq > top:
            return True
        if seq + self.size <= top:
            return False
        block = self._blocks[(seq >> 6) % self._nblocks]
        return not (block >> (seq & 63)) & 1

    def update(self, seq: int) -> None:
        """Mark ``seq`` seen (call after the ICV verified and ``check`` passed)."""
        top = self.top
        if seq > top:
            self._slide(seq)
        elif seq + self.size <= top:
            return
        self._blocks[(seq >> 6) % self._nblocks] |= 1 << (seq & 63)

    def _slide(self, new_top: int) -> None:
        """Move the window's top up to ``new_top``, clearing the blocks it moves over."""
        top = self.top
        n = self._nblocks
        blocks = self._blocks
        diff = (new_top >> 6) - (top >> 6)
        if diff >= n:
            for i in range(n):
                blocks[i] = 0
        else:
            for i in range(1, diff + 1):
                blocks[((top >> 6) + i) % n] = 0
        self.top = new_top

    def update_run(self, first: int, last: int) -> None:
        """``update`` of each of ``first..last`` in turn, in one step: for consecutive
        numbers all above ``top`` and fewer than 64 (a train opened in order, see
        :func:`.fused.open_train`), whose ICVs verified. The blocks the window moves
        over are cleared once, then the run's bits are set block by block."""
        if not self.top < first <= last < first + 64:
            raise ValueError(f"update_run({first}, {last}) with top {self.top}")
        self._slide(last)
        n = self._nblocks
        blocks = self._blocks
        seq = first
        while seq <= last:
            end = min(last, seq | 63)  # the last number of seq's block in the run
            blocks[(seq >> 6) % n] |= ((1 << (end - seq + 1)) - 1) << (seq & 63)
            seq = end + 1

    def accept(self, seq: int) -> bool:
        """``check`` then ``update``: for callers that verified the ICV already."""
        if not self.check(seq):
            return False
        self.update(seq)
        return True

    def __repr__(self) -> str:
        return f"<ReplayWindow size={self.size} esn={self.esn} top={self.top}>"
