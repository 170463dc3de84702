"""Opening a serial port for any driver: ``serial.serial_for_url`` plus one error mapping.

Every serial-backed driver opens its port here, so device paths, ``spy://`` (wire trace),
``socket://``, ``loop://`` and ``hwgrep://`` all work, and every driver reports a failed
open the same way: ``OptionError`` for a malformed URL or setting, ``DeviceGone`` for a
port that is absent or refuses (errno kept in ``code``).
"""

from __future__ import annotations

import logging
from typing import Any

import serial

from .errors import DeviceGone, OptionError
from .frames import FramePolicy, trace_port
from .frames import current as current_frames

log = logging.getLogger(__name__)

try:  # pyserial's posix backend lets termios.error (not an OSError) escape from tcflush/tcdrain
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - Windows
    _TermiosError = OSError  # type: ignore[misc, assignment]

PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, _TermiosError)
"""What a lost or unopenable port raises (SerialException is an OSError; termios.error is not)."""


def open_port(name: str, url: str, *, frames: FramePolicy | None = None, **settings: Any) -> serial.Serial:
    """Open ``url`` with ``settings`` (baudrate, timeout, ...) through serial_for_url.

    On a device runner's thread the port's traffic is captured for the technician's page, masked
    by ``frames`` (the driver's policy; the role's default when None): see drivers/frames.py.
    """
    try:
        port = serial.serial_for_url(url, **settings)
    except (ValueError, KeyError) as exc:
        # ValueError: unknown scheme or bad setting; KeyError: pyserial 3.5's loop:// formats
        # its own "loop://[?logging={debug|...}]" message with str.format and trips on the braces
        raise OptionError(f"bad port URL or settings {url!r}: {exc}", device=name, url=url) from exc
    except PORT_ERRORS as exc:
        raise gone(name, url, f"cannot open {url}", exc) from exc
    ring = current_frames()
    if ring is not None:
        trace_port(port, ring, frames)
    return port


def gone(name: str, url: str, what: str, exc: BaseException) -> DeviceGone:
    """A DeviceGone for ``exc``, keeping its errno."""
    code = getattr(exc, "errno", None)
    return DeviceGone(f"{what}: {exc}", device=name, url=url, code=code if isinstance(code, int) else None)


def close_quietly(port: serial.Serial | None, name: str) -> None:
    """Close ``port`` if there is one; a vanished port may fail to close, and is gone either way."""
    if port is None:
        return
    try:
        port.close()
    except Exception:
        log.debug("device %s: error closing its port ignored", name, exc_info=True)


def read_burst(port: serial.Serial | None, timeout: float, *, name: str, url: str, what: str) -> bytes:
    """Block up to ``timeout`` s for the first byte, then take what is already waiting.

    The read loop of every line- or frame-oriented serial driver: DeviceGone when the port is not
    open or is lost, ``b""`` when nothing came.
    """
    if port is None:
        raise DeviceGone(f"{what} port is not open", device=name, url=url)
    try:
        if port.timeout != timeout:
            port.timeout = timeout
        data: bytes = port.read(1)
        if data:
            waiting = port.in_waiting
            if waiting:
                data += port.read(waiting)
    except PORT_ERRORS as exc:
        raise gone(name, url, f"{what} port lost", exc) from exc
    return data
