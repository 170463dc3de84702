"""What the technician's CLI commands do (``kiosk gate pulse``, ``kiosk gate inputs``, ``kiosk slip verify``).

Each function takes the same driver names and URL forms as the config file, does one thing
and returns a JSON-ready dict; the CLI only parses arguments and prints.  Driver failures come
back as ``{"ok": False, "error": ...}`` rather than tracebacks; bad arguments raise ValueError.
"""

from __future__ import annotations

from typing import Any, cast

from drivers.base import GateRelay
from drivers.errors import DriverError
from drivers.registry import check_device, create_device
from drivers.relay.modbus_frames import inter_frame_gap
from drivers.relay.modbus_link import ModbusLink
from drivers.serialport import close_quietly, open_port

from .slip import verify_slip

GATE_DRIVERS = ("lcus", "modbus")
MIN_MS, MAX_MS = 50, 10_000


def gate_pulse(driver: str, url: str, channel: int = 1, ms: int = 500, unit: int | None = None) -> dict[str, Any]:
    """Open the gate relay, release it once for ``ms`` milliseconds, close it; channels count from 1."""
    if driver not in GATE_DRIVERS:
        raise ValueError(f"driver {driver!r} is not one of {', '.join(GATE_DRIVERS)}")
    if unit is not None and driver != "modbus":
        raise ValueError("--unit applies to the modbus driver only")
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError(f"--ms {ms} is not in {MIN_MS}..{MAX_MS}")
    seconds = ms / 1000
    options: dict[str, Any] = {"channel": channel, "channels": channel, "pulse_s": max(seconds, 0.1),
                               "max_pulse_s": max(seconds, 0.1)}
    if driver == "modbus":
        options["unit"] = 1 if unit is None else unit
    problems = check_device("gate", driver, options)
    if problems:
        raise ValueError("; ".join(problems))
    result: dict[str, Any] = {"driver": driver, "url": url, "channel": channel, "unit": options.get("unit")}
    device = cast(GateRelay, create_device("gate", driver, url, options))
    try:
        device.open()
        pulsed = device.pulse(seconds)
    except DriverError as exc:
        return {**result, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        device.close()
    return {**result, "ok": True, "seconds": pulsed.seconds}


def gate_inputs(url: str, unit: int = 1, *, count: int = 8, baudrate: int = 9600,
                reply_timeout_s: float = 0.2) -> dict[str, Any]:
    """Read a Modbus board's discrete inputs and relays once, switching nothing; numbered from 1."""
    result: dict[str, Any] = {"driver": "modbus", "url": url, "unit": unit}
    try:
        port = open_port("gate", url, baudrate=baudrate, timeout=0.0, write_timeout=1.0)
    except DriverError as exc:
        return {**result, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    link = ModbusLink(port, name="gate", url=url, unit=unit, reply_timeout_s=reply_timeout_s, retries=2,
                      gap_s=inter_frame_gap(baudrate))
    try:
        inputs = link.read_inputs(0, count)
        coils = link.read_coils(0, count)
    except DriverError as exc:
        return {**result, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        close_quietly(port, "gate")
    return {**result, "ok": True,
            "inputs": {str(i + 1): bit for i, bit in enumerate(inputs)},
            "relays": {str(i + 1): bit for i, bit in enumerate(coils)}}


def verify_slip_payload(payload: str, key: bytes) -> dict[str, Any]:
    """Check a scanned slip QR payload with the slip key (``kiosk.slip.slip_key(site_secret)``)."""
    return verify_slip(payload, key).to_dict()
