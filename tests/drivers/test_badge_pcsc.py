"""BadgeReader through the real PC/SC stack (slot 1 of the private pcscd), alone and under DeviceRunner."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest

from drivers.base import BadgeRead, CardFailed, CardRemoved, Reading
from drivers.cardreader.badge import BadgeReader
from drivers.errors import DeviceGone
from drivers.registry import DRIVERS, create_device
from drivers.runner import DeviceRunner, Health, HealthState
from drivers.sim.passport_card import BadgeCard
from drivers.sim.pcscd import PrivatePcscd
from kiosk.clock import SystemClock
from tests.pcsc_support import BADGE_SLOT, BADGE_URL, Slots, next_reading, wait_presence

UID = bytes.fromhex("04A1B2C3D4E5F6")


@pytest.fixture
def reader(slots: Slots) -> Iterator[BadgeReader]:
    """An opened production badge reader on slot 1 (empty)."""
    r = BadgeReader("badge", BADGE_URL)
    r.open()
    yield r
    r.close()


def test_badge_uid_then_removal(reader: BadgeReader, slots: Slots) -> None:
    """GIVEN a badge placed THEN BadgeRead(uid) from exactly FF CA 00 00 00; removed THEN CardRemoved."""
    badge = BadgeCard(UID)
    client = slots.insert(badge, BADGE_SLOT)
    assert next_reading(reader) == BadgeRead(UID)
    assert badge.log == [bytes.fromhex("FFCA000000")]
    assert reader.read(0.5) is None                     # still there: nothing new, nothing sent
    assert len(badge.log) == 1
    client.remove()
    assert next_reading(reader) == CardRemoved()


def test_two_officers_one_after_the_other(reader: BadgeReader, slots: Slots) -> None:
    """Each badge placed gives its own UID."""
    first = slots.insert(BadgeCard(UID), BADGE_SLOT)
    assert next_reading(reader) == BadgeRead(UID)
    first.remove()
    assert next_reading(reader) == CardRemoved()
    slots.insert(BadgeCard(b"\x11\x22\x33\x44"), BADGE_SLOT)
    assert next_reading(reader) == BadgeRead(b"\x11\x22\x33\x44")


def test_a_card_that_refuses_get_data_is_unreadable(reader: BadgeReader, slots: Slots) -> None:
    """A card answering 6A81 (not a badge the reader can read): card_unreadable naming the status."""
    card = BadgeCard(UID)
    card.answer_sw = bytes.fromhex("6A81")
    slots.insert(card, BADGE_SLOT)
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_unreadable"
    assert "6A81 function not supported" in got.detail


def test_badge_already_there_when_the_reader_opens(slots: Slots) -> None:
    """A badge lying on the reader at start is reported on the first read."""
    slots.insert(BadgeCard(UID), BADGE_SLOT)
    wait_presence(BADGE_URL, True)
    r = BadgeReader("badge", BADGE_URL)
    r.open()
    try:
        assert r.read(0.1) == BadgeRead(UID)
    finally:
        r.close()


def test_registered_as_a_badge_driver() -> None:
    """Driver name badge, kind badge, no options."""
    assert DRIVERS["badge"].kind == "badge"
    assert isinstance(create_device("officer", "badge", BADGE_URL, {}), BadgeReader)


def test_read_on_a_closed_reader_is_device_gone() -> None:
    """Never opened (or closed): DeviceGone, as for a serial driver."""
    with pytest.raises(DeviceGone):
        BadgeReader("badge", BADGE_URL).read(0.1)


def wait_health(states: queue.Queue[Health], state: HealthState, within: float = 5.0) -> Health:
    """The next health report in ``state``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            health = states.get(timeout=0.1)
        except queue.Empty:
            continue
        if health.state is state:
            return health
    raise AssertionError(f"no {state.value} health within {within} s")


def test_reader_hot_plug_under_the_runner(pcscd: PrivatePcscd, slots: Slots) -> None:
    """GIVEN the runner on the badge reader WHEN pcscd goes away THEN disconnected (DeviceGone);
    WHEN it comes back THEN the runner reconnects by itself and a badge is read again."""
    readings: queue.Queue[Reading] = queue.Queue()
    health: queue.Queue[Health] = queue.Queue()
    runner = DeviceRunner(BadgeReader("badge", BADGE_URL), on_reading=lambda _n, r, _at: readings.put(r),
                          on_health=health.put, clock=SystemClock(), backoff=lambda _attempt: 0.1)
    runner.start()
    try:
        wait_health(health, HealthState.CONNECTED)
        slots.insert(BadgeCard(UID), BADGE_SLOT)
        assert readings.get(timeout=3) == BadgeRead(UID)
        pcscd.stop()
        gone = wait_health(health, HealthState.DISCONNECTED)
        assert "Service not available" in (gone.last_error or "")
        pcscd.start()
        back = wait_health(health, HealthState.CONNECTED)
        assert back.reconnects == 1
        assert readings.get(timeout=3) == BadgeRead(UID)    # the badge left on the reader, seen again
    finally:
        runner.stop()

