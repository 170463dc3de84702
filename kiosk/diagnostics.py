"""What the technician's page shows about the running kiosk: devices, frames, config, doctor checks.

Everything here is read from the running kiosk and JSON-ready; nothing here changes it.  Secrets
never leave: the site secret is shown as set or not, URLs lose their user info and password (the
PostgreSQL ledger URL goes through ``kiosk.ledger.postgres.describe_url``), and option values
whose name sounds secret are masked.  Error texts have long digit runs (an ID number) masked.

The doctor checks are ``kiosk doctor``'s own (kiosk/doctor.py, kiosk/doctor_devices.py), minus
the ones that would open a device the kiosk holds: a device is checked for presence and
permissions, and "answers" comes from its runner's health, as ``kiosk doctor`` does for a device
the running service holds.  The ledger is checked through the kiosk's own connection (one read),
not a second one.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from drivers.frames import mask_id_runs
from drivers.runner import HealthState

from . import __version__
from .config import KioskConfig
from .doctor import Row, Status, check_clock, check_disk, check_time_sync, check_timezone, ok
from .doctor_devices import check_pcscd, device_files, device_path, permitted, present
from .errors import LedgerError

if TYPE_CHECKING:
    from .runtime import Kiosk

MASK = "****"
PROBE_ID = "diag-doctor-probe"
"""A declaration id no kiosk writes: the doctor reads it to see that the ledger answers."""
_SECRET_NAME = re.compile(r"(?:^|_)(?:pass(?:word|wd)?|secret|token|key|pin|credentials?)(?:$|_)", re.IGNORECASE)
"""Option and field names whose values are masked (``site_secret``, ``password``; not ``passage_input``)."""


def mask_url(url: str) -> str:
    """``url`` without credentials: no user info or password, secret-looking query values masked."""
    if url.startswith(("postgresql:", "postgres:")):
        from .ledger.postgres import describe_url

        try:
            return describe_url(url)
        except Exception:  # LedgerError: malformed; its text is safe but say less
            return "postgresql://(malformed URL, not shown)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(malformed URL, not shown)"
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_SECRET_NAME.search(k) for k, _v in pairs):
        query = urlencode([(k, MASK if _SECRET_NAME.search(k) else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url                  # nothing to hide: shown exactly as configured
    return parts._replace(netloc=netloc, query=query).geturl()


def device_report(kiosk: Kiosk, role: str, *, frames: bool = True) -> dict[str, Any]:
    """One configured device: driver, URL, health, last reading, last error, reconnects, frames."""
    dev = kiosk.config.devices[role]
    runner = kiosk.runners.get(role)
    report: dict[str, Any] = {"role": role, "driver": dev.driver, "url": mask_url(dev.url)}
    if runner is None:        # the driver could not be created (the log says why)
        report.update(state="not_loaded", last_error="the driver could not be created: see the log",
                      reconnects=0, last_reading_at=None, frames_captured=0)
    else:
        health = runner.health
        last = runner.last_reading_at
        ring = runner.frames
        report.update(state=health.state.value,
                      last_error=mask_id_runs(health.last_error) if health.last_error else None,
                      reconnects=health.reconnects, last_reading_at=_iso(last) if last else None,
                      frames_captured=ring.total if ring is not None else 0)
    if frames:
        ring = runner.frames if runner is not None else None
        report["frames"] = ring.frames() if ring is not None else []
    return report


def devices_report(kiosk: Kiosk, *, frames: bool = True) -> list[dict[str, Any]]:
    """Every configured device, in config order."""
    return [device_report(kiosk, role, frames=frames) for role in kiosk.config.devices]


def summary(kiosk: Kiosk, *, frames: bool = True) -> dict[str, Any]:
    """Version, uptime, the checkpoint's phase and every device."""
    metrics = kiosk.metrics
    started = metrics.started_at if metrics is not None else None
    return {
        "version": __version__,
        "kiosk_id": kiosk.config.kiosk_id,
        "site": kiosk.config.site,
        "started_at": _iso(started) if started else None,
        "uptime_s": round(metrics.uptime_s(), 3) if metrics is not None else 0.0,
        "phase": kiosk.checkpoint.phase.value,
        "service": kiosk.checkpoint.snapshot().get("service", "out_of_service"),
        "devices": devices_report(kiosk, frames=frames),
    }


def config_report(cfg: KioskConfig) -> dict[str, Any]:
    """The resolved config as JSON, secrets masked."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "site_secret":
            out[f.name] = MASK if value else "(not set)"
        elif f.name == "ledger_url":
            out[f.name] = mask_url(str(value))
        elif f.name == "devices":
            out[f.name] = {role: {"driver": d.driver, "url": mask_url(d.url), "options": _options(d.options)}
                           for role, d in value.items()}
        else:
            out[f.name] = _plain(value)
    return out


def doctor_report(kiosk: Kiosk) -> list[dict[str, str]]:
    """``kiosk doctor``'s checks from inside the kiosk, as rows (check, status, detail, fix)."""
    return [{"check": r.check, "status": r.status.value, "detail": mask_id_runs(r.detail), "fix": r.fix}
            for r in doctor_rows(kiosk)]


def doctor_rows(kiosk: Kiosk) -> list[Row]:
    """The doctor's rows, never opening a device the kiosk holds."""
    cfg = kiosk.config
    devices = ", ".join(f"{role}={d.driver}" for role, d in cfg.devices.items()) or "no devices"
    rows = [ok("config", f"validated at start: kiosk {cfg.kiosk_id} at {cfg.site}; {devices}"),
            ok("site secret", "set (checked at start)")]
    for role, dev in cfg.devices.items():
        path = device_path(dev.url)
        if path is not None:
            found = present(role, path)
            rows.append(found)
            files = device_files(path)
            if found.status is not Status.FAIL and files:
                rows.append(permitted(role, files[0]))
        rows.append(_answers(kiosk, role))
    rows.append(check_pcscd(cfg.devices.values()))
    if any("camera" in d.driver for d in cfg.devices.values()):
        rows.append(Row("camera", Status.SKIP, "held by the running kiosk: see the scanner's health above"))
    rows += [_ledger(kiosk), check_disk(cfg.ledger_url), check_timezone(cfg.timezone.key),
             check_clock(datetime.now(UTC)), check_time_sync()]
    return rows


def _ledger(kiosk: Kiosk) -> Row:
    """The kiosk's own ledger connection answers a read (``kiosk doctor`` opens a new one instead)."""
    shown = mask_url(kiosk.config.ledger_url)
    started = time.perf_counter()
    try:
        kiosk.ledger.get(PROBE_ID)
    except LedgerError as exc:
        return Row("ledger", Status.FAIL, f"{shown}: {exc}", "check the server, the network and the URL; "
                   "the kiosk refers every resident to the officer while its ledger cannot answer")
    return ok("ledger", f"{shown}: the kiosk's ledger answers ({(time.perf_counter() - started) * 1000:.0f} ms)")


def _answers(kiosk: Kiosk, role: str) -> Row:
    runner = kiosk.runners.get(role)
    check = f"{role} answers"
    if runner is None:
        return Row(check, Status.FAIL, "the driver could not be created", "see the log lines below")
    health = runner.health
    detail = f"the running kiosk reports it {health.state.value}"
    if health.last_error and health.state is not HealthState.CONNECTED:
        detail += f": {health.last_error}"
    if health.usable:
        return ok(check, detail)
    return Row(check, Status.FAIL, detail, "check the device's cable and power; the frames below show the "
               "last bytes it exchanged")


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: MASK if _SECRET_NAME.search(k) else _plain(v) for k, v in sorted(options.items())}


def _plain(value: Any) -> Any:
    """A config value as JSON: dataclasses as objects, paths and zones as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: MASK if _SECRET_NAME.search(f.name) else _plain(getattr(value, f.name))
                for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, (Path, date)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, (bytes, bytearray)):
        return MASK
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
