"""kiosk.gtin and kiosk.barcodes, table-tested: check digits, UPC-E, GS1 element strings, in-store codes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kiosk.barcodes import (
    REASONS,
    SCREEN_REASON,
    BarcodeError,
    Interpreted,
    Measure,
    VariableMeasureLayout,
    interpret,
    layouts_by_prefix,
)
from kiosk.gtin import check_digit, compress_upca, expand_upce, gtin_check_ok, price_check_digit, to_gtin14
from kiosk.reasons import REASONS as KIOSK_REASONS

GS = "\x1d"

# -- check digits (vectors: GS1 General Specifications, PROTOCOLS.md §6, biip docstrings) --------------

@pytest.mark.parametrize(("body", "digit"), [
    ("590123412345", 7), ("0950110153000", 3), ("9638507", 4), ("03600029145", 2), ("9876543210921", 3),
    ("0", 0), ("1", 7),
])
def test_check_digit(body: str, digit: int) -> None:
    assert check_digit(body) == digit


@pytest.mark.parametrize("body", ["", "12a", "\u0661\u0662"])
def test_check_digit_needs_ascii_digits(body: str) -> None:
    with pytest.raises(ValueError):
        check_digit(body)


@pytest.mark.parametrize(("code", "ok"), [
    ("5901234123457", True), ("5901234123458", False), ("96385074", True), ("036000291452", True),
    ("98765432109213", True), ("590123412345", False), ("59012341234570", False), ("", False),
    ("590123412345a", False), ("\u0665901234123457", False), (" 5901234123457", False),
])
def test_gtin_check_ok(code: str, ok: bool) -> None:
    """Only 8, 12, 13 or 14 ASCII digits with the right last digit pass (no Unicode digits, no blanks)."""
    assert gtin_check_ok(code) is ok


def test_to_gtin14_pads_and_refuses_non_gtins() -> None:
    assert to_gtin14("96385074") == "00000096385074"
    assert to_gtin14("036000291452") == "00036000291452"
    for bad in ("123", "12345678901234567", "12a45678"):
        with pytest.raises(ValueError):
            to_gtin14(bad)


@pytest.mark.parametrize(("upce", "upca"), [
    ("04252614", "042100005264"), ("01234565", "012345000065"), ("01234133", "012300000413"),
    ("01234145", "012340000015"), ("01234558", "012345000058"), ("11234502", "112000003452"),
])
def test_upce_expands_to_upca_and_back(upce: str, upca: str) -> None:
    assert expand_upce(upce) == upca
    assert compress_upca(upca) == upce


def test_upce_refuses_other_number_systems() -> None:
    with pytest.raises(ValueError):
        expand_upce("24252614")
    assert compress_upca("212345000065") is None
    assert compress_upca("012345678905") is None     # no zero run to suppress


@pytest.mark.parametrize(("value", "digit"), [("2875", 9), ("14685", 6), ("0000", 0), ("00000", 0)])
def test_price_check_digit_gs1_examples(value: str, digit: int) -> None:
    """GS1 General Specifications 7.9.3: 4-digit 2875 -> 9, 5-digit 14685 -> 6."""
    assert price_check_digit(value) == digit


# -- EAN / UPC / ITF --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "symbology", "gtin"), [
    ("5901234123457", "]E0", "05901234123457"),
    ("036000291452", "]E0", "00036000291452"),      # UPC-A as 12 digits
    ("0036000291452", "]E0", "00036000291452"),     # ... or 13 with the leading 0
    ("04252614", "]E0", "00042100005264"),          # UPC-E, expanded
    ("96385074", "]E4", "00000096385074"),
    ("590123412345712", "]E3", "05901234123457"),   # EAN-13 + 2-digit add-on (dropped)
    ("98765432109213", "]I1", "98765432109213"),
    ("4870000000012", None, "04870000000012"),      # no AIM prefix: digits of a GTIN length
    ("96385074", None, "00000096385074"),           # 8 digits: EAN-8 first ...
    ("04252614", None, "00042100005264"),           # ... else UPC-E
    ("0109501101530003", None, "09501101530003"),   # GS1 element string without ]C1 (zbar's GS1-128)
])
def test_retail_codes_give_their_gtin14(text: str, symbology: str | None, gtin: str) -> None:
    assert interpret(text, symbology) == Interpreted(gtin, {"01": gtin} if len(text) == 16 else {},
                                                     kind="gs1" if len(text) == 16 else "gtin")


@pytest.mark.parametrize(("text", "symbology", "reason"), [
    ("", None, "empty_code"),
    ("  ", "]E0", "empty_code"),
    ("5901234123458", "]E0", "bad_check_digit"),
    ("5901234123458", None, "bad_check_digit"),
    ("59012341234A7", "]E0", "malformed_gtin"),
    ("59012341234578", "]E0", "malformed_gtin"),     # 14 digits are not EAN/UPC
    ("5901234123457", "]E4", "malformed_gtin"),      # EAN-8 identifier, 13 digits
    ("24252614", "]E0", "malformed_gtin"),           # UPC-E number system must be 0 or 1
    ("04252615", "]E0", "bad_check_digit"),
    ("5901234123457", "]E3", "malformed_gtin"),      # add-on identifier without an add-on
    ("9876543210", "]I1", "unknown_barcode"),
    ("98765432109214", "]I1", "bad_check_digit"),
    ("K1234567890", "]C0", "unknown_barcode"),
    ("hello", None, "unknown_barcode"),
    ("5901234123457", "]Q1", "unknown_barcode"),     # a QR that merely holds digits names no trade item
])
def test_bad_or_unknown_codes_name_their_reason(text: str, symbology: str | None, reason: str) -> None:
    with pytest.raises(BarcodeError) as info:
        interpret(text, symbology)
    assert info.value.reason == reason


def test_every_reason_has_a_sentence_and_a_screen_key() -> None:
    """Fine reasons for logs; the resident screen shows one of the kiosk's existing reason keys."""
    for reason in REASONS:
        assert BarcodeError(reason).screen_reason in KIOSK_REASONS
        assert REASONS[reason].endswith(".")
    assert set(SCREEN_REASON) <= set(REASONS)
    with pytest.raises(ValueError):
        BarcodeError("no_such_reason")


# -- GS1 element strings and Digital Link -----------------------------------------------------------

def test_gs1_128_with_batch_expiry_and_weight() -> None:
    got = interpret("0109501101530003" + "17260600" + "10AB-123" + GS + "3102001250", "]C1")
    assert got.gtin == "09501101530003" and got.kind == "gs1"
    assert got.measure == Measure("weight", Decimal("12.50"), "kg")
    assert got.fields() == {"kind": "gs1", "gtin": "09501101530003", "batch": "AB-123", "expiry": "2026-06-30",
                            "weight": {"value": "12.50", "unit": "kg"},
                            "ai": {"01": "09501101530003", "17": "260600", "10": "AB-123", "3102": "001250"}}


@pytest.mark.parametrize(("tail", "measure"), [
    ("3922499", Measure("price", Decimal("4.99"), "")),
    ("39329781299", Measure("price", Decimal("12.99"), "EUR")),
    ("3932398125000", Measure("price", Decimal("1250.00"), "KZT")),
    ("39321561999", Measure("price", Decimal("19.99"), "CNY")),
    ("3102001250" + "3922499", Measure("weight", Decimal("12.50"), "kg")),   # weight wins over price
])
def test_gs1_measures(tail: str, measure: Measure) -> None:
    assert interpret("0108712345678906" + tail, "]C1").measure == measure


def test_kazakh_marking_datamatrix_with_crypto_tail() -> None:
    """Mandatory-marking codes carry AIs 91/92 after the serial; long values must not trip the parser."""
    text = "0104870000000012" + "215BDRfKpCf!ST" + GS + "91EE07" + GS + "92" + "A" * 44
    got = interpret(text, "]d2")
    assert got.gtin == "04870000000012"
    assert got.ai["21"] == "5BDRfKpCf!ST" and got.ai["92"] == "A" * 44


@pytest.mark.parametrize(("text", "symbology", "reason"), [
    ("0109501101530004" + "17260630", "]C1", "bad_check_digit"),
    ("0109501101530003" + "17261332", "]C1", "malformed_gs1"),              # no 32nd of the 13th month
    ("0109501101530003" + "10A" + GS + "10B", "]C1", "malformed_gs1"),      # the same AI twice
    ("0109501101530003" + "2399", "]d2", "malformed_gs1"),                  # no such AI
    ("00106141411234567897", "]C1", "gs1_without_gtin"),                    # an SSCC: a pallet, not an item
    ("01095011", "]Q3", "malformed_gs1"),                                   # GTIN cut short
    ("https://id.gs1.org/01/123", "]Q1", "malformed_gtin"),
    ("https://id.gs1.org/01/09501101530004", "]Q1", "bad_check_digit"),
    ("https://example.com/p/8712345678906", "]Q1", "unknown_barcode"),
    ("https://id.gs1.org/414/9520123456788", "]Q1", "gs1_without_gtin"),
])
def test_malformed_gs1_names_its_reason(text: str, symbology: str, reason: str) -> None:
    with pytest.raises(BarcodeError) as info:
        interpret(text, symbology)
    assert info.value.reason == reason


def test_gs1_digital_link_uri_from_a_plain_qr() -> None:
    got = interpret("https://id.gs1.org/01/09501101530003/10/AB-123?17=260630", "]Q1")
    assert (got.gtin, got.kind, dict(got.ai)) == ("09501101530003", "digital_link",
                                                  {"01": "09501101530003", "10": "AB-123", "17": "260630"})
    assert interpret("HTTPS://shop.example.kz/01/4870000000012", None).gtin == "04870000000012"


def test_a_leading_gs_marks_gs1_data_in_a_plain_symbology() -> None:
    """Scanners that report ]C0/]Q1 but send FNC1 as a leading GS still give GS1 data."""
    assert interpret(GS + "0109501101530003", "]C0").gtin == "09501101530003"


# -- in-store variable-measure codes -----------------------------------------------------------------

WEIGHT = VariableMeasureLayout(frozenset({"20", "21"}), "weight", item_digits=5, value_digits=5, decimals=3)
PRICE = VariableMeasureLayout(frozenset({"22"}), "price", item_digits=4, value_digits=5, decimals=2,
                              price_check=True, unit="CNY")
PRICE_KZT = VariableMeasureLayout(frozenset({"02"}), "price", item_digits=5, value_digits=4, decimals=0,
                                  price_check=True, unit="KZT")


def ean(body12: str) -> str:
    return body12 + str(check_digit(body12))


def test_weight_label() -> None:
    got = interpret(ean("201234501234"), "]E0", [WEIGHT, PRICE])
    assert got == Interpreted(None, measure=Measure("weight", Decimal("1.234"), "kg"), item_code="2012345",
                              kind="variable_measure")


def test_price_label_with_price_check_digit() -> None:
    code = ean("221234" + str(price_check_digit("01995")) + "01995")
    assert interpret(code, "]E0", [WEIGHT, PRICE]).measure == Measure("price", Decimal("19.95"), "CNY")
    wrong = ean("221234" + str((price_check_digit("01995") + 1) % 10) + "01995")
    with pytest.raises(BarcodeError) as info:
        interpret(wrong, "]E0", [WEIGHT, PRICE])
    assert (info.value.reason, info.value.screen_reason) == ("bad_price_check_digit", "bad_check_digit")


def test_upc_a_number_system_2_uses_prefix_02() -> None:
    upca = "212345" + str(price_check_digit("1250")) + "1250"          # 11 digits + check
    code = upca + str(check_digit(upca))
    got = interpret(code, "]E0", [PRICE_KZT])
    assert (got.item_code, got.measure) == ("0212345", Measure("price", Decimal("1250"), "KZT"))


def test_in_store_prefix_without_a_layout_is_a_plain_code() -> None:
    """No layout for 23: the whole code is the item (the catalog decides), never a guessed measure."""
    code = ean("231234501234")
    assert interpret(code, "]E0", [WEIGHT]) == Interpreted("0" + code)
    assert interpret(ean("201234501234"), "]E0").kind == "gtin"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prefixes": frozenset({"20"}), "kind": "weight", "item_digits": 5, "value_digits": 4, "decimals": 3},
     "not 13"),
    ({"prefixes": frozenset({"19"}), "kind": "weight", "item_digits": 5, "value_digits": 5, "decimals": 3},
     "in-store"),
    ({"prefixes": frozenset(), "kind": "weight", "item_digits": 5, "value_digits": 5, "decimals": 3}, "in-store"),
    ({"prefixes": frozenset({"20"}), "kind": "volume", "item_digits": 5, "value_digits": 5, "decimals": 3},
     "kind"),
    ({"prefixes": frozenset({"20"}), "kind": "price", "item_digits": 6, "value_digits": 3, "decimals": 2,
      "price_check": True}, "4 or 5"),
    ({"prefixes": frozenset({"20"}), "kind": "price", "item_digits": 5, "value_digits": 5, "decimals": 6},
     "decimals"),
])
def test_bad_layouts_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VariableMeasureLayout(**kwargs)  # type: ignore[arg-type]


def test_two_layouts_may_not_share_a_prefix() -> None:
    with pytest.raises(ValueError, match="prefix 20"):
        layouts_by_prefix([WEIGHT, VariableMeasureLayout(frozenset({"20"}), "price", 5, 5, 2, unit="CNY")])
