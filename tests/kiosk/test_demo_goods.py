"""The demo's market goods: every /sim scan button does what its label says, on the demo's own data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kiosk.basket import GoodsData, assess, scan_line
from kiosk.clock import FakeClock
from kiosk.demo import MARKET_GOODS, write_goods_data
from kiosk.demo_data import DEMO_GOODS
from kiosk.goods_import import open_goods

from .test_checkpoint_goods import LAYOUTS

DAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def goods(tmp_path_factory: pytest.TempPathFactory) -> GoodsData:
    folder: Path = tmp_path_factory.mktemp("demo-goods")
    write_goods_data(folder, DAY)
    return open_goods(folder / "goods.db", now=FakeClock().now(), today=DAY, catalog_csv=folder / "catalog.csv",
                      rates_csv=folder / "rates.csv", rules_csv=folder / "goods-rules.csv", layouts=LAYOUTS)


@pytest.mark.parametrize(("code", "label"), MARKET_GOODS, ids=[label.split(",")[0] for _, label in MARKET_GOODS])
def test_market_goods_do_what_their_labels_say(code: str, label: str, goods: GoodsData) -> None:
    """Scale labels give kg lines; tenge prices convert; the capped and excluded ones refer at confirm."""
    scanned = scan_line(goods, code, None, DAY)
    line = scanned.line
    assert line is not None and line.known, (code, scanned)
    if "scale label" in label or "price label" in label or code.startswith("21"):
        assert line.unit == "kg" and line.quantity >= 1
    assert (line.currency == "KZT") == ("tenge" in label)
    reasons = assess(goods, [line], DAY).reasons
    expected = ("goods_over_cap",) if "over the 1 kg" in label else ("goods_excluded",) if "excluded" in label else ()
    assert reasons == expected


def test_the_demo_catalog_has_every_kind_of_goods(goods: GoodsData) -> None:
    """The base catalog plus the market goods, a scheduled price change, two months of rates, one rule version."""
    codes = {code for code, _ in DEMO_GOODS + MARKET_GOODS}
    assert len(goods.catalog) == 17 and len(goods.rates) == 2 and len(goods.rules) == 1
    units = {p.unit for p in goods.catalog.versions()}
    currencies = {p.currency for p in goods.catalog.versions()}
    assert units == {"piece", "kg"} and currencies == {"CNY", "KZT"}
    assert all(goods.catalog.lookup(c, DAY)[0] is not None for c in ("4870204100013", "2100101", "4870204100112"))
    assert len(codes) == len(DEMO_GOODS) + len(MARKET_GOODS)
    apricots = goods.catalog.lookup("2100102", DAY)[0]
    later = goods.catalog.lookup("2100102", date(2026, 12, 1))[0]
    assert apricots is not None and later is not None and (apricots.price, later.price) == (4600, 4800)
