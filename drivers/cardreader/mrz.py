"""ICAO 9303 machine-readable zones (Parts 3-5): TD1, TD2 and TD3 parsing, check digits, BAC key input.

Pure: text in, an ``Mrz`` or an ``MrzError`` out, no I/O and no clock (dates that need a
century take ``today``).  PROTOCOLS.md §2.2 gives the layouts and the test vectors.

Layouts (0-based slices):

    TD3 (passport, 2 x 44)  line 1: code[0:2] state[2:5] name[5:44]
                            line 2: doc[0:9] cd[9] nat[10:13] dob[13:19] cd[19] sex[20]
                                    exp[21:27] cd[27] optional[28:42] cd[42] composite[43]
    TD2 (ID card, 2 x 36)   line 1: code[0:2] state[2:5] name[5:36]
                            line 2: as TD3 up to exp cd[27], optional[28:35] composite[35]
    TD1 (ID card, 3 x 30)   line 1: code[0:2] state[2:5] doc[5:14] cd[14] optional[15:30]
                            line 2: dob[0:6] cd[6] sex[7] exp[8:14] cd[14] nat[15:18]
                                    optional[18:29] composite[29]
                            line 3: name

A TD1/TD2 document number longer than 9 characters puts ``<`` in its check-digit place and
continues in the optional data, followed by its check digit (ICAO 9303-5 §4.2.4; the TD2
vector of App. D.2 has a 12-character number).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

from drivers.errors import DriverError

_WEIGHTS = (7, 3, 1)
_ALPHABET = re.compile(r"[A-Z0-9<]+")
_YYMMDD = re.compile(r"[0-9]{6}")


class MrzError(DriverError):
    """An MRZ that cannot be used; ``reason`` is a stable key, ``field`` names the part at fault."""

    def __init__(self, reason: str, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.reason = reason        # mrz_format | mrz_check_digit | mrz_date
        self.field = field


class MrzFormat(enum.Enum):
    """The three ICAO sizes: value = (lines, characters per line)."""

    TD1 = (3, 30)
    TD2 = (2, 36)
    TD3 = (2, 44)

    @property
    def lines(self) -> int:
        """Number of lines."""
        return self.value[0]

    @property
    def width(self) -> int:
        """Characters per line."""
        return self.value[1]


_BY_LENGTH = {f.lines * f.width: f for f in MrzFormat}
_CODES = {MrzFormat.TD3: "P", MrzFormat.TD2: "IAC", MrzFormat.TD1: "IAC"}
_SEXES = "MF<X"


def char_value(char: str) -> int:
    """ICAO value of one MRZ character: digits as is, A-Z = 10-35, ``<`` = 0."""
    if "0" <= char <= "9":
        return ord(char) - ord("0")
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == "<":
        return 0
    raise MrzError("mrz_format", f"character {char!r} is not allowed in an MRZ")


def check_digit(text: str) -> int:
    """The 7-3-1 check digit of ``text`` (ICAO 9303-3 §4.9)."""
    return sum(char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(text)) % 10


@dataclass(frozen=True)
class Mrz:
    """One parsed MRZ; the strings keep ICAO characters, dates stay YYMMDD text."""

    format: MrzFormat
    lines: tuple[str, ...]
    document_code: str          # "P<", "I<", "ID", ...
    issuing_state: str
    document_number: str        # without fillers, overflow included
    document_number_cd: str
    nationality: str
    birth_date: str             # YYMMDD; ICAO allows '<' for an unknown part
    sex: str                    # M, F, X or <
    expiry_date: str            # YYMMDD
    optional_data: str          # fillers stripped (TD1: line 1 optional data after any overflow)
    optional_data_2: str        # TD1 line 2 optional data, '' otherwise
    surname: str
    given_names: str

    def __repr__(self) -> str:  # personal data stays out of logs
        return f"Mrz({self.format.name}, document_code={self.document_code!r})"

    @property
    def text(self) -> str:
        """The lines joined by newlines."""
        return "\n".join(self.lines)

    @property
    def key_input(self) -> str:
        """BAC 'MRZ information': document number + cd, birth date + cd, expiry + cd (9303-11 §9.7.1)."""
        line = self.lines[1] if self.format is not MrzFormat.TD1 else self.lines[0][5:]
        number = line[0:9] if len(self.document_number) <= 9 else self.document_number
        if self.format is MrzFormat.TD1:
            dates = self.lines[1][0:7] + self.lines[1][8:15]
        else:
            dates = self.lines[1][13:20] + self.lines[1][21:28]
        return number + self.document_number_cd + dates


def split_lines(text: str) -> tuple[MrzFormat, tuple[str, ...]]:
    """Whitespace-separated lines, or the lines run together, -> (format, lines); upper-cased."""
    pieces = text.upper().split()
    joined = "".join(pieces)
    fmt = _BY_LENGTH.get(len(joined))
    if fmt is None:
        sizes = ", ".join(f"{f.name} {f.lines}x{f.width}" for f in MrzFormat)
        raise MrzError("mrz_format", f"{len(joined)} characters is no MRZ size ({sizes})")
    if len(pieces) > 1 and [len(p) for p in pieces] != [fmt.width] * fmt.lines:
        raise MrzError("mrz_format", f"lines of {[len(p) for p in pieces]} characters; "
                                     f"{fmt.name} has {fmt.lines} lines of {fmt.width}")
    if not _ALPHABET.fullmatch(joined):
        raise MrzError("mrz_format", "only A-Z, 0-9 and < are allowed in an MRZ")
    return fmt, tuple(joined[i:i + fmt.width] for i in range(0, len(joined), fmt.width))


def parse_mrz(text: str, *, verify: bool = True) -> Mrz:
    """Parse an MRZ; with ``verify`` every check digit must match (MrzError mrz_check_digit)."""
    fmt, lines = split_lines(text)
    code = lines[0][0:2]
    if code[0] not in _CODES[fmt]:
        raise MrzError("mrz_format", f"document code {code!r} is not a {fmt.name} document", field="document_code")
    if fmt is MrzFormat.TD1:
        doc_field, doc_cd, optional = lines[0][5:14], lines[0][14], lines[0][15:30]
        dob, dob_cd, sex = lines[1][0:6], lines[1][6], lines[1][7]
        exp, exp_cd, nationality = lines[1][8:14], lines[1][14], lines[1][15:18]
        optional_2, name = lines[1][18:29], lines[2]
    else:
        doc_field, doc_cd, nationality = lines[1][0:9], lines[1][9], lines[1][10:13]
        dob, dob_cd, sex = lines[1][13:19], lines[1][19], lines[1][20]
        exp, exp_cd = lines[1][21:27], lines[1][27]
        optional = lines[1][28:42] if fmt is MrzFormat.TD3 else lines[1][28:35]
        optional_2, name = "", lines[0][5:]
    number, doc_cd, optional = _document_number(fmt, doc_field, doc_cd, optional)
    if sex not in _SEXES:
        raise MrzError("mrz_format", f"sex {sex!r} is not M, F, X or <", field="sex")
    surname, given = _name(name)
    mrz = Mrz(fmt, lines, code, lines[0][2:5], number.replace("<", ""), doc_cd, nationality, dob, sex, exp,
              optional.rstrip("<"), optional_2.rstrip("<"), surname, given)
    if verify:
        _verify(mrz, number, (dob, dob_cd), (exp, exp_cd))
    return mrz


def _document_number(fmt: MrzFormat, field: str, cd: str, optional: str) -> tuple[str, str, str]:
    """(number as used for BAC, its check digit, optional data left) with TD1/TD2 overflow."""
    if cd != "<" or fmt is MrzFormat.TD3:
        return field, cd, optional
    overflow = optional.split("<", 1)[0]
    if len(overflow) < 2:
        raise MrzError("mrz_format", "long document number without its overflow and check digit",
                       field="document_number")
    return field + overflow[:-1], overflow[-1], optional[len(overflow):]


def _name(field: str) -> tuple[str, str]:
    surname, _sep, given = field.partition("<<")
    return surname.replace("<", " ").strip(), " ".join(given.replace("<", " ").split())


def _expect(value: str, digit: str, field: str) -> None:
    if digit != str(check_digit(value)):
        raise MrzError("mrz_check_digit", f"check digit of {field} is {digit!r}, expected {check_digit(value)}",
                       field=field)


def _verify(mrz: Mrz, number: str, dob: tuple[str, str], exp: tuple[str, str]) -> None:
    _expect(number, mrz.document_number_cd, "document_number")
    _expect(dob[0], dob[1], "birth_date")
    _expect(exp[0], exp[1], "expiry_date")
    line2 = mrz.lines[1]
    if mrz.format is MrzFormat.TD3:
        optional, opt_cd = line2[28:42], line2[42]
        # an empty personal number may carry '<' instead of a check digit (9303-4 §4.2.2.2)
        if not (opt_cd == "<" and optional == "<" * 14):
            _expect(optional, opt_cd, "optional_data")
        composite, digit = line2[0:10] + line2[13:20] + line2[21:43], line2[43]
    elif mrz.format is MrzFormat.TD2:
        composite, digit = line2[0:10] + line2[13:20] + line2[21:35], line2[35]
    else:
        composite = mrz.lines[0][5:30] + line2[0:7] + line2[8:15] + line2[18:29]
        digit = line2[29]
    _expect(composite, digit, "composite")


def yymmdd(text: str, *, today: date, past: bool, field: str) -> date:
    """A YYMMDD date; the century puts a birth date (``past``) not after ``today``, an expiry
    within 50 years of ``today``."""
    if not _YYMMDD.fullmatch(text):
        raise MrzError("mrz_date", f"{field} {text!r} is not a full YYMMDD date", field=field)
    yy, mm, dd = int(text[0:2]), int(text[2:4]), int(text[4:6])
    year = 2000 + yy
    if past and (year, mm, dd) > (today.year, today.month, today.day) or not past and year > today.year + 50:
        year -= 100
    try:
        return date(year, mm, dd)
    except ValueError as exc:
        raise MrzError("mrz_date", f"{field} {text!r} is not a calendar date", field=field) from exc
