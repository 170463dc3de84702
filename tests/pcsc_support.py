"""Helpers for tests on the real PC/SC stack: virtual cards in the vpcd slots, scripted randomness."""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import Reading
from drivers.cardreader.pcsc import PcscReader
from drivers.sim.pcscd import PrivatePcscd
from drivers.sim.vpcd import VirtualCard, VpcdCardClient

PASSPORT_SLOT, BADGE_SLOT = 0, 1
PASSPORT_URL = "pcsc:Kiosk Test Reader 00 00"
BADGE_URL = "pcsc:Kiosk Test Reader 00 01"

# ICAO 9303-11 Appendix D: the MRZ information L898902C<3 690806 1 940623 6 (PROTOCOLS.md §2.3),
# as a TD3 MRZ (the rest of the sample passport of 9303-4 App. B; composite recomputed: 4)
APPENDIX_D_MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C<3UTO6908061F9406236ZE184226B<<<<<14"


def scripted(*values: str) -> Callable[[int], bytes]:
    """A random source that returns the given hex values in turn (each of the asked size)."""
    queue = [bytes.fromhex(v) for v in values]

    def random(n: int) -> bytes:
        value = queue.pop(0)
        assert len(value) == n, f"scripted random of {len(value)} bytes, {n} asked"
        return value

    return random


def next_reading(device: object, within: float = 3.0) -> Reading:
    """Call ``device.read`` until it returns something; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got: Reading | None = device.read(0.2)  # type: ignore[attr-defined]
        if got is not None:
            return got
    raise AssertionError(f"no reading within {within} s")


class Slots:
    """Virtual cards placed in the two vpcd readers; ``clear`` takes them all away."""

    def __init__(self, pcscd: PrivatePcscd) -> None:
        self.pcscd = pcscd
        self.clients: list[VpcdCardClient] = []

    def insert(self, card: VirtualCard, slot: int) -> VpcdCardClient:
        """Put ``card`` in slot 0 (passport reader) or 1 (badge reader)."""
        client = VpcdCardClient(card, self.pcscd.slot_port(slot))
        client.insert()
        self.clients.append(client)
        return client

    def clear(self, timeout: float = 5.0) -> None:
        """Remove every card and wait until pcscd reports both readers empty."""
        for client in self.clients:
            client.remove()
        self.clients.clear()
        if not self.pcscd.running:
            return
        for slot in (0, 1):
            wait_presence(f"pcsc:{self.pcscd.reader(slot)}", False, timeout)


def wait_presence(url: str, present: bool, timeout: float = 5.0) -> None:
    """Block until the reader's card presence is ``present`` (through status changes)."""
    reader = PcscReader("wait", url)
    reader.open()
    try:
        deadline = time.monotonic() + timeout
        reader.wait(0)
        while reader.card_present != present:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url}: card presence did not become {present} within {timeout} s")
            reader.wait(0.2)
    finally:
        reader.close()
