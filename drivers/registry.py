"""Driver name -> driver class, one table (Moonraker power.py style).

Every driver class takes ``(name, url, **options)`` and declares its options in a class
attribute ``OPTIONS`` (see drivers.options).  The kind says which role a driver can fill
in the kiosk: an ``idcard`` reader, a ``scanner``, the ``gate``, or the officers' ``badge`` reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import Device
from .options import Option, parse_options


def _samv() -> type:
    from .cardreader.samv import SamvReader
    return SamvReader


def _emrtd() -> type:
    from .cardreader.emrtd import EmrtdReader
    return EmrtdReader


def _badge() -> type:
    from .cardreader.badge import BadgeReader
    return BadgeReader


def _mrz_serial() -> type:
    from .cardreader.mrz_serial import MrzScanner
    return MrzScanner


def _serial_scanner() -> type:
    from .scanner.serial_line import SerialScanner
    return SerialScanner


def _hid_scanner() -> type:
    from .scanner.hid import HidScanner
    return HidScanner


def _camera() -> type:
    from .scanner.camera import CameraScanner
    return CameraScanner


def _lcus() -> type:
    from .relay.lcus import LcusRelay
    return LcusRelay


def _modbus() -> type:
    from .relay.modbus import ModbusRelay
    return ModbusRelay


def _turnstile_line() -> type:
    from .passage.serial_line import TurnstileLine
    return TurnstileLine


def _escpos() -> type:
    from .printer.escpos import SlipPrinter
    return SlipPrinter


@dataclass(frozen=True)
class DriverEntry:
    """A driver's role and a loader for its class (imported only when used)."""

    kind: str
    load: Callable[[], type]

    @property
    def options(self) -> Mapping[str, Option]:
        """The option table of the driver class."""
        return getattr(self.load(), "OPTIONS", {})


DRIVERS: dict[str, DriverEntry] = {
    "samv": DriverEntry("idcard", _samv),
    "emrtd": DriverEntry("idcard", _emrtd),
    "badge": DriverEntry("badge", _badge),
    "mrz-serial": DriverEntry("mrz", _mrz_serial),
    "serial-scanner": DriverEntry("scanner", _serial_scanner),
    "hid-scanner": DriverEntry("scanner", _hid_scanner),
    "camera": DriverEntry("scanner", _camera),
    "lcus": DriverEntry("gate", _lcus),
    "modbus": DriverEntry("gate", _modbus),
    "turnstile-line": DriverEntry("passage", _turnstile_line),
    "escpos": DriverEntry("printer", _escpos),
}


def check_device(kind: str, driver: str, options: Mapping[str, Any]) -> list[str]:
    """Problems with one device entry of the config, each ``key: reason``."""
    entry = DRIVERS.get(driver)
    if entry is None:
        names = ", ".join(sorted(n for n, e in DRIVERS.items() if e.kind == kind))
        return [f"driver: unknown driver {driver!r} (for {kind}: {names})"]
    if entry.kind != kind:
        return [f"driver: {driver!r} is a {entry.kind} driver, not a {kind} driver"]
    _values, problems = parse_options(options, entry.options)
    return problems


def create_device(name: str, driver: str, url: str, options: Mapping[str, Any]) -> Device:
    """Build a device from its config entry (options must have passed check_device)."""
    entry = DRIVERS[driver]
    values, problems = parse_options(options, entry.options)
    if problems:
        raise ValueError(f"devices.{name}: " + "; ".join(problems))
    cls = entry.load()
    device: Device = cls(name, url, **values)
    return device
