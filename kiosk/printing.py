"""SlipPrinting: how the checkpoint asks for a declaration slip without ever waiting for the printer.

The print runs on the printer's own device thread (``DeviceRunner.call``); the outcome comes
back as a ``SlipResult`` through ``done``, called on the printer thread, or at once on the
caller's thread when the printer is not connected (the runner never queues a command for a
device that is not open).  ``print_slip`` itself never raises: paper out, a pulled cable or a
rendering bug all end up as ``SlipResult.error``, and the printer's health shows the fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from drivers.printer.document import SlipDocument

log = logging.getLogger(__name__)


class _Runner(Protocol):
    @property
    def health(self) -> Any: ...

    def call(self, fn: Callable[[Any], Any]) -> Future[Any]: ...


@dataclass(frozen=True)
class SlipResult:
    """The printer finished (or failed) a declaration's slip."""

    declaration_id: str
    error: str | None = None
    bytes_sent: int = 0

    @property
    def printed(self) -> bool:
        """True when the slip left for the printer."""
        return self.error is None


class SlipPrinting:
    """Send slips to the printer runner; report each outcome, never block, never raise."""

    def __init__(self, runner: _Runner | None) -> None:
        self._runner = runner

    def usable(self) -> bool:
        """True when a printer is configured and connected (paper state aside)."""
        return self._runner is not None and bool(self._runner.health.usable)

    def print_slip(self, declaration_id: str, document: SlipDocument, done: Callable[[SlipResult], None]) -> None:
        """Start printing ``document``; ``done`` gets the SlipResult (from the printer thread)."""
        if self._runner is None:
            done(SlipResult(declaration_id, "no printer configured"))
            return
        try:
            fut = self._runner.call(lambda device: device.print_document(document))
        except Exception as exc:  # a runner bug must not reach the checkpoint
            log.exception("printer call failed for declaration %s", declaration_id)
            done(SlipResult(declaration_id, f"{type(exc).__name__}: {exc}"))
            return

        def report(f: Future[Any]) -> None:
            exc = f.exception()
            if exc is not None:
                log.warning("slip not printed declaration=%s: %s", declaration_id, exc)
                done(SlipResult(declaration_id, f"{type(exc).__name__}: {exc}"))
            else:
                done(SlipResult(declaration_id, None, getattr(f.result(), "bytes_sent", 0)))

        fut.add_done_callback(report)
