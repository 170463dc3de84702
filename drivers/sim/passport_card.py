"""A virtual eMRTD chip (BAC only, LDS1 EF.COM + DG1) and a virtual officer badge, for vpcd.

``PassportCard`` answers the APDUs of a BAC passport: SELECT of the eMRTD application, GET
CHALLENGE, MUTUAL AUTHENTICATE with keys from its own MRZ, then only secure-messaging SELECT
and READ BINARY.  A plain command after BAC aborts the secure session, as 9303-11 §9.8.6 asks.
Random numbers are injectable, so a test can replay the ICAO 9303-11 Appendix D exchange on
the wire.  Faults: ``dg1_mrz`` (a chip whose DG1 differs from the printed MRZ),
``corrupt_next_mac`` (the next protected response carries a wrong MAC).

``BadgeCard`` answers the PC/SC GET DATA pseudo-APDU ``FF CA 00 00 00`` with its UID, which
is what a contactless reader does for the card in its field (PC/SC part 3, §3.2.2.1.3);
through vpcd the card itself must answer it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from drivers.cardreader.apdu import ApduFormatError, CommandApdu, encode_tlv, parse_command
from drivers.cardreader.bac import card_answer, document_keys
from drivers.cardreader.emrtd_protocol import EF_COM, EF_DG1, EMRTD_AID
from drivers.cardreader.icao_crypto import SecureMessagingError
from drivers.cardreader.mrz import Mrz, parse_mrz
from drivers.cardreader.secure_messaging import CardSecureChannel

ATR = bytes.fromhex("3B8880010000000000000000")
_OK = b"\x90\x00"
_SW = {"security": b"\x69\x82", "sm": b"\x69\x88", "not_found": b"\x6A\x82", "auth": b"\x63\x00",
       "ins": b"\x6D\x00", "length": b"\x67\x00", "conditions": b"\x69\x85", "offset": b"\x6B\x00",
       "p1p2": b"\x6A\x86"}


def ef_com(version: str = "0106", unicode: str = "040000", groups: bytes = b"\x61\x75") -> bytes:
    """EF.COM (tag 60): LDS version, Unicode version and the data-group tag list.

    The defaults are the EF.COM of ICAO 9303-11 Appendix D.4 (``60 14 5F01 04 "0106" ...``).
    """
    body = encode_tlv(0x5F01, version.encode()) + encode_tlv(0x5F36, unicode.encode()) + encode_tlv(0x5C, groups)
    return encode_tlv(0x60, body)


def dg1(mrz: str) -> bytes:
    """DG1 (tag 61 { 5F1F MRZ }), the MRZ lines run together as the chip stores them."""
    return encode_tlv(0x61, encode_tlv(0x5F1F, "".join(mrz.split()).encode("ascii")))


class PassportCard:
    """The chip of a passport or ID card whose printed MRZ is ``mrz``."""

    def __init__(self, mrz: str | Mrz, *, dg1_mrz: str | None = None,
                 random: Callable[[int], bytes] = os.urandom, groups: bytes = b"\x61\x75") -> None:
        self.mrz = mrz if isinstance(mrz, Mrz) else parse_mrz(mrz, verify=False)
        self.atr = ATR
        self.files = {EF_COM: ef_com(groups=groups), EF_DG1: dg1(dg1_mrz or self.mrz.text)}
        self._keys = document_keys(self.mrz.key_input)
        self._random = random
        self._lock = threading.Lock()
        self.log: list[bytes] = []          # every command APDU received, for assertions
        self.corrupt_next_mac = False
        self.reset()

    def reset(self) -> None:
        """Power cycle: no application selected, no challenge, no secure session."""
        self._selected = False
        self._challenge: bytes | None = None
        self._sm: CardSecureChannel | None = None
        self._file: int | None = None

    def apdu(self, command: bytes) -> bytes:
        """Answer one command APDU."""
        with self._lock:
            self.log.append(bytes(command))
            try:
                cmd = parse_command(command)
            except ApduFormatError:
                return _SW["length"]
            if cmd.cla & 0x0C == 0x0C:
                return self._protected(command)
            self._sm = None                 # a plain command ends the secure session
            return self._plain(cmd)

    def _plain(self, cmd: CommandApdu) -> bytes:
        if cmd.ins == 0xA4 and cmd.p1 == 0x04:
            self._selected = cmd.data == EMRTD_AID
            return _OK if self._selected else _SW["not_found"]
        if cmd.ins == 0x84:
            if not self._selected:
                return _SW["conditions"]
            self._challenge = self._random(8)
            return self._challenge + _OK
        if cmd.ins == 0x82:
            return self._mutual_authenticate(cmd.data)
        if cmd.ins in (0xA4, 0xB0):
            return _SW["security"]          # LDS files need BAC first
        return _SW["ins"]

    def _mutual_authenticate(self, data: bytes) -> bytes:
        challenge, self._challenge = self._challenge, None
        if challenge is None:
            return _SW["conditions"]
        answer = card_answer(self._keys, data, challenge, self._random(16))
        if answer is None:
            return _SW["auth"]
        response, session = answer
        self._sm = CardSecureChannel(session)
        return response + _OK

    def _protected(self, raw: bytes) -> bytes:
        sm = self._sm
        if sm is None:
            return _SW["security"]
        try:
            cmd = sm.unprotect(raw)
        except (SecureMessagingError, ApduFormatError):
            self._sm = None                 # 9303-11: abort secure messaging, answer in plain
            return _SW["sm"]
        data, sw = self._file_command(cmd)
        response = sm.protect(data, sw)
        if self.corrupt_next_mac:
            self.corrupt_next_mac = False
            response = response[:-3] + bytes((response[-3] ^ 0x01,)) + response[-2:]
        return response

    def _file_command(self, cmd: CommandApdu) -> tuple[bytes, int]:
        if cmd.ins == 0xA4 and cmd.p1 == 0x02:
            fid = int.from_bytes(cmd.data, "big") if len(cmd.data) == 2 else -1
            self._file = fid if fid in self.files else None
            return b"", 0x9000 if self._file is not None else 0x6A82
        if cmd.ins == 0xB0:
            if self._file is None:
                return b"", 0x6986
            if cmd.p1 & 0x80:
                return b"", 0x6A86         # short-EF addressing is not modelled
            content, offset = self.files[self._file], cmd.p1 << 8 | cmd.p2
            if offset >= len(content):
                return b"", 0x6B00
            return content[offset:offset + (cmd.le or 256)], 0x9000
        return b"", 0x6D00


class BadgeCard:
    """A contactless officer badge: only its UID matters."""

    def __init__(self, uid: bytes, *, atr: bytes = ATR) -> None:
        self.uid = uid
        self.atr = atr
        self.log: list[bytes] = []
        self.answer_sw: bytes | None = None     # set to e.g. 6A81 to refuse GET DATA

    def reset(self) -> None:
        """A badge keeps no state."""

    def apdu(self, command: bytes) -> bytes:
        """GET DATA (UID) or 'instruction not supported'."""
        self.log.append(bytes(command))
        if command[:2] != b"\xFF\xCA":
            return _SW["ins"]
        if self.answer_sw is not None:
            return self.answer_sw
        if command[2:4] != b"\x00\x00":
            return _SW["p1p2"]
        le = command[4] if len(command) == 5 else 0
        if le and le != len(self.uid):
            return bytes((0x6C, len(self.uid)))
        return self.uid + _OK
