"""Read one card with any card driver and describe it as JSON (``kiosk read-card``).

The stable keys: every card gives ``card_type``, ``name``, ``gender``, ``nation``, ``birth_date``,
``address``, ``id_number``, ``authority``, ``valid_from``, ``valid_to``, ``document_number``,
``nationality``, ``expiry_date`` and ``mrz`` (dates ISO 8601; ``valid_to`` and ``expiry_date``
null when absent; the document fields empty for a SAM-V card); a badge gives ``card_type``
"badge" and ``uid`` (hex).  Failures raise ``ReadFailed`` with a stable ``reason``.

An ``emrtd`` chip opens with keys from its MRZ: given as text (``mrz``), or read from a document
scanner at ``mrz_url`` (driver ``mrz-serial``): the card reader is opened first (a wrong reader
fails at once), then the first valid MRZ the scanner sends within the timeout is used, then the
card is waited for within the timeout again.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from .base import BadgeRead, CardFailed, CardRead, Device, IdCard, MrzRead, Reading
from .errors import DeviceGone, DriverError, OptionError
from .registry import DRIVERS, check_device, create_device

CARD_DRIVERS = ("samv", "emrtd", "badge")
MRZ_DRIVER = "mrz-serial"
_MRZ_USE = "--mrz or --mrz-url is needed for emrtd (the chip opens with keys from it), and only there"


class ReadFailed(DriverError):
    """No card was read; ``reason`` is a stable key (timeout, device_gone, access_denied, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def card_json(card: IdCard) -> dict[str, Any]:
    """The stable JSON object of a card (the photo is never included)."""
    return {
        "card_type": card.card_type.value, "name": card.name, "gender": card.gender, "nation": card.nation,
        "birth_date": _iso(card.birth_date), "address": card.address, "id_number": card.id_number,
        "authority": card.authority,
        "valid_from": None if card.valid_from == date.min else _iso(card.valid_from),
        "valid_to": _iso(card.valid_to), "document_number": card.document_number,
        "nationality": card.nationality, "expiry_date": _iso(card.expiry_date), "mrz": card.mrz,
    }


def reading_json(reading: CardRead | BadgeRead) -> dict[str, Any]:
    """JSON for a card or a badge reading."""
    if isinstance(reading, BadgeRead):
        return {"card_type": "badge", "uid": reading.uid.hex().upper()}
    return card_json(reading.card)


def make_device(driver: str, url: str, mrz: str | None, *, mrz_url: str | None = None) -> Device:
    """The device for ``driver`` at ``url``, with the MRZ handed over; ReadFailed when unusable."""
    if driver not in CARD_DRIVERS or driver not in DRIVERS:
        raise ReadFailed("unknown_driver", f"driver {driver!r} is not one of {', '.join(CARD_DRIVERS)}")
    problems = check_device(DRIVERS[driver].kind, driver, {})
    if problems:
        raise ReadFailed("bad_option", "; ".join(problems))
    if mrz is not None and mrz_url is not None:
        raise ReadFailed("mrz_conflict", "--mrz and --mrz-url are alternatives: give one of them")
    if (mrz is not None or mrz_url is not None) != (driver == "emrtd"):
        raise ReadFailed("mrz_required" if driver == "emrtd" else "mrz_not_used", _MRZ_USE)
    try:
        device = create_device("read-card", driver, url, {})
    except OptionError as exc:
        raise ReadFailed("bad_url", str(exc)) from exc
    if mrz is not None:
        set_mrz(device, mrz)
    return device


def set_mrz(device: Device, mrz: str) -> None:
    """Hand ``mrz`` to a device that takes one (emrtd); ReadFailed with the MrzError reason if bad."""
    setter = getattr(device, "set_mrz", None)
    if setter is None:
        return
    try:
        setter(mrz)
    except DriverError as exc:      # MrzError: mrz_format, mrz_check_digit
        raise ReadFailed(getattr(exc, "reason", "mrz_format"), str(exc)) from exc


def wait_for_mrz(scanner: Device, timeout: float) -> str:
    """Poll an open document scanner until it sends a valid MRZ; ReadFailed otherwise."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while (left := deadline - time.monotonic()) > 0:
        try:
            reading = scanner.read(min(0.2, left))
        except DeviceGone as exc:
            raise ReadFailed("device_gone", f"document scanner: {exc}") from exc
        except DriverError as exc:
            last_error = f" (last error: {exc})"
            continue
        if isinstance(reading, MrzRead):
            return reading.mrz
    dropped = getattr(scanner, "last_reason", "")
    why = f" (last MRZ dropped: {dropped}: {getattr(scanner, 'last_detail', '')})" if dropped else ""
    raise ReadFailed("timeout", f"no valid MRZ from the document scanner within {timeout:g} s{why}{last_error}")


def open_device(device: Device, what: str = "") -> None:
    """Open ``device``, its failure as ReadFailed (device_gone, bad_url, device_error), ``what`` first."""
    try:
        device.open()
    except DeviceGone as exc:
        raise ReadFailed("device_gone", f"{what}{exc}") from exc
    except OptionError as exc:
        raise ReadFailed("bad_url", f"{what}{exc}") from exc
    except DriverError as exc:
        raise ReadFailed("device_error", f"{what}{exc}") from exc


def read_mrz(mrz_url: str, timeout: float) -> str:
    """Open the document scanner at ``mrz_url``, wait for one valid MRZ, close; the MRZ text."""
    try:
        scanner = create_device("read-card-mrz", MRZ_DRIVER, mrz_url, {})
    except OptionError as exc:
        raise ReadFailed("bad_url", f"document scanner: {exc}") from exc
    try:
        open_device(scanner, "document scanner: ")
        return wait_for_mrz(scanner, timeout)
    finally:
        scanner.close()


def wait_for_card(device: Device, timeout: float) -> CardRead | BadgeRead:
    """Poll an open device until a card or badge is read; ReadFailed otherwise."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while (left := deadline - time.monotonic()) > 0:
        try:
            reading: Reading | None = device.read(min(0.2, left))
        except DeviceGone as exc:
            raise ReadFailed("device_gone", str(exc)) from exc
        except DriverError as exc:      # one exchange failed; the device is still there
            last_error = f" (last error: {exc})"
            continue
        if isinstance(reading, (CardRead, BadgeRead)):
            return reading
        if isinstance(reading, CardFailed):
            raise ReadFailed(reading.reason, reading.detail or reading.reason)
    raise ReadFailed("timeout", f"no card within {timeout:g} s{last_error}")


def read_card(driver: str, url: str, *, mrz: str | None = None, mrz_url: str | None = None,
              timeout: float = 10.0) -> dict[str, Any]:
    """Open the reader, (take the MRZ from the scanner at ``mrz_url``,) wait for one card, close; its JSON."""
    device = make_device(driver, url, mrz, mrz_url=mrz_url)
    try:
        open_device(device)
        if mrz_url is not None:
            set_mrz(device, read_mrz(mrz_url, timeout))
        return reading_json(wait_for_card(device, timeout))
    finally:
        device.close()
