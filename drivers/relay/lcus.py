"""LcusRelay: the gate release on an LCUS-type USB relay board (CH340 serial, LCUS-1/2/4/8).

URL grammar: anything ``serial.serial_for_url`` accepts, passed verbatim: a stable link such
as ``/dev/kiosk/gate`` or ``/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0``,
``hwgrep://1a86:7523``, ``spy:///dev/ttyUSB0`` (wire trace), ``socket://`` or ``loop://``.

Options (``OPTIONS``): ``channel`` (the relay wired to the gate, 1..8); ``channels`` (how
many relays the board has, all driven off at open and close); ``pulse_s`` (the release pulse
the checkpoint asks for); ``max_pulse_s`` (hard cap on any pulse); ``active_high`` (False
for boards where state byte 00 energises the coil).

Wire reference: PROTOCOLS.md §4.1 and §4.3; frames live in ``lcus_frames``.  The board never
answers a switching command and has no watchdog, so the driver fails closed: every relay is
driven off at ``open`` before anything else, a pulse is bounded and always ends with OFF,
and ``close`` de-energises.  Because the board is silent, ``read`` is only a liveness poll:
it returns None while the port is there and raises DeviceGone once it is lost.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import serial

from ..base import GatePulsed
from ..errors import DeviceGone, DriverError, OptionError
from ..options import Option
from ..serialport import PORT_ERRORS, close_quietly, gone, open_port, read_burst
from .lcus_frames import MAX_CHANNEL, MIN_CHANNEL, switch_frame

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire")

BAUDRATE = 9600


class LcusRelay:
    """An LCUS USB relay board driving the gate release (GateRelay protocol)."""

    OPTIONS: dict[str, Option] = {
        "channel": Option(int, 1, "relay wired to the gate release", min=MIN_CHANNEL, max=MAX_CHANNEL),
        "channels": Option(int, 1, "relays on the board, all driven off at start",
                           min=MIN_CHANNEL, max=MAX_CHANNEL),
        "pulse_s": Option(float, 0.5, "release pulse length in seconds", min=0.05, max=30.0),
        "max_pulse_s": Option(float, 3.0, "longest pulse ever sent, in seconds", min=0.05, max=30.0),
        "active_high": Option(bool, True, "state byte 01 energises the relay (False: 00 does)"),
    }

    def __init__(self, name: str, url: str, *, channel: int = 1, channels: int = 1, pulse_s: float = 0.5,
                 max_pulse_s: float = 3.0, active_high: bool = True,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.url = url
        self.channel = channel
        self.channels = channels
        self.pulse_s = pulse_s
        self.max_pulse_s = max_pulse_s
        self.active_high = active_high
        self._sleep = sleep  # the pulse timer; a seam for tests, never set from config
        self._port: serial.Serial | None = None
        problem = _check_settings(channel, channels, pulse_s, max_pulse_s)
        if problem:
            raise OptionError(problem, device=name, url=url)

    # -- Device -----------------------------------------------------------------------

    def open(self) -> None:
        """Open the port and drive every relay off before anything else; DeviceGone on failure."""
        self.close()
        self._port = open_port(self.name, self.url, baudrate=BAUDRATE, bytesize=serial.EIGHTBITS,
                               parity=serial.PARITY_NONE, stopbits=serial.STOPBITS_ONE,
                               timeout=0.0, write_timeout=1.0)
        try:
            self.all_off()
        except DriverError:
            self._release_port()
            raise
        log.info("relay %s open url=%s channel=%d channels=%d active_high=%s",
                 self.name, self.url, self.channel, self.channels, self.active_high)

    def close(self) -> None:
        """De-energise every relay (best effort), then release the port; never raises."""
        if self._port is None:
            return
        try:
            self.all_off()
        except DriverError as exc:
            log.warning("relay %s: could not de-energise on close: %s", self.name, exc)
        self._release_port()

    def read(self, timeout: float) -> None:
        """Liveness poll: wait up to ``timeout`` s; None while the port lives, DeviceGone once lost."""
        data = read_burst(self._require_port(), timeout, name=self.name, url=self.url, what="relay")
        if data:
            # switching commands get no reply (PROTOCOLS.md §4.1); anything else is line noise
            log.warning("relay %s: ignored %d unexpected bytes", self.name, len(data))
            wire.debug("%s < %s", self.name, data.hex(" "))
        return None

    def wake(self) -> None:
        """Cut the liveness read short so a queued pulse runs now (called by the runner, any thread)."""
        port = self._port
        if port is not None and hasattr(port, "cancel_read"):
            try:
                port.cancel_read()
            except PORT_ERRORS:
                pass

    # -- GateRelay --------------------------------------------------------------------

    def pulse(self, seconds: float) -> GatePulsed:
        """Energise the gate relay for min(seconds, max_pulse_s), then de-energise (always tried)."""
        if math.isnan(seconds) or seconds <= 0:
            raise ValueError(f"pulse length {seconds!r} is not above 0 s")
        duration = min(seconds, self.max_pulse_s)
        failed = True
        try:
            self._switch(self.channel, True)
            self._sleep(duration)
            failed = False
        finally:
            self._release(failed)
        log.info("relay %s pulsed channel=%d seconds=%.3f", self.name, self.channel, duration)
        return GatePulsed(self.channel, duration)

    def all_off(self) -> None:
        """De-energise every relay of the board."""
        for channel in range(MIN_CHANNEL, self.channels + 1):
            self._switch(channel, False)

    # -- internals --------------------------------------------------------------------

    def _release(self, quiet: bool) -> None:
        """Switch the gate relay off; when ``quiet`` (already failing) log instead of raising."""
        try:
            self._switch(self.channel, False)
        except DriverError as exc:
            if not quiet:
                raise
            log.error("relay %s: OFF after a failed pulse also failed: %s", self.name, exc)

    def _switch(self, channel: int, on: bool) -> None:
        frame = switch_frame(channel, on, self.active_high)
        port = self._require_port()
        wire.debug("%s > %s", self.name, frame.hex(" "))
        try:
            port.write(frame)
            port.flush()  # the frame has left before the pulse timer starts
        except PORT_ERRORS as exc:
            raise self._gone(f"relay write failed ({'on' if on else 'off'} channel {channel})", exc) from exc

    def _require_port(self) -> serial.Serial:
        if self._port is None:
            raise DeviceGone("relay port is not open", device=self.name, url=self.url)
        return self._port

    def _release_port(self) -> None:
        port, self._port = self._port, None
        close_quietly(port, self.name)

    def _gone(self, what: str, exc: BaseException) -> DeviceGone:
        return gone(self.name, self.url, what, exc)


def _check_settings(channel: int, channels: int, pulse_s: float, max_pulse_s: float) -> str | None:
    """A problem with the option combination, or None."""
    if not MIN_CHANNEL <= channels <= MAX_CHANNEL:
        return f"channels: {channels} is not in {MIN_CHANNEL}..{MAX_CHANNEL}"
    if not MIN_CHANNEL <= channel <= channels:
        return f"channel: {channel} is not in {MIN_CHANNEL}..{channels} (the board's channels)"
    if not max_pulse_s > 0:
        return f"max_pulse_s: {max_pulse_s} is not above 0"
    if not 0 < pulse_s <= max_pulse_s:
        return f"pulse_s: {pulse_s} is not in (0, max_pulse_s={max_pulse_s}]"
    return None
