"""The kiosk's recent log lines in memory, for the technician's page (``/diag``, ``/api/v1/diag/logs``).

A logging handler on the root logger, installed when the kiosk starts and removed when it stops
(``Kiosk.start``/``stop``).  It keeps two bounded rings: the last lines at INFO and up, and apart
from them the last lines at WARNING and up, so that a burst of INFO lines never pushes the warning a
technician is looking for out of memory.  DEBUG (and so the ``kiosk.wire`` trace) is never kept.

Modules log masked or keyed identifiers only (tests/test_card_privacy.py checks a whole flow); as a
second line of defence every kept message has its long digit runs (an ID number) masked, and an
exception is kept as its type and message, without the traceback.
"""

from __future__ import annotations

import collections
import itertools
import logging
from datetime import UTC, datetime
from typing import Any

from drivers.frames import mask_id_runs

MAX_CHARS = 500
"""Longest message kept (the rest is cut)."""
LEVELS = ("INFO", "WARNING", "ERROR", "CRITICAL")


class LogLines(logging.Handler):
    """Bounded in-memory log: the last ``size`` lines at INFO+ and the last ``warnings`` at WARNING+."""

    def __init__(self, size: int = 300, warnings: int = 200, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._all: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)
        self._warnings: collections.deque[dict[str, Any]] = collections.deque(maxlen=warnings)
        self._seq = itertools.count(1)
        self._installed_on: logging.Logger | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one record (masked, cut, without traceback)."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line, nor raise in a device thread
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message += f" [{type(exc).__name__}: {exc}]"
        message = mask_id_runs(message)
        line = {"seq": next(self._seq),
                "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name,
                "message": message if len(message) <= MAX_CHARS else message[:MAX_CHARS - 1] + "…"}
        self._all.append(line)
        if record.levelno >= logging.WARNING:
            self._warnings.append(line)

    def lines(self, *, min_level: str = "INFO", limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` lines at ``min_level`` or above, oldest first."""
        floor = logging.getLevelName(min_level)
        if not isinstance(floor, int):
            raise ValueError(f"unknown level {min_level!r}; expected one of {', '.join(LEVELS)}")
        self.acquire()
        try:
            merged = {line["seq"]: line for line in (*self._warnings, *self._all)}
        finally:
            self.release()
        kept = [merged[seq] for seq in sorted(merged)
                if logging.getLevelName(merged[seq]["level"]) >= floor]
        return [dict(line) for line in kept[-limit:]] if limit > 0 else []

    def install(self, logger: logging.Logger | None = None) -> None:
        """Start keeping what ``logger`` (the root logger) handles."""
        target = logger or logging.getLogger()
        if self._installed_on is None:
            target.addHandler(self)
            self._installed_on = target

    def uninstall(self) -> None:
        """Stop keeping lines (what is kept stays readable)."""
        if self._installed_on is not None:
            self._installed_on.removeHandler(self)
            self._installed_on = None
