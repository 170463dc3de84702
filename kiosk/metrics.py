"""Prometheus metrics of one kiosk, written in the text exposition format 0.0.4 by hand.

Why by hand and not ``prometheus_client``: the kiosk needs a dozen series, one registry per kiosk
object (tests build many kiosks in one process; the client library's default registry is a module
global, against STYLE.md B9) and nothing of the client's HTTP server, multiprocess mode or
collectors; the exposition format is a few lines of text.  ``tests/kiosk/test_metrics*.py`` parses
the output strictly.

What is counted, and where it comes from (the least invasive place for each):

- **decisions** by outcome, **referrals** and **rejections** by reason, **alerts** by kind, **gate
  releases** by outcome and **staff actions** by kind: from the audit trail, which every decision,
  release, alert and officer or technician action already goes through (``CountingAuditTrail``, a
  subclass the composition root uses; the checkpoint is untouched);
- **decision latency**: confirm pressed to the decision recorded (the declaration's ``created_at``
  is stamped on confirm; the audit write is the decision), the wait a resident feels at the gate,
  covering the quota check and the ledger hold.  One observation per declaration;
- **ledger call latency** and errors, by operation: the ledger object's own methods are timed in
  place (``instrument_ledger``), so every caller, the officer console included, is measured and the
  object stays the same one;
- **device errors** by role: health changes into ``error`` or ``disconnected`` (a failed open, a lost
  port, a failed exchange), counted in the runners' health callback (kiosk/runtime.py); **reconnects**,
  **health** and **gate pulses** are read from the device runners when scraped;
- **uptime** since the kiosk was built, and the version.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from drivers.runner import Health, HealthState

from . import __version__
from .audit_trail import AuditTrail
from .clock import Clock
from .declaration import Declaration

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LEDGER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LEDGER_OPERATIONS = ("hold", "commit", "release", "refer", "void", "decide", "referrals", "used", "expire_holds", "get",
                     "list_day")
"""Ledger methods timed (``remaining`` calls ``used`` and is left out so nothing counts twice)."""
OUTCOMES = ("approved", "referred", "rejected")

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


class Family:
    """One metric name: its type, help and labelled samples."""

    def __init__(self, name: str, help_text: str, kind: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.kind, self.labels = name, help_text, kind, tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        """The HELP and TYPE lines."""
        return [f"# HELP {self.name} {self.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}",
                f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        """Every line of the family in the exposition."""
        raise NotImplementedError

    def _check(self, values: Sequence[str]) -> LabelValues:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(values)}")
        return tuple(str(v) for v in values)


class Counter(Family):
    """A counter (or a gauge: ``kind="gauge"``) with values by label values."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (), *,
                 preset: Iterable[LabelValues] = (), kind: str = "counter") -> None:
        super().__init__(name, help_text, kind, labels)
        self._values: dict[LabelValues, float] = {self._check(v): 0.0 for v in preset}

    def inc(self, *values: str, amount: float = 1.0) -> None:
        """Add ``amount`` to the sample of ``values``."""
        key = self._check(values)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, *values: str, value: float) -> None:
        """Set the sample of ``values`` (gauges, and counters read from elsewhere)."""
        key = self._check(values)
        with self._lock:
            self._values[key] = value

    def value(self, *values: str) -> float:
        """The sample of ``values`` (0 when never counted)."""
        with self._lock:
            return self._values.get(self._check(values), 0.0)

    def lines(self) -> list[str]:
        """HELP, TYPE and one line per sample."""
        with self._lock:
            items = sorted(self._values.items())
        return self.header() + [f"{self.name}{_labels(self.labels, k)} {_number(v)}" for k, v in items]


class Histogram(Family):
    """A histogram with cumulative buckets, sum and count, by label values."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (), *,
                 buckets: Sequence[float], preset: Iterable[LabelValues] = ()) -> None:
        super().__init__(name, help_text, "histogram", labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}
        for values in preset:
            self._series[self._check(values)] = ([0] * (len(self.buckets) + 1), [0.0])

    def observe(self, seconds: float, *values: str) -> None:
        """Count one observation."""
        key = self._check(values)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            index = next((i for i, upper in enumerate(self.buckets) if seconds <= upper), len(self.buckets))
            counts[index] += 1
            total[0] += seconds

    def count(self, *values: str) -> int:
        """Observations of ``values`` so far."""
        with self._lock:
            series = self._series.get(self._check(values))
            return sum(series[0]) if series else 0

    def lines(self) -> list[str]:
        """HELP, TYPE, then buckets (cumulative, ending at +Inf), sum and count per series."""
        out = self.header()
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._series.items())
        for key, (counts, total) in items:
            cumulative = 0
            for upper, n in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += n
                out.append(f"{self.name}_bucket{_labels((*self.labels, 'le'), (*key, _number(upper)))} {cumulative}")
            out.append(f"{self.name}_sum{_labels(self.labels, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.labels, key)} {cumulative}")
        return out


class KioskMetrics:
    """Every metric of one kiosk; fed by events as they happen and by the runners when scraped."""

    def __init__(self, clock: Clock, *, kiosk_id: str = "") -> None:
        self.clock = clock
        self.kiosk_id = kiosk_id
        self.started_at = clock.now()
        self._started_mono = clock.monotonic()
        outcomes = [(o,) for o in OUTCOMES]
        self.decisions = Counter("kiosk_decisions_total", "Decisions recorded, by outcome.", ("outcome",),
                                 preset=outcomes)
        self.referrals = Counter("kiosk_referrals_total", "Referrals to an officer, one per reason key.", ("reason",))
        self.rejections = Counter("kiosk_rejections_total", "Cards refused at identification, by reason key.",
                                  ("reason",))
        self.releases = Counter("kiosk_gate_releases_total",
                                "Gate releases that ended: committed, or released (hold given back) and referred.",
                                ("outcome",), preset=[("committed",), ("released",)])
        self.alerts = Counter("kiosk_alerts_total", "Alerts raised for officers, by kind.", ("kind",))
        self.staff_actions = Counter("kiosk_staff_actions_total",
                                     "Audited actions of officers and technicians (sign-ins included), by kind.",
                                     ("kind",))
        self.device_errors = Counter("kiosk_device_errors_total",
                                     "Times a device went into error or disconnected, by role.", ("role",))
        self.decision_seconds = Histogram(
            "kiosk_decision_seconds", "Confirm pressed to decision recorded (quota check and ledger hold), seconds.",
            ("outcome",), buckets=LATENCY_BUCKETS, preset=[("approved",), ("referred",)])
        self.ledger_seconds = Histogram("kiosk_ledger_call_seconds", "Ledger call duration by operation, seconds.",
                                        ("operation",), buckets=LEDGER_BUCKETS)
        self.ledger_errors = Counter("kiosk_ledger_errors_total",
                                     "Ledger calls that raised (unreachable, timed out, refused).", ("operation",))
        self._decided: collections.deque[str] = collections.deque(maxlen=256)

    # -- fed by events ----------------------------------------------------------------------------------

    def device_health(self, role: str, health: Health) -> None:
        """A device changed health (the runners' callback): count falls into error or disconnected."""
        if health.state in (HealthState.ERROR, HealthState.DISCONNECTED) and health.last_error != "stopped":
            self.device_errors.inc(role)

    def decided(self, decl_id: str | None, outcome: str, reasons: Sequence[str], seconds: float | None) -> None:
        """A decision was recorded; ``seconds`` since confirm, observed once per declaration."""
        self.decisions.inc(outcome)
        family = {"referred": self.referrals, "rejected": self.rejections}.get(outcome)
        if family is not None:
            for reason in reasons:
                family.inc(reason)
        if decl_id is not None and seconds is not None and decl_id not in self._decided:
            self._decided.append(decl_id)
            self.decision_seconds.observe(max(0.0, seconds), outcome)

    def ledger_call(self, operation: str, seconds: float, failed: bool) -> None:
        """One ledger call ended."""
        self.ledger_seconds.observe(seconds, operation)
        if failed:
            self.ledger_errors.inc(operation)

    # -- the scrape -------------------------------------------------------------------------------------

    def uptime_s(self) -> float:
        """Seconds since the kiosk was built."""
        return max(0.0, self.clock.monotonic() - self._started_mono)

    def render(self, runners: Mapping[str, Any]) -> str:
        """The whole exposition, reading device state from ``runners`` (role -> DeviceRunner) now."""
        out: list[str] = []
        info = Counter("kiosk_build_info", "The kiosk software version and kiosk id (always 1).",
                       ("version", "kiosk"), kind="gauge")
        info.set(__version__, self.kiosk_id, value=1)
        uptime = Counter("kiosk_uptime_seconds", "Seconds since the kiosk started.", kind="gauge")
        uptime.set(value=round(self.uptime_s(), 3))
        start = Counter("kiosk_start_time_seconds", "When the kiosk started, Unix time.", kind="gauge")
        start.set(value=round(self.started_at.timestamp(), 3))
        for family in (info, uptime, start, *self._device_families(runners), self.decisions, self.referrals,
                       self.rejections, self.decision_seconds, self.releases, self.alerts, self.ledger_seconds,
                       self.ledger_errors, self.device_errors, self.staff_actions):
            out += family.lines()
        return "\n".join(out) + "\n"

    def _device_families(self, runners: Mapping[str, Any]) -> list[Family]:
        up = Counter("kiosk_device_up", "1 when the device can take commands (connected or error), else 0.",
                     ("role",), kind="gauge")
        state = Counter("kiosk_device_state", "The device's health state (1 for the current one).",
                        ("role", "state"), kind="gauge")
        reconnects = Counter("kiosk_device_reconnects_total", "Successful re-opens after the device was lost.",
                             ("role",))
        pulses = Counter("kiosk_gate_pulses_total",
                         "Commands run on the gate relay: pulses done (ok) and commands that failed.", ("result",),
                         preset=[("ok",), ("failed",)])
        for role, runner in sorted(runners.items()):
            health: Health = runner.health
            up.set(role, value=1 if health.usable else 0)
            for s in HealthState:
                state.set(role, s.value, value=1 if health.state is s else 0)
            reconnects.set(role, value=health.reconnects)
            self.device_errors.inc(role, amount=0)       # every role listed, even with no error yet
            if role == "gate":
                results = runner.command_results
                pulses.set("ok", value=results.get("GatePulsed", 0))
                pulses.set("failed", value=results.get("error", 0))
        return [up, state, reconnects, pulses]


class CountingAuditTrail(AuditTrail):
    """The audit trail that also counts what it records into ``metrics``."""

    def __init__(self, audit: Any, *, kiosk_id: str, clock: Clock, metrics: KioskMetrics) -> None:
        super().__init__(audit, kiosk_id=kiosk_id, clock=clock)
        self.metrics = metrics
        self._now = clock.now

    def decision(self, decl: Declaration, outcome: str, reasons: tuple[str, ...]) -> None:
        """Record and count a declaration's decision (and its latency since confirm)."""
        super().decision(decl, outcome, reasons)
        self.metrics.decided(decl.id, outcome, reasons, (self._now() - decl.created_at).total_seconds())

    def refusal(self, masked_id: str, reason: str, outcome: str) -> None:
        """Record and count a refusal or referral at identification."""
        super().refusal(masked_id, reason, outcome)
        self.metrics.decided(None, outcome, (reason,), None)

    def release(self, decl: Declaration, outcome: str, reasons: tuple[str, ...]) -> None:
        """Record and count the end of a gate release."""
        super().release(decl, outcome, reasons)
        self.metrics.releases.inc(outcome)

    def alert(self, kind: str, data: Mapping[str, Any]) -> None:
        """Record and count an alert."""
        super().alert(kind, data)
        self.metrics.alerts.inc(kind)

    def officer_action(self, kind: str, actor: str, data: Mapping[str, Any]) -> None:
        """Record and count a staff action."""
        super().officer_action(kind, actor, data)
        self.metrics.staff_actions.inc(kind)


def instrument_ledger(ledger: Any, metrics: KioskMetrics, *,
                      timer: Callable[[], float] = time.perf_counter) -> None:
    """Time every ledger call of ``LEDGER_OPERATIONS`` on this ledger object, in place."""
    for operation in LEDGER_OPERATIONS:
        method = getattr(ledger, operation, None)
        if callable(method):
            setattr(ledger, operation, _timed(operation, method, metrics, timer))


def _timed(operation: str, method: Callable[..., Any], metrics: KioskMetrics,
           timer: Callable[[], float]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        started = timer()
        failed = True
        try:
            result = method(*args, **kwargs)
            failed = False
            return result
        finally:
            metrics.ledger_call(operation, timer() - started, failed)

    call.__doc__ = method.__doc__
    return call
