"""SAM-V resident ID-card reader (CVR-100 / SS628 / iDR210 class) on a serial port.

Protocol: /work/shared/PROTOCOLS.md §1 (SAM-V frames ``AA AA AA 96 69``; find 20 01 ->
select 20 02 -> read base info 30 01 for every card).  Framing lives in ``samv_frames`` and
the card data in ``samv_text``; this module owns the port, the timing and the card's presence.

URL grammar: the URL goes verbatim to ``serial.serial_for_url``, so any pyserial URL works:

    /dev/kiosk/idcard              udev symlink of the reader (never /dev/ttyUSBn)
    /dev/serial/by-id/usb-...      stable kernel name
    hwgrep://1a86:7523             first port whose description matches (USB VID:PID)
    spy:///dev/kiosk/idcard        pyserial raw trace (refused by the config: it logs personal data)
    socket://10.0.0.5:4001         a reader behind a serial-to-TCP bridge
    loop://                        loopback (useful only to test framing errors)

Options (``SamvReader.OPTIONS``):

    baudrate         bit/s, one of 9600 19200 38400 57600 115200 (reader default 115200)
    poll_interval_s  seconds between find-card polls (PROTOCOLS.md: 0.3-0.5 s)
    reply_timeout_s  seconds to wait for one reply; read base info also gets its wire time

Commands: every command of PROTOCOLS.md §1.3 is a method (``reset_sam``, ``sam_status``,
``sam_id``, ``find_card``, ``select_card``, ``read_base``, ``read_base_fp``,
``read_new_address``); ``read`` runs find -> select -> read base with them.  Call them on the
device's own thread (``DeviceRunner.call``).  An unexpected SW3 raises ``SamvStatusError``
naming the status; a reply saying the reader got our frame corrupted (SW3 10/11) makes the
driver send the command once more.  ``open`` checks the SAM and resets it once if it fails.

Failures a resident sees (``CardFailed.reason``): ``card_unreadable`` (a damaged or error
reply while the card stays; retried up to MAX_ATTEMPTS times), ``card_removed_early``,
``card_type_unknown`` (SW3 0x40, or a type flag the kiosk does not know) and
``card_type_unverified`` (the 2023 foreigner card, 'Y').  The photo and every personal field
stay in memory: the wire trace shows only the status of replies that carry them.

Presence: a card is reported once per presentation.  After a read, find-card polls keep
the card "present"; when find reports no card, a select confirms it before CardRemoved is
returned, because some readers stop answering find for a card they have already read
(UNVERIFIED per model; the simulator's ``halt_after_read`` models it).
"""

from __future__ import annotations

import enum
import logging
import time
from typing import ClassVar

import serial

from drivers.base import CardFailed, CardRead, CardRemoved, IdCard, Reading
from drivers.errors import DeviceGone, DeviceTimeout, DriverError, ProtocolError
from drivers.options import Option
from drivers.serialport import PORT_ERRORS, close_quietly, gone, open_port

from .samv_capture import SamvCapture
from .samv_frames import (
    SW3_CARD_TYPE,
    SW3_FIND_OK,
    SW3_HOST_CHECKSUM,
    SW3_HOST_LENGTH,
    SW3_ITEM_ABSENT,
    SW3_NO_CARD,
    SW3_OK,
    BadFrame,
    Command,
    FrameReader,
    Response,
    SamvStatusError,
    sw3_status,
)
from .samv_text import CardDataError, parse_new_address, parse_read_base, parse_read_base_fp

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire")

_READ_SLICE_S = 0.05            # port read timeout: how late we notice a reply deadline
_READ_BASE_FRAME = 1295         # bytes of a 30 01 reply (PROTOCOLS.md §1.5)
_READ_FP_FRAME = 2321           # longest 30 10 reply: two fingerprints
_SAM_ID_LEN = 16
# replies that carry name, ID number, address or photo: only their status goes to the wire log
_PERSONAL = frozenset({Command.READ_BASE, Command.READ_BASE_FP, Command.READ_NEW_ADDRESS})


class _Presence(enum.Enum):
    """What the driver knows about the card on the reader."""

    EMPTY = "empty"             # no card, or the last one left
    READ = "read"               # the card there was read and reported
    RETRY = "retry"             # a card is there, its last read failed; read again next poll
    GAVE_UP = "gave_up"         # failed too often or cannot be read at all; wait for removal


_WAIT_FOR_REMOVAL = frozenset({_Presence.READ, _Presence.GAVE_UP})


class SamvReader:
    """A SAM-V ID-card reader; ``read`` polls once and returns a card reading or None."""

    OPTIONS: ClassVar[dict[str, Option]] = {
        "baudrate": Option(int, 115200, "UART speed in bit/s", choices=(9600, 19200, 38400, 57600, 115200)),
        "poll_interval_s": Option(float, 0.4, "seconds between find-card polls", min=0.05, max=5.0),
        "reply_timeout_s": Option(float, 1.0, "seconds to wait for one reply", min=0.1, max=10.0),
    }
    MAX_ATTEMPTS: ClassVar[int] = 3   # failed reads of one presentation before waiting for removal

    def __init__(self, name: str, url: str, *, baudrate: int = 115200, poll_interval_s: float = 0.4,
                 reply_timeout_s: float = 1.0) -> None:
        self.name = name
        self.url = url
        self.baudrate = baudrate
        self.poll_interval_s = poll_interval_s
        self.reply_timeout_s = reply_timeout_s
        self._port: serial.Serial | None = None
        self._frames = FrameReader()
        self._presence = _Presence.EMPTY
        self._attempts = 0
        self._next_poll = 0.0

    # -- Device protocol --------------------------------------------------------------

    def open(self) -> None:
        """Open the port and check that a SAM answers; DeviceGone if the port is absent."""
        if self._port is not None:
            return
        self._port = open_port(self.name, self.url, baudrate=self.baudrate, timeout=_READ_SLICE_S,
                               frames=SamvCapture())   # /diag frames: card data withheld (samv_capture)
        self._frames.reset()
        self._presence, self._attempts, self._next_poll = _Presence.EMPTY, 0, 0.0
        try:
            self._check_sam()
        except DriverError:
            self.close()
            raise

    def close(self) -> None:
        """Close the port; never raises."""
        port, self._port = self._port, None
        close_quietly(port, self.name)

    def read(self, timeout: float) -> Reading | None:
        """Poll once (paced by poll_interval_s); a card read, a removal, a failure or None."""
        if self._port is None:
            raise DeviceGone("port is not open", device=self.name, url=self.url)
        wait = self._next_poll - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, max(0.0, timeout)))
            if wait > timeout:
                return None
        try:
            return self._poll()
        finally:
            self._next_poll = time.monotonic() + self.poll_interval_s

    # -- every command of PROTOCOLS.md §1.3 --------------------------------------------------

    def reset_sam(self) -> None:
        """Reset the SAM module (10 FF)."""
        self._expect(Command.RESET_SAM, SW3_OK)

    def sam_status(self) -> None:
        """Check the SAM (11 FF); SamvStatusError names what is wrong with it."""
        self._expect(Command.SAM_STATUS, SW3_OK)

    def sam_id(self) -> bytes:
        """The 16-byte SAM number (12 FF), as the reader sends it."""
        reply = self._expect(Command.SAM_ID, SW3_OK)
        if len(reply.data) != _SAM_ID_LEN:
            raise ProtocolError(f"SAM_ID: {len(reply.data)} data bytes, expected {_SAM_ID_LEN}",
                                device=self.name, url=self.url)
        return reply.data

    def find_card(self) -> bool:
        """Look for a card (20 01): True if one is there, False if not (SW3 80)."""
        return self._expect(Command.FIND_CARD, SW3_FIND_OK, SW3_NO_CARD).sw3 == SW3_FIND_OK

    def select_card(self) -> None:
        """Select the card just found (20 02)."""
        self._expect(Command.SELECT_CARD, SW3_OK)

    def read_base(self) -> IdCard:
        """Read text and photo (30 01); CardDataError when the card's data cannot be used."""
        # 1295 bytes take 1.35 s at 9600 bit/s: give the reply its wire time on top
        return parse_read_base(self._expect(Command.READ_BASE, SW3_OK, extra_s=self._wire_s(_READ_BASE_FRAME)))

    def read_base_fp(self) -> tuple[IdCard, bytes]:
        """Read text, photo and fingerprints (30 10); the fingerprint bytes stay in memory only."""
        return parse_read_base_fp(self._expect(Command.READ_BASE_FP, SW3_OK, extra_s=self._wire_s(_READ_FP_FRAME)))

    def read_new_address(self) -> str | None:
        """The appended (newest) address (30 03), or None when the card has none (SW3 91)."""
        reply = self._expect(Command.READ_NEW_ADDRESS, SW3_OK, SW3_ITEM_ABSENT)
        return parse_new_address(reply.data) if reply.sw3 == SW3_OK else None

    def _check_sam(self) -> None:
        """SAM status; a failing SAM gets one reset and a second check before open gives up."""
        try:
            self.sam_status()
        except SamvStatusError as exc:
            log.warning("device %s: %s; resetting the SAM", self.name, exc)
            self.reset_sam()
            self.sam_status()

    # -- one poll -------------------------------------------------------------------------

    def _poll(self) -> Reading | None:
        if not self.find_card():        # any SW3 but 9F/80 is the reader's problem: SamvStatusError
            return self._on_no_card()
        if self._presence in _WAIT_FOR_REMOVAL:
            return None     # the same presentation: never read a card twice
        try:
            self.select_card()
            card = self.read_base()
        except CardDataError as exc:
            self._presence = _Presence.GAVE_UP      # reading again cannot change what the card says
            return self._failure(exc.reason, str(exc))
        except ProtocolError as exc:                # a corrupt frame, already flushed
            return self._failed_attempt("card_unreadable", str(exc))
        except SamvStatusError as exc:
            if exc.status.code == SW3_CARD_TYPE:    # the SAM itself does not know this card
                self._presence = _Presence.GAVE_UP
                return self._failure("card_type_unknown", str(exc))
            return self._after_refusal(exc)
        except DeviceTimeout as exc:
            return self._after_refusal(exc)
        self._presence, self._attempts = _Presence.READ, 0
        return CardRead(card)

    def _after_refusal(self, exc: DriverError) -> CardFailed:
        """Select or read failed: a card still there is unreadable, a card gone was removed early."""
        if self._card_present():
            return self._failed_attempt("card_unreadable", str(exc))
        self._presence, self._attempts = _Presence.EMPTY, 0
        return self._failure("card_removed_early", str(exc))

    def _on_no_card(self) -> Reading | None:
        if self._presence is _Presence.READ and self._still_selected():
            return None
        was_read = self._presence is _Presence.READ
        self._presence, self._attempts = _Presence.EMPTY, 0
        return CardRemoved() if was_read else None

    def _still_selected(self) -> bool:
        """True when a select still reaches the card that find no longer reports."""
        return self._transact(Command.SELECT_CARD).sw3 == SW3_OK

    def _card_present(self) -> bool:
        """After a failed read: is a card still there?  Unknown counts as present."""
        try:
            return self._transact(Command.FIND_CARD).sw3 != SW3_NO_CARD
        except (DeviceTimeout, ProtocolError):
            return True

    def _failed_attempt(self, reason: str, detail: str) -> CardFailed:
        self._attempts += 1
        self._presence = _Presence.GAVE_UP if self._attempts >= self.MAX_ATTEMPTS else _Presence.RETRY
        return self._failure(reason, detail)

    def _failure(self, reason: str, detail: str) -> CardFailed:
        log.info("device %s: card read failed: %s (%s)", self.name, reason, detail)
        return CardFailed(reason, detail)

    # -- one exchange on the wire ---------------------------------------------------------

    def _wire_s(self, nbytes: int) -> float:
        """Seconds ``nbytes`` take on the UART (10 bits a byte: start, 8 data, stop)."""
        return nbytes * 10 / self.baudrate

    def _expect(self, command: Command, *accepted: int, extra_s: float = 0.0) -> Response:
        """The reply to ``command``; SamvStatusError when its SW3 is not one of ``accepted``."""
        reply = self._transact(command, extra_s=extra_s)
        if reply.sw3 not in accepted:
            raise SamvStatusError(command, reply.status, device=self.name, url=self.url)
        return reply

    def _transact(self, command: Command, *, extra_s: float = 0.0) -> Response:
        """One exchange, sent once more if the reader says our frame reached it corrupted."""
        reply = self._exchange(command, extra_s=extra_s)
        if reply.sw3 in (SW3_HOST_CHECKSUM, SW3_HOST_LENGTH):
            wire.debug("%s %s reached the reader corrupted (%s): sending it again",
                       self.name, command.name, reply.status.key)
            reply = self._exchange(command, extra_s=extra_s)
        return reply

    def _exchange(self, command: Command, *, extra_s: float = 0.0) -> Response:
        """Send ``command`` and wait for its reply; DeviceTimeout, ProtocolError or DeviceGone."""
        port = self._port
        if port is None:
            raise DeviceGone("port is not open", device=self.name, url=self.url)
        frame = command.frame
        try:
            port.reset_input_buffer()       # a late reply to an earlier command must not pair with this one
            port.write(frame)
        except PORT_ERRORS as exc:
            raise self._gone(exc) from exc
        self._frames.reset()
        wire.debug("%s TX %s", self.name, frame.hex(" "))
        discarded = self._frames.discarded
        deadline = time.monotonic() + self.reply_timeout_s + extra_s
        while time.monotonic() < deadline:
            try:
                data = port.read(port.in_waiting or 1)
            except PORT_ERRORS as exc:
                raise self._gone(exc) from exc
            for item in self._frames.feed(data) if data else ():
                self._log_garbage(self._frames.discarded - discarded)
                if isinstance(item, BadFrame):
                    wire.debug("%s RX bad frame (%s): %s", self.name, item.fault.value, item.detail)
                    self._flush(port)
                    raise ProtocolError(f"{command.name}: {item.detail}", device=self.name, url=self.url)
                self._log_reply(command, item)
                return item
        pending = self._frames.pending
        self._flush(port)
        if pending:
            raise DeviceTimeout(f"{command.name}: reply truncated after {pending} bytes",
                                device=self.name, url=self.url)
        raise DeviceTimeout(f"{command.name}: no reply within {self.reply_timeout_s + extra_s:.2f} s",
                            device=self.name, url=self.url)

    def _flush(self, port: serial.Serial) -> None:
        try:
            port.reset_input_buffer()
        except PORT_ERRORS as exc:
            raise self._gone(exc) from exc
        self._frames.reset()

    def _log_reply(self, command: Command, resp: Response) -> None:
        status = sw3_status(resp.sw3)
        if command in _PERSONAL:
            wire.debug("%s RX sw=%02X %02X %02X (%s), %d data bytes withheld", self.name,
                       resp.sw1, resp.sw2, resp.sw3, status.key, len(resp.data))
        else:
            wire.debug("%s RX sw=%02X %02X %02X (%s) data=%s", self.name,
                       resp.sw1, resp.sw2, resp.sw3, status.key, resp.data.hex(" "))

    def _log_garbage(self, count: int) -> None:
        if count:
            wire.debug("%s RX skipped %d bytes before the preamble", self.name, count)

    def _gone(self, exc: BaseException) -> DeviceGone:
        return gone(self.name, self.url, self.url, exc)
