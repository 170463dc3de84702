"""Property tests of the catalog import with hostile input (hypothesis).

Whatever the file holds, an import either stores exactly the valid rows (``partial``, or a file with no bad
row) or changes nothing, and in both cases names every bad line and no good one.  Bad rows come from a
table of hostile cells (formula injection, exponent and negative prices, BOMs, wrong check digits, HS codes
of the wrong length, impossible dates, huge fields...); whole files of random bytes, other encodings and
stray BOMs must end in a report or a DataError, never in a crash or a half-written store.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.catalog import Product, code_key
from kiosk.catalog_import import COLUMNS
from kiosk.countries import COUNTRIES
from kiosk.data_rows import FORMULA_STARTS
from kiosk.errors import DataError
from kiosk.goods_import import import_catalog
from kiosk.goods_store import GoodsStore, ImportLog
from kiosk.gtin import check_digit

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
NAME_LANGS = ("zh", "ug", "kk", "ru", "en")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# An existing catalog in the store before every import: "changes nothing" must leave exactly this.
BASELINE = Product("6903214600063", {"zh": "茯砖茶"}, "piece", 5800, "CNY", "09023000", "CN", date(2020, 1, 1))


def _gtin(body: str) -> str:
    return body + str(check_digit(body))


gtins = st.one_of(
    st.from_regex(r"[1-9][0-9]{11}", fullmatch=True).map(_gtin),         # EAN-13 (never a leading 0)
    st.from_regex(r"[1-9][0-9]{6}", fullmatch=True).map(_gtin),          # EAN-8
    st.from_regex(r"2[0-9][0-9]{1,5}", fullmatch=True),                  # in-store item code
).filter(lambda c: code_key(c) != BASELINE.key)

names = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"), exclude_characters="\n\r\x85\u2028\u2029"),
    min_size=1, max_size=20,
).map(str.strip).filter(lambda t: bool(t) and not t.startswith(FORMULA_STARTS))


@dataclass(frozen=True)
class Row:
    """A generated row: its cells, and the product it must give (None: it must be rejected)."""

    cells: dict[str, str]
    product: Product | None


@st.composite
def valid_rows(draw: st.DrawFn, code: str) -> Row:
    unit = draw(st.sampled_from(["piece", "kg"]))
    minor = draw(st.integers(0, 10**10 - 1))
    forms = [f"{minor // 100}.{minor % 100:02d}"]                 # 98.50
    if minor % 10 == 0:
        forms.append(f"{minor // 100}.{minor % 100 // 10}")       # 98.5
    if minor % 100 == 0:
        forms.append(f"{minor // 100}")                           # 98
    price = draw(st.sampled_from(forms))
    currency = draw(st.sampled_from(["CNY", "KZT"]))
    hs = draw(st.sampled_from([6, 8, 10]).flatmap(lambda n: st.from_regex(rf"[0-9]{{{n}}}", fullmatch=True)))
    origin = draw(st.sampled_from(sorted(COUNTRIES)))
    day = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
    given_names = {lang: draw(names) if lang == "zh" else draw(st.one_of(st.just(""), names)) for lang in NAME_LANGS}
    cells = {"code": code, **{f"name_{lang}": text for lang, text in given_names.items()}, "unit": unit,
             "price": price, "currency": currency, "hs_code": hs, "origin": origin, "price_from": day.isoformat()}
    product = Product(code, {lang: text for lang, text in given_names.items() if text}, unit, minor, currency, hs,
                      origin, day)
    return Row(cells, product)


HOSTILE: dict[str, list[str]] = {
    "code": ["", "\ufeff4870204100020", "=cmd|' /c calc'!A1", "4870204100020.0", "4.870204100020e12", "abc",
             "١٢٣٤٥٦٧٨٩٠١٢٨", "1" * 200, "12345", "123456789012345"],
    "name_zh": ["", "=cmd|' /c calc'!A1", "+SUM(A1:A9)", "@SUM(1)", "-2+3", "x" * 5000, "a\x00b", "\x07bell"],
    "name_en": ["=1+1", "@x", "-x", "y" * 121, "tab\tinside"],
    "unit": ["", "KG", "kilo", "pieces", "g"],
    "price": ["", "-1", "-0.01", "1.005", "1e3", "1E-2", "NaN", "inf", "1,000.00", "12.", ".5", "+5", "٣",
              "100000000.00", "0x10", "=1+1", "99999999999"],
    "currency": ["", "USD", "cny", "RMB", "₸", "K ZT", "=CNY"],
    "hs_code": ["", "1234", "12345", "1234567", "12345678901", "1701.99", "17O1", "=1701"],
    "origin": ["", "XX", "kz", "KAZ", "UK", "EU", "=KZ"],
    "price_from": ["", "2026-02-30", "26-01-01", "2026/01/01", "1999-12-31", "2100-01-01", "2026-1-1",
                   "2026-01-01T00:00", "=TODAY()"],
}


@st.composite
def bad_rows(draw: st.DrawFn, code: str) -> Row:
    row = draw(valid_rows(code))
    cells = dict(row.cells)
    column = draw(st.sampled_from(sorted(HOSTILE) + ["check_digit"]))
    if column == "check_digit" and len(code) in (8, 13):            # a GTIN with its last digit changed
        cells["code"] = code[:-1] + str((int(code[-1]) + draw(st.integers(1, 9))) % 10)
    else:
        column = "code" if column == "check_digit" else column
        cells[column] = draw(st.sampled_from(HOSTILE[column]))
    return Row(cells, None)


@st.composite
def files(draw: st.DrawFn) -> tuple[list[Row], bool]:
    codes = draw(st.lists(gtins, min_size=1, max_size=12, unique_by=code_key))
    rows = [draw(st.one_of(valid_rows(code), bad_rows(code))) for code in codes]
    good = [i for i, r in enumerate(rows) if r.product is not None]
    if good and draw(st.booleans()):                      # the same code and day twice: both lines are bad
        twin = rows[draw(st.sampled_from(good))]
        cells = dict(twin.cells, name_en="twin")
        rows.insert(draw(st.integers(0, len(rows))), Row(cells, None))
        rows = [Row(r.cells, None) if r is twin else r for r in rows]
    return rows, draw(st.booleans())


def _csv(rows: list[Row], bom: bool) -> tuple[bytes, dict[int, Row]]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    by_line: dict[int, Row] = {}
    for i, row in enumerate(rows):
        writer.writerow([row.cells[c] for c in COLUMNS])
        by_line[i + 2] = row
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8"), by_line


@contextmanager
def store_with_baseline() -> Iterator[tuple[GoodsStore, Path]]:
    """A fresh goods store holding BASELINE, in a folder of its own (hypothesis runs many examples)."""
    with tempfile.TemporaryDirectory() as folder:
        store = GoodsStore(Path(folder) / "goods.db")
        try:
            store.put_products([BASELINE], log=_log(), now=NOW)
            yield store, Path(folder)
        finally:
            store.close()


def _log() -> ImportLog:
    return ImportLog("catalog", "baseline", 1, 0)


@SETTINGS
@given(files(), st.booleans())
def test_import_stores_exactly_the_valid_rows_or_nothing(data: tuple[list[Row], bool], partial: bool) -> None:
    """GIVEN a file of valid and hostile rows WHEN imported THEN every bad line, and only those, is named;
    without --partial nothing changes if any is bad; with it exactly the valid rows are added."""
    rows, bom = data
    content, by_line = _csv(rows, bom)
    bad_lines = sorted(line for line, row in by_line.items() if row.product is None)
    good = [row.product for row in by_line.values() if row.product is not None]
    with store_with_baseline() as (store, folder):
        path = folder / "catalog.csv"
        path.write_bytes(content)
        report = import_catalog(store, path, now=NOW, partial=partial)
        assert [r.line for r in report.rejected] == bad_lines
        assert all(r.reasons for r in report.rejected)
        assert report.accepted == len(good)
        stored = store.products()
        if bad_lines and not partial or not good:
            assert not report.imported
            assert stored == [BASELINE]
        else:
            assert report.imported and report.added == len(good)
            assert sorted(stored, key=_key) == sorted([BASELINE, *good], key=_key)


def _key(p: Product) -> tuple[str, date]:
    return (p.key, p.price_from)


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([b"", b"\xef\xbb\xbf", ",".join(COLUMNS).encode() + b"\n"]),
       st.booleans())
def test_random_bytes_never_crash_or_half_write(noise: bytes, prefix: bytes, partial: bool) -> None:
    """Random bytes (after nothing, a BOM or a good header) end in a report or a DataError; when nothing
    was imported the store is untouched."""
    with store_with_baseline() as (store, folder):
        path = folder / "catalog.csv"
        path.write_bytes(prefix + noise)
        try:
            report = import_catalog(store, path, now=NOW, partial=partial)
        except DataError as exc:
            assert exc.problems and store.products() == [BASELINE]
            return
        assert all(r.line >= 2 and r.reasons for r in report.rejected)
        if not report.imported:
            assert store.products() == [BASELINE]
        else:
            assert report.added + report.replaced + report.unchanged == report.accepted
            assert len(store.products()) == 1 + report.added


ENCODED = [
    ("gbk", "4870204100020,蜂蜜,,,,Honey,piece,120.00,CNY,04090000,KZ,2026-01-01\n"),
    ("cp1251", "4870204100020,蜂,,,Мёд,Honey,piece,120.00,CNY,04090000,KZ,2026-01-01\n".replace("蜂", "Mjod")),
    ("utf-16", "4870204100020,蜂蜜,ھەسەل,Бал,Мёд,Honey,piece,120.00,CNY,04090000,KZ,2026-01-01\n"),
]


@pytest.mark.parametrize(("encoding", "line"), ENCODED, ids=[e for e, _ in ENCODED])
def test_other_encodings_are_refused_whole(encoding: str, line: str) -> None:
    """A catalog saved as GBK, Windows-1251 or UTF-16 is refused as a whole (not UTF-8), nothing changes."""
    with store_with_baseline() as (store, folder):
        path = folder / "catalog.csv"
        path.write_bytes((",".join(COLUMNS) + "\n" + line).encode(encoding))
        with pytest.raises(DataError, match="not UTF-8"):
            import_catalog(store, path, now=NOW)
        assert store.products() == [BASELINE]


def test_a_doubled_bom_is_a_bad_header_not_a_bad_code() -> None:
    """Only one BOM is dropped: a second one sticks to the first column name, and the header is refused."""
    with store_with_baseline() as (store, folder):
        path = folder / "catalog.csv"
        path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + (",".join(COLUMNS) + "\n" + ENCODED[0][1]).encode())
        with pytest.raises(DataError, match="header"):
            import_catalog(store, path, now=NOW)
        assert store.products() == [BASELINE]
