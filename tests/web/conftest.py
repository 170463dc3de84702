"""The whole demo kiosk (production drivers on simulators over real ptys) for web tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.demo import SimPanel, make_demo
from kiosk.runtime import Kiosk
from web import create_app
from web.server import BackgroundServer


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
def live(app: Any, demo: tuple[Kiosk, SimPanel]) -> Iterator[BackgroundServer]:
    """The app behind a real waitress server on 127.0.0.1."""
    server = BackgroundServer(app, threads=8).start()
    yield server
    demo[0].bus.close()        # ends open event streams, as kiosk.stop() does in production
    server.stop()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
