"""Property tests (hypothesis) of check digits and barcode interpretation, hostile input included.

Every outcome of ``interpret`` is a value or a BarcodeError with a known reason, never another
exception; values that were encoded come back unchanged; independent implementations (biip's)
agree with ours.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import quote

from biip.checksums import gs1_price_weight_check_digit, gs1_standard_check_digit
from biip.upc import Upc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.barcodes import REASONS, BarcodeError, Interpreted, Measure, VariableMeasureLayout, interpret
from kiosk.gtin import (
    GTIN_LENGTHS,
    check_digit,
    compress_upca,
    expand_upce,
    gtin_check_ok,
    price_check_digit,
)

GS = "\x1d"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

digits = st.text(alphabet="0123456789", min_size=1, max_size=17)
SYMBOLOGIES = st.sampled_from([None, "]E0", "]E3", "]E4", "]C0", "]C1", "]d1", "]d2", "]Q1", "]Q3", "]I1", "]e0",
                               "]J1", "]A0", "]X9", "]", "", "]E"])
# the characters scanners send, the GS1 ones, and some that break naive parsers
HOSTILE = st.text(alphabet=st.sampled_from(list("0123456789") + [GS, "]", "(", ")", "/", "?", "=", "&", "%", ":",
                                                                  "A", "z", "-", ".", " ", "\n", "~", "é", "中",
                                                                  "\u0663", "\x00", "h", "t", "p", "s"]),
                  max_size=60)
AI_PIECES = st.sampled_from(["01", "02", "10", "11", "15", "17", "21", "30", "3102", "3103", "3922", "3932", "00",
                             "91", "92", "8020", "414", "7003", "99", "23", "4300", "9"])


def _outcome(text: str, symbology: str | None, layouts: tuple[VariableMeasureLayout, ...] = ()) -> object:
    try:
        return interpret(text, symbology, layouts)
    except BarcodeError as exc:
        assert exc.reason in REASONS
        return exc


def _valid(result: object) -> None:
    """A value always names a valid GTIN-14 or an in-store item with a measure."""
    if isinstance(result, Interpreted):
        if result.gtin is not None:
            assert len(result.gtin) == 14 and gtin_check_ok(result.gtin)
        else:
            assert result.item_code is not None and result.measure is not None


@SETTINGS
@given(digits)
def test_check_digit_matches_biip(body: str) -> None:
    """Our mod-10 check digit equals biip's independent implementation."""
    assert check_digit(body) == gs1_standard_check_digit(body)


@SETTINGS
@given(st.sampled_from(sorted(GTIN_LENGTHS)).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n - 1, max_size=n - 1)), st.data())
def test_any_single_digit_error_is_caught(body: str, data: st.DataObject) -> None:
    """Appending the check digit makes a valid GTIN; changing any one digit makes it invalid."""
    code = body + str(check_digit(body))
    assert gtin_check_ok(code)
    pos = data.draw(st.integers(0, len(code) - 1))
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != code[pos]]))
    assert not gtin_check_ok(code[:pos] + other + code[pos + 1:])


@SETTINGS
@given(st.text(alphabet="0123456789", min_size=4, max_size=5))
def test_price_check_digit_matches_biip(value: str) -> None:
    assert price_check_digit(value) == gs1_price_weight_check_digit(value)


@SETTINGS
@given(st.sampled_from("01"), st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_upce_expansion_matches_biip_and_round_trips(ns: str, six: str) -> None:
    """expand_upce agrees with biip's Upc, and compress_upca undoes it for every UPC-A that has a UPC-E form."""
    body = ns + six
    upca = expand_upce(body + "0")[:-1]
    upce = body + str(check_digit(upca))
    expanded = expand_upce(upce)
    assert expanded == Upc.parse(upce).as_upc_a()
    compressed = compress_upca(expanded)
    assert compressed is not None and expand_upce(compressed) == expanded


@SETTINGS
@given(HOSTILE, SYMBOLOGIES)
def test_hostile_text_gives_a_value_or_a_reason(text: str, symbology: str | None) -> None:
    _valid(_outcome(text, symbology))


@SETTINGS
@given(st.lists(st.tuples(AI_PIECES, st.text(alphabet="0123456789AB-/" + GS, max_size=24)), min_size=1, max_size=6),
       st.sampled_from(["]C1", "]d2", "]Q3", None]))
def test_ai_shaped_garbage_gives_a_value_or_a_reason(parts: list[tuple[str, str]], symbology: str | None) -> None:
    """Real AI numbers followed by wrong-length, wrong-type or truncated data."""
    _valid(_outcome("".join(ai + data for ai, data in parts), symbology))


@SETTINGS
@given(st.text(alphabet="0123456789/?=&%abc", max_size=50), st.sampled_from(["https://id.gs1.org", "http://x.kz"]))
def test_uri_shaped_garbage_gives_a_value_or_a_reason(path: str, host: str) -> None:
    _valid(_outcome(host + "/" + path, "]Q1"))


gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(lambda b: b + str(check_digit(b)))
batches = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-./", min_size=1, max_size=20)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2049, 12, 31))


@SETTINGS
@given(gtins, batches, dates, st.integers(0, 999999), st.integers(0, 5), st.booleans())
def test_gs1_element_strings_round_trip(gtin: str, batch: str, expiry: dt.date, grams: int, decimals: int,
                                        batch_last: bool) -> None:
    """GTIN, batch, expiry and net weight encoded as GS1-128 data come back exactly."""
    weight = f"310{decimals}{grams:06d}"
    fixed = "01" + gtin + "17" + expiry.strftime("%y%m%d") + weight
    text = fixed + "10" + batch if batch_last else "10" + batch + GS + fixed
    got = interpret(text, "]C1")
    assert got.gtin == gtin and got.kind == "gs1"
    assert got.ai["10"] == batch and got.fields()["expiry"] == expiry.isoformat()
    assert got.measure == Measure("weight", Decimal(grams).scaleb(-decimals), "kg")


@SETTINGS
@given(gtins, batches, dates)
def test_digital_link_round_trips(gtin: str, batch: str, expiry: dt.date) -> None:
    uri = f"https://id.gs1.org/01/{gtin}/10/{quote(batch, safe='')}?17={expiry:%y%m%d}"   # "/" is %2F in a path
    got = interpret(uri, "]Q1")
    assert (got.gtin, got.ai["10"], got.fields()["expiry"]) == (gtin, batch, expiry.isoformat())


@st.composite
def layouts(draw: st.DrawFn) -> VariableMeasureLayout:
    """Any valid layout: 2 + item + (price check) + value + 1 = 13 digits."""
    item = draw(st.integers(1, 8))
    pcd = draw(st.booleans()) and item in (4, 5)      # a price check digit covers 4 or 5 value digits
    value = 10 - item - int(pcd)
    kind = draw(st.sampled_from(["weight", "price"]))
    return VariableMeasureLayout(frozenset({draw(st.sampled_from(["02", *(f"2{d}" for d in range(10))]))}), kind,
                                 item, value, draw(st.integers(0, min(3, value))), price_check=pcd,
                                 unit="kg" if kind == "weight" else "KZT")


@SETTINGS
@given(layouts(), st.data())
def test_variable_measure_round_trips_and_catches_one_wrong_digit(layout: VariableMeasureLayout,
                                                                  data: st.DataObject) -> None:
    """An in-store code built by a layout gives back its item and value; one changed digit is refused."""
    (prefix,) = layout.prefixes
    item = data.draw(st.text(alphabet="0123456789", min_size=layout.item_digits, max_size=layout.item_digits))
    value = data.draw(st.text(alphabet="0123456789", min_size=layout.value_digits, max_size=layout.value_digits))
    pcd = str(price_check_digit(value)) if layout.price_check else ""
    body = prefix + item + pcd + value   # with prefix 02: a UPC-A of number system 2, in its 13-digit form
    code = body + str(check_digit(body))
    got = interpret(code, "]E0", [layout])
    assert got.item_code == prefix + item
    assert got.measure == Measure(layout.kind, Decimal(int(value)).scaleb(-layout.decimals), layout.unit)
    pos = data.draw(st.integers(0, len(code) - 1))
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != code[pos]]))
    assert isinstance(_outcome(code[:pos] + other + code[pos + 1:], "]E0", (layout,)), BarcodeError)
