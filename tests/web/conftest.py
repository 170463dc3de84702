"""The whole demo kiosk (production drivers on simulators over real ptys) for web tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.audit import open_audit
from kiosk.demo import SimPanel, make_demo
from kiosk.runtime import Kiosk
from tests.service_support import wait_until
from web import create_app
from web.server import BackgroundServer

from .staff import Staff, staff_client

CHROMIUM = os.environ.get("KIOSK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
    "--disable-quic", "--no-first-run", "--no-default-browser-check",
]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Kiosk, SimPanel]]:
    """A started demo kiosk: simulators plugged in, runners and checkpoint running."""
    kiosk, panel, _folder = make_demo(tmp_path / "demo", result_s=2.0, pulse_s=1.0)
    kiosk.start()
    wait_for(lambda: kiosk.checkpoint.snapshot()["service"] == "ok", "devices connected", timeout=15)
    yield kiosk, panel
    kiosk.stop()
    panel.stop()


@pytest.fixture
def passage_demo(tmp_path: Path) -> Iterator[tuple[Kiosk, SimPanel]]:
    """The demo as `kiosk demo` runs it: with a turnstile passage sensor and a capture slip printer."""
    kiosk, panel, _folder = make_demo(tmp_path / "demo", result_s=2.0, pulse_s=0.3, passage=True)
    kiosk.start()
    wait_for(lambda: kiosk.checkpoint.snapshot()["service"] == "ok" and kiosk.health()["passage"].usable,
             "devices connected", timeout=15)
    yield kiosk, panel
    kiosk.stop()
    panel.stop()


@pytest.fixture
def app(demo: tuple[Kiosk, SimPanel]) -> Any:
    kiosk, panel = demo
    return create_app({"TESTING": True, "SSE_PING_S": 0.5}, service=kiosk, sim=panel)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def kit(demo: tuple[Kiosk, SimPanel], client: Any) -> tuple[Any, Any, Any]:
    """(kiosk, panel, client): the started demo and an anonymous client (the resident screen's)."""
    kiosk, panel = demo
    return kiosk, panel, client


@pytest.fixture
def officer(app: Any) -> Staff:
    """A client signed in as the demo officer."""
    return staff_client(app, "officer")


@pytest.fixture
def live(app: Any, demo: tuple[Kiosk, SimPanel]) -> Iterator[BackgroundServer]:
    """The app behind a real waitress server on 127.0.0.1."""
    server = BackgroundServer(app, threads=8).start()
    yield server
    demo[0].bus.close()        # ends open event streams, as kiosk.stop() does in production
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright, one per test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def shots(output_dir: Path) -> Path:
    """Where the consoles' browser tests save their screenshots."""
    folder = output_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail naming ``what``."""
    return wait_until(predicate, what, timeout)


def audit_records(kiosk: Any) -> list[Any]:
    """Every record of the kiosk's audit chain."""
    log = open_audit(kiosk.config.ledger_url)
    try:
        return log.records()
    finally:
        log.close()
