"""Camera stand-in: camera-like footage with barcodes, written as files that cv2.VideoCapture reads.

These machines have no /dev/video* and cannot load v4l2loopback (TESTING.md §4), so the production
camera driver opens an MJPEG ``.avi`` or a ``frames_%03d.png`` sequence instead, through the same
``cv2.VideoCapture``.  ``CameraSimulator`` owns such a file: ``show`` writes footage, ``unplug``
removes it (the driver's next open fails, as for a pulled USB camera) and ``plug`` puts it back.

The symbols come from encoders independent of both decoders under test: EAN-13 is drawn here from
its module tables, QR by OpenCV's ``QRCodeEncoder``.  ``compose`` places a symbol on a cluttered
"packaging" background with scale, rotation, tilt, blur, noise and contrast (BARCODES.md §3 uses
the same conditions), so tests and the benchmark see frames like a kiosk camera's.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from cv2.typing import MatLike

Image = MatLike

# EAN-13 symbol tables (ISO/IEC 15420): left-hand odd (L) patterns; G is R reversed, R is L inverted.
_L = ("0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011")
_R = tuple("".join("1" if b == "0" else "0" for b in p) for p in _L)
_G = tuple(p[::-1] for p in _R)
_PARITY = ("LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL")


def ean13_modules(code: str) -> str:
    """The 95 modules ('1' = bar) of a 13-digit EAN-13 (UPC-A: a leading 0)."""
    if len(code) != 13 or not code.isdigit():
        raise ValueError(f"not 13 digits: {code!r}")
    left = "".join((_L if p == "L" else _G)[int(d)] for p, d in zip(_PARITY[int(code[0])], code[1:7], strict=True))
    right = "".join(_R[int(d)] for d in code[7:])
    return "101" + left + "01010" + right + "101"


def ean13_symbol(code: str, module_px: int = 4) -> Image:
    """A printed EAN-13 label: bars, longer guard bars, digits below, quiet zones (11 and 7 modules)."""
    modules = ean13_modules(code)
    guards = {*range(0, 3), *range(45, 50), *range(92, 95)}
    height, guard_extra, text_h = 60 * module_px, 5 * module_px, 9 * module_px
    width = (11 + 95 + 7) * module_px
    img = np.full((height + text_h + 2 * module_px, width), 255, np.uint8)
    for i, bit in enumerate(modules):
        if bit == "1":
            x = (11 + i) * module_px
            img[module_px:module_px + height + (guard_extra if i in guards else 0), x:x + module_px] = 0
    scale = module_px / 4.5
    baseline = img.shape[0] - module_px
    for text, x in ((code[0], 2), (code[1:7], 15), (code[7:], 61)):
        cv2.putText(img, text, (x * module_px, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, max(1, module_px // 2),
                    cv2.LINE_AA)
    return img


def qr_symbol(text: str, module_px: int = 4) -> Image:
    """A QR code (OpenCV's encoder) with a 4-module quiet zone."""
    raw = cv2.QRCodeEncoder.create().encode(text)
    raw = cv2.copyMakeBorder(raw, 3, 3, 3, 3, cv2.BORDER_CONSTANT, value=255)
    return cv2.resize(raw, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


def background(width: int, height: int, seed: int = 0) -> Image:
    """Cluttered, colourful "packaging": smooth colour field, blocks, bar-like stripes and text."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 220, size=(max(2, height // 120), max(2, width // 120), 3)).astype(np.uint8)
    img: Image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(8):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(width // 20, width // 4)), int(rng.integers(height // 20, height // 4))
        cv2.rectangle(img, (x, y), (x + w, y + h), _colour(rng), -1)
    for _ in range(6):
        x, y, angle = int(rng.integers(0, width)), int(rng.integers(0, height)), rng.uniform(0, math.pi)
        length = int(rng.integers(width // 10, width // 3))
        end = (int(x + length * math.cos(angle)), int(y + length * math.sin(angle)))
        cv2.line(img, (x, y), end, _colour(rng), int(rng.integers(1, max(2, width // 200))))
    for _ in range(8):
        text = "".join(chr(int(c)) for c in rng.integers(48, 91, int(rng.integers(3, 12))))
        size = width / 1280 * rng.uniform(0.5, 2.0)
        cv2.putText(img, text, (int(rng.integers(0, width)), int(rng.integers(0, height))),
                    cv2.FONT_HERSHEY_SIMPLEX, size, _colour(rng), max(1, int(size * 2)), cv2.LINE_AA)
    return img


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    c = rng.integers(0, 256, 3)
    return int(c[0]), int(c[1]), int(c[2])


@dataclass(frozen=True)
class Placement:
    """Where and how a symbol appears in a frame (sizes in frame pixels)."""

    cx: float = 0.5              # centre, fraction of the frame width
    cy: float = 0.5              # centre, fraction of the frame height
    module_px: float = 3.0       # pixels per module in the frame
    angle: float = 0.0           # in-plane rotation, degrees
    tilt: float = 0.0            # out-of-plane tilt about the vertical axis, degrees
    blur: float = 0.0            # Gaussian sigma, pixels
    motion: int = 0              # horizontal motion blur length, pixels
    noise: float = 2.0           # Gaussian noise sigma, grey levels
    contrast: float = 1.0        # 1 = paper white, ink black; 0.25 = washed out
    jpeg: int = 0                # re-encode at this JPEG quality (0 = no)


KIOSK = Placement(module_px=2.6, angle=12.0, tilt=15.0, blur=0.7, motion=3, noise=8.0, contrast=0.6, jpeg=75)
"""The "kiosk" condition of BARCODES.md §3: everything moderate at once."""


def compose(scene: Image, symbol: Image, symbol_module_px: int, place: Placement, seed: int = 0) -> Image:
    """``scene`` (BGR) with ``symbol`` (gray, ``symbol_module_px`` per module) printed on it as ``place`` says."""
    rng = np.random.default_rng(seed)
    height, width = scene.shape[:2]
    scale = place.module_px / symbol_module_px
    h, w = symbol.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = _corners(w * scale, h * scale, place, width, height)
    matrix = cv2.getPerspectiveTransform(src, dst)
    sigma = 0.5 / scale   # anti-alias the print before it is shrunk
    label = cv2.GaussianBlur(symbol, (0, 0), sigma) if sigma > 0.3 else symbol
    warped = cv2.warpPerspective(label.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
    paper, ink = 240.0, 25.0
    printed = (ink + (paper - ink) * warped / 255.0)[..., None]
    img = scene.astype(np.float32) * (1 - mask[..., None]) + printed * mask[..., None]
    return _degrade(img, place, rng)


def _corners(w: float, h: float, place: Placement, width: int, height: int) -> MatLike:
    """Label corners in the frame: a pinhole view of the tilted label, then rotated and centred."""
    focal = float(width)
    tilt, angle = math.radians(place.tilt), math.radians(place.angle)
    pts = []
    for x, y in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        xt, zt = x * math.cos(tilt), focal - x * math.sin(tilt)
        px, py = focal * xt / zt, focal * y / zt
        rx = px * math.cos(angle) - py * math.sin(angle)
        ry = px * math.sin(angle) + py * math.cos(angle)
        pts.append((rx + place.cx * width, ry + place.cy * height))
    return np.array(pts, np.float32)


def _degrade(img: MatLike, place: Placement, rng: np.random.Generator) -> Image:
    if place.contrast != 1.0:
        mean = float(img.mean())
        img = mean + (img - mean) * place.contrast
    if place.blur:
        img = cv2.GaussianBlur(img, (0, 0), place.blur)
    if place.motion:
        kernel = np.full((1, place.motion), 1.0 / place.motion, np.float32)
        img = cv2.filter2D(img, -1, kernel)
    if place.noise:
        img = img + np.asarray(rng.normal(0, place.noise, img.shape), np.float32)
    out: Image = np.clip(img, 0, 255).astype(np.uint8)
    if place.jpeg:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, place.jpeg])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if ok and decoded is not None:
            out = decoded
    return out


def pass_by(scene: Image, symbol: Image, symbol_module_px: int, place: Placement, *,
            enter: int = 6, hold: int = 10, leave: int = 6, empty: int = 4, seed: int = 0) -> list[Image]:
    """Frames of a product carried in from the right, held at ``place``, and taken away to the left.

    ``empty`` frames without the code come first and last; while moving, the symbol is motion
    blurred in proportion to its speed, as a camera at 30 fps sees a hand.
    """
    frames = [scene.copy() for _ in range(empty)]
    path = [1.3 - (1.3 - place.cx) * (i + 1) / enter for i in range(enter)]
    path += [place.cx] * hold
    path += [place.cx - (place.cx + 0.3) * (i + 1) / leave for i in range(leave)]
    speeds = [abs(b - a) for a, b in zip([1.3, *path], path, strict=False)]
    for i, (cx, speed) in enumerate(zip(path, speeds, strict=True)):
        motion = max(place.motion, int(speed * scene.shape[1] / 4))
        frames.append(compose(scene, symbol, symbol_module_px, replace(place, cx=cx, motion=motion), seed + i))
    frames += [scene.copy() for _ in range(empty)]
    return frames


def write_avi(path: str | os.PathLike[str], frames: Sequence[Image], fps: float = 30.0) -> Path:
    """Write BGR ``frames`` as an MJPEG .avi (what a USB camera sends); returns the path."""
    out = Path(path)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot write {out}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return out


def write_png_sequence(folder: str | os.PathLike[str], frames: Iterable[Image]) -> str:
    """Write ``frames`` as frames_000.png, ...; returns the ``%03d`` pattern VideoCapture opens."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    pattern = os.path.join(os.fspath(folder), "frames_%03d.png")
    for i, frame in enumerate(frames):
        cv2.imwrite(pattern % i, frame)
    return pattern


class CameraSimulator:
    """A camera that is a video file: ``url`` for the driver, ``unplug``/``plug`` to pull it."""

    def __init__(self, name: str = "camera", *, folder: str | None = None) -> None:
        self._own = folder is None
        self._dir = Path(folder or tempfile.mkdtemp(prefix="kiosk-cam-"))
        self.url = str(self._dir / f"{name}.avi")
        self._stash = self._dir / f".{name}.unplugged"

    def show(self, frames: Sequence[Image], fps: float = 30.0) -> None:
        """Replace the footage (the driver sees it from its next open)."""
        write_avi(self._dir / ".writing.avi", frames, fps).replace(self.url)

    def unplug(self) -> None:
        """Make the camera disappear: its file is moved away."""
        if os.path.exists(self.url):
            os.replace(self.url, self._stash)

    def plug(self) -> None:
        """Bring the camera back with the footage it had."""
        if self._stash.exists():
            os.replace(self._stash, self.url)

    def close(self) -> None:
        """Remove the footage (and the folder, if the simulator made it)."""
        if self._own:
            shutil.rmtree(self._dir, ignore_errors=True)
