"""Logging: one line per record to stderr (journald adds the time), wire trace opt-in.

Personal data never reaches a log: modules log masked or keyed identifiers only, and the
``kiosk.wire`` hex trace of device traffic stays at DEBUG, off unless asked for.
"""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str = "INFO", *, wire: bool = False) -> None:
    """Configure the root logger; ``wire`` turns on the ``kiosk.wire`` hex trace."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("kiosk.wire").setLevel(logging.DEBUG if wire else logging.WARNING)
    logging.getLogger("waitress").setLevel(logging.WARNING)
