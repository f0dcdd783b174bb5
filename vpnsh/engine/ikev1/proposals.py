"""IKEv1 proposals: our phase 1 and phase 2 offers as ISAKMP transforms, and theirs read back.

Pure functions of the policies and the SA's NAT state (RFC 2409 appendix A, RFC 2407 4.5).
"""

from __future__ import annotations

from ..crypto import algorithms as alg
from ..policy import ChildPolicy, IkePolicy
from . import message as m
from .message import Attr, Encapsulation, LifeType, P1Attr, P2Attr, ParseError
from .sa import P1Suite, P2Suite, Phase1

_V1_ENCR = {alg.EncrId.ENCR_3DES: alg.Ikev1Encr.TRIPLE_DES_CBC,
            alg.EncrId.ENCR_AES_CBC: alg.Ikev1Encr.AES_CBC}


def _v1_hash(prf: int) -> int | None:
    for h in alg.Ikev1Hash:
        try:
            if alg.ikev1_prf(h) == prf:
                return int(h)
        except alg.UnsupportedAlgorithm:
            continue
    return None


def p1_offers(policy: IkePolicy, aggressive: bool) -> list[P1Suite]:
    out: list[P1Suite] = []
    for prop in policy.ikev1_proposals or policy.proposals:
        groups = prop.dh_groups[:1] if aggressive else prop.dh_groups
        for eid, bits in prop.encryption:
            v1 = _V1_ENCR.get(alg.EncrId(eid)) if eid in alg.EncrId._value2member_map_ else None
            if v1 is None:
                continue
            for prf in prop.prf:
                h = _v1_hash(prf)
                if h is None:
                    continue
                for g in groups:
                    out.append(P1Suite(int(v1), 0 if eid == alg.EncrId.ENCR_3DES else bits,
                                       h, int(g), policy.lifetime))
    return out


def p1_transform(n: int, s: P1Suite, auth_method: int = m.AUTH_PSK) -> m.Transform:
    attrs = [Attr(P1Attr.ENCRYPTION, s.encr)]
    if s.key_bits:
        attrs.append(Attr(P1Attr.KEY_LENGTH, s.key_bits))
    attrs += [Attr(P1Attr.HASH, s.hash), Attr(P1Attr.AUTH_METHOD, auth_method),
              Attr(P1Attr.GROUP, s.group), Attr(P1Attr.LIFE_TYPE, LifeType.SECONDS),
              Attr(P1Attr.LIFE_DURATION, s.lifetime)]
    return m.Transform(n, m.KEY_IKE, tuple(attrs))


def p1_parse_transform(t: m.Transform, auth_method: int = m.AUTH_PSK) -> P1Suite | None:
    """The transform as a suite if it uses ``auth_method`` (PSK, or 3: RSA signatures)."""
    a = {x.type: x.as_int() for x in t.attrs if x.type != P1Attr.LIFE_DURATION}
    if t.transform_id != m.KEY_IKE or a.get(P1Attr.AUTH_METHOD) != auth_method:
        return None
    life = m.lifetimes(list(t.attrs), P1Attr.LIFE_TYPE, P1Attr.LIFE_DURATION)
    try:
        return P1Suite(a.get(P1Attr.ENCRYPTION, 0), a.get(P1Attr.KEY_LENGTH, 0),
                       a.get(P1Attr.HASH, 0), a.get(P1Attr.GROUP, 0),
                       life.get(LifeType.SECONDS, 0))
    except ParseError:
        return None


def same_p1(a: P1Suite, b: P1Suite) -> bool:
    bits_a = a.key_bits or (128 if a.encr == alg.Ikev1Encr.AES_CBC else 0)
    bits_b = b.key_bits or (128 if b.encr == alg.Ikev1Encr.AES_CBC else 0)
    return (a.encr, bits_a, a.hash, a.group) == (b.encr, bits_b, b.hash, b.group)


def p2_offers(sa: Phase1, policy: ChildPolicy) -> list[P2Suite]:
    encap = encap_mode(sa)
    out: list[P2Suite] = []
    for prop in policy.proposals:
        for eid, bits in prop.encryption:
            enc = alg.encr_alg(eid, bits or None)
            integs = [0] if enc.aead else [i for i in prop.integrity]
            for integ in integs or [0]:
                out.append(P2Suite(int(eid), enc.key_bits, int(integ),
                                   int(policy.pfs_group) if policy.pfs_group else None, encap))
    return out


def encap_mode(sa: Phase1) -> int:
    if not sa.nat:
        return Encapsulation.TUNNEL
    if sa.peer_natt or not sa.peer_natt_draft:
        return Encapsulation.UDP_TUNNEL
    return Encapsulation.UDP_TUNNEL_DRAFT


def p2_transform(n: int, s: P2Suite, lifetime: int, lifesize_kb: int | None) -> m.Transform:
    attrs = [Attr(P2Attr.LIFE_TYPE, LifeType.SECONDS), Attr(P2Attr.LIFE_DURATION, lifetime)]
    if lifesize_kb:
        attrs += [Attr(P2Attr.LIFE_TYPE, LifeType.KILOBYTES),
                  Attr(P2Attr.LIFE_DURATION, lifesize_kb)]
    if s.group:
        attrs.append(Attr(P2Attr.GROUP, s.group))
    attrs.append(Attr(P2Attr.ENCAPSULATION, s.encapsulation))
    auth = alg.ikev1_auth_from_integ(alg.IntegId(s.integ))
    if auth is not None:
        attrs.append(Attr(P2Attr.AUTH_ALG, int(auth)))
    if s.encr not in (alg.EncrId.ENCR_3DES, alg.EncrId.ENCR_NULL):
        attrs.append(Attr(P2Attr.KEY_LENGTH, s.key_bits))
    return m.Transform(n, s.encr, tuple(attrs))


def p2_parse_transform(t: m.Transform) -> tuple[P2Suite, dict[int, int]] | None:
    single = {x.type: x.as_int() for x in t.attrs
              if x.type not in (P2Attr.LIFE_TYPE, P2Attr.LIFE_DURATION)}
    life = m.lifetimes(list(t.attrs), P2Attr.LIFE_TYPE, P2Attr.LIFE_DURATION)
    auth = single.get(P2Attr.AUTH_ALG)
    try:
        integ = int(alg.ikev1_auth(auth)) if auth else 0
        enc = alg.encr_alg(t.transform_id, single.get(P2Attr.KEY_LENGTH) or None)
    except alg.UnsupportedAlgorithm:
        return None
    if not enc.aead and integ == 0 and enc.id != alg.EncrId.ENCR_NULL:
        pass  # encryption without integrity: allowed when configured (none)
    suite = P2Suite(int(enc.id), enc.key_bits, integ, single.get(P2Attr.GROUP) or None,
                    single.get(P2Attr.ENCAPSULATION, Encapsulation.TUNNEL))
    return suite, life


def same_p2(a: P2Suite, b: P2Suite) -> bool:
    return (a.encr, a.key_bits, a.integ, a.group) == (b.encr, b.key_bits, b.integ, b.group)
