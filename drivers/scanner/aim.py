"""One scanned line to a ScanRead, for every line-oriented scanner (serial, keyboard wedge). Pure.

AIM symbology identifiers (ISO/IEC 15424, PROTOCOLS.md §3.2): ``]`` + a code character + a
modifier, sent before the data when the scanner's "AIM ID prefix" is on.

GS (0x1D), the GS1 FNC1 separator, is kept in the text (§3.3).  A scanner that cannot send it
(keyboard wedges, some serial firmware) is programmed to substitute a printable character, often
``~`` or ``^``; ``gs_substitute`` maps it back.  When the AIM identifier says which symbology was
read, only GS1 symbologies are mapped, so a ``~`` in a plain QR code's URL stays a ``~``; without
one, every occurrence is mapped (the scanner must then never read codes that contain it).
"""

from __future__ import annotations

from ..base import ScanRead
from ..errors import ProtocolError

AIM_FLAG = "]"
AIM_LENGTH = 3  # "]" + code character + modifier character
GS = "\x1d"

GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
"""AIM identifiers whose modifier means FNC1 in first position: GS1-128, GS1 DataMatrix, GS1 QR,
GS1 DataBar, GS1 DotCode (biip ``symbology.py``; GS1 General Specifications fig. 5.1.2-2)."""


SUBSTITUTES = ("", *"!\"#$%&'()*+,-./:;<=>?@[\\^_`{|}~")
"""Allowed ``gs_substitute`` settings: none, or one ASCII symbol (not "]", which starts AIM identifiers)."""


def check_substitute(char: str) -> str | None:
    """What is wrong with a configured GS substitute, or None ("" means none)."""
    if char not in SUBSTITUTES:
        return f"gs_substitute {char!r} is not one ASCII symbol character other than ']' (e.g. '~' or '^')"
    return None


def to_scan(text: str, *, aim_prefix: bool, gs_substitute: str = "") -> ScanRead | None:
    """A scanned line (terminator removed) -> ScanRead; None for an empty line; ProtocolError if malformed."""
    if not text:
        return None
    if not (aim_prefix and text.startswith(AIM_FLAG)):
        return ScanRead(_restore_gs(text, None, gs_substitute))
    symbology, data = text[:AIM_LENGTH], text[AIM_LENGTH:]
    if len(symbology) < AIM_LENGTH or not symbology[1].isascii() or not symbology[1].isalpha():
        raise ProtocolError(f"malformed AIM identifier {symbology!r}")
    if not data:
        raise ProtocolError(f"no data after AIM identifier {symbology!r}")
    return ScanRead(_restore_gs(data, symbology, gs_substitute), symbology)


def _restore_gs(data: str, symbology: str | None, substitute: str) -> str:
    if not substitute or (symbology is not None and symbology not in GS1_SYMBOLOGIES):
        return data
    return data.replace(substitute, GS)
