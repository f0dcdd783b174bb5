"""Building, selecting (responder) and verifying (initiator) SA proposals.

An *offer* is what one configured profile accepts: for each transform type the
candidate transforms in configured order. Proposals on the wire are built from
offers; selection matches the peer's proposals against our offers in our order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from ..policy import ChildPolicy, EspProposal, IkeProposal
from . import names
from .constants import ProtocolId, TransformType
from .payloads import Proposal, SaPayload, Transform

Offer = dict[int, list[Transform]]  # transform type -> candidates in preference order


class NoProposalChosen(Exception):
    """No proposal fits; ``str()`` says what each side offered, in PAN-OS words."""


@dataclass(frozen=True)
class IkeSuite:
    encr: int
    key_bits: int  # 0 for fixed-size ciphers
    prf: int
    integ: int  # 0 for AEAD
    dh: int

    @property
    def aead(self) -> bool:
        return self.encr in names.AEAD_ENCR

    def short(self) -> str:
        """``PSK/DH20/A256/SHA256`` as in ``show vpn ike-sa``."""
        encr = names.encr_display(self.encr, self.key_bits, "short")
        return f"PSK/DH{self.dh}/{encr}/{names.prf_display(self.prf)}"

    def long(self) -> str:
        """``AES256-CBC/SHA256/DH14`` as in the detail view."""
        encr = names.encr_display(self.encr, self.key_bits, "detail")
        return f"{encr}/{names.prf_display(self.prf)}/DH{self.dh}"


@dataclass(frozen=True)
class EspSuite:
    encr: int
    key_bits: int
    integ: int  # 0 none
    dh: int  # 0 no PFS
    esn: bool = False

    @property
    def aead(self) -> bool:
        return self.encr in names.AEAD_ENCR

    def short(self) -> str:
        """``ESP/A128/SHA1`` as in ``show vpn ipsec-sa``."""
        encr = names.encr_display(self.encr, self.key_bits, "short")
        return f"ESP/{encr}/{names.integ_display(self.integ)}"

    def long(self, ike_dh: int | None = None) -> str:
        """``AES256-CBC/SHA256/DH14`` as in the detail view (DH of the IKE SA without PFS)."""
        dh = self.dh or ike_dh
        tail = f"/DH{dh}" if dh else ""
        encr = names.encr_display(self.encr, self.key_bits, "detail")
        return f"{encr}/{names.integ_display(self.integ)}{tail}"


def _encr(encr: int, bits: int) -> Transform:
    key_length = (bits or 128) if encr in names.VARIABLE_KEY_ENCR else None
    return Transform(TransformType.ENCR, encr, key_length)


def ike_offers(proposals: Sequence[IkeProposal], dh_first: int | None = None) -> list[Offer]:
    """One offer per profile, split into AEAD and non-AEAD parts (RFC 7296 3.3)."""
    offers: list[Offer] = []
    for p in proposals:
        groups = list(p.dh_groups)
        if dh_first is not None and dh_first in groups:
            groups.remove(dh_first)
            groups.insert(0, dh_first)
        aead = [e for e in p.encryption if e[0] in names.AEAD_ENCR]
        plain = [e for e in p.encryption if e[0] not in names.AEAD_ENCR]
        for part, integ in ((plain, list(p.integrity)), (aead, [])):
            if not part:
                continue
            offers.append(
                {
                    TransformType.ENCR: [_encr(e, b) for e, b in part],
                    TransformType.PRF: [Transform(TransformType.PRF, x) for x in p.prf],
                    TransformType.INTEG: [Transform(TransformType.INTEG, x) for x in integ if x],
                    TransformType.DH: [Transform(TransformType.DH, g) for g in groups],
                }
            )
    return offers


def esp_offers(proposals: Sequence[EspProposal], pfs_group: int | None) -> list[Offer]:
    offers: list[Offer] = []
    for p in proposals:
        aead = [e for e in p.encryption if e[0] in names.AEAD_ENCR]
        plain = [e for e in p.encryption if e[0] not in names.AEAD_ENCR]
        for part, integ in ((plain, [i for i in p.integrity if i]), (aead, [])):
            if not part:
                continue
            offers.append(
                {
                    TransformType.ENCR: [_encr(e, b) for e, b in part],
                    TransformType.INTEG: [Transform(TransformType.INTEG, x) for x in integ],
                    TransformType.DH: [Transform(TransformType.DH, pfs_group)] if pfs_group else [],
                    TransformType.ESN: [Transform(TransformType.ESN, 0)],
                }
            )
    return offers


def child_offers(child: ChildPolicy, with_pfs: bool) -> list[Offer]:
    return esp_offers(child.proposals, child.pfs_group if with_pfs else None)


def build(offers: Sequence[Offer], protocol: int, spi: bytes = b"") -> SaPayload:
    props = []
    for i, offer in enumerate(offers, start=1):
        transforms = tuple(t for ttype in sorted(offer) for t in offer[ttype])
        props.append(Proposal(i, protocol, spi, transforms))
    return SaPayload(tuple(props))


def _match(offer: Offer, theirs: Proposal, ignore_dh: bool) -> dict[int, Transform] | None:
    chosen: dict[int, Transform] = {}
    for ttype, candidates in offer.items():
        if ttype == TransformType.DH and ignore_dh:
            continue
        offered = theirs.of_type(ttype)
        if not candidates:
            if any(t.id != 0 for t in offered):
                return None
            continue
        pick = next((c for c in candidates if c in offered), None)
        if pick is None:
            return None
        chosen[ttype] = pick
    for t in theirs.transforms:  # a mandatory transform type we do not know
        if t.type not in offer and not (ignore_dh and t.type == TransformType.DH):
            return None
    return chosen


def describe_proposal(p: Proposal) -> str:
    """PAN-OS words: ``encryption/hash/dh-group`` (IKE) or ``encryption/authentication/dh-group``."""

    def kw(ttype: int) -> str:
        return ",".join(
            names.transform_keyword(t.type, t.id, t.key_length) for t in p.of_type(ttype)
        )

    if p.protocol == ProtocolId.IKE:
        hash_ = kw(TransformType.INTEG) or kw(TransformType.PRF)
        return f"{kw(TransformType.ENCR)}/{hash_}/{kw(TransformType.DH) or '?'}"
    integ = kw(TransformType.INTEG) or "none"
    dh = ",".join(names.dh_keyword(t.id) for t in p.of_type(TransformType.DH)) or "no-pfs"
    return f"{kw(TransformType.ENCR)}/{integ}/{dh}"


def describe_offers(offers: Sequence[Offer], protocol: int) -> str:
    return "; ".join(describe_proposal(p) for p in build(offers, protocol).proposals) or "nothing"


def select(
    offers: Sequence[Offer], sa: SaPayload, protocol: int, spi: bytes = b"", ignore_dh: bool = False
) -> tuple[Proposal, dict[int, Transform]]:
    """Responder: picks the first of our offers (in configured order) that fits a peer proposal."""
    theirs = [p for p in sa.proposals if p.protocol == protocol]
    for offer in offers:
        for p in theirs:
            chosen = _match(offer, p, ignore_dh)
            if chosen is not None:
                reply = Proposal(p.number, protocol, spi, tuple(chosen.values()))
                return reply, chosen
    what = "IKE" if protocol == ProtocolId.IKE else "IPSec"
    peer = "; ".join(describe_proposal(p) for p in theirs) or "nothing"
    raise NoProposalChosen(
        f"no {what} proposal chosen: peer offered [{peer}], "
        f"we accept [{describe_offers(offers, protocol)}]"
    )


def verify(
    offers: Sequence[Offer], sa: SaPayload, protocol: int, ignore_dh: bool = False
) -> tuple[Proposal, dict[int, Transform]]:
    """Initiator: the responder's single proposal must be one transform of each type we sent."""
    what = "IKE" if protocol == ProtocolId.IKE else "IPSec"
    if len(sa.proposals) != 1 or sa.proposals[0].protocol != protocol:
        raise NoProposalChosen(f"peer answered a malformed {what} SA payload")
    p = sa.proposals[0]
    if not 1 <= p.number <= len(offers):
        raise NoProposalChosen(f"peer chose {what} proposal {p.number} that we did not offer")
    chosen = _match(offers[p.number - 1], p, ignore_dh)
    if chosen is None or len(p.transforms) != len(chosen) + sum(
        1 for t in p.transforms if t.id == 0 and t.type == TransformType.INTEG
    ) + (len(p.of_type(TransformType.DH)) if ignore_dh else 0):
        raise NoProposalChosen(
            f"peer chose {what} proposal [{describe_proposal(p)}] that we did not offer"
        )
    return p, chosen


def ike_suite(chosen: dict[int, Transform]) -> IkeSuite:
    e = chosen[TransformType.ENCR]
    integ = chosen.get(TransformType.INTEG)
    return _ike_suite(int(e.id), e.key_length or 0, int(chosen[TransformType.PRF].id),
                      int(integ.id) if integ else 0, int(chosen[TransformType.DH].id))


def esp_suite(chosen: dict[int, Transform]) -> EspSuite:
    e = chosen[TransformType.ENCR]
    integ = chosen.get(TransformType.INTEG)
    dh = chosen.get(TransformType.DH)
    esn = chosen.get(TransformType.ESN)
    return _esp_suite(int(e.id), e.key_length or 0, int(integ.id) if integ else 0,
                      int(dh.id) if dh else 0, bool(esn and esn.id))


# the suites are frozen and few: every SA that negotiated the same one shares one object
@functools.lru_cache(maxsize=4096)
def _ike_suite(encr: int, key_bits: int, prf: int, integ: int, dh: int) -> IkeSuite:
    return IkeSuite(encr=encr, key_bits=key_bits, prf=prf, integ=integ, dh=dh)


@functools.lru_cache(maxsize=4096)
def _esp_suite(encr: int, key_bits: int, integ: int, dh: int, esn: bool) -> EspSuite:
    return EspSuite(encr=encr, key_bits=key_bits, integ=integ, dh=dh, esn=esn)
