"""SAM-V card data: the 256-byte text block and the read replies that carry it (PROTOCOLS.md §1.5).

Pure functions over bytes, no I/O.  ``parse_text_block`` decodes the UCS-2LE text of a resident
card, an HK/Macau/Taiwan residence permit ('J') or a 2017 foreigner permanent-residence card
('I', its own layout); ``parse_read_base`` / ``parse_read_base_fp`` / ``parse_new_address``
decode the replies to 30 01, 30 10 and 30 03.  Every refusal is a ``CardDataError`` whose
``reason`` is a stable key and whose text names the field, never its content.

The photo (1024 B WLT) and fingerprints are returned in memory only; nothing here logs.
The 2023 foreigner card (flag 'Y') has no published layout: it is refused as
``card_type_unverified`` rather than guessed (PROTOCOLS.md §1.5, §7 item 3).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from drivers.base import CardType, IdCard
from drivers.errors import ProtocolError

from .samv_frames import SW3_OK, Response

TEXT_LEN = 256
PHOTO_LEN = 1024
FLAG_OFFSET = 248                       # card-type flag in the text block
LONG_TERM = "长期"                      # valid_to of a card valid for life
FLAG_UNVERIFIED = ord("Y")              # 2023 foreigner PR card: layout unpublished


class CardDataError(ProtocolError):
    """The card's data cannot be used; ``reason`` is a stable key (no personal data in text)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_Slot = tuple[int, int]         # (offset, bytes) inside the 256-byte text block

_RESIDENT: dict[str, _Slot] = {
    "name": (0, 30), "gender": (30, 2), "nation": (32, 4), "birth_date": (36, 16), "address": (52, 70),
    "id_number": (122, 36), "authority": (158, 30), "valid_from": (188, 16), "valid_to": (204, 16),
}
# 'J' permit: the resident layout without nation, then pass number and issue count
_PERMIT: dict[str, _Slot] = {"pass_number": (220, 18), "issue_count": (238, 4)}
# 'I' card (2017 version): its own layout, PROTOCOLS.md §1.5 "Foreigner 'I' layout"
_FOREIGN: dict[str, _Slot] = {
    "name": (0, 120), "gender": (120, 2), "id_number": (122, 30), "nationality": (152, 6),
    "name_zh": (158, 30), "valid_from": (188, 16), "valid_to": (204, 16), "birth_date": (220, 16),
    "card_version": (236, 4), "authority": (240, 8),
}
_FLAGS: dict[int, CardType] = {
    0x20: CardType.RESIDENT, 0x00: CardType.RESIDENT,
    ord("J"): CardType.PERMIT_HMT, ord("I"): CardType.FOREIGN_PR,
}
_FLAG_CHAR = {CardType.RESIDENT: " ", CardType.PERMIT_HMT: "J", CardType.FOREIGN_PR: "I"}
_YYYYMMDD = re.compile(r"[0-9]{8}")


def _field(block: bytes, slot: _Slot) -> str:
    offset, size = slot
    try:
        text = block[offset:offset + size].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise CardDataError("card_unreadable", f"text at offset {offset} is not UCS-2") from exc
    return text.rstrip(" \x00")


def _date(text: str, what: str) -> date:
    if not _YYYYMMDD.fullmatch(text):
        raise CardDataError("card_unreadable", f"{what} is not a YYYYMMDD date")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise CardDataError("card_unreadable", f"{what} is not a calendar date") from exc


def _valid_to(text: str) -> date | None:
    # "长期" padded with spaces or NULs (the exact padding is UNVERIFIED, PROTOCOLS.md §7 item 3):
    # _field has already stripped both
    return None if text == LONG_TERM else _date(text, "valid_to")


def _card_type(block: bytes) -> CardType:
    """The card type from the flag at text byte 248; CardDataError for 'Y' and unknown flags."""
    flag = block[FLAG_OFFSET]      # the low byte of a UCS-2LE character, as the public parsers read it
    card_type = _FLAGS.get(flag)
    if card_type is not None:
        return card_type
    if flag == FLAG_UNVERIFIED:
        raise CardDataError("card_type_unverified",
                            "card type flag 0x59 'Y' (2023 foreigner permanent residence card): layout unverified")
    raise CardDataError("card_type_unknown", f"card type flag 0x{flag:02X} at text byte {FLAG_OFFSET} is not supported")


def parse_text_block(block: bytes) -> IdCard:
    """Decode the 256-byte UCS-2LE text block; raise CardDataError when it cannot be used."""
    if len(block) != TEXT_LEN:
        raise CardDataError("card_unreadable", f"text block is {len(block)} bytes, expected {TEXT_LEN}")
    card_type = _card_type(block)
    if card_type is CardType.FOREIGN_PR:
        return _foreign(block)
    permit = card_type is CardType.PERMIT_HMT
    f = {key: _field(block, slot) for key, slot in (_RESIDENT | _PERMIT if permit else _RESIDENT).items()}
    return IdCard(
        card_type=card_type, name=f["name"], gender=f["gender"],
        # a 'J' permit has no nation: bytes 32-35 are reserved, whatever they hold
        nation="" if permit else f["nation"],
        birth_date=_date(f["birth_date"], "birth_date"), address=f["address"], id_number=f["id_number"],
        authority=f["authority"], valid_from=_date(f["valid_from"], "valid_from"),
        valid_to=_valid_to(f["valid_to"]), pass_number=f.get("pass_number", ""),
        issue_count=f.get("issue_count", ""),
    )


def _foreign(block: bytes) -> IdCard:
    """The 'I' card layout: English name, PR number, nationality, Chinese name, version."""
    f = {key: _field(block, slot) for key, slot in _FOREIGN.items()}
    return IdCard(
        card_type=CardType.FOREIGN_PR, name=f["name"], gender=f["gender"], nation="",
        birth_date=_date(f["birth_date"], "birth_date"), address="", id_number=f["id_number"],
        authority=f["authority"], valid_from=_date(f["valid_from"], "valid_from"),
        valid_to=_valid_to(f["valid_to"]), nationality=f["nationality"], name_zh=f["name_zh"],
        card_version=f["card_version"],
    )


# ---- read replies -----------------------------------------------------------------------

def _lengths(resp: Response, what: str, names: tuple[str, ...]) -> list[int]:
    """The big-endian 2-byte length fields (one per name) at the start of a successful read reply."""
    if resp.sw3 != SW3_OK:
        raise CardDataError("card_unreadable", f"{what}: SW3 0x{resp.sw3:02X} {resp.status.key}")
    head = 2 * len(names)
    if len(resp.data) < head:
        raise CardDataError("card_unreadable", f"{what}: {len(resp.data)} data bytes, no length fields")
    lengths = [int.from_bytes(resp.data[i:i + 2], "big") for i in range(0, head, 2)]
    if lengths[0] != TEXT_LEN or len(resp.data) != head + sum(lengths):
        sizes = " + ".join(f"{name} {n} B" for name, n in zip(names, lengths, strict=True))
        raise CardDataError("card_unreadable", f"{what}: {sizes} do not fill {len(resp.data) - head} data bytes")
    return lengths


def parse_read_base(resp: Response) -> IdCard:
    """Decode a read-base-info (30 01) reply: text block plus photo bytes kept in memory."""
    _lengths(resp, "read base info", ("text", "photo"))
    card = parse_text_block(resp.data[4:4 + TEXT_LEN])
    return replace(card, photo=bytes(resp.data[4 + TEXT_LEN:]))


def parse_read_base_fp(resp: Response) -> tuple[IdCard, bytes]:
    """Decode a 30 10 reply: the card (with photo) and the fingerprint bytes (0, 512 or 1024)."""
    _text_len, photo_len, _fp_len = _lengths(resp, "read base info with fingerprint", ("text", "photo", "fingerprint"))
    card = parse_text_block(resp.data[6:6 + TEXT_LEN])
    photo_end = 6 + TEXT_LEN + photo_len
    return replace(card, photo=bytes(resp.data[6 + TEXT_LEN:photo_end])), bytes(resp.data[photo_end:])


def parse_new_address(data: bytes) -> str:
    """The appended (newest) address of a 30 03 reply: UCS-2LE, padding stripped.

    The reply's size (70 B, like the address field of the text block) is UNVERIFIED on
    hardware, so any even length is accepted."""
    if len(data) % 2:
        raise CardDataError("card_unreadable", f"new address: {len(data)} bytes is not UCS-2")
    return _field(data, (0, len(data)))


# ---- the inverse, for the simulator and tests -------------------------------------------------

def _put(block: bytearray, slot: _Slot, text: str) -> None:
    offset, size = slot
    raw = text.encode("utf-16-le")
    if len(raw) > size:
        raise ValueError(f"text for offset {offset} needs {len(raw)} bytes, the field has {size}")
    block[offset:offset + size] = raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)


def _yyyymmdd(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def encode_text_block(card: IdCard) -> bytes:
    """Build the 256-byte text block a reader would send for ``card`` (inverse of parse)."""
    if card.card_type not in _FLAG_CHAR:
        raise ValueError(f"a SAM-V reader cannot carry a {card.card_type.value} document")
    block = bytearray(" ".encode("utf-16-le") * (TEXT_LEN // 2))
    valid_to = LONG_TERM if card.valid_to is None else _yyyymmdd(card.valid_to)
    values = {"name": card.name, "gender": card.gender, "birth_date": _yyyymmdd(card.birth_date),
              "id_number": card.id_number, "authority": card.authority,
              "valid_from": _yyyymmdd(card.valid_from), "valid_to": valid_to, "address": card.address,
              "nation": card.nation, "nationality": card.nationality, "name_zh": card.name_zh,
              "card_version": card.card_version, "pass_number": card.pass_number,
              "issue_count": card.issue_count}
    slots = {CardType.RESIDENT: _RESIDENT, CardType.PERMIT_HMT: {**_RESIDENT, **_PERMIT},
             CardType.FOREIGN_PR: _FOREIGN}[card.card_type]
    if card.card_type is CardType.PERMIT_HMT:
        values["nation"] = ""
    for key, slot in slots.items():
        _put(block, slot, values[key])
    _put(block, (FLAG_OFFSET, 2), _FLAG_CHAR[card.card_type])
    return bytes(block)
