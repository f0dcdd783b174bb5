"""Interoperability with an independent ESP implementation (scapy's), both ways.

Skipped when scapy is not installed (it is a test-only dependency).
"""

from __future__ import annotations

import os

import pytest

ipsec = pytest.importorskip("scapy.layers.ipsec")
inet = pytest.importorskip("scapy.layers.inet")
inet6 = pytest.importorskip("scapy.layers.inet6")

from vpnsh.engine.crypto.algorithms import EncrId, IntegId, encr_alg, integ_alg  # noqa: E402
from vpnsh.engine.dataplane.esp import decapsulate, encapsulate  # noqa: E402
from vpnsh.engine.dataplane.sa import Direction, EspSA  # noqa: E402

packet = pytest.importorskip("scapy.packet")
IP, ICMP, UDP, Raw = inet.IP, inet.ICMP, inet.UDP, packet.Raw

OUTER = {"src": "192.0.2.1", "dst": "198.51.100.1"}

SUITES = [
    (EncrId.ENCR_AES_GCM_16, 128, IntegId.NONE, "AES-GCM", "NULL"),
    (EncrId.ENCR_AES_GCM_16, 256, IntegId.NONE, "AES-GCM", "NULL"),
    (EncrId.ENCR_AES_CCM_16, 128, IntegId.NONE, "AES-CCM", "NULL"),
    (EncrId.ENCR_CHACHA20_POLY1305, 256, IntegId.NONE, "CHACHA20-POLY1305", "NULL"),
    (EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA1_96, "AES-CBC", "HMAC-SHA1-96"),
    (EncrId.ENCR_AES_CBC, 256, IntegId.AUTH_HMAC_SHA2_256_128, "AES-CBC", "SHA2-256-128"),
    (EncrId.ENCR_AES_CBC, 192, IntegId.AUTH_HMAC_SHA2_384_192, "AES-CBC", "SHA2-384-192"),
    (EncrId.ENCR_AES_CBC, 128, IntegId.AUTH_HMAC_SHA2_512_256, "AES-CBC", "SHA2-512-256"),
    (EncrId.ENCR_3DES, 192, IntegId.AUTH_HMAC_MD5_96, "3DES", "HMAC-MD5-96"),
    (EncrId.ENCR_NULL, 0, IntegId.AUTH_HMAC_SHA1_96, "NULL", "HMAC-SHA1-96"),
]
IDS = [f"{s[3]}-{s[1]}/{s[4]}" for s in SUITES]


def _sas(suite: tuple, esn: bool, high: int) -> tuple[EspSA, EspSA, object]:  # type: ignore[type-arg]
    encr, bits, integ, s_encr, s_auth = suite
    ek = os.urandom(encr_alg(encr, bits).key_size)
    ik = os.urandom(integ_alg(integ).key_size)
    spi = 0x0BADCAFE
    ours_out = EspSA(spi, Direction.OUT, encr, bits, ek, integ, ik, esn=esn)
    ours_in = EspSA(spi, Direction.IN, encr, bits, ek, integ, ik, esn=esn)
    kw = {"crypt_icv_size": 16} if s_encr == "AES-CCM" else {}
    theirs = ipsec.SecurityAssociation(
        ipsec.ESP, spi=spi, crypt_algo=s_encr, crypt_key=ek, auth_algo=s_auth,
        auth_key=ik or None, tunnel_header=IP(**OUTER), esn_en=esn, esn=high, **kw,
    )
    return ours_out, ours_in, theirs


def _inner() -> list:  # type: ignore[type-arg]
    return [
        IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(id=7, seq=1) / Raw(b"ping" * 10),
        IP(src="10.1.0.1", dst="10.2.0.1") / UDP(sport=1234, dport=53) / Raw(os.urandom(1300)),
        inet6.IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2) / Raw(b"v6"),
        IP(src="10.1.0.1", dst="10.2.0.1") / Raw(b""),
    ]


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
@pytest.mark.parametrize("esn,high", [(False, 0), (True, 0), (True, 7)], ids=["seq32", "esn0", "esn7"])
def test_scapy_encrypts_we_decrypt(suite: tuple, esn: bool, high: int) -> None:  # type: ignore[type-arg]
    _, ours_in, theirs = _sas(suite, esn, high)
    if high:
        ours_in.replay.update((high << 32) | 1)
    for n, pkt in enumerate(_inner(), start=2):
        outer = theirs.encrypt(pkt, seq_num=n)
        esp = bytes(outer[ipsec.ESP])
        assert decapsulate(ours_in, esp) == bytes(pkt)
    assert ours_in.counters.packets == 4
    assert ours_in.recv_seq == (high << 32) | 5


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
@pytest.mark.parametrize("esn,high", [(False, 0), (True, 0), (True, 7)], ids=["seq32", "esn0", "esn7"])
def test_we_encrypt_scapy_decrypts(suite: tuple, esn: bool, high: int) -> None:  # type: ignore[type-arg]
    ours_out, _, theirs = _sas(suite, esn, high)
    ours_out.seq = high << 32
    for pkt in _inner():
        esp = encapsulate(ours_out, bytes(pkt))
        wire = IP(bytes(IP(proto=50, **OUTER) / Raw(esp)))
        inner = theirs.decrypt(wire)
        assert bytes(inner) == bytes(pkt)
