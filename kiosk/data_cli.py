"""``kiosk catalog import``, ``kiosk rates import`` and ``kiosk rules import``: the market office's files.

Each checks the whole file, prints a summary and every rejected row as ``line N: reason``, and writes
the goods store only when every row is good (``--partial``, for the catalog and rates, writes the good
rows and still lists the others).  Exit status: 0 when the file was imported (with ``--partial``, even if
rows were rejected), 1 when rows were rejected and nothing was written, 2 when the file itself cannot
be read (not UTF-8, wrong header, ...) or the store cannot be opened.  A running kiosk reads the store at
start: restart it to use a new catalog (dated rows in force later need no restart).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .cli_tools import DEFAULT_CONFIG
from .errors import DataError


def register(sub: Any) -> None:
    """Add the catalog, rates and rules sub-commands to ``sub``."""
    for name, what, partial in (("catalog", "the goods catalog (dated prices)", True),
                                ("rates", "the dated exchange rates (yuan per 100 tenge)", True),
                                ("rules", "the goods rules by HS code (dated versions)", False)):
        group = sub.add_parser(name, help=what).add_subparsers(required=True, metavar="ACTION")
        imp = group.add_parser("import", help=f"check a CSV file of {what}, report every rejected row, store it")
        imp.add_argument("file", type=Path)
        if partial:
            imp.add_argument("--partial", action="store_true",
                             help="store the good rows even when some rows are rejected (they are still listed)")
        where = imp.add_mutually_exclusive_group()
        where.add_argument("--config", type=Path, default=None,
                           help=f"the kiosk config whose [data] goods_db to write (default {DEFAULT_CONFIG})")
        where.add_argument("--store", type=Path, default=None, help="the goods store file itself")
        imp.set_defaults(func=_import, kind=name)


def _store_and_zone(args: argparse.Namespace) -> tuple[Path, ZoneInfo]:
    """The goods store to write and the time zone of the trade day (the config's, else Beijing)."""
    if args.store is not None:
        return Path(args.store), ZoneInfo("Asia/Shanghai")
    from .cli import load
    cfg = load(args.config or DEFAULT_CONFIG)
    return cfg.goods_db, cfg.timezone


def _import(args: argparse.Namespace) -> int:
    from .clock import SystemClock
    from .goods_import import import_catalog, import_rates, import_rules
    from .goods_store import GoodsStore
    from .policy import trade_day

    now = SystemClock().now()
    path, zone = _store_and_zone(args)
    try:
        store = GoodsStore(path)
        try:
            if args.kind == "catalog":
                report = import_catalog(store, args.file, now=now, partial=args.partial)
            elif args.kind == "rates":
                report = import_rates(store, args.file, now=now, partial=args.partial)
            else:
                report = import_rules(store, args.file, now=now, today=trade_day(now, zone))
        finally:
            store.close()
    except DataError as exc:
        print(f"{exc.source}: nothing imported", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    if report.imported:
        print(f"stored in {store.path}; restart the kiosk service to use it")
    return 0 if report.imported else 1
