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
    """Which document was read: SAM-V text byte 248, or an ICAO 9303 document code."""

    RESIDENT = "resident"          # PRC resident identity card
    PERMIT_HMT = "permit_hmt"      # Hong Kong / Macau / Taiwan residence permit ('J')
    FOREIGN_PR = "foreign_pr"      # foreigner permanent residence card ('I')
    PASSPORT = "passport"          # ICAO 9303 passport (MRZ TD3, document code P), read over PC/SC
    FOREIGN_ID = "foreign_id"      # ICAO 9303 ID card (MRZ TD1/TD2, code I/A/C), e.g. a Kazakh ID card


@dataclass(frozen=True)
class IdCard:
    """The decoded text block of a second-generation ID card.

    ``valid_to`` is None for a card valid long-term (长期).  The photo stays in memory
    only: it is excluded from repr so that it never reaches a log line.

    An ICAO document (passport, foreign ID card) fills the same fields from its MRZ and
    the trailing document fields: ``valid_from`` is ``date.min`` (an MRZ has no issue date),
    ``id_number`` is the document number and ``authority`` the issuing state.
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
    # ICAO 9303 documents only (drivers.cardreader.emrtd); empty for a SAM-V card
    document_number: str = ""
    nationality: str = ""          # ICAO 3-letter code, e.g. KAZ
    expiry_date: date | None = None
    mrz: str = field(default="", repr=False)   # the MRZ lines joined by newlines, as read from DG1
    # SAM-V cards other than the resident card (drivers.cardreader.samv_text); an 'I' card also
    # sets ``nationality`` above (GB/T 2659-2000, the ISO 3166 alpha-3 code ICAO uses too)
    name_zh: str = ""              # Chinese name on a foreigner permanent residence card ('I')
    pass_number: str = ""          # HK/Macau/Taiwan travel pass number on a 'J' permit
    issue_count: str = ""          # times the 'J' permit was issued, as printed, e.g. "01"
    card_version: str = ""         # card version of an 'I' card, as printed, e.g. "01"

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

    reason: str            # card_unreadable | card_removed_early | card_type_unknown | card_type_unverified,
                           # and for ICAO documents mrz_required | access_denied | document_mismatch
    detail: str = ""


@dataclass(frozen=True)
class BadgeRead:
    """An officer badge was presented; ``uid`` is its contactless UID (kept out of repr)."""

    uid: bytes = field(repr=False)


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


@dataclass(frozen=True)
class PassageSeen:
    """One person went through the turnstile: a complete PASS cycle (active, then idle again).

    ``direction`` is "A" or "B" when the input tells (two inputs, or a controller line that
    names it) and None for a single undirected PASS contact.
    """

    direction: str | None = None


@dataclass(frozen=True)
class GateState:
    """What the release sequence checks before a pulse: relay latched? someone in the turnstile?"""

    relay_on: bool
    passage_active: bool


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


@dataclass(frozen=True)
class MrzRead:
    """A document scanner read a complete MRZ with every check digit right (``drivers.cardreader.mrz_serial``).

    ``mrz`` is the lines joined by newlines, as ``drivers.cardreader.mrz.parse_mrz`` reads them;
    it is personal data, kept out of repr.
    """

    mrz: str = field(repr=False)


# after the last reading class: Device.read's annotation is lazy, this union is not
Reading = CardRead | CardRemoved | CardFailed | BadgeRead | ScanRead | GatePulsed | PassageSeen | MrzRead
