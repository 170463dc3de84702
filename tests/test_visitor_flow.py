"""A Kazakh visitor at the kiosk, end to end: the document scanner reads the passport page's MRZ,
the chip reader opens the passport through the real pcscd with it, and the checkpoint refers the
visitor to the officer (identified, no resident quota)."""

from __future__ import annotations

import time
from pathlib import Path

from drivers.sim.lcus import LcusSimulator
from drivers.sim.passport_card import PassportCard
from drivers.sim.samv import SamvSimulator
from drivers.sim.scanner import ScannerSimulator
from kiosk.clock import SystemClock
from kiosk.config import SECRET_ENV, load_config
from kiosk.demo import CONFIG_TEMPLATE, DATA
from kiosk.runtime import build_kiosk
from tests.pcsc_support import APPENDIX_D_MRZ, PASSPORT_SLOT, PASSPORT_URL, Slots


def test_visitor_passport_is_identified_and_referred(tmp_path: Path, slots: Slots) -> None:
    """GIVEN a kiosk with a passport chip reader fed by a document scanner WHEN a visitor scans the
    page and places the passport THEN the screen shows the referral with visitor_no_quota."""
    from drivers.registry import check_device

    sims = [SamvSimulator("idcard"), ScannerSimulator("scanner"), LcusSimulator("gate"), ScannerSimulator("mrz")]
    for sim in sims:
        sim.start()
    idcard, scanner, gate, mrz = sims
    config = tmp_path / "kiosk.toml"
    config.write_text(CONFIG_TEMPLATE.format(
        ledger=tmp_path / "ledger.db", residents=DATA / "residents.csv", catalog=DATA / "catalog.csv",
        idcard=idcard.port, scanner=scanner.port, gate=gate.port, result_s=8, pulse_s=0.5)
        + f'\n[devices.passport]\ndriver = "emrtd"\nurl = "{PASSPORT_URL}"\n'
        + f'\n[devices.mrz]\ndriver = "mrz-serial"\nurl = "{mrz.port}"\n', encoding="utf-8")
    cfg = load_config(config, env={SECRET_ENV: "visitor-test-secret-0123"}, check_device=check_device)
    kiosk = build_kiosk(cfg, SystemClock())
    kiosk.start()
    try:
        cp = kiosk.checkpoint
        deadline = time.monotonic() + 10
        while kiosk.health()["mrz"].state.value != "connected" or kiosk.health()["passport"].state.value != "connected":
            assert time.monotonic() < deadline, kiosk.health()
            time.sleep(0.05)
        for line in APPENDIX_D_MRZ.splitlines():
            mrz.scan(line)                                      # type: ignore[attr-defined]
        time.sleep(0.3)
        slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
        deadline = time.monotonic() + 10
        while cp.snapshot()["phase"] != "referred":
            assert time.monotonic() < deadline, cp.snapshot()
            time.sleep(0.05)
        snap = cp.snapshot()
        assert snap["reasons"] == ["visitor_no_quota"]
        assert "L898902C" not in str(snap)                      # no document number on the screen state
    finally:
        kiosk.stop()
        for sim in sims:
            sim.stop()
