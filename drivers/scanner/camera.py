"""CameraScanner: barcodes held up to a camera, read through OpenCV (CodeScanner, returns ScanRead).

URL grammar, anything ``cv2.VideoCapture`` opens:

- ``0``, ``1``, ... or a V4L2 node (``/dev/video0``, ``/dev/v4l/by-id/usb-...-video-index0``):
  a USB camera, asked for MJPEG at ``width`` x ``height`` and ``fps``, with a one-frame buffer so
  the decoder always sees the newest frame;
- a video file (``.avi``, ``.mp4``) or an image sequence (``frames_%03d.png``): the stand-in on
  machines without cameras (TESTING.md §4, ``drivers.sim.camera``);
- ``rtsp://`` or ``http://`` streams of IP cameras.

A camera that stops delivering frames is lost (``DeviceGone``): unplugged, or a file at its end;
the runner then reopens it, so a missing file is an unplugged camera and a file put back is a
replug.  Options (``OPTIONS``): the capture size and rate, ``roi`` (the centre box decoded),
``formats``, ``zbar`` (pyzbar on zxing's misses), and the acceptance rule: a code is accepted after
``confirm_reads`` identical reads within ``confirm_window`` consecutive frames, and not again
until it has been out of sight for ``gone_frames`` frames.  Decoding is ``drivers.scanner.decode``.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Protocol

try:
    import cv2
except ImportError as exc:  # pragma: no cover - the camera needs its libraries
    raise ImportError(f"the camera scanner needs opencv-python-headless: {exc}") from exc

from ..base import ScanRead
from ..errors import DeviceGone, OptionError, ProtocolError
from ..options import Option
from .decode import KIOSK_FORMATS, DecoderSettings, FrameDecoder, Image, Symbol, unique

log = logging.getLogger(__name__)

_V4L2_NODE = re.compile(r"^(\d+|/dev/video\d+|/dev/v4l/.+)$")


class Capture(Protocol):
    """The part of cv2.VideoCapture the driver uses (tests may inject their own)."""

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name

    def read(self) -> tuple[bool, Image | None]: ...

    def set(self, prop: int, value: float) -> bool: ...

    def release(self) -> None: ...


class ConfirmFilter:
    """Pure acceptance rule over per-frame reads: N identical reads within a window; once per sighting."""

    def __init__(self, reads: int = 2, window: int = 3, gone_frames: int = 15) -> None:
        if not 1 <= reads <= window:
            raise ValueError(f"confirm_reads {reads} is not in 1..confirm_window ({window})")
        if gone_frames < 1:
            raise ValueError(f"gone_frames {gone_frames} is below 1")
        self.reads, self.window, self.gone_frames = reads, window, gone_frames
        self.reset()

    def reset(self) -> None:
        """Forget every code (a new connection: whatever is in view is a new sighting)."""
        self._frame = 0
        self._hits: dict[str, list[int]] = {}
        self._in_view: dict[str, int] = {}   # accepted key -> the last frame it was read in

    def update(self, symbols: Sequence[Symbol]) -> list[Symbol]:
        """Feed one frame's reads; return the codes accepted at this frame."""
        self._frame += 1
        now = self._frame
        accepted: list[Symbol] = []
        for symbol in unique(symbols):
            key = symbol.key
            if key in self._in_view:
                self._in_view[key] = now
                continue
            hits = [f for f in self._hits.get(key, ()) if f > now - self.window] + [now]
            if len(hits) >= self.reads:
                accepted.append(symbol)
                self._in_view[key] = now
                self._hits.pop(key, None)
            else:
                self._hits[key] = hits
        self._in_view = {k: last for k, last in self._in_view.items() if now - last < self.gone_frames}
        self._hits = {k: hits for k, hits in self._hits.items() if hits[-1] > now - self.window}
        return accepted


def open_capture(url: str, width: int, height: int, fps: int) -> Capture:
    """cv2.VideoCapture for ``url``: V4L2 with MJPEG and a one-frame buffer for cameras, any backend otherwise."""
    if not _V4L2_NODE.match(url):
        return cv2.VideoCapture(url)
    cap = cv2.VideoCapture(int(url) if url.isdigit() else url, cv2.CAP_V4L2)
    if cap.isOpened():
        # MJPEG first: raw YUYV cannot carry 720p at 30 fps over USB 2.0
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)   # a slow decode must not fall behind on stale frames
    return cap


class CameraScanner:
    """Barcodes in camera frames, each accepted once per sighting (Device protocol, returns ScanRead)."""

    OPTIONS: dict[str, Option] = {
        "width": Option(int, 1280, "capture width in pixels (V4L2 cameras)", min=320, max=3840),
        "height": Option(int, 720, "capture height in pixels (V4L2 cameras)", min=240, max=2160),
        "fps": Option(int, 30, "frames per second asked of the camera", min=1, max=120),
        "roi": Option(float, 0.0, "centre region decoded, fraction of width and height; 0 = by resolution "
                      "(0.8 up to 1280 px wide, 0.6 above)", min=0.0, max=1.0),
        "formats": Option(str, ",".join(KIOSK_FORMATS), "comma-separated symbologies to read"),
        "zbar": Option(bool, True, "try pyzbar on frames where zxing-cpp finds nothing"),
        "confirm_reads": Option(int, 2, "identical reads needed to accept a code", min=1, max=10),
        "confirm_window": Option(int, 3, "consecutive frames those reads must fall in", min=1, max=30),
        "gone_frames": Option(int, 15, "frames without a code before it may be accepted again", min=1, max=600),
    }

    def __init__(self, name: str, url: str, *, width: int = 1280, height: int = 720, fps: int = 30,
                 roi: float = 0.0, formats: str = ",".join(KIOSK_FORMATS), zbar: bool = True,
                 confirm_reads: int = 2, confirm_window: int = 3, gone_frames: int = 15,
                 capture: Callable[[str, int, int, int], Capture] = open_capture) -> None:
        self.name = name
        self.url = url
        self.size = (width, height, fps)
        try:
            names = tuple(f.strip() for f in formats.split(",") if f.strip())
            self.decoder = FrameDecoder(DecoderSettings(formats=names, roi=roi, zbar=zbar))
            self._filter = ConfirmFilter(confirm_reads, confirm_window, gone_frames)
        except ValueError as exc:
            raise OptionError(str(exc), device=name, url=url) from exc
        self._open_capture = capture   # a seam for tests, never set from config
        self._cap: Capture | None = None
        self._pending: collections.deque[ScanRead] = collections.deque()
        self.frames = 0
        """Frames decoded since the last open."""

    def open(self) -> None:
        """Open the camera (or file); DeviceGone if it is absent or delivers nothing."""
        self.close()
        if _V4L2_NODE.match(self.url) and self.url.startswith("/dev/") and not os.path.exists(self.url):
            raise DeviceGone(f"no camera at {self.url}", device=self.name, url=self.url)
        try:
            cap = self._open_capture(self.url, *self.size)
        except cv2.error as exc:
            raise DeviceGone(f"cannot open camera {self.url}: {exc}", device=self.name, url=self.url) from exc
        if not cap.isOpened():
            cap.release()
            raise DeviceGone(f"cannot open camera {self.url}", device=self.name, url=self.url)
        self._cap = cap
        self._filter.reset()
        self._pending.clear()
        self.frames = 0
        log.info("camera %s open url=%s", self.name, self.url)

    def close(self) -> None:
        """Release the camera; never raises."""
        cap, self._cap = self._cap, None
        if cap is not None:
            try:
                cap.release()
            except Exception:  # a vanished device may fail to release; it is gone either way
                log.debug("camera %s: error on release ignored", self.name, exc_info=True)

    def read(self, timeout: float) -> ScanRead | None:
        """Decode frames for up to ``timeout`` s; the first code accepted, or None."""
        if self._pending:
            return self._pending.popleft()
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            for symbol in self._filter.update(self._decode(self._next_frame())):
                log.debug("camera %s accepted %s %r (%s)", self.name, symbol.format, symbol.text, symbol.decoder)
                self._pending.append(ScanRead(symbol.text, symbol.symbology))
            if self._pending:
                return self._pending.popleft()
            if time.monotonic() >= deadline:
                return None

    def _next_frame(self) -> Image:
        cap = self._cap
        if cap is None:
            raise DeviceGone("camera is not open", device=self.name, url=self.url)
        try:
            ok, frame = cap.read()
        except cv2.error as exc:
            raise DeviceGone(f"camera read failed: {exc}", device=self.name, url=self.url) from exc
        if not ok or frame is None:
            raise DeviceGone("camera delivers no frames (unplugged, or end of file)", device=self.name, url=self.url)
        self.frames += 1
        return frame

    def _decode(self, frame: Image) -> list[Symbol]:
        try:
            return self.decoder.decode(frame)
        except cv2.error as exc:   # a corrupt frame: this exchange failed, the camera is still there
            raise ProtocolError(f"frame {self.frames} could not be decoded: {exc}",
                                device=self.name, url=self.url) from exc
