"""``kiosk demo``: the whole kiosk on simulated devices, sample data and a /sim panel.

The simulators speak the real wire protocols over real pseudo-terminals; the demo
writes an ordinary config file pointing the production drivers at them, so what runs
here is exactly what runs on a kiosk, minus the hardware.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from drivers.sim.lcus import LcusSimulator
from drivers.sim.samv import SamvSimulator
from drivers.sim.scanner import ScannerSimulator
from drivers.sim.turnstile import TurnstileLineSimulator

from .clock import Clock, SystemClock
from .config import SECRET_ENV, KioskConfig, load_config
from .demo_data import DEMO_CARDS, DEMO_GOODS
from .policy import trade_day
from .runtime import Kiosk, build_kiosk

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "demo_data"
BEIJING = ZoneInfo("Asia/Shanghai")

CONFIG_TEMPLATE = """\
# Written by `kiosk demo`: the production drivers pointed at simulators on ptys.
[kiosk]
id = "demo-01"
site = "baktu"
timezone = "Asia/Shanghai"

[[quota]]
effective_from = 2020-01-01
daily_limit_fen = 800000        # 8,000.00 CNY per resident per day

[ledger]
url = "sqlite:///{ledger}"
hold_ttl_s = 120

[data]
residents = "{residents}"
# Files named here are imported into the goods store at every start (all or nothing), as
# `kiosk catalog|rates|rules import FILE` do at any time; see docs/catalog.md.  The demo imported
# its rates.csv and goods-rules.csv with those commands' code; `rates = "…"` and `goods_rules = "…"` work too.
catalog = "{catalog}"
# goods_db = "goods.db"        # the goods store; by default goods.db next to a SQLite ledger

# The market's in-store scale labels: EAN-13 with prefix 21 carry the weight, 22 the price.
[[barcodes.variable_measure]]
prefixes = ["21"]
kind = "weight"
item_digits = 5
value_digits = 5
decimals = 3            # 01250 = 1.250 kg

[[barcodes.variable_measure]]
prefixes = ["22"]
kind = "price"
item_digits = 5
value_digits = 5
decimals = 2            # 03080 = 30.80
currency = "CNY"

[session]
idle_warning_after_s = 60
idle_warning_s = 20
result_s = {result_s}

[devices.idcard]
driver = "samv"
url = "{idcard}"

[devices.scanner]
driver = "serial-scanner"
url = "{scanner}"
suffix = "cr"

[devices.gate]
driver = "lcus"
url = "{gate}"
channel = 1
pulse_s = {pulse_s}
"""


PASSAGE_TEMPLATE = """
# The turnstile reports each passage; the declaration is committed only when the resident is through.
[release]
wait_for_passage = true
passage_timeout_s = 15

[devices.passage]
driver = "turnstile-line"
url = "{passage}"

# Slips go to memory here; on a kiosk this is the printer's serial URL, socket://host:9100 or file:///dev/usb/lp0.
[devices.printer]
driver = "escpos"
url = "capture://"
"""


MARKET_GOODS: list[tuple[str, str]] = [
    ("2100101012501", "Horse-meat sausage, scale label 1.250 kg (128.00/kg)"),
    ("2100102010001", "Dried apricots, scale label 1.000 kg (46.00/kg)"),
    ("2100103004009", "Kurt, scale label 0.400 kg (60.00/kg)"),
    ("2100104008006", "Sugar 0.800 kg, priced in tenge (480 KZT/kg; 1 kg a day)"),
    ("2100104015004", "Sugar 1.500 kg, priced in tenge (over the 1 kg daily cap: referred)"),
    ("2100105020007", "Aport apples 2.000 kg, priced in tenge (900 KZT/kg)"),
    ("2200201030808", "Kazakh cheese, price label 30.80 (88.00/kg: 350 g)"),
    ("4870204100112", "Dark chocolate, priced in tenge (650 KZT)"),
    ("4870204100129", "Vodka 0.5 L (alcohol is excluded: referred)"),
]
"""Scan buttons for market_goods.csv: in-store scale labels (kg goods), tenge prices, excluded and capped goods."""


def write_goods_data(folder: Path, today: date) -> None:
    """Write the demo's catalog, exchange rates and goods rules into ``folder`` (the files its config names).

    The catalog is the demo catalog plus the market's weighed and tenge-priced goods, and a price change of
    the dried apricots scheduled for next month (today's price stays); the rates are dated this month and
    the last, so tenge prices convert on any day the demo runs."""
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    market = (DATA / "market_goods.csv").read_text(encoding="utf-8").splitlines()[1:]
    scheduled = ("2100102,杏干（散称）,ئۆرۈك قېقى (تارازىدا),Кептірілген өрік (салмақпен),\"Курага, на вес\","
                 f"Dried apricots (by weight),kg,48.00,CNY,08131000,KZ,{next_month.isoformat()}")
    catalog = (DATA / "catalog.csv").read_text(encoding="utf-8").rstrip("\n").splitlines() + market + [scheduled]
    (folder / "catalog.csv").write_text("\n".join(catalog) + "\n", encoding="utf-8")
    (folder / "rates.csv").write_text(
        "date,currency,cny_per_100\n"
        f"{last_month.isoformat()},KZT,1.3712\n{this_month.isoformat()},KZT,1.3765\n", encoding="utf-8")
    shutil.copyfile(DATA / "goods_rules.csv", folder / "goods-rules.csv")


def _import_goods_data(cfg: KioskConfig, folder: Path, clock: Clock) -> None:
    """Import the demo's goods rules and rates into its goods store, as `kiosk rules|rates import` would."""
    from .goods_import import import_rates, import_rules
    from .goods_store import GoodsStore

    store = GoodsStore(cfg.goods_db)
    try:
        for report in (import_rules(store, folder / "goods-rules.csv", now=clock.now(),
                                    today=trade_day(clock.now(), BEIJING)),
                       import_rates(store, folder / "rates.csv", now=clock.now())):
            for line in report.lines():
                log.info("demo data: %s", line)
    finally:
        store.close()


@dataclass
class SimPanel:
    """The simulated devices and what the /sim page can do with them."""

    idcard: SamvSimulator
    scanner: ScannerSimulator
    gate: LcusSimulator
    turnstile: TurnstileLineSimulator | None = None

    def start(self) -> None:
        """Plug every simulated device in."""
        for sim in self._all().values():
            sim.start()

    def stop(self) -> None:
        """Unplug and stop every simulated device."""
        for sim in self._all().values():
            sim.stop()

    def _all(self) -> dict[str, Any]:
        sims: dict[str, Any] = {"idcard": self.idcard, "scanner": self.scanner, "gate": self.gate}
        if self.turnstile is not None:
            sims["passage"] = self.turnstile
        return sims

    def roles(self) -> list[str]:
        """The simulated devices, as config roles."""
        return list(self._all())

    def walk_through(self) -> None:
        """A person walks through the turnstile (LookupError when the demo has no passage sensor)."""
        if self.turnstile is None:
            raise LookupError("this demo has no passage sensor")
        self.turnstile.passage("A")

    def cards(self) -> list[dict[str, str]]:
        """The sample cards the panel offers (fictional people)."""
        return [{"key": c.key, "label": c.label, "note": c.note} for c in DEMO_CARDS]

    def goods(self) -> list[dict[str, str]]:
        """The sample barcodes the panel offers."""
        return [{"code": code, "label": label} for code, label in DEMO_GOODS + MARKET_GOODS]

    def place_card(self, key: str) -> None:
        """Put the sample card ``key`` on the reader (KeyError if there is none)."""
        card = next((c.card for c in DEMO_CARDS if c.key == key), None)
        if card is None:
            raise KeyError(key)
        self.idcard.place(card)

    def remove_card(self) -> None:
        """Take the card off the reader."""
        self.idcard.remove()

    def scan(self, code: str) -> None:
        """Make the scanner send ``code``."""
        self.scanner.scan(code)

    def set_plugged(self, role: str, plugged: bool) -> None:
        """Unplug or plug back one simulated device."""
        sim = self._all()[role]
        sim.plug() if plugged else sim.unplug()

    def state(self) -> dict[str, Any]:
        """What the simulators see: plugged devices and the relay channels."""
        return {"plugged": {role: sim.plugged for role, sim in self._all().items()},
                "relay": {"energised": self.gate.state(1), "pulses": len(self.gate.on_periods(1))}}


def make_demo(data_dir: Path | None = None, *, clock: Clock | None = None, result_s: float = 8.0,
              pulse_s: float = 0.5, passage: bool = False) -> tuple[Kiosk, SimPanel, Path]:
    """Start the simulators, write the demo config and build the kiosk (not started).

    ``passage`` adds a turnstile passage sensor (commit on passage) and a capture slip printer."""
    folder = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    links = tempfile.mkdtemp(prefix="kiosk-demo-dev-")
    panel = SimPanel(SamvSimulator("idcard", link_dir=links), ScannerSimulator("scanner", link_dir=links),
                     LcusSimulator("gate", link_dir=links),
                     TurnstileLineSimulator("passage", link_dir=links) if passage else None)
    panel.start()
    clock = clock or SystemClock()
    write_goods_data(folder, trade_day(clock.now(), BEIJING))
    config_path = folder / "kiosk.toml"
    config_path.write_text(CONFIG_TEMPLATE.format(
        ledger=folder / "ledger.db", residents=DATA / "residents.csv", catalog=folder / "catalog.csv",
        idcard=panel.idcard.port, scanner=panel.scanner.port, gate=panel.gate.port, result_s=result_s,
        pulse_s=pulse_s) + (PASSAGE_TEMPLATE.format(passage=panel.turnstile.port) if panel.turnstile else ""),
        encoding="utf-8")
    from drivers.registry import check_device
    cfg: KioskConfig = load_config(config_path, env={SECRET_ENV: secrets.token_hex(16)}, check_device=check_device)
    _import_goods_data(cfg, folder, clock)
    kiosk = build_kiosk(cfg, clock)
    _add_demo_staff(kiosk)
    return kiosk, panel, folder


DEMO_STAFF = (("officer", "officer", "246810"), ("tech", "technician", "135790"))
"""Demo accounts (name, role, PIN), printed by `kiosk demo`; a real kiosk adds its own with `kiosk users add`."""


def _add_demo_staff(kiosk: Kiosk) -> None:
    if kiosk.users is None:
        return
    for name, role, pin in DEMO_STAFF:
        if kiosk.users.get(name) is None:
            kiosk.users.add(name, role, pin, now=kiosk.checkpoint.clock.now())


def run_demo(*, host: str, port: int, data_dir: Path | None) -> None:
    """Run the demo until interrupted."""
    from web.server import run

    kiosk, panel, folder = make_demo(data_dir, passage=True)
    log.info("demo data in %s; simulator panel at http://%s:%d/sim", folder, host, port)
    log.info("demo staff sign-in at http://%s:%d/signin: %s", host, port,
             ", ".join(f"{name} ({role}) PIN {pin}" for name, role, pin in DEMO_STAFF))
    try:
        run(kiosk, host=host, port=port, threads=kiosk.config.web.threads, sim=panel)
    finally:
        panel.stop()
