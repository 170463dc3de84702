"""The checkpoint state machine with a fake clock, the real SQLite ledger and a scripted gate."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from drivers.base import CardFailed, CardRead, CardType, IdCard, ScanRead
from drivers.runner import Health, HealthState
from kiosk.catalog import Catalog
from kiosk.checkpoint import Checkpoint, Phase, Rules
from kiosk.clock import FakeClock
from kiosk.config import SessionConfig
from kiosk.declaration import Status
from kiosk.demo_data import CATALOG_CSV, DEMO_CARDS, RESIDENTS_CSV
from kiosk.events import Cancel, Confirm, DeviceHealth, DeviceReading, EventBus, GateResult, RemoveLine, Touch
from kiosk.identity import resident_key
from kiosk.ledger import open_ledger
from kiosk.policy import QuotaRule
from kiosk.residents import Registry

SECRET = b"test-site-secret-0123456789"
FLOUR, OIL, CARPET = "4870204100013", "4607001200031", "4870204100099"   # 98.00, 65.00, 3,200.00
UNKNOWN, MISREAD = "4879999000119", "4607001200995"


class ScriptedGate:
    """Stands in for GateControl: the test decides whether and how each pulse ends."""

    def __init__(self) -> None:
        self.ok = True
        self.pulses: list[tuple[str, Callable[[GateResult], None]]] = []
        self.running = False          # True: the pulse has started and can no longer be withdrawn

    def usable(self) -> bool:
        return self.ok

    def pulse(self, declaration_id: str, done: Callable[[GateResult], None]) -> None:
        self.pulses.append((declaration_id, done))

    def cancel(self, declaration_id: str) -> bool:
        return not self.running


def card(key: str) -> IdCard:
    return next(c.card for c in DEMO_CARDS if c.key == key)


@pytest.fixture
def ledger(tmp_path: Path):
    led = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


@pytest.fixture
def gate() -> ScriptedGate:
    return ScriptedGate()


@pytest.fixture
def cp(clock: FakeClock, ledger, gate: ScriptedGate) -> Checkpoint:
    rules = Rules(kiosk_id="test-01", registry=Registry.from_csv(RESIDENTS_CSV), catalog=Catalog.from_csv(CATALOG_CSV),
                  quota=(QuotaRule(date(2020, 1, 1), 800000),), timezone=ZoneInfo("Asia/Shanghai"),
                  site_secret=SECRET, hold_ttl_s=60,
                  session=SessionConfig(idle_warning_after_s=40, idle_warning_s=20, result_s=8))
    checkpoint = Checkpoint(rules=rules, ledger=ledger, gate=gate, bus=EventBus(), clock=clock)  # type: ignore[arg-type]
    for role in ("idcard", "scanner", "gate"):
        checkpoint.handle(DeviceHealth(role, Health(role, HealthState.CONNECTED)))
    return checkpoint


def tap(cp: Checkpoint, key: str) -> None:
    cp.handle(DeviceReading("idcard", CardRead(card(key)), cp.clock.now()))


def scan(cp: Checkpoint, code: str, times: int = 1) -> None:
    for _ in range(times):
        cp.handle(DeviceReading("scanner", ScanRead(code, "]E0"), cp.clock.now()))


def test_eligible_card_identifies_with_full_quota(cp: Checkpoint) -> None:
    """GIVEN an idle kiosk WHEN an eligible resident taps THEN identified with 8,000.00 left."""
    tap(cp, "eligible")
    snap = cp.snapshot()
    assert cp.phase is Phase.IDENTIFIED
    assert snap["quota"]["remaining_fen"] == 800000
    assert snap["resident"] == {"name": "韩*芸", "masked_id": "6542**********0046"}
    assert "654201198503120046" not in str(snap)


@pytest.mark.parametrize("key, reason", [
    ("card_expired", "card_expired"), ("id_checksum", "id_checksum"), ("not_registered", "not_registered"),
    ("filing_suspended", "filing_suspended"), ("filing_expired", "filing_expired"),
    ("permit_hmt", "card_type_not_accepted"),
])
def test_refused_cards_are_rejected_with_their_reason(cp: Checkpoint, clock: FakeClock, key: str, reason: str) -> None:
    """A refused card shows its reason, then the kiosk returns to idle after the result time."""
    tap(cp, key)
    assert cp.phase is Phase.REJECTED
    assert cp.snapshot()["reasons"] == [reason]
    assert cp.snapshot()["resident"] is None
    clock.advance(7.9)
    cp.tick()
    assert cp.phase is Phase.REJECTED
    clock.advance(0.2)
    cp.tick()
    assert cp.phase is Phase.IDLE


def test_full_flow_approves_pulses_commits_and_returns_to_idle(cp: Checkpoint, clock: FakeClock, ledger, gate) -> None:
    """card -> scans -> confirm -> hold -> pulse -> commit -> gate screen -> idle."""
    tap(cp, "eligible")
    scan(cp, FLOUR, 2)
    scan(cp, OIL)
    snap = cp.snapshot()
    assert cp.phase is Phase.SCANNING
    assert [(line["code"], line["quantity"]) for line in snap["lines"]] == [(FLOUR, 2), (OIL, 1)]
    assert snap["total_fen"] == 2 * 9800 + 6500
    cp.handle(Confirm())
    assert cp.phase is Phase.APPROVED
    decl_id, done = gate.pulses[0]
    assert ledger.get(decl_id).status is Status.held
    done(GateResult(decl_id))                   # the relay pulsed fine
    assert ledger.get(decl_id).status is Status.held   # arrives through the inbox, not handled yet
    cp.handle(GateResult(decl_id))
    assert cp.phase is Phase.GATE
    assert ledger.get(decl_id).status is Status.committed
    key = resident_key(card("eligible").id_number, SECRET)
    assert ledger.used(key, date(2026, 11, 25), now=clock.now()) == 26100
    assert cp.snapshot()["quota"]["remaining_fen"] == 800000 - 26100
    clock.advance(8.1)
    cp.tick()
    assert cp.phase is Phase.IDLE and cp.session is None


def test_over_quota_is_referred_and_holds_nothing(cp: Checkpoint, ledger, gate, clock: FakeClock) -> None:
    """Three carpets (9,600.00) exceed 8,000.00: referred with the excess, no quota used, no pulse."""
    tap(cp, "eligible")
    scan(cp, CARPET, 3)
    assert cp.snapshot()["quota"]["over_by_fen"] == 160000
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED
    assert cp.snapshot()["reasons"] == ["over_quota"]
    assert gate.pulses == []
    decl = ledger.get(cp.snapshot()["declaration_id"])
    assert decl.status is Status.referred and decl.declaration.total_fen == 960000
    assert decl.reasons == ("over_quota",)
    key = resident_key(card("eligible").id_number, SECRET)
    assert ledger.used(key, date(2026, 11, 25), now=clock.now()) == 0


def test_quota_used_earlier_today_counts(cp: Checkpoint, gate, clock: FakeClock) -> None:
    """A second visit the same day sees the first visit's purchase."""
    tap(cp, "eligible")
    scan(cp, CARPET, 2)
    cp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    cp.handle(GateResult(decl_id))
    clock.advance(10)
    cp.tick()
    tap(cp, "eligible")
    assert cp.snapshot()["quota"]["remaining_fen"] == 800000 - 640000
    scan(cp, CARPET)
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("over_quota",)


def test_unknown_barcode_is_listed_and_refers_the_declaration(cp: Checkpoint) -> None:
    """An unknown code is added as an unknown line with a notice; confirming refers it."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    scan(cp, UNKNOWN)
    snap = cp.snapshot()
    assert snap["notice"] == {"reason": "unknown_barcode", "code": UNKNOWN}
    assert [line["known"] for line in snap["lines"]] == [True, False]
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("unknown_goods",)


def test_removing_the_unknown_line_lets_the_declaration_through(cp: Checkpoint, gate) -> None:
    """The resident can remove a wrong line before confirming."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    scan(cp, UNKNOWN)
    cp.handle(RemoveLine(1))
    assert [line["code"] for line in cp.snapshot()["lines"]] == [FLOUR]
    cp.handle(Confirm())
    assert cp.phase is Phase.APPROVED and len(gate.pulses) == 1


def test_misread_barcode_is_not_added(cp: Checkpoint) -> None:
    """A code with a wrong check digit is a misread: a notice, nothing added."""
    tap(cp, "eligible")
    scan(cp, MISREAD)
    assert cp.snapshot()["notice"]["reason"] == "bad_check_digit"
    assert cp.snapshot()["lines"] == []
    assert cp.phase is Phase.IDENTIFIED


def test_scan_before_card_asks_for_the_card(cp: Checkpoint) -> None:
    """Scanning at the idle screen tells the resident to tap the card first."""
    scan(cp, FLOUR)
    assert cp.phase is Phase.IDLE
    assert cp.snapshot()["notice"]["reason"] == "identify_first"


def test_unreadable_card_shows_a_notice_that_clears(cp: Checkpoint, clock: FakeClock) -> None:
    """A failed read is a plain notice on the idle screen, gone after a while."""
    cp.handle(DeviceReading("idcard", CardFailed("card_removed_early"), clock.now()))
    assert cp.snapshot()["notice"]["reason"] == "card_removed_early"
    clock.advance(9)
    cp.tick()
    assert cp.snapshot()["notice"] is None


def test_gate_fault_releases_the_hold_and_refers(cp: Checkpoint, gate, ledger, clock: FakeClock) -> None:
    """A relay that fails after the hold: the hold is released (quota returns) and the case referred."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    cp.handle(GateResult(decl_id, error="DeviceGone: port lost"))
    assert cp.phase is Phase.REFERRED and cp.reasons == ("gate_fault",)
    assert ledger.get(decl_id).status is Status.referred          # released, and on the officers' list
    assert ledger.get(decl_id).reasons == ("gate_fault",)
    key = resident_key(card("eligible").id_number, SECRET)
    assert ledger.used(key, date(2026, 11, 25), now=clock.now()) == 0


def test_no_gate_means_nothing_is_granted(cp: Checkpoint, gate) -> None:
    """With the relay disconnected the kiosk refers instead of holding quota."""
    gate.ok = False
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED and cp.reasons == ("gate_unavailable",)
    assert gate.pulses == []


def test_ledger_down_fails_closed(cp: Checkpoint, ledger, gate) -> None:
    """A ledger that cannot be written refers the resident; the gate stays shut."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    ledger.close()
    cp.handle(Confirm())
    assert cp.phase is Phase.REFERRED
    assert "ledger_unavailable" in cp.reasons
    assert gate.pulses == []


def test_hold_expired_before_the_pulse_came_back_is_referred(cp: Checkpoint, gate, ledger, clock: FakeClock) -> None:
    """If the gate answers after the hold expired, the declaration is not committed."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    clock.advance(61)
    cp.handle(GateResult(decl_id))
    assert cp.phase is Phase.REFERRED and cp.reasons == ("hold_expired",)
    assert ledger.get(decl_id).status is Status.referred


def test_idle_warning_then_reset(cp: Checkpoint, clock: FakeClock) -> None:
    """40 s without activity shows a 20 s warning; a touch keeps the session; silence resets it."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    clock.advance(40)
    cp.tick()
    assert cp.snapshot()["warning"] == {"seconds": 20}
    cp.handle(Touch())
    assert cp.snapshot()["warning"] is None
    clock.advance(59)
    cp.tick()
    assert cp.phase is Phase.SCANNING
    clock.advance(1.5)
    cp.tick()
    assert cp.phase is Phase.IDLE and cp.session is None


def test_cancel_drops_the_session(cp: Checkpoint) -> None:
    """Cancel returns to idle and forgets the resident."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Cancel())
    assert cp.phase is Phase.IDLE and cp.snapshot()["resident"] is None


def test_another_card_during_a_basket_is_refused(cp: Checkpoint) -> None:
    """A second person tapping while a basket is open does not take over the session."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    tap(cp, "eligible_long_term")
    assert cp.snapshot()["resident"]["masked_id"] == "6542**********0046"
    assert cp.snapshot()["notice"]["reason"] == "session_in_progress"


def test_confirm_with_empty_basket_does_nothing(cp: Checkpoint, gate) -> None:
    """Confirm without items is ignored (the button is disabled on screen too)."""
    tap(cp, "eligible")
    cp.handle(Confirm())
    assert cp.phase is Phase.IDENTIFIED and gate.pulses == []


def test_service_state_follows_device_health(cp: Checkpoint) -> None:
    """Gate or reader lost -> out of service; scanner lost -> degraded."""
    assert cp.snapshot()["service"] == "ok"
    cp.handle(DeviceHealth("scanner", Health("scanner", HealthState.DISCONNECTED, "gone")))
    assert cp.snapshot()["service"] == "degraded"
    cp.handle(DeviceHealth("gate", Health("gate", HealthState.DISCONNECTED, "gone")))
    assert cp.snapshot()["service"] == "out_of_service"


def test_every_change_is_published_with_a_rising_version(cp: Checkpoint) -> None:
    """Screens get each new snapshot on the bus, versions strictly increasing."""
    sub = cp.bus.subscribe({"checkpoint.state"})
    tap(cp, "eligible")
    scan(cp, FLOUR)
    versions = []
    while (event := sub.get(timeout=0)) is not None:
        versions.append(event.payload["version"])
    assert len(versions) == 2 and versions[0] < versions[1]


def test_loop_thread_answers_commands(cp: Checkpoint) -> None:
    """submit() from another thread resolves with the snapshot after the command."""
    cp.start()
    try:
        tap_msg = DeviceReading("idcard", CardRead(card("eligible")), cp.clock.now())
        assert cp.submit(tap_msg).result(timeout=5)["phase"] == "identified"
        assert cp.submit(Cancel()).result(timeout=5)["phase"] == "idle"
    finally:
        cp.stop()


def test_gate_that_never_answers_releases_and_refers(cp: Checkpoint, gate, ledger, clock: FakeClock) -> None:
    """No gate result within 10 s: the hold is released and the resident referred (gate_fault)."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    clock.advance(9.9)
    cp.tick()
    assert cp.phase is Phase.APPROVED
    clock.advance(0.2)
    cp.tick()
    assert cp.phase is Phase.REFERRED and cp.reasons == ("gate_fault",)
    assert ledger.get(decl_id).status is Status.referred


def test_tick_expires_stale_holds(cp: Checkpoint, ledger, clock: FakeClock) -> None:
    """A hold left by another kiosk process that died is marked expired by a later tick."""
    from kiosk.declaration import Declaration, Line
    decl = Declaration(id="dead-kiosk-1", kiosk_id="other", resident_key="k" * 64, masked_id="6542**********0046",
                       day=date(2026, 11, 25), created_at=clock.now(), lines=(Line(FLOUR, "面粉", 9800, 1),),
                       limit_fen=800000, rule_version="quota-2020-01-01")
    assert ledger.hold(decl, now=clock.now(), ttl_s=60).accepted
    clock.advance(31)
    cp.tick()
    assert ledger.get("dead-kiosk-1").status is Status.held
    clock.advance(30)
    cp.tick()
    assert ledger.get("dead-kiosk-1").status is Status.expired


def test_tick_hooks_run_on_every_tick(cp: Checkpoint) -> None:
    """Hooks (the systemd watchdog) run once per tick, from the tick itself."""
    calls: list[float] = []
    cp.add_tick_hook(lambda: calls.append(cp.last_tick))
    cp.tick()
    cp.tick()
    assert len(calls) == 2


# ---- foreign visitors and the Beijing date (issue #3) ---------------------------------------------

def visitor(card_type: CardType) -> IdCard:
    """A Kazakh visitor's document as the eMRTD driver fills it (fictional person)."""
    return IdCard(card_type, "TESTOV ARMAN", "1", "", date(1990, 1, 1), "", "N12345678", "KAZ",
                  date.min, date(2030, 1, 1), document_number="N12345678", nationality="KAZ",
                  expiry_date=date(2030, 1, 1))


@pytest.mark.parametrize("card_type", [CardType.PASSPORT, CardType.FOREIGN_ID])
def test_foreign_visitor_is_referred_not_rejected(cp: Checkpoint, clock: FakeClock, ledger,
                                                  card_type: CardType) -> None:
    """GIVEN an idle kiosk WHEN a Kazakh passport or ID card is read THEN referred to the officer with
    visitor_no_quota (never rejected, never granted), no session, nothing in the ledger; idle afterwards."""
    cp.handle(DeviceReading("idcard", CardRead(visitor(card_type)), clock.now()))
    snap = cp.snapshot()
    assert cp.phase is Phase.REFERRED and snap["phase"] == "referred"
    assert snap["reasons"] == ["visitor_no_quota"]
    assert cp.session is None and snap["resident"] is None and snap["quota"] is None
    assert "N12345678" not in str(snap)
    assert ledger.used(resident_key("N12345678", SECRET), date(2026, 11, 25), now=clock.now()) == 0
    clock.advance(8.1)
    cp.tick()
    assert cp.phase is Phase.IDLE


def test_visitor_expired_passport_is_still_referred(cp: Checkpoint, clock: FakeClock) -> None:
    """An expired passport does not turn the referral into a refusal: the officer decides."""
    expired = dataclasses.replace(visitor(CardType.PASSPORT), valid_to=date(2020, 1, 1), expiry_date=date(2020, 1, 1))
    cp.handle(DeviceReading("idcard", CardRead(expired), clock.now()))
    assert cp.phase is Phase.REFERRED and cp.snapshot()["reasons"] == ["visitor_no_quota"]


def test_foreign_resident_cards_are_still_rejected(cp: Checkpoint, clock: FakeClock) -> None:
    """A foreigner permanent-residence card is a SAM-V card, not a visitor's: card_type_not_accepted."""
    pr = dataclasses.replace(visitor(CardType.FOREIGN_PR), id_number="KAZ654201900101", document_number="")
    cp.handle(DeviceReading("idcard", CardRead(pr), clock.now()))
    assert cp.phase is Phase.REJECTED and cp.snapshot()["reasons"] == ["card_type_not_accepted"]


def test_card_validity_follows_the_beijing_date(cp: Checkpoint, clock: FakeClock) -> None:
    """A card valid to 2026-11-25 works at 23:59:59 Beijing time and has expired one second after
    Beijing midnight, while the UTC date is still 2026-11-25."""
    last_day = dataclasses.replace(card("eligible"), valid_to=date(2026, 11, 25))
    clock.advance(12 * 3600 - 1)                            # 2026-11-25 23:59:59 +08:00
    cp.handle(DeviceReading("idcard", CardRead(last_day), clock.now()))
    assert cp.phase is Phase.IDENTIFIED
    cp.handle(Cancel())
    clock.advance(2)                                        # 2026-11-26 00:00:01 +08:00 = 16:00:01 UTC
    assert clock.now().date() == date(2026, 11, 25)
    cp.handle(DeviceReading("idcard", CardRead(last_day), clock.now()))
    assert cp.phase is Phase.REJECTED and cp.snapshot()["reasons"] == ["card_expired"]


def test_stop_drains_a_gate_result_already_queued(cp: Checkpoint, gate, ledger) -> None:
    """A pulse that finished just before shutdown is still committed (the resident went through)."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    decl_id, done = gate.pulses[0]
    done(GateResult(decl_id))   # the relay's result is queued ...
    cp._stop.set()              # ... when the kiosk is told to stop: the loop runs only its drain
    cp.start()
    cp.stop()
    assert ledger.get(decl_id).status is Status.committed


# -- the release sequence with a passage sensor (issue 6) ------------------------------------------

class SyncRunner:
    """Runs printer commands at once on the caller's thread (the real runner is tested in drivers)."""

    def __init__(self, device: object) -> None:
        self.device = device
        self.health = Health("printer", HealthState.CONNECTED)

    def call(self, fn):  # type: ignore[no-untyped-def]
        from concurrent.futures import Future
        fut: Future[object] = Future()
        try:
            fut.set_result(fn(self.device))
        except Exception as exc:
            fut.set_exception(exc)
        return fut


@pytest.fixture
def printer():  # type: ignore[no-untyped-def]
    from drivers.printer.escpos import SlipPrinter
    device = SlipPrinter("printer", "capture://")
    device.open()
    yield device
    device.close()


@pytest.fixture
def cpp(clock: FakeClock, ledger, gate: ScriptedGate, printer) -> Checkpoint:
    """A checkpoint that commits on the passage sensor (8 s window) and prints slips."""
    from kiosk.config import ReleaseConfig
    from kiosk.printing import SlipPrinting
    rules = Rules(kiosk_id="test-01", registry=Registry.from_csv(RESIDENTS_CSV), catalog=Catalog.from_csv(CATALOG_CSV),
                  quota=(QuotaRule(date(2020, 1, 1), 800000),), timezone=ZoneInfo("Asia/Shanghai"),
                  site_secret=SECRET, hold_ttl_s=60, session=SessionConfig(result_s=8),
                  release=ReleaseConfig(wait_for_passage=True, passage_timeout_s=8))
    checkpoint = Checkpoint(rules=rules, ledger=ledger, gate=gate, bus=EventBus(), clock=clock,  # type: ignore[arg-type]
                            printer=SlipPrinting(SyncRunner(printer)))
    for role in ("idcard", "scanner", "gate"):
        checkpoint.handle(DeviceHealth(role, Health(role, HealthState.CONNECTED)))
    return checkpoint


def pulsed(cp: Checkpoint, gate: ScriptedGate) -> str:
    """Tap, scan flour, confirm, and let the relay report a good pulse; returns the declaration id."""
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    decl_id, _ = gate.pulses[-1]
    cp.handle(GateResult(decl_id))
    return decl_id


def passage(cp: Checkpoint, direction: str | None = None) -> None:
    from drivers.base import PassageSeen
    cp.handle(DeviceReading("gate", PassageSeen(direction), cp.clock.now()))


def test_passage_commits_and_prints_a_genuine_slip(cpp: Checkpoint, gate, ledger, printer, clock: FakeClock) -> None:
    """GIVEN a good pulse THEN the hold waits for the passage; the passage commits and a signed slip prints."""
    from kiosk.slip import slip_key, verify_slip
    decl_id = pulsed(cpp, gate)
    assert cpp.phase is Phase.GATE and ledger.get(decl_id).status is Status.held
    clock.advance(3)
    cpp.tick()
    passage(cpp)
    assert ledger.get(decl_id).status is Status.committed
    slip = b"".join(printer.captured)
    assert b"\x1b\x40" in slip and b"\x1d\x28\x6b" in slip           # init, and a native QR code
    store = next(part for part in slip.split(b"\x1d(k") if part[2:5] == b"1P0")   # GS ( k pL pH 1 P 0 data
    payload = store[5:5 + store[0] + 256 * store[1] - 3].decode()
    check = verify_slip(payload, slip_key(SECRET))
    assert check.genuine and check.declaration_id == decl_id


def test_no_passage_releases_and_refers_without_a_second_pulse(cpp: Checkpoint, gate, ledger, clock: FakeClock,
                                                               printer) -> None:
    """GIVEN a good pulse WHEN nobody passes within 8 s THEN the hold is released, the resident referred,
    the gate not pulsed again and no slip printed."""
    decl_id = pulsed(cpp, gate)
    clock.advance(7.9)
    cpp.tick()
    assert cpp.phase is Phase.GATE
    clock.advance(0.2)
    cpp.tick()
    assert cpp.phase is Phase.REFERRED and cpp.reasons == ("not_passed",)
    assert ledger.get(decl_id).status is Status.referred
    assert len(gate.pulses) == 1 and printer.captured == []


def test_relay_fault_fails_closed_with_a_sensor(cpp: Checkpoint, gate, ledger) -> None:
    """A relay fault releases the hold and refers, passage sensor or not."""
    tap(cpp, "eligible")
    scan(cpp, FLOUR)
    cpp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    cpp.handle(GateResult(decl_id, error="RelayStuck: coil 1 still on"))
    assert cpp.phase is Phase.REFERRED and cpp.reasons == ("gate_fault",)
    assert ledger.get(decl_id).status is Status.referred


def test_tailgating_is_an_alert_for_the_officer(cpp: Checkpoint, gate, ledger, clock: FakeClock) -> None:
    """Two passages on one pulse: the first commits, the second raises a tailgating alert on the bus."""
    sub = cpp.bus.subscribe({"checkpoint.alert"})
    decl_id = pulsed(cpp, gate)
    passage(cpp)
    clock.advance(1)
    passage(cpp)
    assert ledger.get(decl_id).status is Status.committed
    assert [a["kind"] for a in cpp.alerts] == ["tailgating"]
    event = sub.get(timeout=0)
    assert event is not None and event.payload["declaration_id"] == decl_id and event.payload["passages"] == 2


def test_passage_with_no_release_is_an_alert(cpp: Checkpoint) -> None:
    """Someone pushing through a closed gate is reported, not ignored."""
    passage(cpp, "A")
    assert [a["kind"] for a in cpp.alerts] == ["passage_without_release"]
    assert cpp.phase is Phase.IDLE


def test_printer_fault_never_blocks_the_gate(cpp: Checkpoint, gate, ledger, printer) -> None:
    """A printer that fails still lets the committed resident go: the fault is only recorded."""
    printer.close()           # unplugged: printing raises inside the printer runner
    decl_id = pulsed(cpp, gate)
    passage(cpp)
    assert ledger.get(decl_id).status is Status.committed and cpp.phase is Phase.GATE
    cpp.handle(cpp._inbox.get_nowait()[0])     # the SlipResult the printer posted
    assert cpp.release.last_slip is not None and cpp.release.last_slip.error is not None


def test_a_pulse_still_running_at_the_timeout_is_waited_for(cp: Checkpoint, gate, ledger, clock: FakeClock) -> None:
    """GIVEN the relay is mid-pulse when the 10 s answer timeout passes THEN the hold is kept (the gate
    may be open) until the real result arrives, which then commits."""
    gate.running = True
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    clock.advance(10.1)
    cp.tick()
    assert cp.phase is Phase.APPROVED and ledger.get(decl_id).status is Status.held
    cp.handle(GateResult(decl_id))
    assert ledger.get(decl_id).status is Status.committed


def test_a_passage_before_the_pulse_result_still_opens_the_tailgating_window(cpp: Checkpoint, gate, ledger,
                                                                             clock: FakeClock) -> None:
    """The passage may be reported before the relay thread's result; the result still closes the window
    properly, so a later lone passage is a passage without release, not tailgating."""
    tap(cpp, "eligible")
    scan(cpp, FLOUR)
    cpp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    passage(cpp)                                  # before the GateResult
    assert ledger.get(decl_id).status is Status.committed
    cpp.handle(GateResult(decl_id))
    clock.advance(9)
    cpp.tick()
    passage(cpp)
    assert [a["kind"] for a in cpp.alerts] == ["passage_without_release"]


def test_a_commit_that_fails_after_the_gate_is_retried(cp: Checkpoint, gate, ledger, clock: FakeClock,
                                                       monkeypatch) -> None:
    """The resident went through but the ledger failed the commit: an officer alert, and the tick commits
    it once the ledger answers again (the goods that left are counted)."""
    from kiosk.errors import LedgerError
    tap(cp, "eligible")
    scan(cp, FLOUR)
    cp.handle(Confirm())
    decl_id, _ = gate.pulses[0]
    real_commit = ledger.commit

    def down(*a, **k):  # type: ignore[no-untyped-def]
        raise LedgerError("port ledger unreachable")
    monkeypatch.setattr(ledger, "commit", down)
    cp.handle(GateResult(decl_id))
    assert cp.phase is Phase.GATE and [a["kind"] for a in cp.alerts] == ["commit_pending"]
    assert ledger.get(decl_id).status is Status.held
    monkeypatch.setattr(ledger, "commit", real_commit)
    clock.advance(2.5)
    cp.tick()
    assert ledger.get(decl_id).status is Status.committed


def test_a_gs1_128_code_finds_the_product_by_its_gtin(cp: Checkpoint) -> None:
    """A GS1-128 label with (01) GTIN, (10) batch and (17) expiry adds the catalog product."""
    tap(cp, "eligible")
    cp.handle(DeviceReading("scanner", ScanRead("0104870204100013" + "10LOT7\x1d" + "17291231", "]C1"),
                            cp.clock.now()))
    lines = cp.snapshot()["lines"]
    assert [(line["code"], line["known"]) for line in lines] == [(FLOUR, True)]
