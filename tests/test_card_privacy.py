"""The card's photo and personal fields stay in memory: never logged, published or stored (issue #3).

The whole demo composition runs (production SAM-V driver on its simulator over a pty, runner,
checkpoint, SQLite ledger, bus) with every logger at DEBUG, the ``kiosk.wire`` hex trace included,
through a complete purchase.  Then every log record, every published event and every file the
kiosk wrote is searched for the photo and the card holder's ID number and name, in raw, hex and
repr form.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from drivers.base import CardRead
from kiosk.demo import make_demo
from kiosk.demo_data import DEMO_CARDS
from kiosk.events import Confirm

PHOTO = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(32))     # 1024 distinctive bytes
FINGERPRINT = hashlib.sha512(b"finger").digest() * 8
FLOUR = "4870204100013"


def forms(secret: bytes) -> list[bytes]:
    """The ways a byte string shows up in text or in a file: raw, hex, spaced hex, repr."""
    return [secret, secret.hex().encode(), secret.hex(" ").encode(), repr(secret)[2:-1].encode(),
            secret.hex().upper().encode()]


def wait_for(predicate: Any, what: str, timeout: float = 10.0) -> Any:
    """Poll until ``predicate`` is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_photo_and_identity_never_leave_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN DEBUG logging and the wire trace WHEN a resident is read and declares goods THEN no log
    line, event or file holds the photo, the fingerprint, the full ID number or the name."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="kiosk.wire")
    card = next(c.card for c in DEMO_CARDS if c.key == "eligible")
    folder = tmp_path / "demo"
    kiosk, panel, _ = make_demo(folder, result_s=1.0, pulse_s=0.1)
    events = kiosk.bus.subscribe(["checkpoint.state", "device.health"], maxlen=1000)
    readings: list[Any] = []
    original_post = kiosk.checkpoint.post
    kiosk.checkpoint.post = lambda message: (readings.append(message), original_post(message))[1]  # type: ignore
    kiosk.start()
    try:
        wait_for(lambda: kiosk.checkpoint.snapshot()["service"] == "ok", "devices connected", timeout=15)
        panel.idcard.place(card, photo=PHOTO, fingerprint=FINGERPRINT)
        wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "identified", "identified")
        panel.scan(FLOUR)
        wait_for(lambda: kiosk.checkpoint.snapshot()["lines"], "the scan")
        kiosk.checkpoint.submit(Confirm()).result(timeout=5)
        wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "gate", "the gate")
    finally:
        kiosk.stop()
        panel.stop()
    read = [m.reading for m in readings if isinstance(getattr(m, "reading", None), CardRead)]
    assert read and read[0].card.photo == PHOTO        # the photo was read, and held in memory
    published = []
    while (event := events.get(0)) is not None:
        published.append(json.dumps(event.payload, ensure_ascii=False))
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert any("kiosk.wire" == r.name for r in caplog.records), "the wire trace was not on"
    text = "\n".join(logged + published).encode("utf-8")
    files = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert any(p.name.startswith("ledger.db") for p in files), "the ledger wrote nothing to check"
    secrets = forms(PHOTO[:24]) + forms(PHOTO[-24:]) + forms(FINGERPRINT[:24]) + [
        card.id_number.encode(), card.id_number.encode("utf-16-le"), card.name.encode("utf-8"),
        card.name.encode("utf-16-le"), card.address.encode("utf-8")]
    for secret in secrets:
        assert secret not in text, f"{secret[:12]!r}... is in a log line or an event"
        for path, content in files.items():
            assert secret not in content, f"{secret[:12]!r}... is stored in {path.name}"
