"""What a scanned barcode means: check digits, GTINs, GS1 element strings, in-store variable-measure codes.

Pure: the scanned text and its AIM symbology identifier (``]E0``, ``]C1``, ... or None when the
scanner sends none) go in; an ``Interpreted`` value or a ``BarcodeError`` with a stable reason key
comes out (PROTOCOLS.md §3.2-3.3, BARCODES.md §6).

- EAN-13, UPC-A, EAN-8, UPC-E (expanded to UPC-A) and ITF-14 are checked with the GS1 mod-10
  check digit and returned as GTIN-14, the form GS1 compares trade items by.
- GS1-128 (``]C1``), GS1 DataMatrix (``]d2``), GS1 QR (``]Q3``) and GS1 DataBar (``]e0``) carry
  GS1 element strings, GS (0x1D) between variable-length fields; GS1 Digital Link URIs come in
  plain QR codes.  The element strings are parsed by biip (its AI table is GS1's); the kiosk
  checks what biip leaves as soft errors (a GTIN check digit).
- EAN-13 codes with a prefix the market uses for in-store variable-measure labels (20-29, and 02
  for a UPC-A with number system 2) are split by that market's ``VariableMeasureLayout``.

The check-digit arithmetic is in ``kiosk.gtin``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kiosk.errors import KioskError
from kiosk.gtin import GTIN_LENGTHS, expand_upce, gtin_check_ok, price_check_digit, to_gtin14

if TYPE_CHECKING:   # biip is imported on first use: the config and the CLI load this module without parsing
    from biip import ParseConfig
    from biip.gs1_element_strings import GS1ElementString

GS = "\x1d"
GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
"""AIM identifiers whose modifier says FNC1 in first position: the data is a GS1 element string."""

RCN_PREFIXES = frozenset({"02", *(f"2{d}" for d in range(10))})
"""GTIN-13 prefixes GS1 sets aside for in-store (restricted circulation) numbers with a measure."""

_DIGITS = re.compile(r"[0-9]+")
_URI = re.compile(r"https?://", re.IGNORECASE)

REASONS: dict[str, str] = {
    "empty_code": "The scan carried no data.",
    "malformed_gtin": "The digits do not form an EAN-8, UPC-E, UPC-A, EAN-13 or GTIN-14 of the scanned symbology.",
    "bad_check_digit": "The scanned barcode has a wrong check digit; it was probably misread.",
    "malformed_gs1": "The GS1 data could not be parsed (unknown AI, wrong length, bad date or repeated AI).",
    "gs1_without_gtin": "The GS1 code carries no GTIN (AI 01), so it names no trade item.",
    "bad_price_check_digit": "The price or weight check digit of an in-store code is wrong.",
    "unknown_barcode": "The scanned code is not a product code the kiosk can read.",
}
"""Every reason key a BarcodeError carries, with a sentence for logs and the officer console."""

SCREEN_REASON: dict[str, str] = {
    "bad_check_digit": "bad_check_digit",
    "bad_price_check_digit": "bad_check_digit",
}
"""Reason key -> the kiosk.reasons key the resident screen shows (any other: unknown_barcode)."""

CURRENCY_NUMERIC: dict[str, str] = {"156": "CNY", "398": "KZT", "643": "RUB", "840": "USD", "978": "EUR"}
"""ISO 4217 numeric -> alphabetic code for GS1 AIs 391n/393n; others stay numeric."""


class BarcodeError(KioskError):
    """A scanned code that names no trade item; ``reason`` is a key of REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown barcode reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    @property
    def screen_reason(self) -> str:
        """The kiosk.reasons key to show the resident."""
        return SCREEN_REASON.get(self.reason, "unknown_barcode")


# -- results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    """A quantity a code carries: a net weight in kg or a price in a currency."""

    kind: str           # "weight" | "price"
    value: Decimal
    unit: str           # "kg", or an ISO 4217 code ("CNY"), or "" for the market's own currency


@dataclass(frozen=True)
class Interpreted:
    """What a code names: a GTIN-14 or an in-store item, GS1 AIs by number, and a measure if any."""

    gtin: str | None
    ai: Mapping[str, str] = field(default_factory=dict, hash=False)
    measure: Measure | None = None
    item_code: str | None = None     # prefix + item digits of an in-store variable-measure code
    kind: str = "gtin"               # gtin | gs1 | digital_link | variable_measure

    def __post_init__(self) -> None:
        object.__setattr__(self, "ai", MappingProxyType(dict(self.ai)))

    def fields(self) -> dict[str, Any]:
        """JSON-ready fields: gtin, item_code, the common GS1 ones by name, every AI, the measure."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.gtin is not None:
            out["gtin"] = self.gtin
        if self.item_code is not None:
            out["item_code"] = self.item_code
        for ai, name in (("10", "batch"), ("21", "serial"), ("17", "expiry"), ("15", "best_before")):
            if ai in self.ai:
                out[name] = _date_text(self.ai[ai]) if ai in ("15", "17") else self.ai[ai]
        if self.measure is not None:
            out[self.measure.kind] = {"value": str(self.measure.value), "unit": self.measure.unit}
        if self.ai:
            out["ai"] = dict(self.ai)
        return out


def _date_text(yymmdd: str) -> str:
    """ISO date of a GS1 YYMMDD (biip has checked it): day 00 is the month's last day (GS1 7.12).

    The century is taken as 20YY: GS1's sliding window would only differ for dates more than
    50 years from now, which no expiry label carries.
    """
    year, month, day = 2000 + int(yymmdd[0:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    if day == 0:
        day = calendar.monthrange(year, month)[1]
    return f"{year:04d}-{month:02d}-{day:02d}"


# -- in-store variable-measure codes ------------------------------------------------------

@dataclass(frozen=True)
class VariableMeasureLayout:
    """How one market lays out EAN-13 in-store codes with the given prefixes.

    Digits, left to right: prefix (2), item (``item_digits``), an optional price check digit
    (``price_check``), the value (``value_digits``, ``decimals`` of them after the point), the
    EAN check digit.  They must add up to 13.
    """

    prefixes: frozenset[str]
    kind: str                 # "weight" (value in kg) | "price"
    item_digits: int
    value_digits: int
    decimals: int
    price_check: bool = False
    unit: str = "kg"          # "kg" for weight; the currency code for price

    def __post_init__(self) -> None:
        problem = _layout_problem(self)
        if problem:
            raise ValueError(problem)


def _layout_problem(layout: VariableMeasureLayout) -> str | None:
    if layout.kind not in ("weight", "price"):
        return f"kind {layout.kind!r} is not 'weight' or 'price'"
    if not layout.prefixes or not layout.prefixes <= RCN_PREFIXES:
        return f"prefixes {sorted(layout.prefixes)!r} are not among 02, 20..29 (in-store number ranges)"
    used = 2 + layout.item_digits + int(layout.price_check) + layout.value_digits + 1
    if layout.item_digits < 1 or layout.value_digits < 1 or used != 13:
        return f"2 + item_digits + price_check + value_digits + 1 is {used}, not 13"
    if layout.price_check and layout.value_digits not in (4, 5):
        return "a price check digit needs a 4 or 5 digit value"
    if not 0 <= layout.decimals <= layout.value_digits:
        return f"decimals {layout.decimals} is not in 0..{layout.value_digits}"
    return None


def layouts_by_prefix(layouts: Iterable[VariableMeasureLayout]) -> dict[str, VariableMeasureLayout]:
    """Prefix -> layout; ValueError when two layouts claim one prefix."""
    table: dict[str, VariableMeasureLayout] = {}
    for layout in layouts:
        for prefix in layout.prefixes:
            if prefix in table:
                raise ValueError(f"prefix {prefix} has two variable-measure layouts")
            table[prefix] = layout
    return table


def _variable_measure(code13: str, layout: VariableMeasureLayout) -> Interpreted:
    item_end = 2 + layout.item_digits
    value_start = item_end + int(layout.price_check)
    value = code13[value_start:value_start + layout.value_digits]
    if layout.price_check and price_check_digit(value) != int(code13[item_end]):
        raise BarcodeError("bad_price_check_digit", code13)
    amount = Decimal(int(value)).scaleb(-layout.decimals)
    return Interpreted(None, measure=Measure(layout.kind, amount, layout.unit),
                       item_code=code13[:item_end], kind="variable_measure")


# -- interpretation -------------------------------------------------------------------------

def interpret(text: str, symbology: str | None = None,
              layouts: Iterable[VariableMeasureLayout] | Mapping[str, VariableMeasureLayout] = ()) -> Interpreted:
    """What ``text`` (read with AIM ``symbology``, None if unknown) names; BarcodeError(reason) if nothing."""
    table = layouts if isinstance(layouts, Mapping) else layouts_by_prefix(layouts)
    if not text.strip():
        raise BarcodeError("empty_code")
    sym = symbology or ""
    if sym in GS1_SYMBOLOGIES:
        return _gs1_message(text)
    if sym.startswith("]E"):
        return _ean_upc(text, sym, table)
    if sym.startswith("]I"):
        return _itf(text)
    if _URI.match(text):
        return _digital_link(text)
    if not sym:
        return _guess(text, table)
    if text.startswith(GS):   # FNC1 sent as a leading GS by a scanner that reports a plain symbology
        return _gs1_message(text)
    raise BarcodeError("unknown_barcode", f"{sym} data is not a product code")


def _ean_upc(text: str, sym: str, table: Mapping[str, VariableMeasureLayout]) -> Interpreted:
    if not _DIGITS.fullmatch(text):
        raise BarcodeError("malformed_gtin", f"{sym} data is not all digits")
    if sym == "]E4":
        lengths: tuple[int, ...] = (8,)
    elif sym == "]E3":   # EAN-13 / UPC-A (as 13 digits) followed by a 2 or 5 digit add-on, which is dropped
        if len(text) not in (15, 18):
            raise BarcodeError("malformed_gtin", f"{sym} data has {len(text)} digits")
        text, lengths = text[:13], (13,)
    else:
        lengths = (8, 12, 13)
    if len(text) not in lengths:
        raise BarcodeError("malformed_gtin", f"{sym} data has {len(text)} digits")
    if len(text) == 8 and sym == "]E0":
        return _upce(text)
    return _gtin(text, table)


def _upce(text: str) -> Interpreted:
    try:
        upca = expand_upce(text)
    except ValueError as exc:
        raise BarcodeError("malformed_gtin", str(exc)) from exc
    if not gtin_check_ok(upca):
        raise BarcodeError("bad_check_digit", text)
    return Interpreted(to_gtin14(upca))


def _gtin(code: str, table: Mapping[str, VariableMeasureLayout]) -> Interpreted:
    if not gtin_check_ok(code):
        raise BarcodeError("bad_check_digit", code)
    gtin14 = to_gtin14(code)
    layout = table.get(gtin14[1:3]) if gtin14[0] == "0" else None
    if layout is not None:
        return _variable_measure(gtin14[1:], layout)
    return Interpreted(gtin14)


def _itf(text: str) -> Interpreted:
    if not _DIGITS.fullmatch(text) or len(text) != 14:
        raise BarcodeError("unknown_barcode", "ITF data is not an ITF-14")
    if not gtin_check_ok(text):
        raise BarcodeError("bad_check_digit", text)
    return Interpreted(text)


def _guess(text: str, table: Mapping[str, VariableMeasureLayout]) -> Interpreted:
    """No symbology identifier: digits of a GTIN length are a GTIN, else try a GS1 element string."""
    if _DIGITS.fullmatch(text) and len(text) in GTIN_LENGTHS:
        if len(text) == 8 and not gtin_check_ok(text) and text[0] in "01":
            try:   # 8 digits are EAN-8 or UPC-E; a UPC-E check digit only holds on the expansion
                return _upce(text)
            except BarcodeError:
                pass
        return _gtin(text, table)
    if GS in text or (_DIGITS.match(text) and text.startswith(("01", "02"))):
        try:
            return _gs1_message(text)
        except BarcodeError as exc:
            if exc.reason == "bad_check_digit":
                raise
    raise BarcodeError("unknown_barcode", "not a GTIN or GS1 element string")


@cache
def _parse_config() -> ParseConfig:
    from biip import ParseConfig
    return ParseConfig(separator_chars=(GS,))


def _gs1_message(text: str) -> Interpreted:
    from biip import ParseError
    from biip.gs1_messages import GS1Message
    try:
        message = GS1Message.parse(text, config=_parse_config())
    except (ParseError, ValueError) as exc:
        raise BarcodeError("malformed_gs1", str(exc)) from exc
    return _from_elements(message.element_strings, "gs1")


def _digital_link(uri: str) -> Interpreted:
    from biip import ParseError
    from biip.gs1_digital_link_uris import GS1DigitalLinkURI
    try:
        link = GS1DigitalLinkURI.parse(uri)
    except (ParseError, ValueError) as exc:
        raise BarcodeError("unknown_barcode", f"not a GS1 Digital Link URI: {exc}") from exc
    # biip zero-pads the path's GTIN; a real one has 8, 12, 13 or 14 digits in the URI itself
    segment = re.search(r"/01/([^/?#]*)", uri)
    if segment is not None and len(segment.group(1)) not in GTIN_LENGTHS:
        raise BarcodeError("malformed_gtin", f"Digital Link GTIN {segment.group(1)!r}")
    return _from_elements(link.element_strings, "digital_link")


def _from_elements(elements: Iterable[GS1ElementString], kind: str) -> Interpreted:
    ai: dict[str, str] = {}
    measure: Measure | None = None
    for element in elements:
        number = element.ai.ai
        if number in ai:
            raise BarcodeError("malformed_gs1", f"AI {number} appears twice")
        ai[number] = element.value
        if element.gtin_error and number == "01":
            raise BarcodeError("bad_check_digit", element.gtin_error)
        found = _measure_of(element)
        if found is not None and (measure is None or found.kind == "weight"):
            measure = found   # a net weight wins over a price: quantity caps count kilograms
    gtin = ai.get("01")
    if gtin is None:
        raise BarcodeError("gs1_without_gtin", ", ".join(ai) or "no AIs")
    return Interpreted(gtin, ai, measure, kind=kind)


def _measure_of(element: GS1ElementString) -> Measure | None:
    number, amount = element.ai.ai, element.decimal
    if amount is None:
        return None
    if number.startswith("310"):
        return Measure("weight", amount, "kg")
    if number.startswith("392"):
        return Measure("price", amount, "")
    if number.startswith("393"):
        numeric = element.pattern_groups[0]
        return Measure("price", amount, CURRENCY_NUMERIC.get(numeric, numeric))
    return None
