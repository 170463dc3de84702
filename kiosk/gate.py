"""GateControl: how the checkpoint asks the gate device for a release pulse.

The pulse runs on the gate's own device thread (``DeviceRunner.call``), so the
checkpoint never blocks on relay I/O; the outcome comes back as a ``GateResult``
message on the checkpoint's inbox.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from .events import GateResult

ANSWER_S = 10.0
"""Longest wait for the relay's answer after a pulse was asked for (pulses are capped at a few s)."""


class _Runner(Protocol):
    @property
    def health(self) -> Any: ...

    def call(self, fn: Callable[[Any], Any]) -> Future[Any]: ...


class GateControl:
    """Release the gate through its runner and report the result."""

    def __init__(self, runner: _Runner | None, *, pulse_s: float) -> None:
        self._runner = runner
        self._pulse_s = pulse_s
        self._pending: dict[str, Future[Any]] = {}

    def usable(self) -> bool:
        """True when a gate relay is configured and connected."""
        return self._runner is not None and bool(self._runner.health.usable)

    def pulse(self, declaration_id: str, done: Callable[[GateResult], None]) -> None:
        """Start one bounded pulse; ``done`` gets the GateResult from the device thread."""
        if self._runner is None:
            done(GateResult(declaration_id, "no gate relay configured"))
            return
        fut = self._runner.call(lambda dev: dev.pulse(self._pulse_s))
        self._pending[declaration_id] = fut

        def report(f: Future[Any]) -> None:
            self._pending.pop(declaration_id, None)
            if f.cancelled():          # withdrawn before it started: the caller already moved on
                return
            exc = f.exception()
            done(GateResult(declaration_id, None if exc is None else f"{type(exc).__name__}: {exc}"))

        fut.add_done_callback(report)

    def cancel(self, declaration_id: str) -> bool:
        """Withdraw a pulse that has not started; False when it is running or done (wait for it)."""
        fut = self._pending.get(declaration_id)
        return fut is None or fut.cancel()


class _Cancels(Protocol):
    def cancel(self, declaration_id: str) -> bool: ...


def withdraw_unanswered(gate: _Cancels, pulse_id: str) -> GateResult | None:
    """A pulse the relay has not answered within ANSWER_S: withdrawn when it has not started (the fault
    GateResult to act on, safe to give the quota back), None when it is running (its own result will come)."""
    if gate.cancel(pulse_id):
        return GateResult(pulse_id, "the gate did not answer in time")
    return None
