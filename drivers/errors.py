"""The one error tree of the drivers package.

Drivers wrap library exceptions (``serial.SerialException``, ``OSError``) once, at the
driver boundary, into these classes and keep the low-level code.  The device runner
decides what to do from the class alone:

- ``DeviceGone``: the port is lost or cannot be opened; the runner closes the device
  and reconnects with backoff.
- any other ``DriverError``: the device is still there but one exchange failed; the
  runner records it as the last error and keeps reading.
"""

from __future__ import annotations


class DriverError(Exception):
    """Root of every error a driver raises."""

    def __init__(self, message: str, *, device: str = "", url: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.device = device
        self.url = url
        self.code = code


class DeviceGone(DriverError):
    """The port disappeared, was never there, or refuses to open."""


class DeviceTimeout(DriverError):
    """The device did not answer within the expected time."""


class ProtocolError(DriverError):
    """The device answered with bytes that do not form a valid frame."""


class OptionError(DriverError):
    """A device option in the configuration is unknown or out of range."""


class RelayStuck(DriverError):
    """A relay's read-back state disagrees with what was commanded (did not energise, or stays on)."""


class PrinterFault(DriverError):
    """The printer is there but cannot print now (paper out, cover open, offline)."""
