"""The kiosk configuration: one TOML file validated at start into frozen dataclasses.

Every problem is collected and reported at once, each with its key
(``devices.gate.max_pulse_s: 0 is below the minimum 0.05``).  Unknown keys are errors.
Device entries are ``driver`` + ``url`` + options; the options are checked by the
driver's own table through the ``check_device`` callback the composition root passes
in, so this module imports no hardware code.  Secrets never live in the file: the site
secret comes from the environment (``KIOSK_SITE_SECRET``, an EnvironmentFile on a kiosk).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .barcodes import VariableMeasureLayout
from .errors import ConfigError
from .policy import QuotaRule

DEVICE_ROLES = ("idcard", "scanner", "gate")
"""Devices every kiosk has."""
OPTIONAL_ROLES = ("passport", "mrz", "passage", "printer", "badge")
"""Devices a kiosk may have: a chip reader for visitors' passports, a document scanner for their
MRZ, a separate passage sensor, a slip printer, an officer badge reader."""
ROLE_KINDS = {"passport": "idcard"}
PERSONAL_DATA_ROLES = ("idcard", "passport", "mrz")
"""Devices whose bytes carry names and ID numbers: never traced raw."""
"""The driver kind a role takes when it differs from the role's name."""
SECRET_ENV = "KIOSK_SITE_SECRET"

CheckDevice = Callable[[str, str, Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class DeviceConfig:
    """One device: which driver, where (a pyserial URL or path) and its options."""

    role: str
    driver: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionConfig:
    """Resident-screen timers, in seconds."""

    idle_warning_after_s: float = 40.0
    """Inactivity before the "are you still there?" warning."""
    idle_warning_s: float = 20.0
    """Length of the warning before a full reset."""
    result_s: float = 8.0
    """How long an outcome screen stays before the kiosk returns to idle."""


@dataclass(frozen=True)
class ReleaseConfig:
    """How the gate release ends: on the pulse, or on the passage sensor."""

    wait_for_passage: bool = False
    """Commit only when the passage sensor saw the resident go through (needs a passage input)."""
    passage_timeout_s: float = 8.0
    """Window after the pulse for the passage; just above the turnstile's own relock time."""


@dataclass(frozen=True)
class WebConfig:
    """Where the HTTP server listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8


@dataclass(frozen=True)
class SecurityConfig:
    """Staff accounts and their sessions (DESIGN.md §6)."""

    users_db: Path = Path("/var/lib/kiosk/users.db")
    """The accounts file managed by ``kiosk users``."""
    max_failures: int = 5
    """Wrong PINs in a row before an account is locked."""
    lockout_s: float = 300.0
    """How long a locked account stays locked."""
    idle_timeout_s: float = 600.0
    """A staff session ends after this long without a request."""
    secure_cookies: bool = False
    """Send the session cookie over HTTPS only (set when a TLS proxy serves the officer tablets)."""


@dataclass(frozen=True)
class KioskConfig:
    """The whole validated configuration."""

    kiosk_id: str
    site: str
    timezone: ZoneInfo
    language: str
    quota: tuple[QuotaRule, ...]
    ledger_url: str
    hold_ttl_s: float
    residents_csv: Path
    catalog_csv: Path | None
    """[data] catalog: a catalog CSV imported into the goods store at every start (optional)."""
    session: SessionConfig
    web: WebConfig
    release: ReleaseConfig
    devices: Mapping[str, DeviceConfig]
    site_secret: bytes = field(repr=False)
    offline_allowance_fen: int = 0
    """[ledger] offline allowance per resident-day while the port ledger is unreachable (0: fail closed)."""
    offline_journal: Path = Path("/var/lib/kiosk/offline-journal.db")
    """[ledger] the local journal of declarations granted on the offline allowance."""
    security: SecurityConfig = field(default_factory=SecurityConfig)
    rates_csv: Path | None = None
    """[data] rates: an exchange-rate CSV imported into the goods store at every start (optional)."""
    goods_rules_csv: Path | None = None
    """[data] goods_rules: a goods-rules CSV imported into the goods store at every start (optional)."""
    goods_db: Path = Path("/var/lib/kiosk/goods.db")
    """[data] goods_db: the goods store (catalog, rates, goods rules; docs/catalog.md)."""
    variable_measure: tuple[VariableMeasureLayout, ...] = ()
    """[[barcodes.variable_measure]] the market's in-store weight and price label layouts."""


LANGUAGES = ("zh", "ug", "kk", "ru", "en")
OFFLINE_ALLOWANCE_MAX_FEN = 100_000
"""Upper bound of ledger.offline_allowance_fen (1,000 CNY): the port's figure is unknown offline."""
STATE_DIR = Path("/var/lib/kiosk")
"""Where the kiosk keeps its state (systemd StateDirectory=kiosk)."""


class _Table:
    """Typed, bounded getters over one TOML table that remember which keys were read."""

    def __init__(self, data: Any, prefix: str, problems: list[str]) -> None:
        self.prefix = prefix
        self.problems = problems
        if not isinstance(data, dict):
            problems.append(f"{prefix}: expected a table")
            data = {}
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        """The full dotted key of ``name`` for messages."""
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, kind: type, default: Any = ..., *, minimum: float | None = None,
            maximum: float | None = None, choices: tuple[Any, ...] | None = None) -> Any:
        """Return the value of ``name`` checked for type, bounds and choices (or the default)."""
        self.seen.add(name)
        if name not in self.data:
            if default is ...:
                self.problems.append(f"{self.key(name)}: missing")
            return None if default is ... else default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            self.problems.append(f"{self.key(name)}: expected {kind.__name__}, got {value!r}")
            return None if default is ... else default
        if choices is not None and value not in choices:
            self.problems.append(f"{self.key(name)}: {value!r} is not one of {', '.join(map(str, choices))}")
        number: Any = value   # bounds are only given for numeric keys
        if minimum is not None and number < minimum:
            self.problems.append(f"{self.key(name)}: {value!r} is below the minimum {minimum}")
        if maximum is not None and number > maximum:
            self.problems.append(f"{self.key(name)}: {value!r} is above the maximum {maximum}")
        return value

    def sub(self, name: str, required: bool = True) -> _Table:
        """The sub-table ``name`` (an empty one, reported missing if required)."""
        self.seen.add(name)
        if name not in self.data and required:
            self.problems.append(f"{self.key(name)}: missing table")
        return _Table(self.data.get(name, {}), self.key(name), self.problems)

    def finish(self) -> None:
        """Report every key that no getter asked for."""
        for name in sorted(set(self.data) - self.seen):
            self.problems.append(f"{self.key(name)}: unknown key")


def load_config(path: str | Path, *, env: Mapping[str, str], check_device: CheckDevice | None = None) -> KioskConfig:
    """Read and validate ``path``; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from exc
    return parse_config(raw, base_dir=path.parent, env=env, check_device=check_device)


def parse_config(raw: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str],
                 check_device: CheckDevice | None = None) -> KioskConfig:
    """Validate an already-parsed TOML document."""
    problems: list[str] = []
    root = _Table(dict(raw), "", problems)
    kiosk = root.sub("kiosk")
    kiosk_id = kiosk.get("id", str)
    site = kiosk.get("site", str)
    language = kiosk.get("language", str, "zh", choices=LANGUAGES)
    tz = _timezone(kiosk.get("timezone", str, "Asia/Shanghai"), problems)
    kiosk.finish()
    quota = _quota(root, problems)
    ledger = root.sub("ledger")
    ledger_url = ledger.get("url", str)
    hold_ttl_s = ledger.get("hold_ttl_s", float, 120.0, minimum=10.0, maximum=3600.0)
    offline_allowance_fen = ledger.get("offline_allowance_fen", int, 0, minimum=0, maximum=OFFLINE_ALLOWANCE_MAX_FEN)
    offline_journal = ledger.get("offline_journal", str, "")
    ledger.finish()
    data = root.sub("data")
    residents = _path(data.get("residents", str), base_dir)
    catalog, rates, goods_rules = (_optional_path(data.get(key, str, ""), base_dir)
                                   for key in ("catalog", "rates", "goods_rules"))
    goods_db = _beside_ledger(data.get("goods_db", str, ""), ledger_url, base_dir, "goods.db")
    data.finish()
    layouts = _barcodes(root.sub("barcodes", required=False))
    session = _session(root.sub("session", required=False))
    web = _web(root.sub("web", required=False))
    security = _security(root.sub("security", required=False), base_dir, ledger_url)
    devices = _devices(root.sub("devices"), check_device)
    release = _release(root.sub("release", required=False), devices, problems)
    root.finish()
    secret = _secret(env, problems)
    if problems:
        raise ConfigError(problems)
    return KioskConfig(
        kiosk_id=kiosk_id, site=site, timezone=tz, language=language, quota=quota,
        ledger_url=_sqlite_relative(ledger_url, base_dir), hold_ttl_s=hold_ttl_s,
        residents_csv=residents, catalog_csv=catalog, session=session, web=web, release=release,
        devices=devices, site_secret=secret, offline_allowance_fen=offline_allowance_fen,
        offline_journal=_offline_journal(offline_journal, ledger_url, base_dir), security=security,
        rates_csv=rates, goods_rules_csv=goods_rules, goods_db=goods_db, variable_measure=layouts,
    )


def _timezone(name: str | None, problems: list[str]) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"kiosk.timezone: unknown time zone {name!r}")
        return ZoneInfo("Asia/Shanghai")


def _quota(root: _Table, problems: list[str]) -> tuple[QuotaRule, ...]:
    root.seen.add("quota")
    entries = root.data.get("quota")
    if not isinstance(entries, list) or not entries:
        problems.append("quota: missing (one or more [[quota]] tables with effective_from and daily_limit_fen)")
        return ()
    rules = []
    for i, entry in enumerate(entries):
        t = _Table(entry, f"quota[{i}]", problems)
        start = t.get("effective_from", date)
        limit = t.get("daily_limit_fen", int, minimum=1)
        currency = t.get("currency", str, "CNY", choices=("CNY",))
        t.finish()
        if start is not None and limit is not None:
            rules.append(QuotaRule(start, limit, currency))
    starts = [r.effective_from for r in rules]
    if len(set(starts)) != len(starts):
        problems.append("quota: two rules share one effective_from date")
    return tuple(sorted(rules, key=lambda r: r.effective_from))


def _session(t: _Table) -> SessionConfig:
    s = SessionConfig(
        idle_warning_after_s=t.get("idle_warning_after_s", float, SessionConfig.idle_warning_after_s,
                                   minimum=5.0, maximum=600.0),
        idle_warning_s=t.get("idle_warning_s", float, SessionConfig.idle_warning_s, minimum=3.0, maximum=120.0),
        result_s=t.get("result_s", float, SessionConfig.result_s, minimum=1.0, maximum=120.0),
    )
    t.finish()
    return s


def _security(t: _Table, base: Path, ledger_url: str | None) -> SecurityConfig:
    users_db = t.get("users_db", str, "")
    s = SecurityConfig(
        users_db=_beside_ledger(users_db, ledger_url, base, "users.db"),
        max_failures=t.get("max_failures", int, SecurityConfig.max_failures, minimum=3, maximum=20),
        lockout_s=t.get("lockout_s", float, SecurityConfig.lockout_s, minimum=30.0, maximum=86400.0),
        idle_timeout_s=t.get("idle_timeout_s", float, SecurityConfig.idle_timeout_s, minimum=60.0, maximum=28800.0),
        secure_cookies=t.get("secure_cookies", bool, SecurityConfig.secure_cookies),
    )
    t.finish()
    return s


def _web(t: _Table) -> WebConfig:
    w = WebConfig(
        host=t.get("host", str, WebConfig.host),
        port=t.get("port", int, WebConfig.port, minimum=0, maximum=65535),
        threads=t.get("threads", int, WebConfig.threads, minimum=4, maximum=64),
    )
    t.finish()
    return w


def _release(t: _Table, devices: Mapping[str, DeviceConfig], problems: list[str]) -> ReleaseConfig:
    r = ReleaseConfig(
        wait_for_passage=t.get("wait_for_passage", bool, ReleaseConfig.wait_for_passage),
        passage_timeout_s=t.get("passage_timeout_s", float, ReleaseConfig.passage_timeout_s,
                                minimum=2.0, maximum=60.0),
    )
    t.finish()
    gate = devices.get("gate")
    has_sensor = "passage" in devices or bool(gate and gate.options.get("passage_input"))
    if r.wait_for_passage and not has_sensor:
        problems.append("release.wait_for_passage: no passage sensor configured "
                        "(add [devices.passage] or devices.gate.passage_input)")
    return r


def _devices(t: _Table, check_device: CheckDevice | None) -> dict[str, DeviceConfig]:
    devices: dict[str, DeviceConfig] = {}
    for role in DEVICE_ROLES + OPTIONAL_ROLES:
        if role in OPTIONAL_ROLES and role not in t.data:
            continue
        d = t.sub(role)
        driver = d.get("driver", str)
        url = d.get("url", str)
        options = {k: v for k, v in d.data.items() if k not in ("driver", "url")}
        d.seen.update(options)
        if driver is not None and check_device is not None:
            for problem in check_device(ROLE_KINDS.get(role, role), driver, options):
                t.problems.append(f"{d.prefix}.{problem}")
        if url is not None and url.startswith("spy://") and role in PERSONAL_DATA_ROLES:
            t.problems.append(f"{d.prefix}.url: spy:// hexdumps every byte to the log, personal data "
                              "included; use `kiosk --wire` (the filtered kiosk.wire trace) for this device")
        if driver is not None and url is not None:
            devices[role] = DeviceConfig(role, driver, url, options)
    t.finish()
    return devices


def _secret(env: Mapping[str, str], problems: list[str]) -> bytes:
    value = env.get(SECRET_ENV, "")
    if len(value.encode()) < 16:
        problems.append(f"{SECRET_ENV}: missing or shorter than 16 characters (set it in the environment file)")
    return value.encode()


def _path(value: str | None, base: Path) -> Path:
    p = Path(value or "")
    return p if p.is_absolute() else (base / p)


def _optional_path(value: str, base: Path) -> Path | None:
    return _path(value, base) if value else None


def _barcodes(t: _Table) -> tuple[VariableMeasureLayout, ...]:
    """[[barcodes.variable_measure]]: one table per layout of the market's in-store labels."""
    t.seen.add("variable_measure")
    entries = t.data.get("variable_measure", [])
    if not isinstance(entries, list):
        t.problems.append(f"{t.key('variable_measure')}: expected [[barcodes.variable_measure]] tables")
        entries = []
    layouts: list[VariableMeasureLayout] = []
    claimed: dict[str, int] = {}
    for i, entry in enumerate(entries):
        layout = _layout(_Table(entry, f"{t.key('variable_measure')}[{i}]", t.problems), i, claimed)
        if layout is not None:
            layouts.append(layout)
    t.finish()
    return tuple(layouts)


def _layout(e: _Table, index: int, claimed: dict[str, int]) -> VariableMeasureLayout | None:
    """One in-store label layout; item codes stay 3-7 digits so the catalog never mistakes them for GTINs."""
    prefixes = e.get("prefixes", list)
    kind = e.get("kind", str, choices=("weight", "price"))
    item_digits = e.get("item_digits", int, minimum=1, maximum=5)
    value_digits = e.get("value_digits", int, minimum=1, maximum=10)
    decimals = e.get("decimals", int, 3 if kind == "weight" else 2, minimum=0, maximum=10)
    price_check = e.get("price_check", bool, False)
    currency = e.get("currency", str, "CNY", choices=("CNY", "KZT"))
    e.finish()
    if prefixes is not None and not all(isinstance(p, str) for p in prefixes):
        e.problems.append(f"{e.key('prefixes')}: expected a list of strings such as [\"20\", \"21\"]")
        return None
    if prefixes is None or kind is None or item_digits is None or value_digits is None:
        return None
    for prefix in prefixes:
        if prefix in claimed:
            e.problems.append(f"{e.key('prefixes')}: {prefix} is already in variable_measure[{claimed[prefix]}]")
        claimed.setdefault(prefix, index)
    try:
        return VariableMeasureLayout(frozenset(prefixes), kind, item_digits, value_digits, decimals, price_check,
                                     "kg" if kind == "weight" else currency)
    except ValueError as exc:
        e.problems.append(f"{e.prefix}: {exc}")
        return None


def _offline_journal(value: str, ledger_url: str | None, base: Path) -> Path:
    """The offline journal: as given (relative to the config folder), else next to a SQLite ledger file
    (``<ledger>-offline-journal.db``), else in the state directory."""
    if value:
        return _path(value, base)
    ledger_file = _sqlite_file(ledger_url, base)
    if ledger_file is not None:
        return ledger_file.with_name(ledger_file.stem + "-offline-journal.db")
    return STATE_DIR / "offline-journal.db"


def _beside_ledger(value: str, ledger_url: str | None, base: Path, name: str) -> Path:
    """A state file: as given (relative to the config folder), else in a SQLite ledger's folder, else in
    the state directory."""
    if value:
        return _path(value, base)
    ledger_file = _sqlite_file(ledger_url, base)
    return ledger_file.with_name(name) if ledger_file is not None else STATE_DIR / name


def _sqlite_file(ledger_url: str | None, base: Path) -> Path | None:
    """The file of a ``sqlite:///`` ledger URL (a relative one against the config folder), else None."""
    url = _sqlite_relative(ledger_url, base)
    if url.startswith("sqlite:///"):
        return Path("/" + url[len("sqlite:///"):].lstrip("/"))
    return None


def _sqlite_relative(url: str | None, base: Path) -> str:
    """Resolve ``sqlite:///relative.db`` against the config folder (``sqlite:////abs`` stays)."""
    url = url or ""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix):].startswith("/"):
        return prefix + str((base / url[len(prefix):]).resolve())
    return url
