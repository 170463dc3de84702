"""Basic Access Control (ICAO 9303-11 §4.3): document keys, mutual authentication, session keys.

Pure: the random numbers come in as arguments, so the Appendix D worked example is a unit
test.  ``authenticate`` runs the terminal side over any ``transmit`` callable; the card side
(``card_answer``) is here too, for the virtual passport, built on the same primitives.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from .apdu import AccessDenied, CommandApdu, check, parse_response
from .icao_crypto import ENC, MAC, kdf, retail_mac, tdes_decrypt, tdes_encrypt

GET_CHALLENGE = CommandApdu(0x00, 0x84, 0x00, 0x00, le=8)
Transmit = Callable[[bytes], bytes]


class BacError(AccessDenied):
    """Mutual authentication failed on the terminal side: the card's cryptogram does not verify."""

    def __init__(self, message: str) -> None:
        super().__init__("access_denied", message, sw=0)


@dataclass(frozen=True)
class BacKeys:
    """The document basic access keys derived from the MRZ (K_enc, K_mac)."""

    k_enc: bytes
    k_mac: bytes

    def __repr__(self) -> str:  # key material stays out of logs
        return "BacKeys(****)"


@dataclass(frozen=True)
class SessionKeys:
    """Keys and send sequence counter of a secure-messaging session."""

    ks_enc: bytes
    ks_mac: bytes
    ssc: int

    def __repr__(self) -> str:
        return "SessionKeys(****)"


def key_seed(key_input: str) -> bytes:
    """K_seed = SHA-1(MRZ information)[:16] (``Mrz.key_input``)."""
    return hashlib.sha1(key_input.encode("ascii")).digest()[:16]


def document_keys(key_input: str) -> BacKeys:
    """K_enc and K_mac for the MRZ information ``key_input``."""
    seed = key_seed(key_input)
    return BacKeys(kdf(seed, ENC), kdf(seed, MAC))


def session_keys(k_ifd: bytes, k_icc: bytes, rnd_icc: bytes, rnd_ifd: bytes) -> SessionKeys:
    """KS_enc, KS_mac from K_IFD xor K_ICC; SSC = last 4 bytes of RND.ICC || of RND.IFD."""
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_icc, strict=True))
    return SessionKeys(kdf(seed, ENC), kdf(seed, MAC), int.from_bytes(rnd_icc[-4:] + rnd_ifd[-4:], "big"))


def mutual_auth_data(keys: BacKeys, rnd_icc: bytes, rnd_ifd: bytes, k_ifd: bytes) -> bytes:
    """E_IFD || M_IFD: the 40 data bytes of the terminal's MUTUAL AUTHENTICATE."""
    e_ifd = tdes_encrypt(keys.k_enc, rnd_ifd + rnd_icc + k_ifd)
    return e_ifd + retail_mac(keys.k_mac, e_ifd)


def open_card_answer(keys: BacKeys, answer: bytes, rnd_icc: bytes, rnd_ifd: bytes) -> bytes:
    """Verify the card's E_ICC || M_ICC and return K_ICC; BacError when it does not verify."""
    if len(answer) != 40:
        raise BacError(f"mutual authenticate answered {len(answer)} bytes, expected 40")
    e_icc, m_icc = answer[:32], answer[32:]
    if not hmac.compare_digest(retail_mac(keys.k_mac, e_icc), m_icc):
        raise BacError("the card's authentication cryptogram has a wrong MAC")
    plain = tdes_decrypt(keys.k_enc, e_icc)
    if plain[:8] != rnd_icc or plain[8:16] != rnd_ifd:
        raise BacError("the card's answer does not echo the nonces")
    return plain[16:]


def authenticate(transmit: Transmit, keys: BacKeys, random: Callable[[int], bytes]) -> SessionKeys:
    """GET CHALLENGE + MUTUAL AUTHENTICATE; AccessDenied when the card refuses the keys."""
    rnd_icc = check(parse_response(transmit(bytes(GET_CHALLENGE))), "get challenge")
    if len(rnd_icc) != 8:
        raise BacError(f"get challenge returned {len(rnd_icc)} bytes, expected 8")
    rnd_ifd, k_ifd = random(8), random(16)
    command = CommandApdu(0x00, 0x82, 0x00, 0x00, mutual_auth_data(keys, rnd_icc, rnd_ifd, k_ifd), le=40)
    answer = check(parse_response(transmit(bytes(command))), "mutual authenticate")
    k_icc = open_card_answer(keys, answer, rnd_icc, rnd_ifd)
    return session_keys(k_ifd, k_icc, rnd_icc, rnd_ifd)


# ---- the card side (virtual passport) -------------------------------------------------

def card_answer(keys: BacKeys, data: bytes, rnd_icc: bytes, k_icc: bytes) -> tuple[bytes, SessionKeys] | None:
    """Check the terminal's E_IFD || M_IFD; (E_ICC || M_ICC, session keys), or None if it fails."""
    if len(data) != 40 or not hmac.compare_digest(retail_mac(keys.k_mac, data[:32]), data[32:]):
        return None
    plain = tdes_decrypt(keys.k_enc, data[:32])
    rnd_ifd, k_ifd = plain[:8], plain[16:]
    if plain[8:16] != rnd_icc:
        return None
    e_icc = tdes_encrypt(keys.k_enc, rnd_icc + rnd_ifd + k_icc)
    return e_icc + retail_mac(keys.k_mac, e_icc), session_keys(k_ifd, k_icc, rnd_icc, rnd_ifd)
