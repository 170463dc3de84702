"""What ``kiosk decode`` and ``kiosk scan`` do: each is one call here that yields JSON-ready dicts.

- ``decode_files(paths)``: every barcode in photos and videos, read by the camera's decoder
  (zxing-cpp, pyzbar on misses, EAN/UPC cross-checks) over the whole picture, one dict per code
  (per file, or per distinct code of a video with the first frame and the number of frames).
- ``scan_lines(url)``: scans from a scanner as they happen, through the production driver and
  its DeviceRunner (reconnects included), plus a line whenever the device's health changes.

Each dict carries ``file``/``at``, ``format``/``symbology``, ``text`` (GS kept, escaped by JSON),
and what the code means (``kiosk.barcodes.interpret``: ``gtin``, ``batch``, ``expiry``, ``weight``,
``price``, every ``ai``) or ``error`` with its reason key.  The decoders are imported only when
called: ``kiosk`` itself never imports OpenCV.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .barcodes import BarcodeError, VariableMeasureLayout, interpret, layouts_by_prefix
from .clock import Clock, SystemClock
from .errors import ConfigError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})
_CAMERA_URL = re.compile(r"^(\d+|/dev/video\d+|/dev/v4l/.+|(rtsp|rtsps|http|https)://.+)$")
_VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".mjpeg", ".mjpg", ".webm"})


def meaning(text: str, symbology: str | None, layouts: Mapping[str, VariableMeasureLayout]) -> dict[str, Any]:
    """What ``text`` means as JSON-ready fields, or ``{"error": reason}``."""
    try:
        return interpret(text, symbology, layouts).fields()
    except BarcodeError as exc:
        return {"error": exc.reason, "detail": exc.detail}


def decode_files(paths: Iterable[str | os.PathLike[str]],
                 layouts: Iterable[VariableMeasureLayout] = ()) -> Iterator[dict[str, Any]]:
    """One dict per barcode found in each photo or video (``{"file", "error"}`` for an unreadable one)."""
    from drivers.scanner.decode import DecoderSettings, FrameDecoder

    decoder = FrameDecoder(DecoderSettings(roi=1.0))   # files: the whole picture, not the camera's box
    table = layouts_by_prefix(layouts)
    for path in map(str, paths):
        if not os.path.isfile(path):
            yield {"file": path, "error": "no such file"}
        elif Path(path).suffix.lower() in IMAGE_SUFFIXES:
            yield from _decode_image(decoder, path, table)
        else:
            yield from _decode_video(decoder, path, table)


def _decode_image(decoder: Any, path: str, table: Mapping[str, VariableMeasureLayout]) -> Iterator[dict[str, Any]]:
    from drivers.scanner.decode import read_image

    gray = read_image(path)
    if gray is None:
        yield {"file": path, "error": "not an image OpenCV can read"}
        return
    for symbol in decoder.decode_gray(gray):
        yield {"file": path, **_symbol_fields(symbol), **meaning(symbol.text, symbol.symbology, table)}


def _decode_video(decoder: Any, path: str, table: Mapping[str, VariableMeasureLayout]) -> Iterator[dict[str, Any]]:
    from drivers.scanner.decode import Symbol, video_frames

    seen: dict[str, tuple[Symbol, int, int]] = {}   # key -> (symbol, first frame, frames read in)
    try:
        for index, frame in enumerate(video_frames(path)):
            for symbol in decoder.decode(frame):
                first = seen.get(symbol.key)
                seen[symbol.key] = (first[0], first[1], first[2] + 1) if first else (symbol, index, 1)
    except OSError as exc:
        yield {"file": path, "error": str(exc)}
        return
    for symbol, first_frame, frames in seen.values():
        yield {"file": path, "frame": first_frame, "frames": frames, **_symbol_fields(symbol),
               **meaning(symbol.text, symbol.symbology, table)}


def _symbol_fields(symbol: Any) -> dict[str, Any]:
    out = {"format": symbol.format, "symbology": symbol.symbology, "text": symbol.text, "decoder": symbol.decoder}
    if not symbol.text and symbol.raw:
        out["bytes"] = symbol.raw.hex()
    return out


def guess_driver(url: str) -> str:
    """The scanner driver a URL most likely means: evdev node, camera or video file, else serial."""
    if url.startswith("/dev/input/"):
        return "hid-scanner"
    suffix = Path(url).suffix.lower()
    if _CAMERA_URL.match(url) or suffix in _VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES and "%" in url:
        return "camera"
    return "serial-scanner"


def parse_option_args(pairs: Sequence[str]) -> dict[str, Any]:
    """``["aim_prefix=true", "suffix=crlf", "baudrate=115200"]`` -> typed options (TOML values; bare words are text)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"option {pair!r}: expected KEY=VALUE"])
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        options[key.strip()] = value
    return options


def scan_lines(url: str, driver: str | None = None, options: Mapping[str, Any] | None = None, *,
               layouts: Iterable[VariableMeasureLayout] = (), clock: Clock | None = None,
               stop: threading.Event | None = None, max_scans: int | None = None) -> Iterator[dict[str, Any]]:
    """Scans (and health changes) of the scanner at ``url`` as dicts, until ``stop``, ``max_scans`` or Ctrl+C."""
    from drivers.registry import check_device, create_device
    from drivers.runner import DeviceRunner

    driver = driver or guess_driver(url)
    options = dict(options or {})
    problems = check_device("scanner", driver, options)
    if problems:
        raise ConfigError([f"{driver}: {p}" for p in problems])
    table = layouts_by_prefix(layouts)
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    runner = DeviceRunner(
        create_device("scanner", driver, url, options),
        on_reading=lambda name, reading, at: events.put(_scan_fields(reading, at, table)),
        on_health=lambda h: events.put({"event": "health", "state": h.state.value, "error": h.last_error}),
        clock=clock or SystemClock())
    runner.start()
    scans = 0
    try:
        while not (stop is not None and stop.is_set()) and (max_scans is None or scans < max_scans):
            try:
                item = events.get(timeout=0.2)
            except queue.Empty:
                continue
            scans += item["event"] == "scan"
            yield item
    finally:
        runner.stop()


def _scan_fields(reading: Any, at: datetime, table: Mapping[str, VariableMeasureLayout]) -> dict[str, Any]:
    text = getattr(reading, "text", None)
    if text is None:   # scanners only return ScanRead; anything else is shown, not interpreted
        return {"event": "reading", "at": at.isoformat(), "reading": repr(reading)}
    symbology = getattr(reading, "symbology", None)
    return {"event": "scan", "at": at.isoformat(), "symbology": symbology, "text": text,
            **meaning(text, symbology, table)}
