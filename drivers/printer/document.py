"""The slip as a printer-neutral document, pure: blocks of text, two-column rows, rules and a QR code.

The domain (``kiosk/slip.py``) builds a ``SlipDocument``; the printer driver renders it. Nothing
here knows ESC/POS, quotas or declarations.  Widths are counted in printer columns, where a
CJK (East Asian wide) character takes two, as it does on the printer.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

ALIGNS = ("left", "center", "right")
QR_LEVELS = ("L", "M", "Q", "H")


@dataclass(frozen=True)
class Text:
    """One line of text (wrapped by the renderer if it is too long)."""

    text: str
    align: str = "left"
    bold: bool = False
    large: bool = False       # double width and height

    def __post_init__(self) -> None:
        if self.align not in ALIGNS:
            raise ValueError(f"align {self.align!r} is not one of {', '.join(ALIGNS)}")


@dataclass(frozen=True)
class Columns:
    """A row with text on the left and an amount flush right."""

    left: str
    right: str
    bold: bool = False


@dataclass(frozen=True)
class Rule:
    """A full-width separator line."""

    char: str = "-"


@dataclass(frozen=True)
class QrCode:
    """A QR code printed natively by the printer (GS ( k), centred."""

    data: str
    size: int = 6             # module size in dots, 1..16
    level: str = "M"

    def __post_init__(self) -> None:
        if not 1 <= self.size <= 16:
            raise ValueError(f"QR module size {self.size} is not in 1..16")
        if self.level not in QR_LEVELS:
            raise ValueError(f"QR level {self.level!r} is not one of {', '.join(QR_LEVELS)}")


@dataclass(frozen=True)
class Feed:
    """Blank lines."""

    lines: int = 1


Block = Text | Columns | Rule | QrCode | Feed


@dataclass(frozen=True)
class SlipDocument:
    """What goes on one slip, top to bottom; cut after it."""

    blocks: tuple[Block, ...]
    cut: bool = True


@dataclass(frozen=True)
class SlipPrinted:
    """The slip left the kiosk for the printer: how many bytes."""

    bytes_sent: int


def display_width(text: str) -> int:
    """Printer columns ``text`` takes: 2 for East Asian wide/fullwidth characters, 0 for combining marks."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def fit(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns`` printer columns."""
    out: list[str] = []
    used = 0
    for ch in text:
        w = display_width(ch)
        if used + w > columns:
            break
        out.append(ch)
        used += w
    return "".join(out)


def row(left: str, right: str, columns: int) -> str:
    """``left`` and ``right`` on one line of ``columns``, the left side shortened if needed."""
    room = columns - display_width(right) - 1
    left = fit(left, max(0, room))
    return left + " " * (columns - display_width(left) - display_width(right)) + right


def wrap(text: str, columns: int) -> list[str]:
    """Split ``text`` into lines of at most ``columns`` (at spaces where possible, CJK anywhere)."""
    lines: list[str] = []
    rest = text
    while display_width(rest) > columns:
        head = fit(rest, columns)
        cut = head.rfind(" ")
        if cut > 0 and display_width(head) - display_width(head[:cut]) < columns // 2:
            head = head[:cut]
        lines.append(head.rstrip())
        rest = rest[len(head):].lstrip(" ")
    lines.append(rest)
    return lines
