"""ModbusRelay: the gate release on a Modbus RTU relay board (RS-485, e.g. Waveshare "Modbus RTU Relay").

URL grammar: anything ``serial.serial_for_url`` accepts, passed verbatim: the RS-485 adapter's
stable link (``/dev/kiosk/gate``, ``/dev/serial/by-id/…``), ``hwgrep://1a86:7523``,
``spy:///dev/ttyUSB0`` (wire trace), ``socket://host:port`` (a serial-to-TCP gateway), ``loop://``.

Options (``OPTIONS``): ``unit`` (Modbus address 1..247); ``channel`` (the relay wired to the
gate, counted from 1: coil = channel - 1); ``channels`` (relays on the board, all driven idle at
open); ``pulse_s`` / ``max_pulse_s`` (release pulse and hard cap, seconds); ``baudrate`` and
``parity`` (8 data bits, 1 stop bit); ``reply_timeout_s`` and ``retries`` (≤ 2) per request;
``active_high`` (False: the lock is released by *de*-energising, so idle is coil ON; then no
flash); ``use_flash`` (hardware-timed pulse, preferred); ``passage_input`` / ``passage_input_b``
(discrete inputs counted from 1 wired to PASS A / PASS B, 0 for none); ``passage_active_low``
(the input reads 0 while someone passes: an NC contact on a board whose DI reads a closed
contact as 1); ``debounce_s`` and ``poll_s`` (input filter and sampling interval).

Wire reference: PROTOCOLS.md §4.2–4.3; frames in ``modbus_frames``, transactions in
``modbus_link``.  Fails closed: every relay is driven idle at ``open`` and read back, the
release is a Waveshare *flash* (FC05 to 0x0200 + coil, value in 100 ms units) so the board
ends the pulse even if the kiosk dies mid-pulse; without flash an ON/OFF pair with OFF in
``finally``.  After every pulse the coil is read back (FC01): a relay that did not energise
or stays on raises RelayStuck.  FC01 reports the board's output latch, not the contact: a
welded contact is visible only through the passage sensor.

While a pulse runs the inputs are still sampled, so a passage during the pulse is never
missed; ``read`` returns each PassageSeen in order, two passages on one pulse as two readings.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Callable

import serial

from ..base import GatePulsed
from ..errors import DeviceGone, DriverError, OptionError, RelayStuck
from ..gate_events import GateState, PassageSeen
from ..options import Option
from ..passage.detector import PassageDetector
from ..serialport import close_quietly, open_port
from .modbus_frames import (
    COIL_OFF,
    COIL_ON,
    FLASH_BASE,
    FLASH_UNIT_S,
    MAX_UNIT,
    MIN_UNIT,
    BadCrc,
    ExceptionReply,
    NoReply,
    flash_units,
    inter_frame_gap,
)
from .modbus_link import MAX_RETRIES, LinkStats, ModbusLink

log = logging.getLogger(__name__)

MAX_CHANNELS = 32
FLASH_GRACE_S = 0.15      # the board's timer ends the flash; allow for its tick before reading back
IDLE_CHECK_S = 1.0        # how often an idle relay is read back (and the board's liveness checked)
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


class ModbusRelay:
    """A Modbus RTU relay board driving the gate release, optionally reading the PASS inputs."""

    OPTIONS: dict[str, Option] = {
        "unit": Option(int, 1, "Modbus unit address of the board", min=MIN_UNIT, max=MAX_UNIT),
        "channel": Option(int, 1, "relay wired to the gate release, from 1", min=1, max=MAX_CHANNELS),
        "channels": Option(int, 1, "relays on the board, all driven idle at start", min=1, max=MAX_CHANNELS),
        "pulse_s": Option(float, 0.5, "release pulse length in seconds", min=0.1, max=25.0),
        "max_pulse_s": Option(float, 3.0, "longest pulse ever sent, in seconds", min=0.1, max=25.0),
        "baudrate": Option(int, 9600, "serial speed", choices=BAUDRATES),
        "parity": Option(str, "N", "serial parity (8 data bits, 1 stop bit)", choices=("N", "E", "O")),
        "reply_timeout_s": Option(float, 0.2, "wait for each reply, in seconds", min=0.02, max=2.0),
        "retries": Option(int, 2, "repeats of a request whose reply was lost or corrupt", min=0, max=MAX_RETRIES),
        "active_high": Option(bool, True, "energising the coil releases the gate (False: de-energising does)"),
        "use_flash": Option(bool, True, "hardware-timed pulse: the board ends it even if the kiosk dies"),
        "passage_input": Option(int, 0, "discrete input wired to PASS (A), from 1; 0 for none", min=0,
                                max=MAX_CHANNELS),
        "passage_input_b": Option(int, 0, "discrete input wired to PASS B, from 1; 0 for none", min=0,
                                  max=MAX_CHANNELS),
        "passage_active_low": Option(bool, False, "the PASS input reads 0 while someone passes"),
        "debounce_s": Option(float, 0.03, "a PASS level counts after holding this long, seconds", min=0.0,
                             max=0.5),
        "poll_s": Option(float, 0.02, "PASS input sampling interval, seconds", min=0.005, max=1.0),
    }

    def __init__(self, name: str, url: str, *, unit: int = 1, channel: int = 1, channels: int = 1,
                 pulse_s: float = 0.5, max_pulse_s: float = 3.0, baudrate: int = 9600, parity: str = "N",
                 reply_timeout_s: float = 0.2, retries: int = 2, active_high: bool = True,
                 use_flash: bool = True, passage_input: int = 0, passage_input_b: int = 0,
                 passage_active_low: bool = False, debounce_s: float = 0.03, poll_s: float = 0.02,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.url = url
        self.unit, self.channel, self.channels = unit, channel, channels
        self.pulse_s, self.max_pulse_s = pulse_s, max_pulse_s
        self.baudrate, self.parity = baudrate, parity
        self.reply_timeout_s, self.retries = reply_timeout_s, retries
        self.active_high, self.use_flash = active_high, use_flash
        self.poll_s = poll_s
        self._monotonic = monotonic   # seams for tests, never set from config
        self._sleep = sleep
        problem = _check_settings(channel, channels, pulse_s, max_pulse_s, active_high, use_flash,
                                  passage_input, passage_input_b)
        if problem:
            raise OptionError(problem, device=name, url=url)
        self._inputs = {d: n for d, n in (("A", passage_input), ("B", passage_input_b)) if n}
        undirected = passage_input_b == 0
        self._detectors = {d: PassageDetector(direction=None if undirected else d, debounce_s=debounce_s,
                                              active_low=passage_active_low) for d in self._inputs}
        self._pending: collections.deque[PassageSeen] = collections.deque()
        self._link: ModbusLink | None = None
        self._next_idle_check = 0.0

    @property
    def coil(self) -> int:
        """The gate relay's coil address (channel counted from 0)."""
        return self.channel - 1

    @property
    def link_stats(self) -> LinkStats | None:
        """Bus counters since open (requests, retries, lost and corrupt replies), None when closed."""
        return None if self._link is None else self._link.stats

    # -- Device -----------------------------------------------------------------------

    def open(self) -> None:
        """Open the port, drive every relay idle, read it back, and sample the PASS inputs."""
        self.close()
        port = open_port(self.name, self.url, baudrate=self.baudrate, bytesize=serial.EIGHTBITS,
                         parity=self.parity, stopbits=serial.STOPBITS_ONE, timeout=0.0, write_timeout=1.0)
        self._link = ModbusLink(port, name=self.name, url=self.url, unit=self.unit,
                                reply_timeout_s=self.reply_timeout_s, retries=self.retries,
                                gap_s=inter_frame_gap(self.baudrate), monotonic=self._monotonic)
        try:
            self.all_off()
            self._check_released("still energised after the all-off at open")
            self._prime_inputs()
        except DriverError:
            self._release_port()
            raise
        self._next_idle_check = self._monotonic() + IDLE_CHECK_S
        log.info("relay %s open url=%s unit=%d channel=%d channels=%d flash=%s inputs=%s", self.name,
                 self.url, self.unit, self.channel, self.channels, self.use_flash, self._inputs or "none")

    def close(self) -> None:
        """Drive every relay idle (best effort), then release the port; never raises."""
        if self._link is None:
            return
        try:
            self.all_off()
        except DriverError as exc:
            log.warning("relay %s: could not drive idle on close: %s", self.name, exc)
        self._release_port()

    def read(self, timeout: float) -> PassageSeen | None:
        """Sample the PASS inputs for up to ``timeout`` s; the next PassageSeen, or None.

        Also reads the idle relay back once a second: a relay found released while idle is
        driven idle again, and RelayStuck raised if it stays so.
        """
        deadline = self._monotonic() + timeout
        while True:
            if self._pending:
                return self._pending.popleft()
            self._sample_inputs()
            self._supervise_idle()
            if self._pending:
                return self._pending.popleft()
            left = deadline - self._monotonic()
            if left <= 0:
                return None
            self._sleep(min(self.poll_s, left) if self._detectors else left)

    # -- GateRelay --------------------------------------------------------------------

    def pulse(self, seconds: float) -> GatePulsed:
        """Release the gate for min(seconds, max_pulse_s), watching the inputs; RelayStuck on a bad read-back."""
        if math.isnan(seconds) or seconds <= 0:
            raise ValueError(f"pulse length {seconds!r} is not above 0 s")
        self._require_link()
        duration = min(seconds, self.max_pulse_s)
        if self.use_flash:
            units = min(flash_units(duration), int(self.max_pulse_s / FLASH_UNIT_S + 1e-9))
            duration = round(units * FLASH_UNIT_S, 3)
            self._flash(units)
            ends = self._monotonic() + duration
            try:
                self._expect_released()
                self._watch_until(ends + FLASH_GRACE_S)
            except DriverError:
                self._end_pulse(quiet=True)   # the board ends the flash anyway; cut it short if it listens
                raise
        else:
            failed = True
            try:
                self._write_gate(released=True)
                ends = self._monotonic() + duration
                self._expect_released()
                self._watch_until(ends)
                failed = False
            finally:
                self._end_pulse(quiet=failed)
        self._check_released("stays energised after the pulse")
        self._next_idle_check = self._monotonic() + IDLE_CHECK_S
        log.info("relay %s pulsed channel=%d seconds=%.3f flash=%s", self.name, self.channel, duration,
                 self.use_flash)
        return GatePulsed(self.channel, duration)

    def all_off(self) -> None:
        """Drive every relay of the board idle (de-energised; energised for ``active_high=False``)."""
        link = self._require_link()
        idle = COIL_OFF if self.active_high else COIL_ON
        for coil in range(self.channels):
            link.write(coil, idle)

    def gate_state(self) -> GateState:
        """Read the gate relay and the PASS inputs now: the release sequence's pre-check."""
        self._sample_inputs()
        return GateState(relay_on=self._gate_released(),
                         passage_active=any(d.active for d in self._detectors.values()))

    def read_inputs(self, count: int = 8) -> tuple[bool, ...]:
        """Raw discrete inputs 1..count (for the technician's ``kiosk gate inputs``)."""
        return self._require_link().read_inputs(0, count)

    def read_coils(self, count: int | None = None) -> tuple[bool, ...]:
        """Raw coil latches of relays 1..count (default: the board's channels)."""
        return self._require_link().read_coils(0, count or self.channels)

    # -- the pulse ----------------------------------------------------------------------

    def _flash(self, units: int) -> None:
        """Send the flash; after a lost reply, read the coil back before repeating (never restart a running pulse)."""
        link = self._require_link()
        failure: DriverError | None = None
        for attempt in range(1 + self.retries):
            if attempt and self._gate_reads_released():
                log.info("relay %s: flash reply lost but the relay is on: not repeated", self.name)
                return
            try:
                link.write(FLASH_BASE + self.coil, units, retries=0)
                return
            except (NoReply, BadCrc) as exc:
                failure = exc
            except ExceptionReply as exc:
                log.error("relay %s: the board refused the flash command (%s); if it has no flash, set "
                          "use_flash = false", self.name, exc.reason)
                raise
        assert failure is not None
        raise failure

    def _gate_reads_released(self) -> bool:
        try:
            return self._gate_released(retries=0)
        except (NoReply, BadCrc):
            return False

    def _expect_released(self) -> None:
        if not self._gate_released():
            raise RelayStuck(f"relay {self.channel} did not energise (read-back after the command)",
                             device=self.name, url=self.url)

    def _watch_until(self, until: float) -> None:
        """Keep sampling the PASS inputs until ``until`` (monotonic); plain wait without inputs."""
        while True:
            left = until - self._monotonic()
            if left <= 0:
                return
            if self._detectors:
                try:
                    self._sample_inputs()
                except (NoReply, BadCrc) as exc:
                    # the pulse itself is fine; one lost sample only delays the debounce
                    log.info("relay %s: PASS sample lost during the pulse: %s", self.name, exc)
                left = until - self._monotonic()
                if left <= 0:
                    return
                self._sleep(min(self.poll_s, left))
            else:
                self._sleep(left)

    def _end_pulse(self, quiet: bool) -> None:
        """Drive the gate relay idle; when ``quiet`` (already failing) log instead of raising."""
        try:
            self._write_gate(released=False)
        except DriverError as exc:
            if not quiet:
                raise
            log.error("relay %s: idle after a failed pulse also failed: %s", self.name, exc)

    def _check_released(self, what: str) -> None:
        """Read the gate relay back; if released, drive it idle once more; RelayStuck if it stays so."""
        if not self._gate_released():
            return
        log.warning("relay %s: relay %d %s: driving it idle", self.name, self.channel, what)
        self._write_gate(released=False)
        if not self._gate_released():
            return
        raise RelayStuck(f"relay {self.channel} {what} (read-back)", device=self.name, url=self.url)

    def _supervise_idle(self) -> None:
        now = self._monotonic()
        if now < self._next_idle_check:
            return
        self._next_idle_check = now + IDLE_CHECK_S
        self._check_released("found released while idle")

    # -- coils and inputs ------------------------------------------------------------------

    def _write_gate(self, *, released: bool) -> None:
        on = released == self.active_high
        self._require_link().write(self.coil, COIL_ON if on else COIL_OFF)

    def _gate_released(self, retries: int | None = None) -> bool:
        (on,) = self._require_link().read_coils(self.coil, 1, retries=retries)
        return on == self.active_high

    def _prime_inputs(self) -> None:
        self._pending.clear()
        if not self._detectors:
            return
        bits = self._read_pass_bits()
        for direction, detector in self._detectors.items():
            detector.prime(bits[self._inputs[direction] - 1])
            if detector.active:
                log.warning("relay %s: PASS %s is active at open (someone in the turnstile, or wiring)",
                            self.name, direction)

    def _sample_inputs(self) -> None:
        if not self._detectors:
            return
        bits = self._read_pass_bits()
        at = self._monotonic()
        for direction, detector in self._detectors.items():
            seen = detector.update(bits[self._inputs[direction] - 1], at)
            if seen is not None:
                self._pending.append(seen)
                log.info("relay %s: passage direction=%s", self.name, seen.direction or "-")

    def _read_pass_bits(self) -> tuple[bool, ...]:
        return self._require_link().read_inputs(0, max(self._inputs.values()))

    def _require_link(self) -> ModbusLink:
        if self._link is None:
            raise DeviceGone("relay port is not open", device=self.name, url=self.url)
        return self._link

    def _release_port(self) -> None:
        link, self._link = self._link, None
        close_quietly(None if link is None else link.port, self.name)


def _check_settings(channel: int, channels: int, pulse_s: float, max_pulse_s: float, active_high: bool,
                    use_flash: bool, passage_input: int, passage_input_b: int) -> str | None:
    """A problem with the option combination, or None."""
    if not 1 <= channels <= MAX_CHANNELS:
        return f"channels: {channels} is not in 1..{MAX_CHANNELS}"
    if not 1 <= channel <= channels:
        return f"channel: {channel} is not in 1..{channels} (the board's channels)"
    if not max_pulse_s > 0:
        return f"max_pulse_s: {max_pulse_s} is not above 0"
    if not 0 < pulse_s <= max_pulse_s:
        return f"pulse_s: {pulse_s} is not in (0, max_pulse_s={max_pulse_s}]"
    if use_flash and max_pulse_s < FLASH_UNIT_S:
        return f"max_pulse_s: {max_pulse_s} is below the flash unit of {FLASH_UNIT_S} s"
    if use_flash and not active_high:
        # a flash energises; releasing by de-energising would need flash-off (0x04XX), UNVERIFIED
        return "use_flash: a flash pulse energises the relay; with active_high = false set use_flash = false"
    if passage_input_b and not passage_input:
        return "passage_input_b: needs passage_input (PASS A) as well"
    if passage_input_b and passage_input_b == passage_input:
        return f"passage_input_b: {passage_input_b} is the same input as passage_input"
    return None
