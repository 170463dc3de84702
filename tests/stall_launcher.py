"""Test-only launcher: the ``kiosk`` command with a checkpoint loop that a test can stall from outside.

``python -m tests.stall_launcher serve --config …`` runs ``kiosk.cli.main`` after giving every
Checkpoint one more tick hook: while the file named by ``KIOSK_TEST_STALL_FILE`` exists, the hook
blocks the loop thread, as a decision stuck on a dead ledger or a deadlock would.  The watchdog
test (tests/test_service.py) uses it to show that WATCHDOG=1 stops while the loop is stuck.

Why here and not in the kiosk: this module lives in tests/, which is not packaged (pyproject
installs only kiosk*, drivers*, web*), so nothing on a kiosk can import it and no variable, file or
signal can stall a production loop by accident.  The stall goes through the public
``Checkpoint.add_tick_hook`` on the real loop thread, so what the test sees is the production path.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from kiosk.checkpoint import Checkpoint
from kiosk.cli import main

STALL_ENV = "KIOSK_TEST_STALL_FILE"


def install(stall_file: str) -> None:
    """Make every Checkpoint created from now on block its loop while ``stall_file`` exists."""
    original = Checkpoint.__init__

    def stall() -> None:
        while os.path.exists(stall_file):
            time.sleep(0.01)

    def init(self: Checkpoint, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.add_tick_hook(stall)

    Checkpoint.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    install(os.environ[STALL_ENV])
    raise SystemExit(main(sys.argv[1:]))
