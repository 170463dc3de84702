"""SlipDocument -> ESC/POS bytes, pure: python-escpos builds the commands into a capture printer.

Wire reference: PROTOCOLS.md §5.  The bytes start with INIT ``1B 40`` and, for Chinese-market
printers, ``FS &`` ``1C 26`` (Chinese character mode on; harmless when already on).  Text that
the printer's own font can print (ASCII, and GB2312 characters from U+3000 up: CJK, CJK
punctuation, fullwidth forms) is sent as GB18030, encoded here rather than through escpos's
magic encoder: that one switches to GB18030 only for strings holding U+4E00–U+9FA5 and would
send a line of CJK punctuation or Cyrillic through Western code pages (``ESC t``) as ``?``.
Everything else (Uyghur, Kazakh, Russian) is drawn with Pillow (libraqm shapes Arabic script
right-to-left when Pillow has it) and sent as a raster image, ``GS v 0``.  The QR code is the
printer's native ``GS ( k`` sequence (model 2, module size, error level, store, print), and the
slip ends with ``cut()`` = ``1B 64 06 1D 56 00``.
"""

from __future__ import annotations

import copy
import logging
import os
import unicodedata
from typing import Any

from escpos.constants import QR_ECLEVEL_H, QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont, features

from .document import Block, Columns, Feed, QrCode, Rule, SlipDocument, Text, row, wrap

log = logging.getLogger(__name__)

INIT = b"\x1b\x40"
CHINESE_MODE_ON = b"\x1c\x26"     # FS &
QR_LEVELS = {"L": QR_ECLEVEL_L, "M": QR_ECLEVEL_M, "Q": QR_ECLEVEL_Q, "H": QR_ECLEVEL_H}
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",    # Latin, Cyrillic (Kazakh too), Arabic (Uyghur)
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
IMAGE_FONT_PX = 24
FIRST_GB_WIDE = 0x3000


def printable_as_text(text: str) -> bool:
    """True when the printer's built-in fonts print ``text``: ASCII, or GB2312 characters from U+3000 up."""
    for ch in text:
        code = ord(ch)
        if 0x20 <= code < 0x7F:
            continue
        if code < FIRST_GB_WIDE:
            return False
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            return False
    return True


def find_font(font_path: str = "") -> str | None:
    """The TrueType font used for image lines: ``font_path`` if given, else the first candidate found."""
    if font_path:
        return font_path
    return next((path for path in FONT_CANDIDATES if os.path.exists(path)), None)


class _Capture(Dummy):  # type: ignore[misc]
    """python-escpos's capturing printer, with the paper width known (for its image code)."""

    def __init__(self, profile: str, width_px: int) -> None:
        super().__init__(profile=profile)
        data = copy.deepcopy(self.profile.profile_data)
        data["media"]["width"]["pixels"] = width_px
        self.profile.profile_data = data   # an instance attribute: the shared profile class is untouched


class SlipRenderer:
    """Renders SlipDocuments for one printer: paper columns and width, profile, font."""

    def __init__(self, *, columns: int = 32, width_px: int = 384, profile: str = "default",
                 chinese_mode: bool = True, font_path: str = "") -> None:
        self.columns = columns
        self.width_px = width_px
        self.profile = profile
        self.chinese_mode = chinese_mode
        self.font_path = find_font(font_path)
        self.image_lines = 0
        """Lines drawn as images since creation (scripts the printer cannot print)."""

    def render(self, document: SlipDocument) -> bytes:
        """The complete ESC/POS byte stream for ``document``."""
        printer = _Capture(self.profile, self.width_px)
        printer._raw(INIT)
        if self.chinese_mode:
            printer._raw(CHINESE_MODE_ON)
        for block in document.blocks:
            self._block(printer, block)
        if document.cut:
            printer.cut()
        data: bytes = printer.output
        return data

    def _block(self, p: Any, block: Block) -> None:
        if isinstance(block, Text):
            columns = self.columns // 2 if block.large else self.columns
            p.set(align=block.align, bold=block.bold, normal_textsize=not block.large,
                  double_width=block.large, double_height=block.large)
            for line in wrap(block.text, columns):
                self._line(p, line, block.align)
            if block.large or block.bold or block.align != "left":
                p.set(align="left", bold=False, normal_textsize=True)
        elif isinstance(block, Columns):
            if block.bold:
                p.set(bold=True)
            self._line(p, row(block.left, block.right, self.columns), "left")
            if block.bold:
                p.set(bold=False)
        elif isinstance(block, Rule):
            p._raw((block.char * self.columns).encode("ascii") + b"\n")
        elif isinstance(block, QrCode):
            p.set(align="center")
            p.qr(block.data, native=True, size=block.size, ec=QR_LEVELS[block.level])
            p.set(align="left")
        elif isinstance(block, Feed):
            p._raw(b"\n" * block.lines)

    def _line(self, p: Any, line: str, align: str) -> None:
        if printable_as_text(line):
            p._raw(line.encode("gb18030") + b"\n")
            return
        self.image_lines += 1
        p.image(self.text_image(line, align), impl="bitImageRaster", center=False)

    def text_image(self, line: str, align: str = "left") -> Image.Image:
        """``line`` drawn full paper width in black on white (1 bit), right-aligned for RTL scripts."""
        font = self._font()
        image = Image.new("1", (self.width_px, IMAGE_FONT_PX + 8), 1)
        draw = ImageDraw.Draw(image)
        left, _top, right, _bottom = draw.textbbox((0, 0), line, font=font)
        width = right - left
        if align == "center":
            x = (self.width_px - width) // 2
        elif align == "right" or _right_to_left(line):
            x = self.width_px - width
        else:
            x = 0
        draw.text((x - left, 2), line, font=font, fill=0)
        return image

    def _font(self) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        if self.font_path is None:
            log.warning("no TrueType font found: image lines use Pillow's default font (Latin only)")
            return ImageFont.load_default()
        engine = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
        return ImageFont.truetype(self.font_path, IMAGE_FONT_PX, layout_engine=engine)


def _right_to_left(text: str) -> bool:
    """True when the first strongly directional character is right-to-left (Arabic-script Uyghur)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False

