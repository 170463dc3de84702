"""ModbusLink: one Modbus RTU master on an open serial port: request, wait, check, retry.

One transaction at a time (the device thread owns the link).  Before each request the
link waits out the inter-frame silence and drops stale input, so a late reply to an earlier,
timed-out request is never read as the answer to this one.  A missing or corrupt reply is
retried at most ``retries`` times (PROTOCOLS.md §4.2: 100–200 ms, at most 2×); an exception
reply is the board's definite answer and is raised at once, never retried.  Port errors
become DeviceGone with the errno kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from ..errors import DeviceTimeout, ProtocolError
from ..serialport import PORT_ERRORS, gone
from .modbus_frames import (
    ExceptionReply,
    Reply,
    ReplyReader,
    decode_bits,
    exception_for,
    read_coils,
    read_discrete_inputs,
    write_coil_value,
)

wire = logging.getLogger("kiosk.wire")
log = logging.getLogger(__name__)

MAX_RETRIES = 2


@dataclass
class LinkStats:
    """Counters for the technician page: what the bus has been like since open."""

    requests: int = 0
    retries: int = 0
    no_reply: int = 0
    bad_crc: int = 0
    exceptions: int = 0


class ModbusLink:
    """Request/reply transactions with one unit over ``port``."""

    def __init__(self, port: serial.Serial, *, name: str, url: str, unit: int, reply_timeout_s: float,
                 retries: int, gap_s: float, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not 0 <= retries <= MAX_RETRIES:
            raise ValueError(f"retries {retries} is not in 0..{MAX_RETRIES}")
        self.port = port
        self.name = name
        self.url = url
        self.unit = unit
        self.reply_timeout_s = reply_timeout_s
        self.retries = retries
        self.gap_s = gap_s
        self.stats = LinkStats()
        self._monotonic = monotonic
        self._sleep = sleep
        self._quiet_since = monotonic()

    def transact(self, request: bytes, *, retries: int | None = None) -> Reply:
        """Send ``request`` and return its CRC-checked, non-exception reply (retrying a lost one)."""
        attempts = 1 + (self.retries if retries is None else min(retries, self.retries))
        failure: DeviceTimeout | ProtocolError | None = None
        for attempt in range(attempts):
            if attempt:
                self.stats.retries += 1
                log.info("modbus %s: retry %d of %s: %s", self.name, attempt, request.hex(" "), failure)
            try:
                return self._exchange(request)
            except ExceptionReply:
                raise  # the board's definite answer: repeating the request changes nothing
            except (DeviceTimeout, ProtocolError) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def write(self, address: int, value: int, *, retries: int | None = None) -> None:
        """FC05 ``value`` to ``address``; the reply must echo the request exactly."""
        request = write_coil_value(self.unit, address, value)
        reply = self.transact(request, retries=retries)
        if reply.raw != request:
            raise ProtocolError(f"write echo {reply.raw.hex(' ')} differs from {request.hex(' ')}",
                                device=self.name, url=self.url)

    def read_coils(self, start: int, count: int, *, retries: int | None = None) -> tuple[bool, ...]:
        """FC01: the board's coil latches ``start``..``start + count - 1``."""
        return decode_bits(self.transact(read_coils(self.unit, start, count), retries=retries).data, count)

    def read_inputs(self, start: int, count: int) -> tuple[bool, ...]:
        """FC02: discrete inputs ``start``..``start + count - 1``."""
        return decode_bits(self.transact(read_discrete_inputs(self.unit, start, count)).data, count)

    # -- one exchange ----------------------------------------------------------------------

    def _exchange(self, request: bytes) -> Reply:
        self._wait_for_silence()
        function = request[1]
        reader = ReplyReader(self.unit, function)
        self.stats.requests += 1
        try:
            stale = self.port.in_waiting
            if stale:
                wire.debug("%s < (stale, dropped) %s", self.name, self.port.read(stale).hex(" "))
            wire.debug("%s > %s", self.name, request.hex(" "))
            self.port.write(request)
            self.port.flush()
            reply = self._await(reader)
        except PORT_ERRORS as exc:
            raise gone(self.name, self.url, f"modbus exchange failed ({request.hex(' ')})", exc) from exc
        finally:
            self._quiet_since = self._monotonic()
        if reply is None:
            failure = reader.failure(device=self.name, url=self.url, timeout=self.reply_timeout_s)
            if reader.bad_crc:
                self.stats.bad_crc += 1
            else:
                self.stats.no_reply += 1
            raise failure
        if reply.is_exception:
            self.stats.exceptions += 1
            raise exception_for(function, reply.data[0], device=self.name, url=self.url)
        return reply

    def _await(self, reader: ReplyReader) -> Reply | None:
        deadline = self._monotonic() + self.reply_timeout_s
        while True:
            left = deadline - self._monotonic()
            if left <= 0:
                return None
            self.port.timeout = left
            data: bytes = self.port.read(1)
            if data:
                data += self.port.read(self.port.in_waiting)
                wire.debug("%s < %s", self.name, data.hex(" "))
                reply = reader.feed(data)
                if reply is not None:
                    return reply

    def _wait_for_silence(self) -> None:
        quiet_for = self._monotonic() - self._quiet_since
        if quiet_for < self.gap_s:
            self._sleep(self.gap_s - quiet_for)
