"""Key tables that let Wireshark/tshark decrypt vpnsh's IKEv2 and ESP traffic.

Opt-in, for troubleshooting in a lab: the files hold live keys.  Two files in
Wireshark's UAT formats, one line per SA, appended as SAs come up (mode 0600):

* ``ikev2_decryption_table``: ``SPIi,SPIr,SK_ei,SK_er,"ENCR",SK_ai,SK_ar,"INTEG"`` (hex bytes bare)
* ``esp_sa``: ``"IPv4","SRC","DST","0xSPI","ENCR","0xKEY","AUTH","0xKEY"``

Copy them into a Wireshark profile (``~/.config/wireshark/``), or point tshark at
a directory holding them (``XDG_CONFIG_HOME=DIR tshark ...`` reads
``DIR/wireshark/``).  Algorithms are IKEv2 transform IDs (RFC 7296 3.3.2):
ENCR 3 (3DES), 12 (AES-CBC), 20 (AES-GCM-16), 11 (NULL); INTEG 1 (MD5-96),
2 (SHA1-96), 12/13/14 (SHA2-256/384/512); 0 for none (AEAD).
The engine calls :meth:`KeyTables.ike_sa` / :meth:`KeyTables.esp_sa`.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from pathlib import Path

IKE_TABLE = "ikev2_decryption_table"
ESP_TABLE = "esp_sa"

ENCR_3DES, ENCR_NULL, ENCR_AES_CBC, ENCR_AES_GCM_8, ENCR_AES_GCM_12, ENCR_AES_GCM_16 = 3, 11, 12, 18, 19, 20
GCM_ICV = {ENCR_AES_GCM_8: 8, ENCR_AES_GCM_12: 12, ENCR_AES_GCM_16: 16}


class UnsupportedAlgorithm(ValueError):
    """Wireshark has no name for this algorithm (or vpnsh does not map it)."""


def ike_encr_name(encr: int, key_bits: int) -> str:
    if encr == ENCR_3DES:
        return "3DES [RFC2451]"
    if encr == ENCR_AES_CBC:
        return f"AES-CBC-{key_bits} [RFC3602]"
    if encr in GCM_ICV:
        return f"AES-GCM-{key_bits} with {GCM_ICV[encr]} octet ICV [RFC5282]"
    if encr == ENCR_NULL:
        return "NULL [RFC2410]"
    raise UnsupportedAlgorithm(f"IKEv2 encryption {encr}")


IKE_INTEG = {
    0: "NONE [RFC4306]",
    1: "HMAC_MD5_96 [RFC2403]",
    2: "HMAC_SHA1_96 [RFC2404]",
    12: "HMAC_SHA2_256_128 [RFC4868]",
    13: "HMAC_SHA2_384_192 [RFC4868]",
    14: "HMAC_SHA2_512_256 [RFC4868]",
}
ESP_AUTH = {
    0: "NULL",
    1: "HMAC-MD5-96 [RFC2403]",
    2: "HMAC-SHA-1-96 [RFC2404]",
    12: "HMAC-SHA-256-128 [RFC4868]",
    13: "HMAC-SHA-384-192 [RFC4868]",
    14: "HMAC-SHA-512-256 [RFC4868]",
}


def esp_encr_name(encr: int) -> str:
    if encr == ENCR_3DES:
        return "TripleDES-CBC [RFC2451]"
    if encr == ENCR_AES_CBC:
        return "AES-CBC [RFC3602]"
    if encr in GCM_ICV:
        return f"AES-GCM with {GCM_ICV[encr]} octet ICV [RFC4106]"
    if encr == ENCR_NULL:
        return "NULL"
    raise UnsupportedAlgorithm(f"ESP encryption {encr}")


def _q(*fields: str) -> str:
    return ",".join(f'"{f}"' for f in fields) + "\n"


def ikev2_line(spi_i: bytes, spi_r: bytes, sk_ei: bytes, sk_er: bytes, encr: int, key_bits: int,
               sk_ai: bytes, sk_ar: bytes, integ: int) -> str:
    """One ``ikev2_decryption_table`` line (SK_e* with the AEAD salt, as RFC 5282 derives them)."""
    if integ not in IKE_INTEG:
        raise UnsupportedAlgorithm(f"IKEv2 integrity {integ}")
    # byte fields are bare hex in a UAT file, names are quoted
    return ",".join([spi_i.hex(), spi_r.hex(), sk_ei.hex(), sk_er.hex(), f'"{ike_encr_name(encr, key_bits)}"',
                     sk_ai.hex(), sk_ar.hex(), f'"{IKE_INTEG[integ]}"']) + "\n"


def esp_line(src: str, dst: str, spi: int, encr: int, enc_key: bytes, integ: int, auth_key: bytes) -> str:
    """One ``esp_sa`` line for the SA carrying src -> dst (keys with the AEAD salt)."""
    if integ not in ESP_AUTH:
        raise UnsupportedAlgorithm(f"ESP integrity {integ}")
    family = "IPv6" if ipaddress.ip_address(src).version == 6 else "IPv4"
    return _q(family, src, dst, f"0x{spi:08x}", esp_encr_name(encr), f"0x{enc_key.hex()}",
              ESP_AUTH[integ], f"0x{auth_key.hex()}" if auth_key else "")


class KeyTables:
    """The two files in ``directory`` (created 0700; files 0600), appended to per SA."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _append(self, name: str, line: str) -> None:
        with self._lock:
            fd = os.open(self.dir / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as f:
                f.write(line)

    def ike_sa(self, spi_i: bytes, spi_r: bytes, sk_ei: bytes, sk_er: bytes, encr: int, key_bits: int,
               sk_ai: bytes, sk_ar: bytes, integ: int) -> None:
        self._append(IKE_TABLE, ikev2_line(spi_i, spi_r, sk_ei, sk_er, encr, key_bits, sk_ai, sk_ar, integ))

    def esp_sa(self, src: str, dst: str, spi: int, encr: int, enc_key: bytes, integ: int,
               auth_key: bytes) -> None:
        self._append(ESP_TABLE, esp_line(src, dst, spi, encr, enc_key, integ, auth_key))
