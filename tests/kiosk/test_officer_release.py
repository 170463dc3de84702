"""Releases by hand on the checkpoint thread, with a fake clock, the real SQLite ledger and a scripted gate:
refused while a declaration is in flight, one pulse, the passage window (passed, tailgating, nobody passed),
a relay fault, and nothing ever written to the ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drivers.base import CardRead, PassageSeen, ScanRead
from drivers.runner import Health, HealthState
from kiosk.catalog import Catalog
from kiosk.checkpoint import Checkpoint, Phase, Rules
from kiosk.clock import FakeClock
from kiosk.config import ReleaseConfig, SessionConfig
from kiosk.demo_data import CATALOG_CSV, DEMO_CARDS, RESIDENTS_CSV
from kiosk.events import Confirm, DeviceHealth, DeviceReading, EventBus, GateResult, ManualRelease
from kiosk.ledger import open_ledger
from kiosk.officer_codes import OfficerError
from kiosk.policy import QuotaRule
from kiosk.residents import Registry

SECRET = b"test-site-secret-0123456789"
FLOUR = "4870204100013"
DAY = date(2026, 11, 25)


class ScriptedGate:
    """Stands in for GateControl: records each pulse; the test decides how it ends."""

    def __init__(self) -> None:
        self.ok = True
        self.pulses: list[tuple[str, Callable[[GateResult], None]]] = []

    def usable(self) -> bool:
        return self.ok

    def pulse(self, declaration_id: str, done: Callable[[GateResult], None]) -> None:
        self.pulses.append((declaration_id, done))

    def cancel(self, declaration_id: str) -> bool:
        return True


class Audit:
    """Collects what the checkpoint appends to the audit log."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def append(self, kind: str, *, kiosk_id: str, actor: str, data: Any, now: Any) -> None:
        self.records.append((kind, actor, dict(data)))


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    led = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


def make_cp(clock: FakeClock, ledger: Any, gate: ScriptedGate, audit: Audit, *, passage: bool) -> Checkpoint:
    from kiosk.audit_trail import AuditTrail

    rules = Rules(kiosk_id="test-01", registry=Registry.from_csv(RESIDENTS_CSV), catalog=Catalog.from_csv(CATALOG_CSV),
                  quota=(QuotaRule(date(2020, 1, 1), 800000),), timezone=ZoneInfo("Asia/Shanghai"),
                  site_secret=SECRET, hold_ttl_s=60, session=SessionConfig(result_s=8),
                  release=ReleaseConfig(wait_for_passage=passage, passage_timeout_s=5.0))
    cp = Checkpoint(rules=rules, ledger=ledger, gate=gate, bus=EventBus(), clock=clock,  # type: ignore[arg-type]
                    audit=AuditTrail(audit, kiosk_id="test-01", clock=clock))
    for role in ("idcard", "scanner", "gate"):
        cp.handle(DeviceHealth(role, Health(role, HealthState.CONNECTED)))
    return cp


@pytest.fixture
def gate() -> ScriptedGate:
    return ScriptedGate()


@pytest.fixture
def audit() -> Audit:
    return Audit()


def release(cp: Checkpoint, reason: str = "accessibility", note: str = "") -> ManualRelease:
    msg = ManualRelease("officer:li", reason, note)
    cp.handle(msg)
    return msg


def passage(cp: Checkpoint, direction: str | None = None) -> None:
    cp.handle(DeviceReading("passage", PassageSeen(direction), cp.clock.now()))


def alerts(cp: Checkpoint) -> list[str]:
    return [a["kind"] for a in cp.alerts]


def test_release_pulses_once_answers_after_the_pulse_and_audits_who_and_why(clock: FakeClock, ledger: Any,
                                                                              gate: ScriptedGate, audit: Audit) -> None:
    """GIVEN an idle kiosk WHEN an officer releases by hand THEN one pulse, the reply after the relay's
    answer, two audit records with the officer as actor, and nothing in the ledger."""
    cp = make_cp(clock, ledger, gate, audit, passage=False)
    msg = release(cp, note="wheelchair, ID 654201198503120046")
    assert len(gate.pulses) == 1 and not msg.reply.done()
    pulse_id, done = gate.pulses[0]
    assert pulse_id.startswith("manual-")
    cp.handle(GateResult(pulse_id))
    assert msg.reply.result(0) == {"pulse_id": pulse_id, "released": True, "error": None}
    kinds = [(kind, actor) for kind, actor, _ in audit.records]
    assert kinds == [("manual_release", "officer:li"), ("manual_release_done", "officer:li")]
    assert audit.records[0][2]["reason"] == "accessibility"
    assert audit.records[0][2]["note"] == "wheelchair, ID 6542**********0046"     # never a whole ID number
    assert audit.records[1][2]["outcome"] == "released"
    assert ledger.list_day(DAY) == []
    assert cp.phase is Phase.IDLE and not cp.officer.hand.busy()


def test_refused_while_a_declaration_is_in_flight(clock: FakeClock, ledger: Any, gate: ScriptedGate,
                                                  audit: Audit) -> None:
    """GIVEN a resident's declaration approved and pulsing WHEN an officer releases by hand THEN refused with
    declaration_in_flight and no second pulse; once the resident is through and the screen ended, allowed."""
    cp = make_cp(clock, ledger, gate, audit, passage=False)
    card = next(c.card for c in DEMO_CARDS if c.key == "eligible")
    cp.handle(DeviceReading("idcard", CardRead(card), clock.now()))
    cp.handle(DeviceReading("scanner", ScanRead(FLOUR, "]E0"), clock.now()))
    cp.handle(Confirm())
    assert cp.phase is Phase.APPROVED and len(gate.pulses) == 1
    msg = release(cp)
    with pytest.raises(OfficerError) as refused:
        msg.reply.result(0)
    assert refused.value.key == "declaration_in_flight"
    decl_id, _done = gate.pulses[0]
    cp.handle(GateResult(decl_id))
    assert cp.phase is Phase.GATE
    with pytest.raises(OfficerError):
        release(cp).reply.result(0)
    assert len(gate.pulses) == 1
    clock.advance(8.1)
    cp.tick()
    assert cp.phase is Phase.IDLE
    release(cp)
    assert len(gate.pulses) == 2
    assert [kind for kind, _, _ in audit.records].count("manual_release") == 1


def test_refused_without_a_gate_or_while_another_release_runs(clock: FakeClock, ledger: Any, gate: ScriptedGate,
                                                              audit: Audit) -> None:
    cp = make_cp(clock, ledger, gate, audit, passage=False)
    release(cp)
    with pytest.raises(OfficerError) as busy:
        release(cp).reply.result(0)
    assert busy.value.key == "gate_busy"
    cp.handle(GateResult(gate.pulses[0][0]))
    gate.ok = False
    with pytest.raises(OfficerError) as missing:
        release(cp).reply.result(0)
    assert missing.value.key == "gate_unavailable"
    assert len(gate.pulses) == 1


def test_relay_fault_fails_closed_and_alerts_the_officer(clock: FakeClock, ledger: Any, gate: ScriptedGate,
                                                         audit: Audit) -> None:
    cp = make_cp(clock, ledger, gate, audit, passage=False)
    msg = release(cp)
    cp.handle(GateResult(gate.pulses[0][0], "ProtocolError: no reply"))
    assert msg.reply.result(0)["released"] is False
    assert alerts(cp) == ["hand_release_fault"]
    assert audit.records[-2][2]["outcome"] == "fault"
    assert not cp.officer.hand.busy()


def test_relay_that_never_answers_is_given_up_on(clock: FakeClock, ledger: Any, gate: ScriptedGate,
                                                 audit: Audit) -> None:
    cp = make_cp(clock, ledger, gate, audit, passage=False)
    msg = release(cp)
    clock.advance(10.1)
    cp.tick()
    assert msg.reply.result(0)["released"] is False
    assert "did not answer" in msg.reply.result(0)["error"]
    assert not cp.officer.hand.busy()


def test_with_a_passage_sensor_the_passage_is_the_release_s_not_an_alert(clock: FakeClock, ledger: Any,
                                                                         gate: ScriptedGate, audit: Audit) -> None:
    """GIVEN a kiosk that waits for passages WHEN the officer releases and one person walks through THEN no
    'passage without release' alert; a second person in the window is tailgating; after the window a passage
    is one without release again."""
    cp = make_cp(clock, ledger, gate, audit, passage=True)
    release(cp)
    cp.handle(GateResult(gate.pulses[0][0]))
    assert cp.officer.hand.watching()
    passage(cp)
    assert alerts(cp) == []
    passage(cp)
    assert alerts(cp) == ["tailgating"]
    clock.advance(5.1)
    cp.tick()
    assert not cp.officer.hand.busy()
    passage(cp)
    assert alerts(cp) == ["tailgating", "passage_without_release"]


def test_nobody_walks_through_the_hand_release(clock: FakeClock, ledger: Any, gate: ScriptedGate,
                                               audit: Audit) -> None:
    cp = make_cp(clock, ledger, gate, audit, passage=True)
    release(cp, "settled_at_desk")
    cp.handle(GateResult(gate.pulses[0][0]))
    clock.advance(5.1)
    cp.tick()
    assert alerts(cp) == ["hand_release_not_passed"]
    assert audit.records[-2][2]["outcome"] == "not_passed"      # the alert itself is the last record
    assert not cp.officer.hand.busy() and len(gate.pulses) == 1
