"""Hand-built SAM-V text blocks and frames for the driver tests (PROTOCOLS.md §1.5).

Expected bytes are written out field by field from the published offsets, never computed with
the code under test.  The people are fictional; 654201199001010036 is the synthetic
GB 11643-valid Tacheng number of PROTOCOLS.md §1.7.
"""

from __future__ import annotations

from datetime import date
from functools import reduce
from operator import xor

from drivers.base import CardType, IdCard

ID_NUMBER = "654201199001010036"


def h(text: str) -> bytes:
    """Bytes from spaced hex as PROTOCOLS.md prints them."""
    return bytes.fromhex(text)


def ucs(text: str, size: int) -> bytes:
    """A UCS-2LE field of ``size`` bytes padded with spaces, as the card stores it."""
    raw = text.encode("utf-16-le")
    assert len(raw) <= size
    return raw + b"\x20\x00" * ((size - len(raw)) // 2)


def resident_block(valid_to: str = "20300101", flag: bytes = b"\x20\x00", birth: str = "19900101") -> bytes:
    """A resident text block laid out by the offsets of PROTOCOLS.md §1.5, field by field."""
    block = (ucs("叶尔兰·测试", 30) + ucs("1", 2) + ucs("17", 4) + ucs(birth, 16)
             + ucs("新疆塔城市测试路1号", 70) + ucs(ID_NUMBER, 36) + ucs("塔城市公安局", 30)
             + ucs("20100101", 16) + ucs(valid_to, 16) + ucs("", 28) + flag + ucs("", 6))
    assert len(block) == 256
    return block


def permit_block() -> bytes:
    """A 'J' permit: resident layout, nation reserved, pass number + issue count, flag 'J'."""
    block = (ucs("测试者", 30) + ucs("2", 2) + ucs("", 4) + ucs("19850615", 16) + ucs("香港测试道1号", 70)
             + ucs("810000198506150027", 36) + ucs("测试公安局", 30) + ucs("20200101", 16)
             + ucs("20250101", 16) + ucs("H12345678", 18) + ucs("01", 4) + ucs("", 6) + b"J\x00" + ucs("", 6))
    assert len(block) == 256
    return block


def foreign_block() -> bytes:
    """An 'I' card: the foreigner layout of PROTOCOLS.md §1.5, which differs from the resident one."""
    block = (ucs("TESTOV ARMAN", 120) + ucs("1", 2) + ucs("KAZ654201900101", 30) + ucs("KAZ", 6)
             + ucs("阿尔曼", 30) + ucs("20200101", 16) + ucs("20300101", 16) + ucs("19900101", 16)
             + ucs("01", 4) + ucs("6542", 8) + b"I\x00" + ucs("", 6))
    assert len(block) == 256
    return block


RESIDENT = IdCard(CardType.RESIDENT, "叶尔兰·测试", "1", "17", date(1990, 1, 1), "新疆塔城市测试路1号",
                  ID_NUMBER, "塔城市公安局", date(2010, 1, 1), date(2030, 1, 1))


def read_base_frame(text: bytes, photo: bytes = bytes(1024)) -> bytes:
    """The 1295-byte reply of §1.5, assembled from the published header by hand."""
    body = h("05 08 00 00 90 01 00 04 00") + text + photo
    return h("AA AA AA 96 69") + body + bytes([reduce(xor, body, 0)])
