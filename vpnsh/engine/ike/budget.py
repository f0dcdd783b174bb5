"""A bound on the parsing work one IKE message may ask for, shared by both codecs.

A 64 KB datagram could hold thousands of proposals, transforms, attributes, payloads,
selectors or SPIs, and each costs Python objects: each codec charges its items against a
budget so that a hostile datagram is refused after well under a millisecond of work
(bench/ike_parse.py). Codecs subclass it with their own error type, limit and wording.
"""

from __future__ import annotations


class WorkBudget:
    """How much more parsing work the message may ask for."""

    __slots__ = ("left",)
    error: type[Exception] = ValueError  # the codec's parse error
    max_cost = 0  # the codec's limit for one message
    items = "items"  # what there are too many of, in the error

    def __init__(self, cost: int | None = None) -> None:
        self.left = self.max_cost if cost is None else cost

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise self.error(f"too many {self.items} in one message")
