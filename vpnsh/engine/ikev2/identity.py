"""IKE identities: configured ``Identity`` <-> ID payloads (RFC 7296 3.5)."""

from __future__ import annotations

import functools
import ipaddress

from ..pki import certinfo, ikesig
from ..policy import Identity
from .constants import IdType
from .payloads import IdPayload


class IdentityError(ValueError):
    pass


def to_payload(identity: Identity, initiator: bool) -> IdPayload:
    id_type, data = _encoded(identity.type, identity.value)
    return IdPayload(initiator, id_type, data)


@functools.lru_cache(maxsize=65536)
def _encoded(kind: str, value: str) -> tuple[IdType, bytes]:
    """An identity's ID type and data, encoded once per identity (each IKE SA asks for
    its gateway's, some several times; an address is not parsed again each time)."""
    if kind == "ipaddr":
        addr = ipaddress.ip_address(value)
        return (IdType.IPV4_ADDR if addr.version == 4 else IdType.IPV6_ADDR), addr.packed
    if kind == "fqdn":
        return IdType.FQDN, value.encode()
    if kind == "ufqdn":
        return IdType.RFC822_ADDR, value.encode()
    if kind == "keyid":
        return IdType.KEY_ID, bytes.fromhex(value[2:]) if value.startswith("0x") else value.encode()
    raise IdentityError(f"identity type {kind} not supported")


def from_payload(p: IdPayload) -> Identity:
    """The identity in PAN-OS terms; raw types are shown as hex."""
    try:
        if p.id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
            return Identity("ipaddr", str(ipaddress.ip_address(p.data)))
        if p.id_type == IdType.FQDN:
            return Identity("fqdn", p.data.decode())
        if p.id_type == IdType.RFC822_ADDR:
            return Identity("ufqdn", p.data.decode())
        if p.id_type == IdType.DER_ASN1_DN:  # certificate authentication (issue 16)
            return Identity("dn", certinfo.dn_text(ikesig.peer_id(p.id_type, p.data)[1]))  # type: ignore[arg-type]
        if p.id_type == IdType.KEY_ID:
            try:
                return Identity("keyid", p.data.decode("ascii"))
            except UnicodeDecodeError:
                return Identity("keyid", "0x" + p.data.hex())
    except (ValueError, UnicodeDecodeError):
        pass
    return Identity(f"type{p.id_type}", p.data.hex())


def matches(expected: Identity | None, p: IdPayload) -> bool:
    if expected is None:
        return True
    try:
        want = to_payload(expected, p.initiator)
    except (IdentityError, ValueError):
        return False
    if want.id_type in (IdType.FQDN, IdType.RFC822_ADDR) and want.id_type == p.id_type:
        return want.data.lower() == p.data.lower()
    return want.id_type == p.id_type and want.data == p.data


_CASELESS = (IdType.FQDN, IdType.RFC822_ADDR)


def payload_key(p: IdPayload) -> tuple[int, bytes]:
    """Two IDs match (see ``matches``) exactly when their keys are equal."""
    return (p.id_type, p.data.lower() if p.id_type in _CASELESS else p.data)


def match_key(expected: Identity) -> tuple[int, bytes] | None:
    """``payload_key`` of the ID ``expected`` stands for (None: it matches no payload)."""
    try:
        return payload_key(to_payload(expected, True))
    except (IdentityError, ValueError):
        return None


_WIRE_NAMES = {
    IdType.IPV4_ADDR: "IPv4_address",
    IdType.IPV6_ADDR: "IPv6_address",
    IdType.FQDN: "FQDN",
    IdType.RFC822_ADDR: "USER_FQDN",
    IdType.KEY_ID: "KEY_ID",
    IdType.DER_ASN1_DN: "DER_ASN1_DN",
}


def wire_display(p: IdPayload) -> str:
    """``FQDN:vpn.example`` / ``IPv4_address:192.0.2.1`` as in the detail view."""
    name = _WIRE_NAMES.get(p.id_type, f"type{p.id_type}")  # type: ignore[call-overload]
    return f"{name}:{from_payload(p).value}"
