"""ReleaseWatch, pure: pulse result, passages and the timeout with times passed in."""

from __future__ import annotations

import pytest

from kiosk.release import ReleaseEvent, ReleaseState, ReleaseWatch


def kinds(events: list[ReleaseEvent]) -> list[str]:
    """The event kinds, in order."""
    return [e.kind for e in events]


def watch(**options: object) -> ReleaseWatch:
    """A watch started at t=100 with an 8 s window."""
    return ReleaseWatch("D1", started_at=100.0, passage_timeout_s=8.0, **options)  # type: ignore[arg-type]


def test_passage_after_the_pulse_commits() -> None:
    """Pulse back at 100.5, passage at 102: passed; the window then closes quietly."""
    w = watch()
    assert w.pulse_done(None, 100.5) == [] and w.state is ReleaseState.WAITING
    assert w.passage(None, 102.0) == [ReleaseEvent("passed", "D1", 102.0, 1)]
    assert w.tick(108.4) == [] and not w.finished
    assert w.tick(108.5) == [] and w.finished and w.state is ReleaseState.PASSED
    assert w.passage(None, 109.0) == []


def test_timeout_refers_without_a_second_pulse() -> None:
    """No passage within 8 s of the pulse: not_passed, once; a late passage changes nothing."""
    w = watch()
    w.pulse_done(None, 100.5)
    assert w.tick(108.4) == []
    assert kinds(w.tick(108.5)) == ["not_passed"] and w.finished
    assert w.tick(120.0) == [] and w.passage(None, 121.0) == []


def test_relay_fault_fails_closed() -> None:
    """A failed pulse is gate_fault with its text; nothing counts afterwards."""
    w = watch()
    (event,) = w.pulse_done("RelayStuck: relay 1 did not energise", 100.2)
    assert (event.kind, event.detail) == ("gate_fault", "RelayStuck: relay 1 did not energise")
    assert w.state is ReleaseState.FAULT and w.finished
    assert w.passage(None, 101.0) == []


def test_tailgating_is_reported_per_extra_passage() -> None:
    """Second and third passages in the window are tailgating events with their count."""
    w = watch()
    w.pulse_done(None, 100.5)
    w.passage(None, 101.0)
    assert [(e.kind, e.passages) for e in w.passage(None, 101.8) + w.passage(None, 102.5)] == [
        ("tailgating", 2), ("tailgating", 3)]


def test_passage_before_the_pulse_result_counts() -> None:
    """A fast passage device may report before the relay thread does; a later fault is still shown."""
    w = watch()
    assert kinds(w.passage(None, 100.3)) == ["passed"]
    assert kinds(w.pulse_done("RelayStuck: stays energised", 100.6)) == ["gate_fault"]
    assert w.state is ReleaseState.PASSED
    assert w.pulse_done(None, 100.7) == []


@pytest.mark.parametrize(("direction", "expected"), [("A", ["passed"]), ("B", ["wrong_direction"]),
                                                     (None, ["passed"])])
def test_direction(direction: str | None, expected: list[str]) -> None:
    """With an expected direction, the other way is reported and not counted; undirected inputs count."""
    w = watch(direction="A")
    w.pulse_done(None, 100.5)
    assert kinds(w.passage(direction, 101.0)) == expected


def test_timeout_must_be_positive() -> None:
    """A zero window is a configuration error."""
    with pytest.raises(ValueError):
        ReleaseWatch("D1", started_at=0.0, passage_timeout_s=0)
