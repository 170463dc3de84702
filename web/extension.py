"""The kiosk service as a Flask extension: stored on the app, reached through accessors."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app


class KioskExtension:
    """Holds the running kiosk (and the simulator panel in demo mode) for one app."""

    def __init__(self, service: Any, sim: Any = None) -> None:
        self.service = service
        self.sim = sim

    def init_app(self, app: Flask) -> None:
        """Attach to ``app`` under ``app.extensions["kiosk"]``."""
        app.extensions["kiosk"] = self


def current_service() -> Any:
    """The kiosk service of the current app."""
    return current_app.extensions["kiosk"].service


def current_sim() -> Any:
    """The simulator panel of the current app (None outside demo mode)."""
    return current_app.extensions["kiosk"].sim
