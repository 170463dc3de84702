"""The goods store and the imports into it: all or nothing, partial, dated merges, rule versions, start-up load."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk.catalog import Product
from kiosk.catalog_import import COLUMNS
from kiosk.data_rows import ImportReport, RejectedRow
from kiosk.errors import DataError
from kiosk.goods_import import import_catalog, import_rates, import_rules, open_goods
from kiosk.goods_rules import GoodsRule
from kiosk.goods_store import GoodsStore
from kiosk.rates import Rate

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
TODAY = date(2026, 11, 25)
HEADER = ",".join(COLUMNS) + "\n"
HONEY = "4870204100020,蜂蜜,,,Мёд,Honey,piece,{price},CNY,04090000,KZ,{day}\n"
SUGAR = "2100104,白砂糖,,,,Sugar,{unit},480.00,KZT,17019900,KZ,2026-01-01\n"


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = GoodsStore(tmp_path / "state" / "goods.db")
    yield s
    s.close()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_new_store_is_created_empty_and_reopened(tmp_path: Path) -> None:
    """The folder and schema are created on first open; a second open finds them."""
    GoodsStore(tmp_path / "a" / "goods.db").close()
    store = GoodsStore(tmp_path / "a" / "goods.db")
    assert (store.products(), store.rates(), store.goods_rules()) == ([], [], [])
    store.close()


def test_a_store_of_another_schema_is_refused(tmp_path: Path) -> None:
    """A newer kiosk's store is not read as if it were ours."""
    conn = sqlite3.connect(tmp_path / "goods.db")
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    with pytest.raises(DataError, match="schema 9"):
        GoodsStore(tmp_path / "goods.db")


def test_a_bad_row_imports_nothing_and_partial_imports_the_rest(store: GoodsStore, tmp_path: Path) -> None:
    """GIVEN one good and one bad row THEN the import writes nothing and names the line; --partial writes
    the good row and still names the bad one."""
    path = write(tmp_path, "c.csv", HEADER + HONEY.format(price="120.00", day="2026-01-01")
                 + HONEY.format(price="12O", day="2026-02-01"))
    report = import_catalog(store, path, now=NOW)
    assert report == ImportReport("catalog", str(path), 1, (RejectedRow(3, ("price '12O' is not a decimal number "
                                                                              "(want e.g. 98 or 98.50)",)),), False)
    assert store.products() == []
    assert report.lines() == [f"{path}: catalog: 1 rows accepted, 1 rejected; nothing imported (fix the rows below, "
                              "or import the good ones with --partial)",
                              "line 3: price '12O' is not a decimal number (want e.g. 98 or 98.50)"]
    partial = import_catalog(store, path, now=NOW, partial=True)
    assert partial.imported and (partial.added, partial.rejected[0].line) == (1, 3)
    assert [p.price for p in store.products()] == [12000]
    assert partial.lines()[0].endswith("imported: 1 added, 0 replaced, 0 unchanged")


def test_a_future_price_keeps_today_s_and_history_stays(store: GoodsStore, tmp_path: Path) -> None:
    """GIVEN honey at 120.00 from 2026-01-01 WHEN a file with only a 125.00 row from 2026-12-01 is imported
    THEN today's price stays 120.00 and 2026-12-01 sees 125.00; re-importing is a no-op; a same-day row
    with another price is a correction (replaced)."""
    import_catalog(store, write(tmp_path, "a.csv", HEADER + HONEY.format(price="120.00", day="2026-01-01")), now=NOW)
    later = write(tmp_path, "b.csv", HEADER + HONEY.format(price="125.00", day="2026-12-01"))
    assert import_catalog(store, later, now=NOW).added == 1
    goods = open_goods(store.path, now=NOW, today=TODAY)
    assert goods.catalog.lookup("4870204100020", TODAY)[0].price == 12000  # type: ignore[union-attr]
    assert goods.catalog.lookup("4870204100020", date(2026, 12, 1))[0].price == 12500  # type: ignore[union-attr]
    again = import_catalog(store, later, now=NOW)
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 1)
    fixed = import_catalog(store, write(tmp_path, "c.csv", HEADER + HONEY.format(price="124.00", day="2026-12-01")),
                           now=NOW)
    assert (fixed.added, fixed.replaced) == (0, 1)
    assert [p.price for p in store.products()] == [12000, 12400]
    imports = sqlite3.connect(store.path).execute("SELECT kind, added, replaced FROM imports ORDER BY id").fetchall()
    assert imports == [("catalog", 1, 0), ("catalog", 1, 0), ("catalog", 0, 1)]   # the no-op is not logged


def test_rates_merge_by_currency_and_day(store: GoodsStore, tmp_path: Path) -> None:
    """New days are added, an existing day is replaced, other days stay."""
    import_rates(store, write(tmp_path, "r1.csv", "date,currency,cny_per_100\n2026-10-01,KZT,1.3712\n"), now=NOW)
    report = import_rates(store, write(tmp_path, "r2.csv", "date,currency,cny_per_100\n2026-10-01,KZT,1.3700\n"
                                                           "2026-11-01,KZT,1.3765\n"), now=NOW)
    assert (report.added, report.replaced) == (1, 1)
    assert store.rates() == [Rate("KZT", date(2026, 10, 1), Decimal("1.3700")),
                             Rate("KZT", date(2026, 11, 1), Decimal("1.3765"))]


RULES = "version,hs_prefix,kind,rule,cap,unit\n"


def test_rule_versions_are_replaced_whole_and_never_in_part(store: GoodsStore, tmp_path: Path) -> None:
    """A future version re-imported without a prefix loses that prefix; a file with one bad row imports
    nothing (there is no partial import of rules: a dropped exclusion would let goods through)."""
    first = write(tmp_path, "g1.csv", RULES + "2026-12-01,24,excluded,tobacco,,\n2026-12-01,1701,capped,sugar,1,kg\n")
    assert import_rules(store, first, now=NOW, today=TODAY).added == 1
    second = write(tmp_path, "g2.csv", RULES + "2026-12-01,24,excluded,tobacco,,\n")
    assert import_rules(store, second, now=NOW, today=TODAY).replaced == 1
    assert store.goods_rules() == [GoodsRule(date(2026, 12, 1), "24", "excluded", "tobacco")]
    bad = write(tmp_path, "g3.csv", RULES + "2027-01-01,24,excluded,tobacco,,\n2027-01-01,22,forbidden,alcohol,,\n")
    report = import_rules(store, bad, now=NOW, today=TODAY)
    assert not report.imported and [r.line for r in report.rejected] == [3]
    assert report.lines()[0].endswith("nothing imported (fix the rows below)")
    assert store.goods_rules() == [GoodsRule(date(2026, 12, 1), "24", "excluded", "tobacco")]


def test_a_catalog_row_that_does_not_fit_the_stored_rules_is_rejected(store: GoodsStore, tmp_path: Path) -> None:
    """Sugar counted in kg by the rules cannot be sold by the piece: a data error at import, with its line."""
    import_rules(store, write(tmp_path, "g.csv", RULES + "2026-01-01,1701,capped,sugar,1,kg\n"), now=NOW, today=TODAY)
    report = import_catalog(store, write(tmp_path, "c.csv", HEADER + SUGAR.format(unit="piece")), now=NOW)
    assert report.rejected == (RejectedRow(2, ("unit piece does not fit goods rule sugar (capped 1 kg, HS 1701, "
                                               "goods-2026-01-01), which counts kilograms",)),)
    assert import_catalog(store, write(tmp_path, "d.csv", HEADER + SUGAR.format(unit="kg")), now=NOW).imported


def test_open_goods_imports_the_configured_files_and_reads_everything(tmp_path: Path) -> None:
    """The kiosk's start: rules, rates and catalog files from the config go in, the whole store comes out."""
    goods = open_goods(tmp_path / "goods.db", now=NOW, today=TODAY,
                       catalog_csv=write(tmp_path, "c.csv", HEADER + SUGAR.format(unit="kg")),
                       rates_csv=write(tmp_path, "r.csv", "date,currency,cny_per_100\n2026-11-01,KZT,1.3765\n"),
                       rules_csv=write(tmp_path, "g.csv", RULES + "2026-01-01,1701,capped,sugar,1,kg\n"))
    assert len(goods.catalog) == 1 and len(goods.rates) == 1 and len(goods.rules) == 1
    assert goods.rates.rate_on("KZT", TODAY) == Rate("KZT", date(2026, 11, 1), Decimal("1.3765"))


def test_a_bad_configured_file_stops_the_start(tmp_path: Path) -> None:
    """As a bad data file always has: the kiosk does not start on half a catalog."""
    path = write(tmp_path, "c.csv", HEADER + HONEY.format(price="-1", day="2026-01-01"))
    with pytest.raises(DataError) as info:
        open_goods(tmp_path / "goods.db", now=NOW, today=TODAY, catalog_csv=path)
    assert info.value.problems == ["line 2: price '-1' is negative"]


def test_a_store_edited_by_hand_into_a_unit_conflict_stops_the_start(store: GoodsStore) -> None:
    """Only writes around the imports can do this; the start refuses rather than miscount a cap."""
    from kiosk.goods_store import ImportLog
    log = ImportLog("test", "-", 1, 0)
    store.replace_rule_versions([GoodsRule(date(2026, 1, 1), "1701", "capped", "sugar", 1000, "kg")], log=log, now=NOW)
    store.put_products([Product("2100104", {"zh": "糖"}, "piece", 100, "CNY", "17019900", "KZ", date(2026, 1, 1))],
                       log=log, now=NOW)
    with pytest.raises(DataError, match="catalog code 2100104 \\(piece\\) under goods rule sugar"):
        open_goods(store.path, now=NOW, today=TODAY)
