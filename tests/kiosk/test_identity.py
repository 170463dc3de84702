"""Resident ID numbers: GB 11643 check digit, validation keys, masking, keyed hash."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pytest

from kiosk.identity import (
    birth_date_from_id,
    check_digit,
    gender_from_id,
    mask_id,
    normalise_id_number,
    resident_key,
    validate_id_number,
)

SECRET = b"0123456789abcdef"

# PROTOCOLS.md §1.7, every row, plus format cases.
VALIDATION = [
    ("360426199101010071", None),
    ("44011320141005001X", None),
    ("44011320141005001x", None),
    ("36042619910102009X", "id_checksum"),
    ("360426199113010079", "id_birth_date"),
    ("11010519491231002X", None),
    ("330726196507040016", None),
    ("430421197710177894", None),
    ("110102198611267047", None),
    ("110101197608056896", "id_checksum"),
    ("654201199001010036", None),
    ("654201199001010035", "id_checksum"),
    # format
    ("", "id_format"),
    ("65420119900101003", "id_format"),        # 17 characters
    ("6542011990010100366", "id_format"),      # 19 characters
    ("65420119900101003Y", "id_format"),
    ("X54201199001010036", "id_format"),       # X only allowed last
    ("654201 99001010036", "id_format"),
    ("６５４２０１１９９００１０１００３６", "id_format"),  # full-width digits
    (" 654201199001010036\n", None),            # surrounding whitespace is stripped
    # dates (check digits made correct so that only the date fails)
    ("654201199002300" + "01" + check_digit("65420119900230001"), "id_birth_date"),  # 30 Feb
    ("654201000101010" + "01" + check_digit("65420100010101001"), "id_birth_date"),  # year 0001
    ("654201200002290" + "01" + check_digit("65420120000229001"), None),             # leap day 2000
]


@pytest.mark.parametrize(("number", "reason"), VALIDATION)
def test_validate_id_number(number: str, reason: str | None) -> None:
    """Each number yields None or the first failing reason key."""
    assert validate_id_number(number) == reason


@pytest.mark.parametrize(
    ("first17", "digit"),
    [
        ("36042619910101007", "1"),
        ("44011320141005001", "X"),
        ("11010519491231002", "X"),
        ("11010119760805689", "7"),
        ("65420119900101003", "6"),
        ("36042619910102009", "3"),
    ],
)
def test_check_digit(first17: str, digit: str) -> None:
    """MOD 11-2 check characters, including X for 10."""
    assert check_digit(first17) == digit


@pytest.mark.parametrize("bad", ["", "1234567890123456", "123456789012345678", "1234567890123456X"])
def test_check_digit_needs_17_digits(bad: str) -> None:
    """Anything but 17 ASCII digits is a ValueError."""
    with pytest.raises(ValueError):
        check_digit(bad)


def test_check_digit_matches_closed_form() -> None:
    """The weight table agrees with (1 - 2 * int(id17, 13)) % 11 (python-stdnum's form)."""
    for n in range(0, 10**17, 7_919_999_999_999):
        first17 = f"{n:017d}"
        value = (1 - 2 * int(first17, 13)) % 11
        assert check_digit(first17) == ("X" if value == 10 else str(value))


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("44011320141005001x", "44011320141005001X"), ("  654201199001010036\t", "654201199001010036")],
)
def test_normalise(raw: str, normal: str) -> None:
    """Whitespace is stripped and x upper-cased."""
    assert normalise_id_number(raw) == normal


@pytest.mark.parametrize(
    ("number", "born", "gender"),
    [
        ("654201199001010036", date(1990, 1, 1), "1"),
        ("44011320141005001x", date(2014, 10, 5), "1"),
        ("110102198611267047", date(1986, 11, 26), "2"),
        ("11010519491231002X", date(1949, 12, 31), "2"),
    ],
)
def test_birth_date_and_gender(number: str, born: date, gender: str) -> None:
    """Digits 7-14 are the birth date; digit 17 odd is male ('1'), even female ('2')."""
    assert birth_date_from_id(number) == born
    assert gender_from_id(number) == gender


@pytest.mark.parametrize("bad", ["654201199001010035", "360426199113010079", "short"])
def test_birth_date_and_gender_reject_invalid(bad: str) -> None:
    """Invalid numbers raise instead of yielding a plausible date or gender."""
    with pytest.raises(ValueError):
        birth_date_from_id(bad)
    with pytest.raises(ValueError):
        gender_from_id(bad)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("654201199001010036", "6542**********0036"),
        ("44011320141005001x", "4401**********001X"),
        (" 654201199001010036 ", "6542**********0036"),
        ("123456789012", "1234****9012"),
        ("12345678901", "***********"),
        ("12345678", "********"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_id(number: str, masked: str) -> None:
    """First and last four kept; inputs under 12 characters are masked completely."""
    assert mask_id(number) == masked


def test_resident_key_is_hmac_of_normalised_number() -> None:
    """The key is HMAC-SHA256 hex over the normalised number, so 'x' and 'X' agree."""
    expected = hmac.new(SECRET, b"44011320141005001X", hashlib.sha256).hexdigest()
    assert resident_key("44011320141005001x ", SECRET) == expected
    assert resident_key("44011320141005001X", SECRET) == expected
    assert len(expected) == 64


def test_resident_key_depends_on_secret_and_number() -> None:
    """Different secrets or numbers give different keys; the number never appears in the key."""
    a = resident_key("654201199001010036", SECRET)
    assert a != resident_key("654201199001010036", SECRET + b"!")
    assert a != resident_key("360426199101010071", SECRET)
    assert "654201" not in a


@pytest.mark.parametrize("secret", [b"", b"short", b"0123456789abcde"])
def test_resident_key_rejects_short_secret(secret: bytes) -> None:
    """Secrets under 16 bytes are refused."""
    with pytest.raises(ValueError, match="16 bytes"):
        resident_key("654201199001010036", secret)
