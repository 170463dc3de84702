"""The composition root: build the running kiosk from a validated config.

This is the one place that knows every part: it loads the data files, opens the
ledger, creates each configured device and its runner, and wires readings and health
into the checkpoint's inbox.  Nothing else creates collaborators; everything is
passed in through constructors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drivers.base import BadgeRead, Device, MrzRead, Reading
from drivers.errors import DriverError
from drivers.frames import FrameRing
from drivers.registry import create_device
from drivers.runner import DeviceRunner, Health, HealthState

from .audit import open_audit
from .badges import BadgeTaps
from .barcodes import layouts_by_prefix
from .checkpoint import Checkpoint, Rules
from .clock import Clock
from .config import PERSONAL_DATA_ROLES, KioskConfig
from .events import DeviceHealth, DeviceReading, EventBus
from .gate import GateControl
from .goods_import import open_goods
from .ledger import Ledger, open_ledger
from .loglines import LogLines
from .metrics import CountingAuditTrail, KioskMetrics, instrument_ledger
from .policy import trade_day
from .printing import SlipPrinting
from .residents import Registry
from .selftests import ReadingTaps
from .users import UserStore

log = logging.getLogger(__name__)

HEALTH_TOPIC = "device.health"

POLL_S = {"gate": 0.05, "passage": 0.02}
"""Read timeout per role: a pulse waits at most this long behind the gate's liveness read, and
passage edges are sampled this often; other devices use 0.2 s."""

HealthListener = Callable[[str, Health], None]
"""Called with (role, new health) on the device's thread whenever a device changes health."""


@dataclass
class Kiosk:
    """Everything one kiosk process runs: devices, checkpoint, ledger and the event bus."""

    config: KioskConfig
    checkpoint: Checkpoint
    ledger: Ledger
    bus: EventBus
    runners: dict[str, DeviceRunner] = field(default_factory=dict)
    users: UserStore | None = None
    """Officer and technician accounts (``kiosk users``); None only in bare test setups."""
    badges: BadgeTaps | None = None
    """The officer badge reader's last tap, when a badge reader is configured."""
    metrics: KioskMetrics | None = None
    """Counters and latencies for /metrics (kiosk/metrics.py); None only in bare test setups."""
    log_lines: LogLines | None = None
    """Recent log lines for /diag, kept while the kiosk runs."""
    taps: ReadingTaps = field(default_factory=ReadingTaps)
    """Readings a technician's self-test takes before the checkpoint sees them (kiosk/selftests.py)."""
    _listeners: list[HealthListener] = field(default_factory=list, init=False, repr=False)
    _first_open: dict[str, threading.Event] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._first_open = {role: threading.Event() for role in self.runners}

    def start(self) -> None:
        """Start the checkpoint loop, then every device runner."""
        if self.log_lines is not None:
            self.log_lines.install()
        self.checkpoint.start()
        for runner in self.runners.values():
            runner.start()

    def stop(self) -> None:
        """Stop devices first (the gate relay ends de-energised), then the loop and the ledger."""
        for runner in self.runners.values():
            runner.stop()
        self.checkpoint.stop()
        self.bus.close()
        self.checkpoint.audit.close()
        self.ledger.close()
        if self.users is not None:
            self.users.close()
        if self.log_lines is not None:
            self.log_lines.uninstall()

    def health(self) -> dict[str, Health]:
        """Each device's last health, by role."""
        return {role: runner.health for role, runner in self.runners.items()}

    def add_health_listener(self, listener: HealthListener) -> None:
        """Call ``listener(role, health)`` on every device health change (from device threads)."""
        self._listeners.append(listener)

    def wait_first_opens(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` s in all until every device's first open attempt has ended,
        connected or not; return the roles still opening (a hung open must not block start-up)."""
        deadline = time.monotonic() + timeout
        for event in self._first_open.values():
            event.wait(max(0.0, deadline - time.monotonic()))
        return [role for role, event in self._first_open.items() if not event.is_set()]

    def health_changed(self, role: str, health: Health) -> None:
        """Record a device's health change and tell the listeners (the runners' callback)."""
        for listener in list(self._listeners):
            try:
                listener(role, health)
            except Exception:  # a listener (status line, …) must not break the device thread
                log.exception("health listener failed for %s", role)
        # after the listeners: whoever waits for the first opens (READY=1) sees a status line that has them
        if health.state is not HealthState.CONNECTING and role in self._first_open:
            self._first_open[role].set()


def build_kiosk(cfg: KioskConfig, clock: Clock, *, devices: Mapping[str, Device] | None = None) -> Kiosk:
    """Load data, open the ledger and devices, and wire them to a new checkpoint."""
    registry = Registry.from_csv(cfg.residents_csv)
    goods = open_goods(cfg.goods_db, now=clock.now(), today=trade_day(clock.now(), cfg.timezone),
                       catalog_csv=cfg.catalog_csv, rates_csv=cfg.rates_csv, rules_csv=cfg.goods_rules_csv,
                       layouts=layouts_by_prefix(cfg.variable_measure))
    catalog = goods.catalog
    log.info("loaded %d registry entries and %d products", len(registry), len(catalog))
    ledger = open_ledger(cfg.ledger_url, lazy=True)  # a port database still down does not stop the kiosk starting
    if cfg.offline_allowance_fen > 0:
        from .ledger.offline import OfflineLedger  # the offline allowance: a small cap, off by default
        ledger = OfflineLedger(ledger, cfg.offline_journal, cap_fen=cfg.offline_allowance_fen)
    bus = EventBus()
    metrics = KioskMetrics(clock, kiosk_id=cfg.kiosk_id)
    instrument_ledger(ledger, metrics)       # ledger call latency, timed in place
    taps = ReadingTaps()
    rules = Rules(kiosk_id=cfg.kiosk_id, registry=registry, catalog=catalog, quota=cfg.quota,
                  timezone=cfg.timezone, site_secret=cfg.site_secret, hold_ttl_s=cfg.hold_ttl_s,
                  session=cfg.session, release=cfg.release)
    devices = dict(devices) if devices is not None else _create_devices(cfg)
    runners: dict[str, DeviceRunner] = {}
    holder: dict[str, Any] = {}
    badges = BadgeTaps() if "badge" in devices else None

    def on_reading(role: str) -> Any:
        def deliver(_name: str, reading: Reading, at: datetime) -> None:
            if isinstance(reading, MrzRead):
                _hand_mrz(devices.get("passport"), reading)
                return
            if isinstance(reading, BadgeRead):       # officers' badges sign in; they are not residents
                if badges is not None:
                    badges.record(reading.uid.hex().upper(), clock.monotonic())
                return
            if taps.offer(role, reading):            # a technician's self-test took it: not a resident
                return
            holder["cp"].post(DeviceReading(role, reading, at))
        return deliver

    def on_health(role: str) -> Any:
        def deliver(health: Health) -> None:
            holder["cp"].post(DeviceHealth(role, health))
            holder["kiosk"].health_changed(role, health)
            metrics.device_health(role, health)
            bus.publish(HEALTH_TOPIC, {"role": role, "state": health.state.value,
                                       "last_error": health.last_error, "reconnects": health.reconnects})
        return deliver

    for role, device in devices.items():
        runners[role] = DeviceRunner(device, on_reading=on_reading(role), on_health=on_health(role), clock=clock,
                                     poll_s=POLL_S.get(role, 0.2),
                                     frames=FrameRing(personal=role in PERSONAL_DATA_ROLES))
    gate_cfg = cfg.devices.get("gate")
    pulse_s = float(gate_cfg.options.get("pulse_s", 0.5)) if gate_cfg else 0.5
    gate = GateControl(runners.get("gate"), pulse_s=pulse_s)
    printer = SlipPrinting(runners["printer"]) if "printer" in runners else None
    # records kept locally while a port database is down, chained once it is back (kiosk.ledger.audit_journal)
    audit_log = open_audit(cfg.ledger_url, journal=cfg.offline_journal.with_name("audit-journal.db"))
    audit = CountingAuditTrail(audit_log, kiosk_id=cfg.kiosk_id, clock=clock, metrics=metrics)
    checkpoint = Checkpoint(rules=rules, ledger=ledger, gate=gate, bus=bus, clock=clock, printer=printer,
                            audit=audit, goods=goods)
    reconcile = getattr(ledger, "maybe_reconcile", None)
    if reconcile is not None:        # an offline journal replays itself once the port ledger is back
        # on the checkpoint thread (background=False), so the checkpoint stays the ledger's one writer
        checkpoint.add_tick_hook(lambda: reconcile(clock.now(), background=False))
    checkpoint.add_tick_hook(audit_log.flush_journal)  # records kept during an outage, chained once it ends
    holder["cp"] = checkpoint
    sec = cfg.security
    users = UserStore(sec.users_db, max_failures=sec.max_failures, lockout_s=sec.lockout_s)
    holder["kiosk"] = kiosk = Kiosk(cfg, checkpoint, ledger, bus, runners, users=users, badges=badges,
                                    metrics=metrics, log_lines=LogLines(), taps=taps)
    return kiosk


def _hand_mrz(passport: Device | None, reading: MrzRead) -> None:
    """A document scanner read a visitor's MRZ: the chip reader uses it to open the passport."""
    set_mrz = getattr(passport, "set_mrz", None)
    if set_mrz is None:
        log.warning("an MRZ was scanned but no passport chip reader is configured")
        return
    try:
        set_mrz(reading.mrz)
    except Exception as exc:  # MrzError: the scanner's assembler already checked it; log, never crash
        log.warning("scanned MRZ refused by the passport reader: %s", getattr(exc, "reason", exc))


def _create_devices(cfg: KioskConfig) -> dict[str, Device]:
    devices: dict[str, Device] = {}
    for role, dev in cfg.devices.items():
        try:
            devices[role] = create_device(role, dev.driver, dev.url, dev.options)
        except (DriverError, ValueError) as exc:  # config checked these; report and degrade
            log.error("device %s (%s) could not be created: %s", role, dev.driver, exc)
    return devices
