"""PC/SC transport over pyscard's low-level ``smartcard.scard`` API: reader, card events, APDUs.

URL grammar (the same in the config file and for ``kiosk read-card``):

    pcsc:                   the first reader pcscd lists
    pcsc:OMNIKEY 5022       the first reader whose name contains "OMNIKEY 5022" (case-sensitive)

Card insertion and removal, and a reader that goes away (unplugged, pcscd stopped), are seen
through ``SCardGetStatusChange`` with a timeout, never by trying to connect: straight after a
removal a connect briefly answers "card is unpowered" (TESTING.md §1c.6).  A reader that
disappears raises ``DeviceGone``; the device runner then re-opens with backoff, which lists
the readers again, so a re-plugged reader is found by name.

pcsc-lite pitfall: the client library reads ``PCSCLITE_CSOCK_NAME`` once per process and keeps
it, so a process must set it before its first PC/SC call (tests/conftest.py does).
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Any

from drivers import frames
from drivers.errors import DeviceGone, DriverError, OptionError

try:
    from smartcard import scard
except ImportError:  # pragma: no cover - pyscard is a main dependency, but needs libpcsclite to build
    scard = None

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire")

SCHEME = "pcsc:"
_MASK = 0xFFFFFFFF
# hresults (pcsc-lite winscard.h) that mean the reader or the service is gone
_GONE = frozenset({0x8010001D, 0x8010001E, 0x8010002E, 0x80100009, 0x80100017, 0x80100003})
# ... and those that mean the card left (or was reset under us) while we used it; an unresponsive
# (mute) card 0x80100066 is not among them: it is there, and unreadable
_CARD_LEFT = frozenset({0x80100069, 0x8010000C, 0x80100068, 0x80100067, 0x80100016})
_TIMEOUT = 0x8010000A
_CANCELLED = 0x80100002
_PRESENT, _UNKNOWN, _UNAVAILABLE, _CHANGED = 0x20, 0x04, 0x08, 0x02
_UNAWARE = 0x00
_PRESENCE_POLL_S = 0.6      # pcsc-lite polls card presence every 0.4 s (TESTING.md §1a), plus margin


class CardLeft(DriverError):
    """The card was removed (or reset) in the middle of an exchange."""

    reason = "card_removed_early"


class CardEvent(enum.Enum):
    """What changed on the reader."""

    INSERTED = "inserted"
    REMOVED = "removed"


def reader_filter(name: str, url: str) -> str:
    """The reader-name substring of a ``pcsc:`` URL; OptionError for another form."""
    if not url.startswith(SCHEME):
        raise OptionError(f"URL {url!r} is not of the form pcsc:[reader name substring]", device=name, url=url)
    return url[len(SCHEME):]


def _hr(value: Any) -> int:
    return int(value) & _MASK


def _message(hr: int) -> str:
    return str(scard.SCardGetErrorMessage(hr)) if scard is not None else f"0x{hr:08X}"


class PcscReader:
    """One reader found by name: a PC/SC context, its card events and a connection to its card."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.pattern = reader_filter(name, url)
        self.reader = ""
        self._ctx: Any = None
        self._state = _UNAWARE
        self._pending: CardEvent | None = None
        self.frames: frames.FrameRing | None = None
        """Where APDUs are captured for /diag (the device runner's ring; None elsewhere)."""

    @property
    def is_open(self) -> bool:
        """True between open and close."""
        return self._ctx is not None

    def open(self) -> None:
        """Establish a context and find the reader; DeviceGone if pcscd or the reader is absent."""
        if scard is None:
            raise DeviceGone("pyscard is not installed (pip install pyscard; needs libpcsclite-dev)",
                             device=self.name, url=self.url)
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if _hr(hr):
            raise self.error(_hr(hr), "no PC/SC service")
        self._ctx = ctx
        self.frames = frames.current()
        try:
            self.reader = self._find()
            self._state, self._pending = _UNAWARE, None
            # learn the state now, so that every wait() blocks; a card already there is news
            self._pending = self.wait(0)
        except DriverError:
            self.close()
            raise

    def close(self) -> None:
        """Release the context; never raises."""
        ctx, self._ctx = self._ctx, None
        if ctx is not None and scard is not None:
            hr = _hr(scard.SCardReleaseContext(ctx))
            if hr:
                log.debug("device %s: releasing the PC/SC context: %s", self.name, _message(hr))

    def _find(self) -> str:
        hr, readers = scard.SCardListReaders(self._ctx, [])
        if _hr(hr):
            raise self.error(_hr(hr), "listing readers")
        for reader in readers:
            if self.pattern in reader:
                return str(reader)
        known = ", ".join(map(repr, readers)) or "none"
        raise DeviceGone(f"no PC/SC reader matching {self.pattern!r} (readers: {known})",
                         device=self.name, url=self.url)

    def wait(self, timeout: float) -> CardEvent | None:
        """Wait up to ``timeout`` s for a card to arrive or leave; None when nothing changed."""
        if self._pending is not None:
            event, self._pending = self._pending, None
            return event
        if self._ctx is None:
            raise DeviceGone("reader is not open", device=self.name, url=self.url)
        was_present = bool(self._state & _PRESENT)
        hr, states = scard.SCardGetStatusChange(self._ctx, max(0, int(timeout * 1000)),
                                                [(self.reader, self._state)])
        hr = _hr(hr)
        if hr in (_TIMEOUT, _CANCELLED):
            return None
        if hr:
            raise self.error(hr, "waiting for a card")
        new = int(states[0][1]) & ~_CHANGED
        if new & (_UNKNOWN | _UNAVAILABLE):
            raise DeviceGone(f"reader {self.reader!r} is gone", device=self.name, url=self.url)
        # pcsc-lite counts insertions and removals in the high 16 bits: a card swapped between
        # two calls keeps PRESENT but moves the count, so it is a removal then an insertion
        swapped = was_present and new & _PRESENT and (new >> 16) != (self._state >> 16)
        self._state = new
        if swapped:
            self._pending = CardEvent.INSERTED
            return CardEvent.REMOVED
        if bool(new & _PRESENT) != was_present:
            return CardEvent.INSERTED if new & _PRESENT else CardEvent.REMOVED
        return None

    def card_left(self, timeout: float) -> bool:
        """True if the card known to be present leaves within ``timeout`` s (state not consumed:
        the next ``wait`` still reports the removal)."""
        if self._ctx is None:
            return True
        deadline = time.monotonic() + timeout
        known = self._state
        while (left := deadline - time.monotonic()) > 0:
            hr, states = scard.SCardGetStatusChange(self._ctx, int(left * 1000), [(self.reader, known)])
            if _hr(hr):
                return _hr(hr) not in (_TIMEOUT, _CANCELLED)
            new = int(states[0][1]) & ~_CHANGED
            if not new & _PRESENT or (new >> 16) != (self._state >> 16):
                return True
            known = new             # another flag moved (in use, exclusive): keep waiting
        return False

    @property
    def card_present(self) -> bool:
        """What the last status said."""
        return bool(self._state & _PRESENT)

    def connect(self) -> PcscCard:
        """Connect to the card in the reader (shared, T=0 or T=1)."""
        hr, handle, protocol = scard.SCardConnect(self._ctx, self.reader, scard.SCARD_SHARE_SHARED,
                                                  scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        if _hr(hr):
            raise self.error(_hr(hr), "connecting to the card")
        return PcscCard(self, handle, int(protocol))

    def error(self, hr: int, what: str) -> DriverError:
        """The named error for a failed PC/SC call (hresult kept in ``code``)."""
        text = f"{what}: {_message(hr)} (0x{hr:08X})"
        if hr in _GONE:
            return DeviceGone(text, device=self.name, url=self.url, code=hr)
        if hr in _CARD_LEFT:
            return CardLeft(text, device=self.name, url=self.url, code=hr)
        return DriverError(text, device=self.name, url=self.url, code=hr)


class PcscCard:
    """A connection to the card on a reader: ``transmit`` APDUs, then ``disconnect``."""

    def __init__(self, reader: PcscReader, handle: Any, protocol: int) -> None:
        self._reader = reader
        self._handle: Any = handle
        self._protocol = protocol

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU, return the response with SW1 SW2 (61xx and 6Cxx handled)."""
        raw = self._transmit(apdu)
        if len(raw) == 2 and raw[0] == 0x6C and len(apdu) >= 5:    # T=0: wrong Le, the card says which
            raw = self._transmit(apdu[:-1] + raw[1:2])
        data = b""
        while len(raw) >= 2 and raw[-2] == 0x61:                    # T=0: more data waiting
            data += raw[:-2]
            raw = self._transmit(bytes((0x00, 0xC0, 0x00, 0x00, raw[-1])))
        return data + raw

    def _transmit(self, apdu: bytes) -> bytes:
        if self._handle is None:
            raise CardLeft("card connection closed", device=self._reader.name, url=self._reader.url)
        wire.debug("%s TX %s", self._reader.name, apdu.hex(" "))
        ring = self._reader.frames
        if ring is not None:      # /diag: commands whole, responses as their status word only
            frames.capture(ring, frames.TX, apdu, frames.APDU)
        hr, response = scard.SCardTransmit(self._handle, self._protocol, list(apdu))
        if _hr(hr):
            raise self._reader.error(_hr(hr), "transmit")
        raw = bytes(response)
        # vpcd (and some readers) answer a card that left mid-command with an empty success;
        # pcscd notices the removal at its next presence poll (0.4 s), so wait that long for it
        if len(raw) < 2 and self._reader.card_left(_PRESENCE_POLL_S):
            raise CardLeft("the card left during a command", device=self._reader.name, url=self._reader.url)
        # responses may hold personal data (DG1): only their length and status reach the wire log
        wire.debug("%s RX %d bytes, SW %s", self._reader.name, len(raw), raw[-2:].hex())
        if ring is not None:
            frames.capture(ring, frames.RX, raw, frames.APDU)
        return raw

    def disconnect(self, *, reset: bool) -> None:
        """End the connection; ``reset`` drops the card's security state (never raises)."""
        handle, self._handle = self._handle, None
        if handle is None or scard is None:
            return
        hr = _hr(scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD))
        if hr:
            log.debug("device %s: disconnect: %s", self._reader.name, _message(hr))
