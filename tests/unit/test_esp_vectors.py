"""ESP against published packets: draft-mcgrew-gcm-test-01 (GCM) and RFC 3602 (CBC)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpnsh.engine.crypto.algorithms import EncrId, IntegId
from vpnsh.engine.dataplane.esp import decapsulate, open_payload, seal_payload
from vpnsh.engine.dataplane.sa import Direction, EspSA

VECTORS = Path(__file__).parents[1] / "vectors"
GCM = json.loads((VECTORS / "esp_gcm_mcgrew.json").read_text())["cases"]
CBC = json.loads((VECTORS / "esp_cbc_rfc3602.json").read_text())["cases"]


def _gcm_case(v: dict) -> tuple[int, int, bool, bytes, bytes, bytes]:
    """(spi, full seq, esn, key|salt, payload-with-trailer, ESP packet)."""
    aad = bytes.fromhex(v["aad"])
    esn = len(aad) == 12
    spi = int.from_bytes(aad[:4], "big")
    seq = int.from_bytes(aad[4:12], "big") if esn else int.from_bytes(aad[4:8], "big")
    key = bytes.fromhex(v["key"] + v["salt"])
    packet = aad[:4] + aad[-4:] + bytes.fromhex(v["iv"] + v["ciphertext"] + v["icv"])
    return spi, seq, esn, key, bytes.fromhex(v["plaintext"]), packet


def _sa(direction: Direction, spi: int, encr: EncrId, key: bytes, esn: bool = False) -> EspSA:
    bits = (len(key) - (4 if encr == EncrId.ENCR_AES_GCM_16 else 0)) * 8
    return EspSA(spi, direction, encr, bits, key, IntegId.NONE, esn=esn)


@pytest.mark.parametrize("v", GCM, ids=lambda v: f"case{v['case']}")
def test_gcm_decrypt_published_packet(v: dict) -> None:
    spi, seq, esn, key, plaintext, packet = _gcm_case(v)
    sa = _sa(Direction.IN, spi, EncrId.ENCR_AES_GCM_16, key, esn)
    if seq > 1:
        sa.replay.update(seq - 1)  # so that ESN inference lands on the vector's high bits
    payload, nh = open_payload(sa, packet)
    padlen = plaintext[-2]
    assert payload == plaintext[: len(plaintext) - 2 - padlen]
    assert nh == plaintext[-1]
    assert sa.recv_seq == seq


@pytest.mark.parametrize("v", GCM, ids=lambda v: f"case{v['case']}")
def test_gcm_encrypt_gives_published_packet(v: dict) -> None:
    spi, seq, esn, key, plaintext, packet = _gcm_case(v)
    sa = _sa(Direction.OUT, spi, EncrId.ENCR_AES_GCM_16, key, esn)
    sa.seq = seq - 1
    payload = plaintext[: len(plaintext) - 2 - plaintext[-2]]
    assert seal_payload(sa, payload, plaintext[-1], iv=bytes.fromhex(v["iv"])) == packet


@pytest.mark.parametrize("v", CBC, ids=lambda v: f"case{v['case']}")
def test_cbc_rfc3602_packets(v: dict) -> None:
    key, packet, payload = (bytes.fromhex(v[k]) for k in ("key", "esp", "payload"))
    inbound = EspSA(v["spi"], Direction.IN, EncrId.ENCR_AES_CBC, 128, key)
    assert open_payload(inbound, packet) == (payload, v["next_header"])
    outbound = EspSA(v["spi"], Direction.OUT, EncrId.ENCR_AES_CBC, 128, key)
    outbound.seq = v["seq"] - 1
    assert seal_payload(outbound, payload, v["next_header"], iv=packet[8:24]) == packet


@pytest.mark.parametrize("v", [c for c in CBC if c["next_header"] == 4], ids=lambda v: f"case{v['case']}")
def test_cbc_rfc3602_tunnel_mode_decapsulate(v: dict) -> None:
    key, packet, payload = (bytes.fromhex(v[k]) for k in ("key", "esp", "payload"))
    sa = EspSA(v["spi"], Direction.IN, EncrId.ENCR_AES_CBC, 128, key)
    assert decapsulate(sa, packet) == payload
    assert (sa.counters.packets, sa.counters.bytes) == (1, len(payload))
