"""ModbusRelaySimulator: a Modbus RTU relay board with discrete inputs on a real pty.

It parses the real RTU requests (CRC checked, bad frames counted and skipped), serves FC01
(coils), FC02 (discrete inputs) and FC05 (write coil, and the Waveshare flash at 0x0200 + coil
with the value in 100 ms units), answers echo or exception replies, and ignores other units.
The flash ends on the simulator's **own timer**, independent of the host: a host killed
mid-pulse leaves a relay that still drops out on time, as on the real board.

Every relay change is kept in ``timeline`` as ``(time.monotonic(), coil, on)``.  Tests move the
discrete inputs (``set_input``, ``play``, ``passage``) to model a person going through.

Faults (``fail``): ``no_reply`` (request not executed, silence: board off or wrong bus),
``lost_reply`` (executed, reply lost), ``bad_crc`` (executed, reply CRC corrupted),
``exception`` (not executed, exception ``code``), ``junk`` (executed, reply after a stray 0x00 as
some RS-485 adapters send); each for the next ``count`` requests or for ever.  ``stick(coil, on)``
models a relay whose latch no longer follows commands.  ``unplug()`` pulls the USB/RS-485
adapter: the board keeps its own supply, so relays keep their state and a flash still ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..relay.modbus_frames import (
    COIL_OFF,
    COIL_ON,
    FC_READ_COILS,
    FC_READ_DISCRETE_INPUTS,
    FC_WRITE_SINGLE_COIL,
    FLASH_BASE,
    FLASH_UNIT_S,
    Request,
    bits_reply,
    exception_reply,
    parse_request,
)
from .pty import PtySimulator
from .timeline import TimelineEntry, on_periods

REQUEST_LENGTH = 8
FAULTS = ("no_reply", "lost_reply", "bad_crc", "exception", "junk")


@dataclass
class _Fault:
    kind: str
    count: int | None
    code: int


class ModbusRelaySimulator(PtySimulator):
    """The far end of a Modbus RTU relay board with ``channels`` relays and ``inputs`` discrete inputs."""

    def __init__(self, name: str = "gate", *, unit: int = 1, channels: int = 8, inputs: int = 8,
                 link_dir: str | None = None) -> None:
        super().__init__(name, link_dir=link_dir)
        self.unit = unit
        self.channels = channels
        self.bad_crc = 0
        """Request frames that failed their CRC (skipped byte by byte to resynchronise)."""
        self.other_units = 0
        """Valid requests addressed to another unit (ignored, as on a shared bus)."""
        self.requests: list[Request] = []
        """Every valid request to this unit, in order."""
        self._coils = [False] * channels
        self._stuck: dict[int, bool] = {}
        self._inputs = [False] * inputs
        self._timeline: list[TimelineEntry] = []
        self._flash_gen = [0] * channels
        self._timers: list[threading.Timer] = []
        self._fault: _Fault | None = None
        self._buf = bytearray()

    # -- what tests look at and set ---------------------------------------------------

    @property
    def timeline(self) -> list[TimelineEntry]:
        """A copy of every relay change so far, oldest first."""
        with self._lock:
            return list(self._timeline)

    def coil(self, coil: int) -> bool:
        """True while relay ``coil`` (from 0) is energised."""
        with self._lock:
            return self._coils[coil]

    def on_periods(self, coil: int) -> list[tuple[float, float | None]]:
        """(on, off) monotonic times of each energised period of ``coil``; off None while still on."""
        return on_periods(self.timeline, coil)

    def set_coil(self, coil: int, on: bool) -> None:
        """Set a relay directly (a previous kiosk left it on)."""
        with self._lock:
            self._flash_gen[coil] += 1
            self._change(coil, on, time.monotonic())

    def set_input(self, number: int, level: bool) -> None:
        """Set discrete input ``number`` (counted from 1) to ``level``."""
        with self._lock:
            self._inputs[number - 1] = level

    def play(self, steps: Sequence[tuple[float, int, bool]]) -> threading.Thread:
        """Apply ``(seconds from now, input from 1, level)`` steps on a thread; returns it (started)."""
        start = time.monotonic()

        def run() -> None:
            for at, number, level in sorted(steps, key=lambda s: s[0]):
                delay = start + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.set_input(number, level)

        thread = threading.Thread(target=run, name=f"sim-{self.name}-inputs", daemon=True)
        thread.start()
        return thread

    def passage(self, number: int = 1, *, after_s: float = 0.0, active_s: float = 0.2,
                active_low: bool = False) -> threading.Thread:
        """A person passes: input ``number`` goes active after ``after_s``, idle ``active_s`` later."""
        return self.play([(after_s, number, not active_low), (after_s + active_s, number, active_low)])

    # -- faults -------------------------------------------------------------------------

    def fail(self, kind: str | None, *, count: int | None = None, code: int = 0x04) -> None:
        """Inject ``kind`` (one of FAULTS) for the next ``count`` requests (None: until cleared)."""
        if kind is not None and kind not in FAULTS:
            raise ValueError(f"fault {kind!r} is not one of {', '.join(FAULTS)}")
        with self._lock:
            self._fault = None if kind is None else _Fault(kind, count, code)

    def stick(self, coil: int, on: bool | None) -> None:
        """Make relay ``coil`` stay ``on`` whatever it is told (None: free it again)."""
        with self._lock:
            if on is None:
                self._stuck.pop(coil, None)
                return
            self._stuck[coil] = on
            self._change(coil, on, time.monotonic(), force=True)

    def stop(self) -> None:
        """Cancel pending flash timers, then stop as the base class does."""
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        super().stop()

    # -- the board ----------------------------------------------------------------------

    def on_plug(self) -> None:
        """A new connection starts with no partial frame."""
        self._buf.clear()

    def handle(self, data: bytes) -> None:
        """Split the host's bytes into 8-byte requests (resynchronising on a bad CRC) and serve them."""
        self._buf += data
        while len(self._buf) >= REQUEST_LENGTH:
            request = parse_request(bytes(self._buf[:REQUEST_LENGTH]))
            if request is None:
                self.bad_crc += 1
                del self._buf[:1]
                continue
            del self._buf[:REQUEST_LENGTH]
            self._serve(request)

    def _serve(self, request: Request) -> None:
        if request.unit != self.unit:
            self.other_units += 1
            return
        with self._lock:
            self.requests.append(request)
            fault = self._take_fault()
        if fault is not None and fault.kind == "no_reply":
            return
        if fault is not None and fault.kind == "exception":
            self.send(exception_reply(self.unit, request.function, fault.code))
            return
        reply = self._execute(request)
        if fault is None:
            self.send(reply)
        elif fault.kind == "bad_crc":
            self.send(reply[:-1] + bytes((reply[-1] ^ 0x5A,)))
        elif fault.kind == "junk":
            self.send(b"\x00" + reply)

    def _take_fault(self) -> _Fault | None:
        fault = self._fault
        if fault is None:
            return None
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                self._fault = None
        return fault

    def _execute(self, request: Request) -> bytes:
        """Apply one request; return the reply bytes (echo, bits or exception)."""
        fc, address, value = request.function, request.address, request.value
        if fc == FC_WRITE_SINGLE_COIL:
            return self._write(request)
        if fc in (FC_READ_COILS, FC_READ_DISCRETE_INPUTS):
            with self._lock:
                bits = self._coils if fc == FC_READ_COILS else self._inputs
                if value < 1 or address + value > len(bits):
                    return exception_reply(self.unit, fc, 0x02)
                return bits_reply(self.unit, fc, bits[address:address + value])
        return exception_reply(self.unit, fc, 0x01)

    def _write(self, request: Request) -> bytes:
        address, value, now = request.address, request.value, time.monotonic()
        if address < self.channels:
            if value not in (COIL_ON, COIL_OFF):
                return exception_reply(self.unit, FC_WRITE_SINGLE_COIL, 0x03)
            with self._lock:
                self._flash_gen[address] += 1     # an explicit write ends a running flash
                self._change(address, value == COIL_ON, now)
            return request.raw
        coil = address - FLASH_BASE
        if 0 <= coil < self.channels:
            if value == 0:
                return exception_reply(self.unit, FC_WRITE_SINGLE_COIL, 0x03)
            self._start_flash(coil, value * FLASH_UNIT_S, now)
            return request.raw
        return exception_reply(self.unit, FC_WRITE_SINGLE_COIL, 0x02)

    def _start_flash(self, coil: int, seconds: float, now: float) -> None:
        with self._lock:
            self._flash_gen[coil] += 1
            generation = self._flash_gen[coil]
            self._change(coil, True, now)
            timer = threading.Timer(seconds, self._end_flash, (coil, generation))
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _end_flash(self, coil: int, generation: int) -> None:
        with self._lock:
            if self._flash_gen[coil] == generation:   # not superseded by a later command
                self._change(coil, False, time.monotonic())

    def _change(self, coil: int, on: bool, at: float, *, force: bool = False) -> None:
        """Set a relay (caller holds the lock); a stuck relay ignores it unless ``force``."""
        if not force and coil in self._stuck:
            return
        if self._coils[coil] != on:
            self._coils[coil] = on
            self._timeline.append((at, coil, on))
