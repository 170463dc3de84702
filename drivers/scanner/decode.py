"""Barcodes in one camera frame or photo: zxing-cpp first, pyzbar on its misses, on a gray centre region.

Why these settings (BARCODES.md §7; measured again here with ``benchmarks/bench_camera.py``, whose
sweep test prints the table behind each choice; figures below are EAN-13 in the "kiosk" condition):

- zxing-cpp first: it reads every format the kiosk needs, GS1 DataMatrix included, reports the
  AIM symbology identifier (``]C1``, ``]d2``, ``]Q3``) that GS1 parsing needs, and takes a third
  to a half of zbar's time on the same pixels.  ``try_invert`` off (goods are never light-on-dark;
  it costs 20-40 %), ``text_mode`` Plain (GS separators stay in the text), the LocalAverage
  binarizer (GlobalHistogram lost QR and DataMatrix codes), ``try_rotate`` on (1-D codes held
  upright: at 60 degrees zxing alone read 1 of 6 without it), ``try_downscale`` on (no difference
  measured; zxing-cpp uses it for large symbols in large images, i.e. a code held close).
- pyzbar only on frames where zxing finds nothing: it reads rotated and tilted EAN-13s zxing
  misses (1280x720: 85/96 with it, 63/96 without; 1920x1080: 80/96 and 55/96).  It has no
  DataMatrix and no symbology identifier.  Its copy is shrunk to ``zbar_max_width`` pixels: its
  cost grows with area, and a wider copy read no more codes at 1080p, only more zbar misreads.
- Only a centre region of interest is decoded (``roi``, the "hold the code here" box on the
  screen), cropped before the gray conversion.  By default 0.8 of a frame up to 1280 px wide and
  0.6 above: the fractions that read the most codes (1280x720: 85/96 at 0.8, 77/96 at 0.6;
  1920x1080: 80/96 at 0.6, 73/96 at 0.8), at about half the cost of the whole frame.  Frames are
  never downscaled for zxing: halving a 2.5 px/module code puts it below what decoders resolve.

A misread EAN/UPC price lookup is worse than no read, and every decoder misreads some real
photos with a valid check digit (BARCODES.md §4; ``tests/drivers/test_decode_photos.py``), so
with ``verify`` on: a zxing EAN/UPC read that zxing itself also saw differently (a candidate
with a checksum error at ``return_errors``) counts only if zbar reads the same value, and an
EAN/UPC read by zbar alone counts only if zbar reads it again from a copy resampled to 0.8x.
That costs a few true reads (85 -> 87 of 96 without it) and stops most single-frame misreads;
the camera's two-identical-reads rule stops most of the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

try:
    import cv2
    import zxingcpp
    from cv2.typing import MatLike
    from pyzbar import pyzbar
except ImportError as exc:  # pragma: no cover - the camera needs its libraries
    raise ImportError(f"the camera scanner needs opencv-python-headless, zxing-cpp and pyzbar "
                      f"(with Debian's libzbar0): {exc}") from exc

Image = MatLike

RETAIL = frozenset({"EAN13", "EAN8", "UPCA", "UPCE"})
KIOSK_FORMATS = ("EAN13", "EAN8", "UPCA", "Code128", "QRCode", "DataMatrix")
"""What the kiosk reads: goods (EAN/UPC), GS1-128 and GS1 DataMatrix labels, QR (GS1 Digital Link).

UPC-E ("UPCE", may be added) is left out: its six digits in 51 modules turn up inside EAN-13 and UPC-A
bars for both decoders (each made such reads on the benchmark frames, zbar on the real photo upca-5/32),
and goods sold at this border carry EAN-13; UPC-E from serial and keyboard scanners is still read."""

_ZXING = {"EAN13": zxingcpp.BarcodeFormat.EAN13, "EAN8": zxingcpp.BarcodeFormat.EAN8,
          "UPCA": zxingcpp.BarcodeFormat.UPCA, "UPCE": zxingcpp.BarcodeFormat.UPCE,
          "Code128": zxingcpp.BarcodeFormat.Code128, "QRCode": zxingcpp.BarcodeFormat.QRCode,
          "DataMatrix": zxingcpp.BarcodeFormat.DataMatrix}
_ZBAR = {"EAN13": pyzbar.ZBarSymbol.EAN13, "EAN8": pyzbar.ZBarSymbol.EAN8, "UPCA": pyzbar.ZBarSymbol.UPCA,
         "UPCE": pyzbar.ZBarSymbol.UPCE, "Code128": pyzbar.ZBarSymbol.CODE128, "QRCode": pyzbar.ZBarSymbol.QRCODE}
# zbar does not report the AIM identifier; these are the ones its symbol types imply.  Code 128 has
# none: zbar drops the leading FNC1, so GS1-128 and plain Code 128 look alike (BARCODES.md §1).
_ZBAR_AIM = {"EAN13": "]E0", "UPCA": "]E0", "UPCE": "]E0", "EAN8": "]E4", "QRCODE": "]Q1"}
_ZBAR_FORMAT = {"EAN13": "EAN13", "UPCA": "UPCA", "UPCE": "UPCE", "EAN8": "EAN8", "CODE128": "Code128",
                "QRCODE": "QRCode"}
_BINARIZERS = {"local_average": zxingcpp.Binarizer.LocalAverage,
               "global_histogram": zxingcpp.Binarizer.GlobalHistogram}


@dataclass(frozen=True)
class Symbol:
    """One decoded barcode: text (GS kept), AIM symbology if known, format name, which decoder read it."""

    text: str
    symbology: str | None
    format: str
    decoder: str            # "zxing" | "zbar"
    raw: bytes = field(default=b"", repr=False, compare=False)   # the symbol's bytes, before any charset

    @property
    def key(self) -> str:
        """The text compared across frames and decoders (UPC-A and EAN-13 forms agree)."""
        if self.format in RETAIL and self.text.isdigit() and len(self.text) in (12, 13):
            return self.text.zfill(13)
        return self.text


@dataclass(frozen=True)
class DecoderSettings:
    """How frames are decoded; the defaults are the measured choice (module docstring)."""

    formats: tuple[str, ...] = KIOSK_FORMATS
    roi: float = 0.0                  # centre region decoded, fraction of width and height; 0 = by width
    try_rotate: bool = True           # 1-D codes held upright, not only level
    try_downscale: bool = True        # large codes held close to the lens
    binarizer: str = "local_average"  # global_histogram loses low-contrast and blurred frames
    zbar: bool = True                 # pyzbar on frames where zxing finds nothing
    zbar_max_width: int = 960         # zbar's copy is shrunk to this width (its cost grows with area)
    verify: bool = True               # cross-check doubtful EAN/UPC reads (module docstring)

    def roi_for(self, width: int) -> float:
        """The ROI fraction for frames ``width`` pixels wide (module docstring: measured per resolution)."""
        return self.roi or (0.8 if width <= 1280 else 0.6)

    def __post_init__(self) -> None:
        unknown = [f for f in self.formats if f not in _ZXING]
        if unknown or not self.formats:
            raise ValueError(f"formats {unknown or '(none)'} are not among {', '.join(KIOSK_FORMATS)}")
        if not (self.roi == 0.0 or 0.1 <= self.roi <= 1.0):
            raise ValueError(f"roi {self.roi} is not 0 (by resolution) or in 0.1..1.0")
        if self.binarizer not in _BINARIZERS:
            raise ValueError(f"binarizer {self.binarizer!r} is not one of {', '.join(_BINARIZERS)}")
        if self.zbar_max_width < 64:
            raise ValueError(f"zbar_max_width {self.zbar_max_width} is below 64")


class FrameDecoder:
    """Decode BGR or gray frames with one fixed set of settings."""

    def __init__(self, settings: DecoderSettings | None = None) -> None:
        self.settings = settings or DecoderSettings()
        s = self.settings
        self._formats = zxingcpp.BarcodeFormats([_ZXING[f] for f in s.formats])
        self._zbar_symbols = [_ZBAR[f] for f in s.formats if f in _ZBAR]
        if self._zbar_symbols and "UPCA" in s.formats and "UPCE" not in s.formats:
            # with UPC-E off, zbar still finds UPC-E patterns (inside EAN-13 bars) and passes them off as
            # expanded UPC-A; with it on they come labelled UPC-E, and are dropped below
            self._zbar_symbols.append(_ZBAR["UPCE"])
        self._binarizer = _BINARIZERS[s.binarizer]

    def decode(self, frame: Image) -> list[Symbol]:
        """Every barcode read in the centre region of ``frame`` (BGR or gray)."""
        return self.decode_gray(region(frame, self.settings.roi_for(frame.shape[1])))

    def decode_gray(self, gray: Image) -> list[Symbol]:
        """Every barcode read in a gray image, whole (the ROI already cut)."""
        found, contested = self._zxing(gray)
        if not contested and (found or not self.settings.zbar):
            return found
        zbar = self._zbar(gray) if self._zbar_symbols else []
        zbar_keys = {z.key for z in zbar}
        agreed = [c for c in contested if c.key in zbar_keys]
        others = [z for z in zbar if z.key not in {c.key for c in contested}]
        if self.settings.verify and any(z.format in RETAIL for z in others):
            # zbar alone: its EAN/UPC read must come out the same from a resampled copy
            again = {z.key for z in self._zbar(cv2.resize(gray, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA))}
            others = [z for z in others if z.format not in RETAIL or z.key in again]
        return unique(found + agreed + others)

    def _zxing(self, gray: Image) -> tuple[list[Symbol], list[Symbol]]:
        """(reads, doubtful EAN/UPC reads) from zxing-cpp."""
        s = self.settings
        results = zxingcpp.read_barcodes(
            gray, formats=self._formats, try_rotate=s.try_rotate, try_downscale=s.try_downscale,
            try_invert=False, text_mode=zxingcpp.TextMode.Plain, binarizer=self._binarizer,
            return_errors=s.verify)
        reads = [_from_zxing(r) for r in results if r.valid]
        if not s.verify:
            return reads, []
        doubts = {_from_zxing(r).key for r in results if not r.valid and _format_name(r.format) in RETAIL}
        sure = [r for r in reads if r.format not in RETAIL or not doubts - {r.key}]
        contested = [r for r in reads if r not in sure]
        return sure, contested

    def _zbar(self, gray: Image) -> list[Symbol]:
        width = gray.shape[1]
        if width > self.settings.zbar_max_width:
            scale = self.settings.zbar_max_width / width
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out: list[Symbol] = []
        for r in pyzbar.decode(np.ascontiguousarray(gray), symbols=self._zbar_symbols):
            kind = str(r.type)
            data: bytes = r.data
            # zbar hands QR text over as UTF-8; 1-D data is ISO 8859-1 (Code 128's character set)
            text = data.decode("utf-8", "replace") if kind == "QRCODE" else data.decode("latin-1")
            symbol = Symbol(text, _ZBAR_AIM.get(kind), _ZBAR_FORMAT.get(kind, kind), "zbar", data)
            if symbol.format in self.settings.formats:
                out.append(symbol)
        return out


def _format_name(fmt: object) -> str:
    """zxing's format as one of our names ("EAN13"), from its str() ("EAN-13")."""
    name = str(fmt).replace("-", "").replace(" ", "")
    return {"QRCode": "QRCode", "DataMatrix": "DataMatrix", "Code128": "Code128"}.get(name, name.upper())


def _from_zxing(r: zxingcpp.Barcode) -> Symbol:
    return Symbol(r.text, r.symbology_identifier or None, _format_name(r.format), "zxing", bytes(r.bytes))


def region(frame: Image, fraction: float) -> Image:
    """The gray centre ``fraction`` x ``fraction`` of ``frame`` (cropped before the colour conversion)."""
    h, w = frame.shape[:2]
    if fraction < 1.0:
        rh, rw = max(1, round(h * fraction)), max(1, round(w * fraction))
        y, x = (h - rh) // 2, (w - rw) // 2
        frame = frame[y:y + rh, x:x + rw]
    if frame.ndim == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame


def read_image(path: str) -> Image | None:
    """A photo as gray pixels, or None when OpenCV cannot read it."""
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE)


def video_frames(path: str) -> Iterator[Image]:
    """Every frame of a video file or image sequence; OSError (at the first frame) if OpenCV cannot open it."""
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise OSError(f"{path}: not a video or image sequence OpenCV can read")
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield frame
    finally:
        cap.release()


def unique(symbols: Sequence[Symbol]) -> list[Symbol]:
    """``symbols`` without repeats of one key (the first kept)."""
    seen: set[str] = set()
    out = []
    for s in symbols:
        if s.key not in seen:
            seen.add(s.key)
            out.append(s)
    return out
