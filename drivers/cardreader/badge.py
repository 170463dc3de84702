"""Officer badges on a PC/SC contactless reader (driver ``badge``): the card's UID, nothing else.

URL grammar: ``pcsc:`` + a substring of the reader name (``pcsc:`` alone: the first reader),
see ``drivers.cardreader.pcsc``.  No options.

A badge placed gives one ``BadgeRead(uid)`` from the PC/SC GET DATA pseudo-APDU
``FF CA 00 00 00`` (PC/SC part 3 §3.2.2.1.3, answered by the reader for the card in its
field); its removal gives ``CardRemoved``.  Both are seen through PC/SC status changes.  A card
that refuses GET DATA gives ``CardFailed("card_unreadable")``.  The UID is an identifier:
it is never logged.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from drivers.base import BadgeRead, CardFailed, CardRemoved, Reading
from drivers.errors import DeviceGone, DriverError
from drivers.options import Option

from .apdu import CommandApdu, check, parse_response
from .pcsc import CardEvent, CardLeft, PcscReader

log = logging.getLogger(__name__)

GET_UID = CommandApdu(0xFF, 0xCA, 0x00, 0x00, le=256)


class BadgeReader:
    """A contactless badge reader on PC/SC."""

    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self._reader = PcscReader(name, url)     # OptionError now for a URL that is not pcsc:
        self._reported = False

    def open(self) -> None:
        """Find the reader; DeviceGone when pcscd or the reader is absent."""
        self._reader.open()
        self._reported = False

    def close(self) -> None:
        """Release the PC/SC context; never raises."""
        self._reader.close()

    def read(self, timeout: float) -> Reading | None:
        """Wait up to ``timeout`` s for a badge to arrive or leave."""
        if not self._reader.is_open:
            raise DeviceGone("reader is not open", device=self.name, url=self.url)
        event = self._reader.wait(timeout)
        if event is CardEvent.REMOVED:
            reported, self._reported = self._reported, False
            return CardRemoved() if reported else None
        if event is not CardEvent.INSERTED:
            return None
        self._reported = True
        try:
            return BadgeRead(self._uid())
        except DeviceGone:
            raise
        except CardLeft as exc:
            return self._failed("card_removed_early", str(exc))
        except DriverError as exc:
            return self._failed("card_unreadable", str(exc))

    def _uid(self) -> bytes:
        connection = self._reader.connect()
        try:
            uid = check(parse_response(connection.transmit(bytes(GET_UID))), "get UID")
        finally:
            connection.disconnect(reset=False)
        if not uid:
            raise DriverError("get UID: the card returned no UID", device=self.name, url=self.url)
        return uid

    def _failed(self, reason: str, detail: str) -> CardFailed:
        log.info("device %s: badge not read reason=%s (%s)", self.name, reason, detail)
        return CardFailed(reason, detail)
