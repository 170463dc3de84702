"""The checkpoint with the market's goods data: scale labels, tenge prices, excluded and capped goods.

The goods come from the demo's files (``kiosk.demo.write_goods_data``) through the real start-up path
(``kiosk.goods_import.open_goods``); the ledger is the real SQLite one; the gate is scripted.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drivers.base import CardRead, ScanRead
from drivers.runner import Health, HealthState
from kiosk.barcodes import VariableMeasureLayout, layouts_by_prefix
from kiosk.basket import GoodsData
from kiosk.checkpoint import Checkpoint, Phase, Rules
from kiosk.clock import FakeClock
from kiosk.config import SessionConfig
from kiosk.declaration import Declaration, HoldResult, RuleUse, Status
from kiosk.demo import write_goods_data
from kiosk.demo_data import DEMO_CARDS, RESIDENTS_CSV
from kiosk.events import Confirm, DeviceHealth, DeviceReading, EventBus, GateResult
from kiosk.goods_import import open_goods
from kiosk.ledger import open_ledger
from kiosk.policy import QuotaRule
from kiosk.residents import Registry

SECRET = b"test-site-secret-0123456789"


class ScriptedGate:
    """Stands in for GateControl: records each pulse; the test reports its result."""

    def __init__(self) -> None:
        self.pulses: list[tuple[str, Any]] = []

    def usable(self) -> bool:
        return True

    def pulse(self, declaration_id: str, done: Any) -> None:
        self.pulses.append((declaration_id, done))

    def cancel(self, declaration_id: str) -> bool:
        return True

DAY = date(2026, 11, 25)                     # the FakeClock's Beijing day
SAUSAGE_1250G = "2100101012501"              # 1.250 kg x 128.00/kg = 160.00
APRICOTS_1KG = "2100102010001"               # 46.00/kg today; 48.00 from next month (scheduled)
SUGAR_800G, SUGAR_1500G = "2100104008006", "2100104015004"    # 480.00 KZT/kg; cap 1 kg a day
SUGAR_ITEM = "2100104"                       # the scale labels' item code: the line's code
CHEESE_3080 = "2200201030808"                # price label 30.80 at 88.00/kg: 350 g
CHOCOLATE_KZT = "4870204100112"              # 650.00 KZT
VODKA = "4870204100129"                      # alcohol: excluded
FLOUR = "4870204100013"
LAYOUTS = layouts_by_prefix([VariableMeasureLayout(frozenset({"21"}), "weight", 5, 5, 3),
                             VariableMeasureLayout(frozenset({"22"}), "price", 5, 5, 2, unit="CNY")])


@pytest.fixture
def goods(tmp_path: Path) -> GoodsData:
    """The demo's goods data for the demo day, loaded as the kiosk loads it at start."""
    folder = tmp_path / "data"
    folder.mkdir()
    write_goods_data(folder, DAY)
    return open_goods(tmp_path / "goods.db", now=FakeClock().now(), today=DAY, catalog_csv=folder / "catalog.csv",
                      rates_csv=folder / "rates.csv", rules_csv=folder / "goods-rules.csv", layouts=LAYOUTS)


@pytest.fixture
def ledger(tmp_path: Path):  # type: ignore[no-untyped-def]
    led = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


def checkpoint(clock: FakeClock, ledger: Any, gate: ScriptedGate, goods: GoodsData) -> Checkpoint:
    rules = Rules(kiosk_id="test-01", registry=Registry.from_csv(RESIDENTS_CSV), catalog=goods.catalog,
                  quota=(QuotaRule(date(2020, 1, 1), 800000),), timezone=ZoneInfo("Asia/Shanghai"),
                  site_secret=SECRET, hold_ttl_s=60, session=SessionConfig(result_s=8))
    cp = Checkpoint(rules=rules, ledger=ledger, gate=gate, bus=EventBus(), clock=clock, goods=goods)  # type: ignore[arg-type]
    for role in ("idcard", "scanner", "gate"):
        cp.handle(DeviceHealth(role, Health(role, HealthState.CONNECTED)))
    return cp


@pytest.fixture
def gate() -> ScriptedGate:
    return ScriptedGate()


@pytest.fixture
def cp(clock: FakeClock, ledger: Any, gate: ScriptedGate, goods: GoodsData) -> Checkpoint:
    return checkpoint(clock, ledger, gate, goods)


def tap(cp: Checkpoint) -> None:
    card = next(c.card for c in DEMO_CARDS if c.key == "eligible")
    cp.handle(DeviceReading("idcard", CardRead(card), cp.clock.now()))


def scan(cp: Checkpoint, *codes: str, symbology: str | None = None) -> None:
    for code in codes:         # the demo's serial scanner sends no AIM prefix: symbology None
        cp.handle(DeviceReading("scanner", ScanRead(code, symbology), cp.clock.now()))


def confirm_and_pass(cp: Checkpoint, gate: ScriptedGate) -> str:
    cp.handle(Confirm())
    assert cp.phase is Phase.APPROVED, cp.reasons
    decl_id, _ = gate.pulses[-1]
    cp.handle(GateResult(decl_id))
    return decl_id


def test_scale_labels_become_kg_lines_and_are_recorded(cp: Checkpoint, gate: ScriptedGate, ledger: Any) -> None:
    """GIVEN a weight label and a price label WHEN confirmed THEN the lines are kg lines in grams, priced per kg;
    the ledger records them with HS codes and the goods-rule version; the caps used are on the declaration."""
    tap(cp)
    scan(cp, SAUSAGE_1250G, CHEESE_3080)
    scan(cp, SAUSAGE_1250G, symbology="]E0")         # a second package: a line of its own
    snap = cp.snapshot()
    assert [(line["code"], line["quantity"], line["amount_fen"]) for line in snap["lines"]] == [
        ("2100101", 1250, 16000), ("2200201", 350, 3080), ("2100101", 1250, 16000)]
    assert snap["lines"][0]["names"]["ru"] == "Казы, на вес"       # the screen finds in-store codes' names
    decl_id = confirm_and_pass(cp, gate)
    stored = ledger.get(decl_id)
    assert stored.status is Status.committed
    decl = stored.declaration
    assert decl.total_fen == 16000 + 3080 + 16000
    assert [(line.unit, line.quantity, line.unit_price_fen, line.hs_code, line.price_from) for line in decl.lines] == [
        ("kg", 1250, 12800, "16010000", "2026-01-01"), ("kg", 350, 8800, "04069000", "2026-01-01"),
        ("kg", 1250, 12800, "16010000", "2026-01-01")]
    assert decl.rule_version == "quota-2020-01-01+goods-2026-01-01"
    assert cp.session is not None and cp.session.declaration is not None
    assert cp.session.declaration.rule_uses == (RuleUse("food@goods-2026-01-01", "kg", 2850, 50_000),)


def test_a_kzt_price_is_converted_and_the_rate_recorded_on_the_line(cp: Checkpoint, gate: ScriptedGate,
                                                                    ledger: Any) -> None:
    """650.00 KZT at the demo's 1.3765 CNY per 100 KZT: 895 fen; the committed line keeps tiyn, rate and date."""
    tap(cp)
    scan(cp, CHOCOLATE_KZT, CHOCOLATE_KZT)
    decl_id = confirm_and_pass(cp, gate)
    line = ledger.get(decl_id).declaration.lines[0]
    assert (line.quantity, line.unit_price_fen, line.amount_fen) == (2, 895, 1790)
    assert (line.currency, line.catalog_price, line.rate, line.rate_date) == ("KZT", 65000, "0.013765", "2026-11-01")


def test_the_price_in_force_on_the_day_is_used(cp: Checkpoint) -> None:
    """The apricots' price change for next month is in the store, but today's line uses today's price."""
    tap(cp)
    scan(cp, APRICOTS_1KG)
    assert cp.snapshot()["lines"][0]["unit_price_fen"] == 4600


def test_without_a_rate_the_declaration_is_referred_with_a_named_reason(clock: FakeClock, ledger: Any,
                                                                        gate: ScriptedGate, goods: GoodsData) -> None:
    """GIVEN no rate in force (only stale ones) WHEN tenge-priced goods are confirmed THEN no hold, no pulse:
    referred with no_exchange_rate, and recorded so."""
    clock.advance(80 * 86400)                 # mid-February: the demo's rates are more than 35 days old
    cp = checkpoint(clock, ledger, gate, goods)
    tap(cp)
    scan(cp, CHOCOLATE_KZT)
    assert cp.snapshot()["notice"]["reason"] == "no_exchange_rate"
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("no_exchange_rate",)
    assert gate.pulses == []
    assert cp.session is not None and cp.session.declaration is not None
    assert ledger.get(cp.session.declaration.id).status is Status.referred


def test_excluded_goods_are_noticed_on_scan_and_referred(cp: Checkpoint, gate: ScriptedGate, ledger: Any) -> None:
    """Vodka: the notice names the reason at once; confirm refers with goods_excluded, no pulse."""
    tap(cp)
    scan(cp, FLOUR, VODKA)
    assert cp.snapshot()["notice"]["reason"] == "goods_excluded"
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("goods_excluded",)
    assert gate.pulses == []
    assert flags(cp) == [(FLOUR, None), (VODKA, "goods_excluded")]   # the screen names the vodka


def test_a_cap_exceeded_in_one_basket_is_referred_before_any_hold(cp: Checkpoint, gate: ScriptedGate,
                                                                  ledger: Any) -> None:
    """1.5 kg of sugar against a 1 kg cap: referred with goods_over_cap, nothing held."""
    tap(cp)
    scan(cp, SUGAR_1500G)
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("goods_over_cap",)
    assert gate.pulses == [] and ledger.get(cp.session.declaration.id).status is Status.referred  # type: ignore[union-attr]
    assert flags(cp) == [(SUGAR_ITEM, "goods_over_cap")]


def flags(cp: Checkpoint) -> list[tuple[str, str | None]]:
    """(code, flag) of each basket line as the resident's screen receives it."""
    return [(line["code"], line["flag"]) for line in cp.snapshot()["lines"]]


class CapRefusingLedger:
    """The real ledger, except that its hold refuses as the ledger does when a rule use would pass its cap."""

    def __init__(self, real: Any, over_cap: tuple[str, ...]) -> None:
        self._real = real
        self.over_cap = over_cap
        self.held: list[Declaration] = []

    def hold(self, decl: Declaration, *, now: Any, ttl_s: float) -> HoldResult:
        self.held.append(decl)
        used = self._real.used(decl.resident_key, decl.day, now=now)
        return HoldResult(False, used, decl.limit_fen - used, self.over_cap)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_hold_refused_for_a_cap_refers_with_goods_over_cap(clock: FakeClock, ledger: Any, gate: ScriptedGate,
                                                             goods: GoodsData) -> None:
    """GIVEN the ledger counts today's sugar over its cap WHEN it refuses the hold THEN the resident is referred
    with goods_over_cap (not over_quota: the money is fine), and the hold carried the rule uses."""
    refusing = CapRefusingLedger(ledger, ("sugar@goods-2026-01-01",))
    cp = checkpoint(clock, refusing, gate, goods)
    tap(cp)
    scan(cp, SUGAR_800G)
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("goods_over_cap",)
    assert refusing.held[0].rule_uses == (RuleUse("sugar@goods-2026-01-01", "kg", 800, 1000),)
    assert gate.pulses == []
    assert flags(cp) == [(SUGAR_ITEM, "goods_over_cap")]  # within this basket's cap, over the day's


def test_caps_count_across_the_resident_s_declarations_of_the_day(cp: Checkpoint, gate: ScriptedGate,
                                                                   ledger: Any, clock: FakeClock) -> None:
    """GIVEN 0.8 kg of sugar went through this morning WHEN the same resident declares another 0.8 kg THEN the
    ledger's hold refuses it (1.6 kg over the 1 kg cap) and the checkpoint refers with goods_over_cap."""
    tap(cp)
    scan(cp, SUGAR_800G)
    first = confirm_and_pass(cp, gate)
    assert ledger.get(first).status is Status.committed
    clock.advance(9)
    cp.tick()
    tap(cp)
    scan(cp, SUGAR_800G)
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("goods_over_cap",)
    assert len(gate.pulses) == 1
    assert flags(cp) == [(SUGAR_ITEM, "goods_over_cap")]
