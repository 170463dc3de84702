"""Passports and ID cards with an ICAO 9303 chip, on a PC/SC contactless reader (driver ``emrtd``).

URL grammar: ``pcsc:`` + a substring of the reader name (``pcsc:`` alone: the first reader),
see ``drivers.cardreader.pcsc``.  Protocol: ``emrtd_protocol`` (BAC, secure messaging, EF.COM,
DG1), PROTOCOLS.md §2.3.

Options (``EmrtdReader.OPTIONS``):

    mrz_source   where the MRZ for BAC comes from: "officer" (typed, handed over with set_mrz)
    chunk_size   bytes per protected READ BINARY (1-223; 223 keeps every response short)

The chip opens only with keys from the MRZ printed on the document, so a reading needs one.
An ``MrzSource`` gives the latest MRZ with a version that rises each time a new one arrives;
``TypedMrz`` is the officer's.  A document scanner that sends the MRZ lines over serial fits
the same interface (a source that feeds its lines to ``mrz.parse_mrz``), chosen by a new
``mrz_source`` value.

Presence: insertion and removal come from PC/SC status changes.  One presentation gives one
``CardRead``, or ``CardFailed`` with ``mrz_required`` (no MRZ yet), ``access_denied`` (the chip
refused the keys: the MRZ is wrong), ``document_mismatch`` (DG1 is not that MRZ),
``card_removed_early`` or ``card_unreadable``.  A new MRZ while the card stays on the reader
(the officer corrects a typo) tries again; ``CardRemoved`` follows any reading when it leaves.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable
from datetime import date
from typing import ClassVar, Protocol

from drivers.base import CardFailed, CardRead, CardRemoved, Reading
from drivers.errors import DeviceGone, DriverError
from drivers.options import Option

from .apdu import AccessDenied
from .emrtd_protocol import DocumentMismatch, document_card, read_document
from .mrz import Mrz, MrzError, parse_mrz
from .pcsc import CardEvent, CardLeft, PcscReader

log = logging.getLogger(__name__)


class MrzSource(Protocol):
    """Where the MRZ used for access comes from."""

    def latest(self) -> tuple[int, Mrz | None]:
        """(version, MRZ): the version rises whenever a new MRZ arrives; (0, None) before any."""


class TypedMrz:
    """An MRZ typed by the officer (or passed on the command line), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._mrz: Mrz | None = None

    def set(self, mrz: Mrz | None) -> None:
        """Hand over a new MRZ (None forgets it)."""
        with self._lock:
            self._version += 1
            self._mrz = mrz

    def latest(self) -> tuple[int, Mrz | None]:
        """The newest MRZ and its version."""
        with self._lock:
            return self._version, self._mrz


class _Presence(enum.Enum):
    EMPTY = "empty"         # no card
    WAITING = "waiting"     # a card is there, not read: no MRZ yet, or the last one failed
    READ = "read"           # read and reported: wait for removal


class EmrtdReader:
    """An eMRTD (passport / ID card chip) reader on PC/SC."""

    OPTIONS: ClassVar[dict[str, Option]] = {
        "mrz_source": Option(str, "officer", "where the MRZ for BAC comes from", choices=("officer",)),
        "chunk_size": Option(int, 0xDF, "bytes per protected READ BINARY", min=1, max=0xDF),
    }

    def __init__(self, name: str, url: str, *, mrz_source: str = "officer", chunk_size: int = 0xDF,
                 today: Callable[[], date] = date.today, random: Callable[[int], bytes] = os.urandom) -> None:
        self.name = name
        self.url = url
        self.chunk_size = chunk_size
        self.mrz_source = mrz_source
        self._typed = TypedMrz()
        self._source: MrzSource = self._typed
        self._today = today
        self._random = random
        self._reader = PcscReader(name, url)     # OptionError now for a URL that is not pcsc:
        self._presence = _Presence.EMPTY
        self._reported = False
        self._tried = -1

    def set_mrz(self, text: str | Mrz) -> Mrz:
        """Use this MRZ for the next card (and retry a card still on the reader); MrzError if bad."""
        mrz = text if isinstance(text, Mrz) else parse_mrz(text)
        self._typed.set(mrz)
        return mrz

    # -- Device protocol --------------------------------------------------------------

    def open(self) -> None:
        """Find the reader; DeviceGone when pcscd or the reader is absent."""
        self._reader.open()
        self._presence, self._reported, self._tried = _Presence.EMPTY, False, -1

    def close(self) -> None:
        """Release the PC/SC context; never raises."""
        self._reader.close()

    def read(self, timeout: float) -> Reading | None:
        """Wait up to ``timeout`` s for a card event; a reading or None."""
        if not self._reader.is_open:
            raise DeviceGone("reader is not open", device=self.name, url=self.url)
        if self._presence is _Presence.WAITING and self._source.latest()[0] != self._tried:
            return self._attempt()
        event = self._reader.wait(timeout)
        if event is CardEvent.INSERTED:
            self._presence, self._reported, self._tried = _Presence.WAITING, False, -1
            return self._attempt()
        if event is CardEvent.REMOVED:
            reported, self._presence, self._reported = self._reported, _Presence.EMPTY, False
            return CardRemoved() if reported else None
        return None

    # -- one attempt --------------------------------------------------------------------

    def _attempt(self) -> Reading:
        version, mrz = self._source.latest()
        self._tried = version
        if mrz is None:
            return self._failed("mrz_required", "no MRZ to open the chip with")
        try:
            card = self._read_chip(mrz)
        except DeviceGone:
            raise
        except AccessDenied as exc:
            return self._failed("access_denied", str(exc))
        except DocumentMismatch as exc:
            return self._failed("document_mismatch", str(exc))
        except CardLeft as exc:
            return self._failed("card_removed_early", str(exc))
        except (DriverError, MrzError) as exc:
            return self._failed("card_unreadable", f"{type(exc).__name__}: {exc}")
        self._presence, self._reported = _Presence.READ, True
        log.info("device %s: document read card_type=%s", self.name, card.card.card_type.value)
        return card

    def _read_chip(self, mrz: Mrz) -> CardRead:
        connection = self._reader.connect()
        try:
            document = read_document(connection.transmit, mrz, random=self._random, chunk=self.chunk_size)
        finally:
            connection.disconnect(reset=True)   # drop the chip's secure session with the connection
        return CardRead(document_card(document.mrz, self._today()))

    def _failed(self, reason: str, detail: str) -> CardFailed:
        self._reported = True
        log.info("device %s: document not read reason=%s (%s)", self.name, reason, detail)
        return CardFailed(reason, detail)
