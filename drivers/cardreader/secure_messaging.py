"""3DES secure messaging (ICAO 9303-11 §9.8): protect commands, verify and decrypt responses.

Every protected APDU increments the send sequence counter (SSC) before its MAC is computed:
once for the command, once for its response.  ``SecureChannel`` is the terminal side;
``CardSecureChannel`` is the card side for the virtual passport.  Both are pinned to the
Appendix D.4 bytes (tests/drivers/test_bac.py), so a shared mistake cannot hide.

Data objects: 87 (01 || padded cryptogram; odd INS would use 85, which LDS1 reading never
sends), 97 (Le), 99 (status word), 8E (8-byte MAC).  The MAC covers SSC || padded header ||
87 || 97 for a command and SSC || 87 || 99 for a response.
"""

from __future__ import annotations

import hmac

from .apdu import CommandApdu, ResponseApdu, Tlv, TlvError, encode_tlv, parse_command, parse_response, read_tlv
from .bac import SessionKeys
from .icao_crypto import SecureMessagingError, pad, retail_mac, tdes_decrypt, tdes_encrypt, unpad

SM_CLA = 0x0C
SW_OK = 0x9000


def _objects(data: bytes) -> tuple[dict[int, Tlv], bytes, bytes]:
    """(objects by tag, bytes covered by the MAC, MAC) of a protected body; SecureMessagingError."""
    found: dict[int, Tlv] = {}
    pos = 0
    try:
        while pos < len(data):
            tlv = read_tlv(data, pos)
            if tlv.tag in found:
                raise SecureMessagingError("sm_format", f"data object {tlv.tag:X} appears twice")
            found[tlv.tag] = tlv
            if tlv.tag == 0x8E:
                break
            pos += tlv.size
    except TlvError as exc:
        raise SecureMessagingError("sm_format", f"protected data is not TLV: {exc}") from exc
    mac = found.get(0x8E)
    if mac is None or len(mac.value) != 8 or pos + mac.size != len(data):
        raise SecureMessagingError("sm_objects_missing", "no 8-byte MAC object 8E at the end")
    return found, bytes(data[:pos]), mac.value


def _decrypt(ks_enc: bytes, do87: Tlv | None) -> bytes:
    if do87 is None:
        return b""
    if not do87.value or do87.value[0] != 0x01:
        raise SecureMessagingError("sm_format", "object 87 does not start with padding indicator 01")
    return unpad(tdes_decrypt(ks_enc, do87.value[1:]))


def _encrypt(ks_enc: bytes, data: bytes) -> bytes:
    return encode_tlv(0x87, b"\x01" + tdes_encrypt(ks_enc, pad(data))) if data else b""


class _Channel:
    """Keys and the send sequence counter shared by both sides."""

    def __init__(self, keys: SessionKeys) -> None:
        self._enc = keys.ks_enc
        self._mac = keys.ks_mac
        self.ssc = keys.ssc

    def _next_ssc(self) -> bytes:
        self.ssc = (self.ssc + 1) % (1 << 64)
        return self.ssc.to_bytes(8, "big")

    def _verify(self, covered: bytes, mac: bytes) -> None:
        if not hmac.compare_digest(retail_mac(self._mac, covered), mac):
            raise SecureMessagingError("sm_mac", "the MAC of a protected APDU does not verify")


class SecureChannel(_Channel):
    """The terminal side: ``protect`` a command, ``unprotect`` its response, in that order."""

    def protect(self, command: CommandApdu) -> bytes:
        """The protected form of ``command`` (CLA 0C, objects 87/97/8E, Le 00)."""
        header = bytes((command.cla | SM_CLA, command.ins, command.p1, command.p2))
        body = _encrypt(self._enc, command.data)
        if command.le is not None:
            body += encode_tlv(0x97, bytes((command.le & 0xFF,)))
        mac = retail_mac(self._mac, self._next_ssc() + pad(header) + body)
        body += encode_tlv(0x8E, mac)
        return bytes(CommandApdu(header[0], header[1], header[2], header[3], body, le=256))

    def unprotect(self, raw: bytes) -> ResponseApdu:
        """Verify and decrypt a response; an unprotected error status is passed through as is."""
        ssc = self._next_ssc()
        resp = parse_response(raw)
        if not resp.data:
            # a card reports SM errors (6987, 6988) and aborts in plain; success never comes plain
            if resp.sw == SW_OK:
                raise SecureMessagingError("sm_objects_missing", "a success status came without protection")
            return resp
        found, covered, mac = _objects(resp.data)
        self._verify(ssc + covered, mac)
        status = found.get(0x99)
        if status is None or len(status.value) != 2:
            raise SecureMessagingError("sm_objects_missing", "no status object 99 in a protected response")
        return ResponseApdu(_decrypt(self._enc, found.get(0x87)), int.from_bytes(status.value, "big"))


class CardSecureChannel(_Channel):
    """The card side: ``unprotect`` a command, ``protect`` the response, in that order."""

    def unprotect(self, raw: bytes) -> CommandApdu:
        """Verify and decrypt a protected command; SecureMessagingError when it does not verify."""
        ssc = self._next_ssc()
        command = parse_command(raw)
        if command.cla & SM_CLA != SM_CLA:
            raise SecureMessagingError("sm_objects_missing", "a plain command inside a secure session")
        found, covered, mac = _objects(command.data)
        self._verify(ssc + pad(command.header) + covered, mac)
        le = found.get(0x97)
        if le is not None and len(le.value) != 1:
            raise SecureMessagingError("sm_format", "object 97 is not one byte")
        return CommandApdu(command.cla & ~SM_CLA & 0xFF, command.ins, command.p1, command.p2,
                           _decrypt(self._enc, found.get(0x87)), None if le is None else le.value[0] or 256)

    def protect(self, data: bytes, sw: int) -> bytes:
        """A protected response: 87 (if data), 99, 8E, then SW (9000 unless the status is an error)."""
        body = _encrypt(self._enc, data) + encode_tlv(0x99, sw.to_bytes(2, "big"))
        body += encode_tlv(0x8E, retail_mac(self._mac, self._next_ssc() + body))
        return body + sw.to_bytes(2, "big")
