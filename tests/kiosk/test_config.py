"""Config: a TOML file into frozen dataclasses; every problem reported at once with its key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from drivers.registry import check_device
from kiosk.config import SECRET_ENV, load_config
from kiosk.errors import ConfigError

ENV = {SECRET_ENV: "0123456789abcdef0123"}

GOOD = """
[kiosk]
id = "baktu-03"
site = "baktu"

[[quota]]
effective_from = 2020-01-01
daily_limit_fen = 800000

[[quota]]
effective_from = 2027-01-01
daily_limit_fen = 1000000

[ledger]
url = "sqlite:///ledger.db"

[data]
residents = "residents.csv"
catalog = "/srv/catalog.csv"

[devices.idcard]
driver = "samv"
url = "/dev/kiosk/idcard"
baudrate = 115200

[devices.scanner]
driver = "serial-scanner"
url = "spy:///dev/kiosk/scanner"
suffix = "crlf"

[devices.gate]
driver = "lcus"
url = "/dev/kiosk/gate"
channel = 2
pulse_s = 0.5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, env: dict[str, str] = ENV) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=env, check_device=check_device)
    return info.value.problems


def test_good_config_loads_into_frozen_dataclasses(tmp_path: Path) -> None:
    """Values are typed, relative paths resolve against the config folder, quota rules sorted."""
    cfg = load_config(write(tmp_path, GOOD), env=ENV, check_device=check_device)
    assert cfg.kiosk_id == "baktu-03" and str(cfg.timezone) == "Asia/Shanghai"
    assert [r.daily_limit_fen for r in cfg.quota] == [800000, 1000000]
    assert cfg.ledger_url == f"sqlite:///{tmp_path / 'ledger.db'}"
    assert cfg.residents_csv == tmp_path / "residents.csv"
    assert str(cfg.catalog_csv) == "/srv/catalog.csv"
    assert cfg.devices["gate"].options == {"channel": 2, "pulse_s": 0.5}
    assert cfg.devices["scanner"].url == "spy:///dev/kiosk/scanner"
    assert cfg.session.idle_warning_s == 20 and cfg.web.host == "127.0.0.1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.kiosk_id = "x"  # type: ignore[misc]
    assert "0123456789" not in repr(cfg)


def test_every_problem_is_reported_at_once_with_its_key(tmp_path: Path) -> None:
    """Unknown keys, wrong types, bounds, bad driver options and a missing secret, all in one error."""
    text = GOOD.replace('site = "baktu"', 'site = "baktu"\ncolour = "red"') \
               .replace("daily_limit_fen = 800000", 'daily_limit_fen = "8000"') \
               .replace("channel = 2", "channel = 9\nchanel = 1") \
               .replace('suffix = "crlf"', 'suffix = "semicolon"') \
               .replace('[ledger]\nurl = "sqlite:///ledger.db"',
                        '[ledger]\nurl = "sqlite:///ledger.db"\nhold_ttl_s = 1')
    found = problems(tmp_path, text, env={})
    joined = "\n".join(found)
    for key in ("kiosk.colour: unknown key", "quota[0].daily_limit_fen: expected int",
                "devices.gate.chanel: unknown option", "devices.gate.channel:", "devices.scanner.suffix:",
                "ledger.hold_ttl_s: 1.0 is below the minimum", SECRET_ENV):
        assert key in joined, f"{key!r} not in {found}"
    assert len(found) == 7


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace('[devices.gate]\ndriver = "lcus"', '[devices.gate]\ndriver = "samv"'),
     "devices.gate.driver: 'samv' is a idcard driver, not a gate driver"),
    (lambda t: t.replace('driver = "serial-scanner"', 'driver = "laser"'),
     "devices.scanner.driver: unknown driver 'laser'"),
    (lambda t: t.replace('[kiosk]\nid = "baktu-03"\n', "[kiosk]\n"), "kiosk.id: missing"),
    (lambda t: t.replace('site = "baktu"', 'site = "baktu"\ntimezone = "Mars/Olympus"'),
     "kiosk.timezone: unknown time zone"),
    (lambda t: t.split("[devices.idcard]")[0], "devices: missing table"),
    (lambda t: t.replace("effective_from = 2027-01-01", "effective_from = 2020-01-01"), "quota: two rules share"),
    (lambda t: t + "\n[web]\nport = 70000\n", "web.port: 70000 is above the maximum 65535"),
])
def test_single_problems_name_their_key(tmp_path: Path, edit, expected: str) -> None:
    """Each malformed part of the file is named by its dotted key."""
    assert any(expected in p for p in problems(tmp_path, edit(GOOD))), problems(tmp_path, edit(GOOD))


def test_not_toml_at_all(tmp_path: Path) -> None:
    """A file that is not TOML gives one problem naming the file and the line."""
    found = problems(tmp_path, "[kiosk\nid = 1")
    assert len(found) == 1 and "not valid TOML" in found[0] and "line 1" in found[0]


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", env=ENV)


def test_waiting_for_passage_needs_a_sensor(tmp_path: Path) -> None:
    """[release] wait_for_passage without any passage input is named; with a turnstile line it loads."""
    text = GOOD + "\n[release]\nwait_for_passage = true\npassage_timeout_s = 9\n"
    assert any(p.startswith("release.wait_for_passage: no passage sensor") for p in problems(tmp_path, text))
    with_sensor = text + '\n[devices.passage]\ndriver = "turnstile-line"\nurl = "/dev/kiosk/turnstile"\n'
    cfg = load_config(write(tmp_path, with_sensor), env=ENV, check_device=check_device)
    assert cfg.release.wait_for_passage and cfg.release.passage_timeout_s == 9.0
    assert cfg.devices["passage"].driver == "turnstile-line"


def test_optional_devices_are_checked_against_their_kind(tmp_path: Path) -> None:
    """A printer entry with a gate driver is refused with its key."""
    text = GOOD + '\n[devices.printer]\ndriver = "lcus"\nurl = "capture://"\n'
    assert any("devices.printer.driver: 'lcus' is a gate driver, not a printer driver" in p
               for p in problems(tmp_path, text))


def test_offline_allowance_wraps_the_ledger_and_reconciles_from_the_tick(tmp_path: Path) -> None:
    """With an offline allowance the kiosk's ledger is the journaling wrapper, reconciled by the tick."""
    from kiosk.clock import SystemClock
    from kiosk.demo import CONFIG_TEMPLATE, DATA
    from kiosk.ledger.offline import OfflineLedger
    from kiosk.runtime import build_kiosk

    text = CONFIG_TEMPLATE.format(ledger=tmp_path / "ledger.db", residents=DATA / "residents.csv",
                                  catalog=DATA / "catalog.csv", idcard="/dev/null", scanner="/dev/null",
                                  gate="/dev/null", result_s=8, pulse_s=0.5)
    text = text.replace("hold_ttl_s = 120", "hold_ttl_s = 120\noffline_allowance_fen = 50000")
    cfg = load_config(write(tmp_path, text), env=ENV, check_device=check_device)
    kiosk = build_kiosk(cfg, SystemClock(), devices={})
    try:
        assert isinstance(kiosk.ledger, OfflineLedger)
        # the offline journal's reconcile, beside the audit journal's flush that every kiosk has
        assert len(kiosk.checkpoint._tick_hooks) == 2
        kiosk.checkpoint.tick()                   # the hook runs and never raises
    finally:
        kiosk.stop()


def test_raw_wire_trace_is_refused_for_card_readers(tmp_path: Path) -> None:
    """spy:// would hexdump names and ID numbers into the log: refused for the ID reader, fine for the scanner."""
    text = GOOD.replace('url = "/dev/kiosk/idcard"', 'url = "spy:///dev/kiosk/idcard"')
    assert any(p.startswith("devices.idcard.url: spy://") for p in problems(tmp_path, text))
