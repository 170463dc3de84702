"""Importing the market office's files into the goods store, and loading the store at start.

``import_catalog``, ``import_rates`` and ``import_rules`` check a whole file first and report every
rejected row with its line; they write nothing when any row is rejected, unless ``partial`` (catalog and
rates only: a goods-rule version with a row left out would let excluded goods through), which writes the
accepted rows.  Each write is one transaction.  ``open_goods`` is what the kiosk runs at start: the
files named in the config (``[data] catalog``, ``rates``, ``goods_rules``) are imported (all or nothing;
a bad row stops the start, as a bad data file always has), then the whole store is read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from kiosk.barcodes import VariableMeasureLayout
from kiosk.basket import GoodsData
from kiosk.catalog import Catalog
from kiosk.catalog_import import check_catalog_file
from kiosk.csvrows import StrPath
from kiosk.data_rows import Checked, ImportReport
from kiosk.errors import DataError
from kiosk.goods_rules import RuleBook, unit_conflicts
from kiosk.goods_rules_import import check_rules_file
from kiosk.goods_store import Changes, GoodsStore, ImportLog
from kiosk.rates import RateTable, check_rates_file

log = logging.getLogger(__name__)
T = TypeVar("T")


def _report(kind: str, path: StrPath, checked: Checked[T], changes: Changes | None) -> ImportReport:
    return ImportReport(kind, os.fspath(path), len(checked.good), checked.rejected, changes is not None,
                        *((changes.added, changes.replaced, changes.unchanged) if changes else (0, 0, 0)))


def _log(kind: str, path: StrPath, checked: Checked[T]) -> ImportLog:
    return ImportLog(kind, os.fspath(path), len(checked.good), len(checked.rejected))


def import_catalog(store: GoodsStore, path: StrPath, *, now: datetime, partial: bool = False) -> ImportReport:
    """Check a catalog CSV against itself, the stored catalog and goods rules; write it if allowed."""
    checked = check_catalog_file(path, existing=store.products(), rules=RuleBook(store.goods_rules()))
    changes = None
    if checked.good and (partial or not checked.rejected):
        changes = store.put_products([p for _, p in checked.good], log=_log("catalog", path, checked), now=now)
    return _report("catalog", path, checked, changes)


def import_rates(store: GoodsStore, path: StrPath, *, now: datetime, partial: bool = False) -> ImportReport:
    """Check an exchange-rate CSV; write it if allowed."""
    checked = check_rates_file(path)
    changes = None
    if checked.good and (partial or not checked.rejected):
        changes = store.put_rates([r for _, r in checked.good], log=_log("rates", path, checked), now=now)
    return _report("rates", path, checked, changes)


def import_rules(store: GoodsStore, path: StrPath, *, now: datetime, today: date) -> ImportReport:
    """Check a goods-rules CSV (against the stored versions in force on ``today`` and the catalog); write
    its versions, whole, only when every row is good."""
    checked = check_rules_file(path, stored=RuleBook(store.goods_rules()), products=store.products(), today=today)
    changes = None
    if checked.good and not checked.rejected:
        changes = store.replace_rule_versions([r for _, r in checked.good], log=_log("goods rules", path, checked),
                                              now=now)
    return _report("goods rules", path, checked, changes)


def open_goods(path: Path, *, now: datetime, today: date, catalog_csv: Path | None = None,
               rates_csv: Path | None = None, rules_csv: Path | None = None,
               layouts: Mapping[str, VariableMeasureLayout] | None = None) -> GoodsData:
    """Import the configured files into the store at ``path``, then read all of it (the kiosk's start)."""
    store = GoodsStore(path)
    try:
        # rules before the catalog: the catalog's units are checked against the rules in the store
        if rules_csv is not None:
            _require(import_rules(store, rules_csv, now=now, today=today))
        if rates_csv is not None:
            _require(import_rates(store, rates_csv, now=now))
        if catalog_csv is not None:
            _require(import_catalog(store, catalog_csv, now=now))
        products, rules = store.products(), RuleBook(store.goods_rules())
        conflicts = unit_conflicts(products, rules)
        if conflicts:     # only a store edited by hand gets here: the imports refuse such rows
            raise DataError(str(path), [f"catalog code {p.code} ({p.unit}) under goods rule {r.describe()}"
                                        for p, r in conflicts])
        goods = GoodsData(Catalog(products), RateTable(store.rates()), rules, dict(layouts or {}))
    finally:
        store.close()
    log.info("goods store %s: %d products, %d rates, %d goods-rule versions", path, len(goods.catalog),
             len(goods.rates), len(goods.rules))
    return goods


def _require(report: ImportReport) -> None:
    """A configured data file must import whole: otherwise the kiosk does not start."""
    if not report.imported or report.rejected:
        raise DataError(report.source, report.lines()[1:] or report.lines())
