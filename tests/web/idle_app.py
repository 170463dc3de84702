"""An app around the demo kiosk that cannot move hardware: for route tables, OpenAPI checks and fuzzing.

The demo's simulators and config are real, but no device runner is started (the gate relay is never
opened, so nothing can pulse it) and time is a FakeClock.  Only the checkpoint's loop thread runs, so
the resident screen's commands are answered (with ``checkpoint=False`` they time out: 503).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kiosk.clock import FakeClock
from kiosk.demo import make_demo
from web import create_app

IDLE_CONFIG = {
    "TESTING": True,
    "COMMAND_TIMEOUT_S": 1.0,   # a command the checkpoint does not answer costs 1 s, never 5 (503)
    "SSE_PING_S": 0.01,         # event streams say something at once, so a bounded reader returns fast
}
_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})


@contextmanager
def idle_demo_app(folder: Path, *, sim: bool = True, checkpoint: bool = True,
                  **config: Any) -> Iterator[tuple[Any, Any, FakeClock]]:
    """(app, kiosk, clock): the demo kiosk built but not started, with the /sim panel when ``sim``."""
    clock = FakeClock()
    kiosk, panel, _ = make_demo(folder, clock=clock)
    try:
        if checkpoint:
            kiosk.checkpoint.start()
        yield create_app({**IDLE_CONFIG, **config}, service=kiosk, sim=panel if sim else None), kiosk, clock
    finally:
        kiosk.stop()
        panel.stop()


def openapi_path(rule: str) -> str:
    """Flask's ``/lines/<int:index>/remove`` as OpenAPI's ``/lines/{index}/remove``."""
    return _VARIABLE.sub(r"{\1}", rule)


def rule_operations(app: Any) -> set[tuple[str, str]]:
    """Every (METHOD, Flask rule) of ``app`` (HEAD and OPTIONS, which Flask adds itself, left out)."""
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in (rule.methods or ()) if method not in IGNORED_METHODS}
