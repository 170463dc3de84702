"""Debounced PASS inputs, pure: sampled (time, level) tables in, PassageSeen out."""

from __future__ import annotations

import pytest

from drivers.gate_events import PassageSeen
from drivers.passage.detector import Debouncer, PassageDetector


@pytest.mark.parametrize(("samples", "edges"), [
    ([(0.00, True), (0.01, True), (0.02, True), (0.03, True)], [(0.03, True)]),
    ([(0.00, True), (0.01, False), (0.02, True), (0.04, True)], []),       # glitch: restarts the filter
    ([(0.00, True), (0.05, True), (0.10, False), (0.12, False), (0.13, False)], [(0.05, True), (0.13, False)]),
    ([(0.00, False), (0.50, False)], []),
])
def test_debouncer_needs_the_level_to_hold(samples: list[tuple[float, bool]],
                                           edges: list[tuple[float, bool]]) -> None:
    """A change counts once it held for debounce_s (30 ms here); shorter glitches are forgotten."""
    debouncer = Debouncer(0.03)
    got = [(at, edge) for at, raw in samples if (edge := debouncer.update(raw, at)) is not None]
    assert got == edges


def test_zero_debounce_takes_every_change() -> None:
    """debounce_s = 0 passes every sampled change at once."""
    debouncer = Debouncer(0.0)
    assert [debouncer.update(level, t) for t, level in [(0, True), (0.001, False)]] == [True, False]
    with pytest.raises(ValueError):
        Debouncer(-0.1)


def run(detector: PassageDetector, samples: list[tuple[float, bool]]) -> list[tuple[float, PassageSeen]]:
    """Feed (time, raw) samples; return (time, reading) for each passage."""
    return [(at, seen) for at, raw in samples if (seen := detector.update(raw, at)) is not None]


def test_one_passage_is_reported_on_the_return_to_idle() -> None:
    """Rising then falling edge: one PassageSeen, at the debounced fall."""
    detector = PassageDetector(direction="A", debounce_s=0.03)
    samples = [(0.0, False), (0.1, True), (0.12, True), (0.14, True), (0.3, False), (0.32, False), (0.34, False)]
    assert run(detector, samples) == [(0.34, PassageSeen("A"))]
    assert detector.started == 1 and not detector.active


def test_two_passages_are_two_readings() -> None:
    """Tailgating: two complete active periods are never merged."""
    detector = PassageDetector(direction=None, debounce_s=0.02)
    samples = [(0.0, False)]
    for start in (0.1, 0.5):
        samples += [(start, True), (start + 0.03, True), (start + 0.2, False), (start + 0.23, False)]
    assert [at for at, _ in run(detector, samples)] == [pytest.approx(0.33), pytest.approx(0.73)]
    assert detector.started == 2


def test_active_low_and_bounce() -> None:
    """An NC contact reads 0 while passing; bounce at both edges gives one passage."""
    detector = PassageDetector(direction=None, debounce_s=0.03, active_low=True)
    samples = [(0.0, True), (0.10, False), (0.105, True), (0.11, False), (0.15, False),
               (0.40, True), (0.405, False), (0.41, True), (0.45, True)]
    assert run(detector, samples) == [(0.45, PassageSeen(None))]


def test_active_at_open_is_not_a_passage() -> None:
    """Someone already in the turnstile at open: the first sample is the settled state, and its end counts nothing."""
    detector = PassageDetector(direction="A", debounce_s=0.0)
    detector.prime(True)
    assert detector.active
    assert run(detector, [(0.1, False), (0.2, True), (0.3, False)]) == [(0.3, PassageSeen("A"))]
    assert detector.started == 1
