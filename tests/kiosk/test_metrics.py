"""kiosk/metrics.py: the exposition parses strictly, and each metric is fed by the real event behind it
(the audit trail, the ledger's own calls, device health, the runners' command results)."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from drivers.runner import Health, HealthState
from kiosk.clock import FakeClock
from kiosk.errors import LedgerError
from kiosk.ledger import open_ledger
from kiosk.metrics import CONTENT_TYPE, Counter, CountingAuditTrail, Histogram, KioskMetrics, instrument_ledger
from tests.ledger.support import decl
from tests.prom_text import ExpositionError, histogram_count, parse


@dataclass
class FakeRunner:
    """What KioskMetrics reads from a DeviceRunner when scraped."""

    health: Health
    command_results: collections.Counter[str] = field(default_factory=collections.Counter)


def test_counter_and_histogram_text_is_valid_and_escaped() -> None:
    counter = Counter("t_total", 'Help with a \\ backslash\nand a newline.', ("reason",))
    counter.inc('quote " and \\ and\nnewline')
    counter.inc("plain", amount=2)
    hist = Histogram("t_seconds", "Latency.", ("op",), buckets=(0.1, 1.0))
    for seconds in (0.05, 0.5, 0.5, 3.0):
        hist.observe(seconds, "hold")
    text = "\n".join(counter.lines() + hist.lines()) + "\n"
    families = parse(text)
    assert families["t_total"].value(reason='quote " and \\ and\nnewline') == 1
    assert families["t_total"].value(reason="plain") == 2
    assert families["t_total"].help == "Help with a \\\\ backslash and a newline."
    buckets = [(ls["le"], v) for n, ls, v in families["t_seconds"].samples if n.endswith("_bucket")]
    assert buckets == [("0.1", 1), ("1", 3), ("+Inf", 4)]
    assert histogram_count(families["t_seconds"], op="hold") == 4
    assert families["t_seconds"].type == "histogram"


def test_the_parser_is_strict() -> None:
    """The test parser itself refuses what the format forbids (so a passing parse means something)."""
    for bad in ("x 1", "# TYPE x counter\nx{a=\"b\"} one\n", "# TYPE x counter\nx 1\nx 2\n",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
                "# TYPE x counter\nx{a=\"\\t\"} 1\n"):
        with pytest.raises(ExpositionError):
            parse(bad)


def test_the_audit_trail_feeds_decisions_referrals_rejections_and_latency() -> None:
    clock = FakeClock()
    metrics = KioskMetrics(clock, kiosk_id="k1")
    trail = CountingAuditTrail(None, kiosk_id="k1", clock=clock, metrics=metrics)
    approved = decl("d1", 1000)
    assert approved.created_at == clock.now()             # confirmed now ...
    clock.advance(0.3)                                    # ... decided 0.3 s later
    trail.decision(approved, "approved", ())
    trail.decision(decl("d2", 900_000), "referred", ("over_quota", "unknown_goods"))
    trail.decision(approved, "referred", ("gate_fault",))               # the same declaration again: no 2nd latency
    trail.refusal("6501**********123X", "card_expired", "rejected")
    trail.refusal("6501**********123X", "not_registered", "referred")
    trail.release(approved, "committed", ())
    trail.alert("tailgating", {"declaration_id": "d1"})
    trail.officer_action("diag_gate_pulse", "technician:tech", {"ok": True})
    families = parse(metrics.render({}))
    assert families["kiosk_decisions_total"].value(outcome="approved") == 1
    assert families["kiosk_decisions_total"].value(outcome="referred") == 3
    assert families["kiosk_decisions_total"].value(outcome="rejected") == 1
    assert families["kiosk_referrals_total"].value(reason="over_quota") == 1
    assert families["kiosk_referrals_total"].value(reason="not_registered") == 1
    assert families["kiosk_rejections_total"].value(reason="card_expired") == 1
    assert families["kiosk_gate_releases_total"].value(outcome="committed") == 1
    assert families["kiosk_alerts_total"].value(kind="tailgating") == 1
    assert families["kiosk_staff_actions_total"].value(kind="diag_gate_pulse") == 1
    latency = families["kiosk_decision_seconds"]
    assert histogram_count(latency, outcome="approved") == 1 and histogram_count(latency, outcome="referred") == 1
    first_bucket = next(v for n, ls, v in latency.samples
                        if n.endswith("_bucket") and ls == {"outcome": "approved", "le": "0.5"})
    assert first_bucket == 1


def test_ledger_calls_are_timed_in_place_and_failures_counted(tmp_path: Path) -> None:
    clock = FakeClock()
    metrics = KioskMetrics(clock)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ticks = iter(x * 0.004 for x in range(100))
    instrument_ledger(ledger, metrics, timer=lambda: next(ticks))
    d = decl("d1", 1000)
    result = ledger.hold(d, now=d.created_at, ttl_s=60)                  # the real ledger still answers
    assert result.accepted
    assert ledger.used(d.resident_key, d.day, now=d.created_at) == 1000
    referred = decl("d2", 2000)
    ledger.refer(referred, now=referred.created_at, reasons=["over_quota"])
    assert [r.declaration.id for r in ledger.referrals(referred.day)] == ["d2"]       # the officer's queue
    decided = ledger.decide("d2", officer="officer:wang", decision="rejected", reason="not_duty_free", note="",
                            now=referred.created_at)
    assert decided.decision is not None and decided.decision.decision == "rejected"
    ledger.close()
    with pytest.raises(LedgerError):
        ledger.get("d1")
    families = parse(metrics.render({}))
    calls = families["kiosk_ledger_call_seconds"]
    assert histogram_count(calls, operation="hold") == 1 and histogram_count(calls, operation="used") == 1
    assert histogram_count(calls, operation="referrals") == 1 and histogram_count(calls, operation="decide") == 1
    assert next(v for n, ls, v in calls.samples if n.endswith("_sum") and ls == {"operation": "hold"}) == 0.004
    assert families["kiosk_ledger_errors_total"].value(operation="get") == 1
    assert families["kiosk_ledger_errors_total"].samples == [("kiosk_ledger_errors_total", {"operation": "get"}, 1)]


def test_device_health_runners_and_uptime_are_read_when_scraped() -> None:
    clock = FakeClock()
    metrics = KioskMetrics(clock, kiosk_id="demo-01")
    metrics.device_health("scanner", Health("scanner", HealthState.DISCONNECTED, "port lost"))
    metrics.device_health("scanner", Health("scanner", HealthState.CONNECTING, "port lost"))
    metrics.device_health("scanner", Health("scanner", HealthState.ERROR, "bad frame", 1))
    metrics.device_health("gate", Health("gate", HealthState.DISCONNECTED, "stopped"))     # shutdown: no error
    gate = FakeRunner(Health("gate", HealthState.CONNECTED, None, 2), collections.Counter(GatePulsed=3, error=1))
    scanner = FakeRunner(Health("scanner", HealthState.DISCONNECTED, "port lost", 1))
    clock.advance(42.5)
    text = metrics.render({"gate": gate, "scanner": scanner})
    families = parse(text)
    assert families["kiosk_device_errors_total"].value(role="scanner") == 2
    assert families["kiosk_device_errors_total"].value(role="gate") == 0
    assert families["kiosk_device_up"].value(role="gate") == 1
    assert families["kiosk_device_up"].value(role="scanner") == 0
    assert families["kiosk_device_state"].value(role="scanner", state="disconnected") == 1
    assert families["kiosk_device_state"].value(role="scanner", state="connected") == 0
    assert families["kiosk_device_reconnects_total"].value(role="gate") == 2
    assert families["kiosk_gate_pulses_total"].value(result="ok") == 3
    assert families["kiosk_gate_pulses_total"].value(result="failed") == 1
    assert families["kiosk_uptime_seconds"].value() == 42.5
    assert families["kiosk_build_info"].value(version="0.1.0", kiosk="demo-01") == 1
    assert families["kiosk_start_time_seconds"].value() == clock.now().timestamp() - 42.5
    assert {f.type for f in families.values()} == {"counter", "gauge", "histogram"}
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_a_label_count_mismatch_is_a_bug_not_a_silent_series() -> None:
    with pytest.raises(ValueError):
        Counter("x_total", "x", ("a",)).inc()


def test_decision_latency_uses_the_time_since_confirm() -> None:
    clock = FakeClock()
    metrics = KioskMetrics(clock)
    metrics.decided("d9", "approved", (), (timedelta(seconds=7)).total_seconds())
    families = parse(metrics.render({}))
    buckets = {ls["le"]: v for n, ls, v in families["kiosk_decision_seconds"].samples
               if n.endswith("_bucket") and ls.get("outcome") == "approved"}
    assert buckets["5"] == 0 and buckets["10"] == 1
