"""The technicians' sub-commands as a user runs them: real processes against simulators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.sim.lcus import LcusSimulator
from kiosk.slip import sign_slip, slip_key

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cli-tools-secret-0123456789"


def kiosk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "KIOSK_SITE_SECRET": SECRET, **(env or {})})


def test_gate_pulse_releases_the_lcus_relay_once() -> None:
    """`kiosk gate pulse --driver lcus` opens the board, pulses channel 1 for the asked time, prints JSON."""
    with LcusSimulator("gate") as sim:
        result = kiosk("gate", "pulse", "--driver", "lcus", "--url", sim.port, "--ms", "200")
        assert result.returncode == 0, result.stderr
        out: dict[str, Any] = json.loads(result.stdout)
        assert out["ok"] is True
        periods = sim.on_periods(1)       # type: ignore[attr-defined]
        assert len(periods) == 1 and periods[0][1] is not None
        assert 0.15 <= periods[0][1] - periods[0][0] <= 1.0


def test_gate_pulse_on_a_missing_board_fails_with_a_reason(tmp_path: Path) -> None:
    """No board at the URL: exit 1 and a JSON reason, not a traceback."""
    result = kiosk("gate", "pulse", "--driver", "lcus", "--url", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False
    assert "Traceback" not in result.stderr


def test_slip_verify_tells_genuine_from_forged() -> None:
    """A payload signed with the site's key verifies; one altered character does not."""
    payload = sign_slip("D20261125A1", "k" * 64, 26100, datetime(2026, 11, 25, 4, tzinfo=UTC),
                        slip_key(SECRET.encode()))
    good = kiosk("slip", "verify", payload)
    assert good.returncode == 0 and json.loads(good.stdout)["genuine"] is True
    assert json.loads(good.stdout)["declaration_id"] == "D20261125A1"
    forged = payload.replace("|26100|", "|96100|")
    bad = kiosk("slip", "verify", forged)
    assert bad.returncode == 1 and json.loads(bad.stdout)["genuine"] is False


def test_registry_import_reports_rows_and_installs_only_when_clean(tmp_path: Path) -> None:
    """A file with a bad row installs nothing and names the line; --allow-partial installs the rest."""
    from kiosk.demo import CONFIG_TEMPLATE, DATA

    target = tmp_path / "residents.csv"
    target.write_text((DATA / "residents.csv").read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "kiosk.toml"
    config.write_text(CONFIG_TEMPLATE.format(ledger=tmp_path / "l.db", residents=target,
                                             catalog=DATA / "catalog.csv", idcard="/dev/null", scanner="/dev/null",
                                             gate="/dev/null", result_s=8, pulse_s=0.5), encoding="utf-8")
    new = tmp_path / "authority.csv"
    new.write_text("id_number,name,filing_valid_until,status,site\n"
                   "654201198503120046,韩秀芸,2031-12-31,active,巴克图\n"
                   "654201198503120047,坏号码,2031-12-31,active,巴克图\n", encoding="utf-8")
    before = target.read_text(encoding="utf-8")
    strict = kiosk("registry", "import", str(new), "--config", str(config))
    assert strict.returncode == 1
    assert "line 3:" in strict.stdout and "nothing imported" in strict.stdout
    assert target.read_text(encoding="utf-8") == before
    partial = kiosk("registry", "import", str(new), "--config", str(config), "--allow-partial")
    assert partial.returncode == 3, partial.stdout + partial.stderr
    assert target.read_text(encoding="utf-8").splitlines()[1:] == ["654201198503120046,韩秀芸,2031-12-31,active,巴克图"]


def test_doctor_with_an_unreadable_config_exits_non_zero(tmp_path: Path) -> None:
    """The doctor names the config problem and fails."""
    result = kiosk("doctor", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode != 0
    assert "missing.toml" in result.stdout + result.stderr


def test_decode_prints_one_json_object_per_code() -> None:
    """`kiosk decode` on a real photo prints the code with its GTIN."""
    photo = ROOT / "tests/data/barcode-samples/ean13-1/10.webp"
    expected = (photo.with_suffix(".txt")).read_text(encoding="utf-8").strip()
    result = kiosk("decode", str(photo))
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(item["text"] == expected for item in items), items


def test_scan_prints_scans_from_a_serial_scanner() -> None:
    """`kiosk scan URL --count 1` prints the scan the simulated scanner sends."""
    import threading
    import time

    from drivers.sim.scanner import ScannerSimulator

    with ScannerSimulator("scanner") as sim:
        def send_later() -> None:
            time.sleep(1.0)
            sim.scan("4870204100013")      # type: ignore[attr-defined]
        threading.Thread(target=send_later, daemon=True).start()
        result = kiosk("scan", sim.port, "--driver", "serial-scanner", "--count", "1")
    assert result.returncode == 0, result.stderr
    scans = [json.loads(line) for line in result.stdout.splitlines() if '"text"' in line]
    assert scans and scans[0]["text"] == "4870204100013" and scans[0].get("gtin") == "04870204100013"


def test_ledger_migrate_remaining_and_export(tmp_path: Path) -> None:
    """`kiosk ledger migrate`, `remaining ID` and `export --date` on a SQLite ledger with one declaration."""

    from kiosk.declaration import Declaration, Line
    from kiosk.demo import CONFIG_TEMPLATE, DATA
    from kiosk.identity import resident_key
    from kiosk.ledger import open_ledger

    config = tmp_path / "kiosk.toml"
    config.write_text(CONFIG_TEMPLATE.format(ledger=tmp_path / "ledger.db", residents=DATA / "residents.csv",
                                             catalog=DATA / "catalog.csv", idcard="/dev/null", scanner="/dev/null",
                                             gate="/dev/null", result_s=8, pulse_s=0.5), encoding="utf-8")
    assert kiosk("ledger", "migrate", "--config", str(config)).returncode == 0
    today = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
    number = "654201198503120046"
    led = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    decl = Declaration(id="cli-1", kiosk_id="demo-01", resident_key=resident_key(number, SECRET.encode()),
                       masked_id="6542**********0046", day=today, created_at=datetime.now(UTC),
                       lines=(Line("4870204100013", "面粉", 9800, 2),), limit_fen=800000,
                       rule_version="quota-2020-01-01")
    assert led.hold(decl, now=datetime.now(UTC), ttl_s=60).accepted
    led.commit("cli-1", now=datetime.now(UTC))
    led.close()
    rem = kiosk("ledger", "remaining", number, "--config", str(config))
    assert rem.returncode == 0, rem.stderr
    out = json.loads(rem.stdout)
    assert out["remaining_fen"] == 800000 - 19600 and out["id"] == "6542**********0046"
    assert number not in rem.stdout
    exp = kiosk("ledger", "export", "--date", today.isoformat(), "--config", str(config))
    assert exp.returncode == 0 and exp.stdout.splitlines()[0].startswith("declaration_id,")
    assert "cli-1" in exp.stdout and "19600" in exp.stdout
    bad = kiosk("ledger", "remaining", "654201198503120047", "--config", str(config))
    assert bad.returncode == 2 and "id_checksum" in bad.stderr


def test_audit_chain_of_a_kiosk_flow_verifies_and_tampering_is_found(tmp_path: Path) -> None:
    """A purchase through the demo kiosk leaves decision and gate-release records; `kiosk audit verify`
    passes, then fails at the exact record after a direct edit in the database."""
    import sqlite3
    import time

    from kiosk.demo import make_demo

    kiosk_, panel, folder = make_demo(tmp_path / "demo", result_s=1.0, pulse_s=0.1)
    kiosk_.start()
    try:
        cp = kiosk_.checkpoint

        def wait(pred) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + 10
            while not pred():
                assert time.monotonic() < deadline, cp.snapshot()
                time.sleep(0.02)
        wait(lambda: cp.snapshot()["service"] == "ok")
        panel.place_card("eligible")
        wait(lambda: cp.snapshot()["phase"] == "identified")
        panel.scan("4870204100013")
        wait(lambda: bool(cp.snapshot()["lines"]))
        from kiosk.events import Confirm
        cp.submit(Confirm()).result(timeout=5)
        wait(lambda: cp.snapshot()["phase"] == "gate")
    finally:
        kiosk_.stop()
        panel.stop()
    url = f"sqlite:///{folder / 'ledger.db'}"
    ok = kiosk("audit", "verify", "--url", url)
    assert ok.returncode == 0, ok.stderr
    db = sqlite3.connect(folder / "ledger.db")
    kinds = [row[0] for row in db.execute("SELECT kind FROM audit ORDER BY seq")]
    assert kinds == ["decision", "gate_release"]
    assert "654201198503120046" not in str(list(db.execute("SELECT * FROM audit")))
    db.execute("UPDATE audit SET data_json = replace(data_json, '9800', '1') WHERE seq = 1")
    db.commit()
    db.close()
    bad = kiosk("audit", "verify", "--url", url)
    assert bad.returncode == 1 and "record 1" in bad.stderr
