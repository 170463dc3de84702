"""The cryptographic primitives of BAC and 3DES secure messaging (ICAO 9303-11 §9.7.1, §9.8).

Two-key 3DES in CBC mode with a zero IV, ISO 9797-1 padding method 2, the ISO 9797-1 MAC
algorithm 3 ("retail MAC": single-DES CBC with Ka, then decrypt with Kb and encrypt with Ka on
the last block), DES parity and the SHA-1 key derivation function.  Built on pycryptodome.
"""

from __future__ import annotations

import hashlib

from Crypto.Cipher import DES, DES3

from drivers.errors import ProtocolError

BLOCK = 8
ZERO_IV = bytes(BLOCK)
ENC = 1       # KDF counter for the encryption key
MAC = 2       # KDF counter for the MAC key


class SecureMessagingError(ProtocolError):
    """A protected APDU that does not verify or decode; ``reason`` is a stable key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason        # sm_mac | sm_objects_missing | sm_format | sm_padding


def pad(data: bytes) -> bytes:
    """ISO 9797-1 padding method 2: 0x80, then zeros to a multiple of 8 bytes."""
    out = data + b"\x80"
    return out + bytes(-len(out) % BLOCK)


def unpad(data: bytes) -> bytes:
    """Remove method-2 padding; SecureMessagingError sm_padding when there is none."""
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80") or len(data) - len(stripped) >= BLOCK:
        raise SecureMessagingError("sm_padding", "decrypted data does not end with 80 00..00 padding")
    return stripped[:-1]


def adjust_parity(key: bytes) -> bytes:
    """Set the low bit of every byte so that each byte has odd parity (DES key convention)."""
    return bytes(b & 0xFE | (bin(b >> 1).count("1") + 1) % 2 for b in key)


def kdf(seed: bytes, counter: int) -> bytes:
    """ICAO 9303-11 §9.7.1: SHA-1(seed || counter)[:16] with DES parity, a two-key 3DES key."""
    return adjust_parity(hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()[:16])


def _tdes(key: bytes) -> bytes:
    # pycryptodome refuses a 3DES key whose halves are equal (it degenerates to single DES);
    # BAC keys come from SHA-1, so that can only happen for a hostile or broken card
    if len(key) != 16:
        raise ValueError(f"3DES key must be 16 bytes, got {len(key)}")
    return key


def tdes_encrypt(key: bytes, data: bytes) -> bytes:
    """3DES-CBC with a zero IV over whole blocks."""
    return DES3.new(_tdes(key), DES3.MODE_CBC, iv=ZERO_IV).encrypt(data)


def tdes_decrypt(key: bytes, data: bytes) -> bytes:
    """Inverse of ``tdes_encrypt``; SecureMessagingError when ``data`` is not whole blocks."""
    if len(data) % BLOCK:
        raise SecureMessagingError("sm_format", f"cryptogram of {len(data)} bytes is not whole 8-byte blocks")
    return DES3.new(_tdes(key), DES3.MODE_CBC, iv=ZERO_IV).decrypt(data)


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 over ``pad(data)``, 8 bytes (key = Ka || Kb)."""
    ka, kb = _tdes(key)[:8], key[8:]
    chained = DES.new(ka, DES.MODE_CBC, iv=ZERO_IV).encrypt(pad(data))[-BLOCK:]
    return DES.new(ka, DES.MODE_ECB).encrypt(DES.new(kb, DES.MODE_ECB).decrypt(chained))
