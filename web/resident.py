"""The resident touchscreen at ``/``: no login, nothing but the resident flow.

The page is one document; the phase in the state snapshot decides which screen shows.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("resident", __name__)


@bp.get("/")
def index() -> Any:
    """The kiosk screen."""
    return render_template("resident/index.html")
