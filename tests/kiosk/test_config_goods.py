"""Config of the goods data: [data] files and goods store, [[barcodes.variable_measure]] label layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.registry import check_device
from kiosk.barcodes import VariableMeasureLayout
from kiosk.config import SECRET_ENV, load_config
from kiosk.errors import ConfigError

ENV = {SECRET_ENV: "0123456789abcdef0123"}

BASE = """
[kiosk]
id = "baktu-03"
site = "baktu"

[[quota]]
effective_from = 2020-01-01
daily_limit_fen = 800000

[ledger]
url = "{ledger}"

[data]
residents = "residents.csv"
{data}

[devices.idcard]
driver = "samv"
url = "/dev/kiosk/idcard"

[devices.scanner]
driver = "serial-scanner"
url = "/dev/kiosk/scanner"

[devices.gate]
driver = "lcus"
url = "/dev/kiosk/gate"
{extra}
"""


def load(tmp_path: Path, data: str = "", extra: str = "", ledger: str = "sqlite:///state/ledger.db"):  # type: ignore[no-untyped-def]
    path = tmp_path / "kiosk.toml"
    path.write_text(BASE.format(data=data, extra=extra, ledger=ledger), encoding="utf-8")
    return load_config(path, env=ENV, check_device=check_device)


def problems(tmp_path: Path, data: str = "", extra: str = "") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data, extra)
    return info.value.problems


def test_goods_files_are_optional_and_the_store_sits_next_to_the_ledger(tmp_path: Path) -> None:
    """No catalog, rates or rules file needed (the store holds what was imported); goods.db by the ledger."""
    cfg = load(tmp_path)
    assert (cfg.catalog_csv, cfg.rates_csv, cfg.goods_rules_csv) == (None, None, None)
    assert cfg.goods_db == tmp_path / "state" / "goods.db"
    assert cfg.variable_measure == ()
    pg = load(tmp_path, ledger="postgresql://kiosk@db.port/ledger")
    assert pg.goods_db == Path("/var/lib/kiosk/goods.db")


def test_goods_files_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """Relative paths are relative to the config file, absolute ones stay."""
    cfg = load(tmp_path, 'catalog = "c.csv"\nrates = "r.csv"\ngoods_rules = "/srv/rules.csv"\ngoods_db = "g.db"')
    assert (cfg.catalog_csv, cfg.rates_csv, cfg.goods_rules_csv, cfg.goods_db) == (
        tmp_path / "c.csv", tmp_path / "r.csv", Path("/srv/rules.csv"), tmp_path / "g.db")


LAYOUTS = """
[[barcodes.variable_measure]]
prefixes = ["20", "21"]
kind = "weight"
item_digits = 5
value_digits = 5

[[barcodes.variable_measure]]
prefixes = ["22"]
kind = "price"
item_digits = 4
price_check = true
value_digits = 5
currency = "KZT"
"""


def test_variable_measure_layouts_load(tmp_path: Path) -> None:
    """Weight layouts count kg with 3 decimals by default; price layouts carry their currency (2 decimals)."""
    cfg = load(tmp_path, extra=LAYOUTS)
    assert cfg.variable_measure == (
        VariableMeasureLayout(frozenset({"20", "21"}), "weight", 5, 5, 3, False, "kg"),
        VariableMeasureLayout(frozenset({"22"}), "price", 4, 5, 2, True, "KZT"),
    )


@pytest.mark.parametrize(("table", "expected"), [
    ('prefixes = ["21"]\nkind = "volume"\nitem_digits = 5\nvalue_digits = 5',
     "barcodes.variable_measure[0].kind: 'volume' is not one of weight, price"),
    ('prefixes = ["21"]\nkind = "weight"\nitem_digits = 6\nvalue_digits = 4',
     "barcodes.variable_measure[0].item_digits: 6 is above the maximum 5"),
    ('prefixes = ["21"]\nkind = "weight"\nitem_digits = 5\nvalue_digits = 4',
     "barcodes.variable_measure[0]: 2 + item_digits + price_check + value_digits + 1 is 12, not 13"),
    ('prefixes = ["31"]\nkind = "weight"\nitem_digits = 5\nvalue_digits = 5',
     "barcodes.variable_measure[0]: prefixes ['31'] are not among 02, 20..29 (in-store number ranges)"),
    ('prefixes = [21]\nkind = "weight"\nitem_digits = 5\nvalue_digits = 5',
     "barcodes.variable_measure[0].prefixes: expected a list of strings such as [\"20\", \"21\"]"),
    ('prefixes = ["21"]\nkind = "price"\nitem_digits = 5\nvalue_digits = 5\ncurrency = "USD"',
     "barcodes.variable_measure[0].currency: 'USD' is not one of CNY, KZT"),
    ('prefixes = ["21"]\nkind = "weight"\nitem_digits = 5\nvalue_digits = 5\nunits = "kg"',
     "barcodes.variable_measure[0].units: unknown key"),
    ('kind = "weight"\nitem_digits = 5\nvalue_digits = 5', "barcodes.variable_measure[0].prefixes: missing"),
])
def test_layout_problems_are_named_by_their_key(tmp_path: Path, table: str, expected: str) -> None:
    """Each problem names its dotted key, as everywhere in the config."""
    assert expected in problems(tmp_path, extra="\n[[barcodes.variable_measure]]\n" + table)


def test_one_prefix_has_one_layout_and_unknown_barcode_keys_are_refused(tmp_path: Path) -> None:
    """A prefix claimed twice, or a stray key in [barcodes], is an error."""
    twice = LAYOUTS.replace('prefixes = ["22"]', 'prefixes = ["21"]')
    assert "barcodes.variable_measure[1].prefixes: 21 is already in variable_measure[0]" in problems(
        tmp_path, extra=twice)
    assert "barcodes.layouts: unknown key" in problems(tmp_path, extra='[barcodes]\nlayouts = 1')


def test_the_kiosk_starts_on_the_configured_goods_files(tmp_path: Path) -> None:
    """build_kiosk imports the [data] files into the goods store and hands the checkpoint the goods data,
    label layouts included."""
    from kiosk.clock import FakeClock
    from kiosk.demo import CONFIG_TEMPLATE, DATA, write_goods_data
    from kiosk.runtime import build_kiosk

    write_goods_data(tmp_path, FakeClock().now().date())
    text = CONFIG_TEMPLATE.format(ledger=tmp_path / "ledger.db", residents=DATA / "residents.csv",
                                  catalog=tmp_path / "catalog.csv", idcard="/dev/null", scanner="/dev/null",
                                  gate="/dev/null", result_s=8, pulse_s=0.5)
    text = text.replace("[data]\n", '[data]\nrates = "rates.csv"\ngoods_rules = "goods-rules.csv"\n')
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    kiosk = build_kiosk(load_config(path, env=ENV, check_device=check_device), FakeClock(), devices={})
    try:
        goods = kiosk.checkpoint.goods
        assert len(goods.catalog) == 17 and len(goods.rates) == 2 and len(goods.rules) == 1
        assert sorted(goods.layouts) == ["21", "22"]
        assert kiosk.checkpoint.rules.catalog is goods.catalog
        assert (tmp_path / "goods.db").exists()
    finally:
        kiosk.stop()
