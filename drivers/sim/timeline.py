"""Relay timelines kept by the relay-board simulators, and the pulses read back from them."""

from __future__ import annotations

from collections.abc import Iterable

TimelineEntry = tuple[float, int, bool]
"""(monotonic time, channel or coil, energised) for one relay change."""


def on_periods(timeline: Iterable[TimelineEntry], channel: int) -> list[tuple[float, float | None]]:
    """(on, off) times of each energised period of ``channel``; off None while still on."""
    periods: list[tuple[float, float | None]] = []
    started: float | None = None
    for at, ch, on in timeline:
        if ch != channel:
            continue
        if on and started is None:
            started = at
        elif not on and started is not None:
            periods.append((started, at))
            started = None
    if started is not None:
        periods.append((started, None))
    return periods
