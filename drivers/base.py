"""What every driver returns and the small interfaces the device runner drives.

Drivers return values; they never publish events, touch the ledger or sleep for policy.
A reading carries no time: the device runner stamps it with the injected clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


class CardType(enum.Enum):
    """Which document the ID-card reader found (text byte 248 of the SAM-V block)."""

    RESIDENT = "resident"          # PRC resident identity card
    PERMIT_HMT = "permit_hmt"      # Hong Kong / Macau / Taiwan residence permit ('J')
    FOREIGN_PR = "foreign_pr"      # foreigner permanent residence card ('I')


@dataclass(frozen=True)
class IdCard:
    """The decoded text block of a second-generation ID card.

    ``valid_to`` is None for a card valid long-term (长期).  The photo stays in memory
    only: it is excluded from repr so that it never reaches a log line.
    """

    card_type: CardType
    name: str
    gender: str            # GB/T 2261.1 code: '1' male, '2' female, '0', '9'
    nation: str            # two-digit code, '' when the card has none
    birth_date: date
    address: str
    id_number: str
    authority: str
    valid_from: date
    valid_to: date | None
    photo: bytes = field(default=b"", repr=False, compare=False)

    def __repr__(self) -> str:  # never print the personal fields
        return f"IdCard(card_type={self.card_type.value}, id_number=****)"


@dataclass(frozen=True)
class CardRead:
    """A card was placed and read completely."""

    card: IdCard


@dataclass(frozen=True)
class CardRemoved:
    """The card that was read has left the reader."""


@dataclass(frozen=True)
class CardFailed:
    """A card is on the reader but could not be read; ``reason`` is a stable key."""

    reason: str            # card_unreadable | card_removed_early | card_type_unknown
    detail: str = ""


@dataclass(frozen=True)
class ScanRead:
    """One decoded barcode: the text with GS (0x1D) kept, and its AIM symbology if sent."""

    text: str
    symbology: str | None = None   # e.g. "]E0"


@dataclass(frozen=True)
class GatePulsed:
    """The gate relay was energised and de-energised again."""

    channel: int
    seconds: float


Reading = CardRead | CardRemoved | CardFailed | ScanRead | GatePulsed


class Device(Protocol):
    """Every driver: opened and closed by its runner, polled with ``read``."""

    name: str
    url: str

    def open(self) -> None:
        """Open the port; raise DeviceGone if it is absent or refuses."""

    def close(self) -> None:
        """Release the port; never raises.  A relay is de-energised first."""

    def read(self, timeout: float) -> Reading | None:
        """Wait up to ``timeout`` s for one reading; None when nothing happened.

        Raises DeviceGone when the port is lost and DriverError when one exchange
        failed (the runner keeps the device open in that case).
        """


class GateRelay(Device, Protocol):
    """A relay that releases the gate with a pulse bounded in time."""

    def pulse(self, seconds: float) -> GatePulsed:
        """Energise the release relay for ``seconds`` (capped by the driver), then de-energise."""

    def all_off(self) -> None:
        """De-energise every relay of the board."""
