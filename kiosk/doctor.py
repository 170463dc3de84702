"""``kiosk doctor``: is this machine ready to be a kiosk?  One row per check, a fix for each failure.

Checks: the config and the site secret; each configured device (present, permitted for this user,
answering its production driver; kiosk.doctor_devices); pcscd and its readers when a PC/SC device
is configured; camera frames when a camera is configured; the ledger (reachable and migrated); the
time zone, the clock and its synchronisation; the disk space of the ledger's folder.
``run_doctor`` prints the table and returns the exit code: 1 if any check failed, else 0 (a
warning is something the doctor could not check, not a failure).

Run it as the service's user (``sudo -u kiosk kiosk doctor``) so that the permissions checked are
the service's, and so that SQLite files it touches keep the service's owner.
"""

from __future__ import annotations

import enum
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import SECRET_ENV, KioskConfig, load_config
from .errors import ConfigError, KioskError

ENV_FILE = Path("/etc/kiosk/kiosk.env")
TIMEZONE = "Asia/Shanghai"
MIN_YEAR, MAX_YEAR = 2025, 2100
"""A clock outside these years was never set (1970 after a dead RTC battery) or is wildly off."""
DISK_FAIL_BYTES = 256 * 2**20
DISK_WARN_BYTES = 2**30


class Status(enum.Enum):
    """How one check came out; only FAIL makes the exit code non-zero."""

    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "-"


@dataclass(frozen=True)
class Row:
    """One line of the doctor's table: what was checked, how it came out, and how to fix it."""

    check: str
    status: Status
    detail: str
    fix: str = ""


def ok(check: str, detail: str) -> Row:
    """A passed check."""
    return Row(check, Status.OK, detail)


def fail(check: str, detail: str, fix: str) -> Row:
    """A failed check and its fix."""
    return Row(check, Status.FAIL, detail, fix)


# -- config and secret -------------------------------------------------------------------------


def check_config(path: Path, env: Mapping[str, str]) -> tuple[Row, KioskConfig | None]:
    """Load and validate the config; a missing secret is the secret row's business, not this one's."""
    from drivers.registry import check_device

    probe_env = {**env, SECRET_ENV: "doctor-placeholder-secret"}
    try:
        cfg = load_config(path, env=probe_env, check_device=check_device)
    except ConfigError as exc:
        if any(problem.startswith(str(path)) for problem in exc.problems):   # unreadable, not TOML
            return fail("config", "; ".join(exc.problems), "give the kiosk's config with --config (or "
                        "KIOSK_CONFIG); a new one starts from systemd/kiosk.toml.example"), None
        return fail("config", f"{path}: " + "; ".join(exc.problems),
                    f"fix each key named, then `kiosk check-config {path}`"), None
    devices = ", ".join(f"{role}={d.driver}" for role, d in cfg.devices.items()) or "no devices"
    return ok("config", f"{path}: kiosk {cfg.kiosk_id} at {cfg.site}; {devices}"), cfg


def check_secret(env: Mapping[str, str], env_file: Path = ENV_FILE) -> Row:
    """The site secret, from this environment or else from the service's environment file."""
    value, source = env.get(SECRET_ENV), "the environment"
    if value is None:
        try:
            lines = env_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            return Row("site secret", Status.WARN,
                       f"not in this environment and {env_file} unreadable ({exc.strerror}): not checked")
        found = [ln.split("=", 1)[1].strip().strip("'\"") for ln in lines if ln.startswith(SECRET_ENV + "=")]
        value, source = (found[-1] if found else ""), str(env_file)
    if len(value.encode()) < 16:
        return fail("site secret", f"{SECRET_ENV} in {source} is missing or shorter than 16 characters",
                    f"set {SECRET_ENV}=<the port's secret, the same on every kiosk> in {env_file} (mode 0600)")
    return ok("site secret", f"{SECRET_ENV} set in {source} ({len(value)} characters)")


# -- ledger and disk ----------------------------------------------------------------------------


def shown_url(url: str) -> str:
    """The ledger URL without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:****@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, else None."""
    if not url.startswith("sqlite:///"):
        return None
    return Path("/" + unquote(url[len("sqlite://"):].split("?", 1)[0]).lstrip("/"))


def check_ledger(url: str) -> Row:
    """Open the ledger as the service does (which also brings its schema up to date), then close it."""
    from .ledger import open_ledger

    path = sqlite_path(url)
    if path is not None and not path.exists():
        # Opening would create an empty ledger: harmless before the first start, fatal to the
        # quota if the real one was lost or the URL is wrong. Say so instead of creating one.
        return Row("ledger", Status.WARN, f"{path} does not exist yet (kiosk serve creates it at first start)",
                   "if this kiosk ran before, its ledger is missing: fix [ledger] url or restore the backup "
                   "(docs/install.md)")
    try:
        ledger = open_ledger(url)
    except KioskError as exc:
        return fail("ledger", f"{shown_url(url)}: {exc}",
                    "schema missing or behind (PostgreSQL): `kiosk ledger migrate`; newer than this software: "
                    "upgrade it, or roll back the ledger with it (docs/install.md); else check the URL, the "
                    "server, and this user's access and password (PGPASSWORD in kiosk.env)")
    ledger.close()
    return ok("ledger", f"{shown_url(url)}: reachable, schema up to date")


def check_disk(url: str, usage: Callable[[str], tuple[int, int, int]] = shutil.disk_usage) -> Row:
    """Free space where the SQLite ledger (and its WAL) grows."""
    path = sqlite_path(url)
    if path is None:
        return Row("disk", Status.SKIP, "ledger is not on this machine: watch the database server's disk")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    total, _used, free = usage(str(folder))
    detail = f"{folder}: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
    if free < DISK_FAIL_BYTES:
        return fail("disk", detail, f"free space on {folder}: journalctl --vacuum-size=200M, old backups, apt clean")
    if free < DISK_WARN_BYTES:
        return Row("disk", Status.WARN, detail + " (under 1 GiB)")
    return ok("disk", detail)


# -- time -----------------------------------------------------------------------------------------


def check_timezone(name: str = TIMEZONE) -> Row:
    """The trade day's time zone resolves and is UTC+8 (tzdata present and sane)."""
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fail("time zone", f"{name} cannot be resolved", "apt install tzdata (or pip install tzdata)")
    offset = datetime(2026, 1, 1, tzinfo=UTC).astimezone(zone).utcoffset()
    if name == TIMEZONE and offset != timedelta(hours=8):
        return fail("time zone", f"{name} resolves to UTC{offset}, not UTC+8", "reinstall tzdata")
    return ok("time zone", f"{name} resolves (trade days follow it, whatever the system zone)")


def check_clock(now: datetime) -> Row:
    """The system clock shows a plausible year."""
    if not MIN_YEAR <= now.year <= MAX_YEAR:
        return fail("clock", f"the system clock says {now:%Y-%m-%d %H:%M} UTC",
                    "set the time (timedatectl set-time, or let NTP do it) and replace the RTC battery")
    return ok("clock", f"{now:%Y-%m-%d %H:%M:%S} UTC")


Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _timedatectl(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=5, check=False)


def check_time_sync(run: Run = _timedatectl) -> Row:
    """NTP synchronisation as systemd-timedated reports it; unknown where it cannot answer."""
    if shutil.which("timedatectl") is None and run is _timedatectl:
        return Row("time sync", Status.WARN, "unknown: timedatectl is not installed")
    try:
        result = run(["timedatectl", "show", "--property=NTPSynchronized", "--property=NTP"])
    except (OSError, subprocess.SubprocessError) as exc:
        return Row("time sync", Status.WARN, f"unknown: {exc}")
    props = dict(ln.split("=", 1) for ln in result.stdout.splitlines() if "=" in ln)
    if result.returncode != 0 or "NTPSynchronized" not in props:
        reason = " ".join(result.stderr.split()) or f"exit {result.returncode}"
        return Row("time sync", Status.WARN, f"unknown: timedatectl: {reason}")
    if props["NTPSynchronized"] == "yes":
        return ok("time sync", "synchronised (NTP)")
    return fail("time sync", f"not synchronised (NTP service {'on' if props.get('NTP') == 'yes' else 'off'})",
                "timedatectl set-ntp true; point NTP= in /etc/systemd/timesyncd.conf at the port's time server")


# -- the whole run ---------------------------------------------------------------------------------


def collect(config_path: Path, env: Mapping[str, str], *, now: datetime | None = None,
            env_file: Path = ENV_FILE, run: Run = _timedatectl) -> list[Row]:
    """Every check, in the order the table shows them."""
    from .doctor_devices import check_camera, check_devices, check_pcscd

    row, cfg = check_config(Path(config_path), env)
    rows = [row, check_secret(env, env_file)]
    if cfg is None:
        rows.append(Row("devices, ledger", Status.SKIP, "not checked: the config is invalid"))
    else:
        rows += check_devices(cfg)
        rows += [check_pcscd(cfg.devices.values()), check_camera(cfg.devices.values())]
        rows += [check_ledger(cfg.ledger_url), check_disk(cfg.ledger_url)]
    zone = cfg.timezone.key if cfg is not None else TIMEZONE
    rows += [check_timezone(zone), check_clock(now or datetime.now(UTC)), check_time_sync(run)]
    return rows


def render(rows: Sequence[Row]) -> str:
    """The table: check, result, detail; a fix line under each failure or warning that has one."""
    width = max([len("CHECK"), *(len(r.check) for r in rows)]) + 2
    lines = [f"{'CHECK':<{width}}{'RESULT':<8}DETAIL"]
    for r in rows:
        lines.append(f"{r.check:<{width}}{r.status.value:<8}{r.detail}")
        if r.fix and r.status in (Status.FAIL, Status.WARN):
            lines.append(f"{'':<{width + 8}}fix: {r.fix}")
    failed = sum(r.status is Status.FAIL for r in rows)
    lines.append(f"{failed} problem{'s' if failed != 1 else ''} found" if failed else "no problems found")
    return "\n".join(lines)


def run_doctor(config_path: Path | str, env: Mapping[str, str], *, out: TextIO | None = None,
               now: datetime | None = None, env_file: Path = ENV_FILE, run: Run = _timedatectl) -> int:
    """Run every check, print the table to ``out`` (stdout) and return 1 if anything failed, else 0.

    The keyword arguments are seams for tests (the clock, the service's env file, timedatectl).
    """
    rows = collect(Path(config_path), env, now=now, env_file=env_file, run=run)
    print(render(rows), file=out or sys.stdout)
    return 1 if any(r.status is Status.FAIL for r in rows) else 0
