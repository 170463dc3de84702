"""Reading an eMRTD's EF.COM and DG1 with BAC (ICAO 9303-10/-11), over any ``transmit`` callable.

No PC/SC here: ``read_document(transmit, mrz)`` takes a function that sends one command APDU
and returns the response bytes, so the same code runs against the virtual passport in-process
and through pcscd.  Flow (PROTOCOLS.md §2.3):

    SELECT eMRTD application (plain)  00 A4 04 0C 07 A0 00 00 02 47 10 01
    BAC: GET CHALLENGE, MUTUAL AUTHENTICATE with keys from the MRZ used for access
    protected: SELECT EF.COM (011E), READ BINARY; SELECT DG1 (0101), READ BINARY
    DG1's MRZ must equal the MRZ used for access, else DocumentMismatch

Each file is sized from its first 4 bytes (a one-byte tag and a BER length of up to 3 bytes),
then read in ``chunk``-byte pieces.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from drivers.base import CardType, IdCard
from drivers.errors import DriverError, ProtocolError

from .apdu import CommandApdu, TlvError, check, find_tlv, parse_response, read_header
from .bac import Transmit, authenticate, document_keys
from .mrz import Mrz, MrzError, MrzFormat, parse_mrz, yymmdd
from .secure_messaging import SecureChannel

EMRTD_AID = bytes.fromhex("A0000002471001")
EF_COM = 0x011E
EF_DG1 = 0x0101
TAG_COM, TAG_DG1, TAG_MRZ, TAG_LIST = 0x60, 0x61, 0x5F1F, 0x5C
_HEAD = 4
_MAX_OFFSET = 0x7FFF        # READ BINARY with an offset in P1-P2 (odd INS B1 is never needed for LDS1 here)
_MRZ_BYTES = re.compile(rb"[A-Z0-9<]+")
_GENDER = {"M": "1", "F": "2", "X": "9", "<": "0"}     # MRZ sex -> GB/T 2261.1 code


class LdsError(ProtocolError):
    """EF.COM or DG1 bytes that do not form the LDS1 structure expected."""

    reason = "lds_format"


class DocumentMismatch(DriverError):
    """The chip's DG1 MRZ differs from the MRZ used for access: not the document that was scanned."""

    reason = "document_mismatch"


@dataclass(frozen=True)
class Document:
    """What the chip said: its DG1 MRZ and the EF.COM summary."""

    mrz: Mrz
    lds_version: str            # e.g. "0107"
    data_groups: tuple[int, ...]   # data-group tags listed in EF.COM (0x61 = DG1, 0x75 = DG2, ...)


def select_application(transmit: Transmit) -> None:
    """Select the eMRTD application by AID (plain, before BAC)."""
    command = CommandApdu(0x00, 0xA4, 0x04, 0x0C, EMRTD_AID)
    check(parse_response(transmit(bytes(command))), "select eMRTD application")


def read_document(transmit: Transmit, mrz: Mrz, *, random: Callable[[int], bytes] = os.urandom,
                  chunk: int = 0xDF) -> Document:
    """Open the chip with BAC from ``mrz`` and read EF.COM and DG1; named errors on failure."""
    select_application(transmit)
    channel = SecureChannel(authenticate(transmit, document_keys(mrz.key_input), random))

    def send(command: CommandApdu, what: str) -> bytes:
        """One protected exchange; the response data, or the named error."""
        return check(channel.unprotect(transmit(channel.protect(command))), what)

    version, groups = parse_ef_com(read_file(send, EF_COM, chunk))
    if TAG_DG1 not in groups:
        raise LdsError("EF.COM does not list DG1")
    dg1 = parse_dg1(read_file(send, EF_DG1, chunk))
    if dg1.lines != mrz.lines:
        raise DocumentMismatch("the chip's DG1 MRZ differs from the MRZ used for access")
    return Document(dg1, version, groups)


def read_file(send: Callable[[CommandApdu, str], bytes], fid: int, chunk: int) -> bytes:
    """SELECT ``fid`` then READ BINARY its header and the rest in pieces of ``chunk`` bytes."""
    send(CommandApdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")), f"select EF {fid:04X}")
    data = send(CommandApdu(0x00, 0xB0, 0x00, 0x00, le=_HEAD), f"read EF {fid:04X}")
    try:
        _tag, head, length = read_header(data)
    except TlvError as exc:
        raise LdsError(f"EF {fid:04X} does not start with a data object: {exc}") from exc
    total = head + length
    if total - 1 > _MAX_OFFSET:
        raise LdsError(f"EF {fid:04X} of {total} bytes is too large to read")
    data = data[:total]
    while len(data) < total:
        part = send(CommandApdu(0x00, 0xB0, len(data) >> 8, len(data) & 0xFF, le=min(chunk, total - len(data))),
                    f"read EF {fid:04X}")
        if not part:
            raise LdsError(f"EF {fid:04X}: the card returned no data at offset {len(data)}")
        data += part
    return data[:total]


def parse_ef_com(data: bytes) -> tuple[str, tuple[int, ...]]:
    """(LDS version, data-group tags) from EF.COM (tag 60 with 5F01 and 5C)."""
    try:
        body = find_tlv(data, TAG_COM)
        version = find_tlv(body, 0x5F01).decode("ascii", "replace")
        return version, tuple(find_tlv(body, TAG_LIST))
    except TlvError as exc:
        raise LdsError(f"EF.COM: {exc}") from exc


def parse_dg1(data: bytes) -> Mrz:
    """The MRZ in DG1 (61 { 5F1F mrz }), parsed without requiring its check digits."""
    try:
        raw = find_tlv(find_tlv(data, TAG_DG1), TAG_MRZ)
    except TlvError as exc:
        raise LdsError(f"DG1: {exc}") from exc
    if not _MRZ_BYTES.fullmatch(raw):
        raise LdsError("DG1: the MRZ is not made of ICAO characters A-Z 0-9 <")
    try:
        return parse_mrz(raw.decode("ascii"), verify=False)
    except MrzError as exc:
        raise LdsError(f"DG1: {exc}") from exc


def document_card(mrz: Mrz, today: date) -> IdCard:
    """The IdCard of an ICAO document (dates given centuries relative to ``today``)."""
    card_type = CardType.PASSPORT if mrz.format is MrzFormat.TD3 else CardType.FOREIGN_ID
    name = f"{mrz.surname}, {mrz.given_names}" if mrz.given_names else mrz.surname
    expiry = yymmdd(mrz.expiry_date, today=today, past=False, field="expiry_date")
    return IdCard(
        card_type=card_type, name=name, gender=_GENDER.get(mrz.sex, "0"), nation="",
        birth_date=yymmdd(mrz.birth_date, today=today, past=True, field="birth_date"), address="",
        id_number=mrz.document_number, authority=mrz.issuing_state, valid_from=date.min, valid_to=expiry,
        document_number=mrz.document_number, nationality=mrz.nationality, expiry_date=expiry, mrz=mrz.text,
    )
