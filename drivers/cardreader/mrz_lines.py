"""Assembling an MRZ from the text lines a document (passport page) scanner sends, one at a time.

Pure: lines in, a validated MRZ out, no I/O and no clock.  ``MrzAssembler.feed`` takes one line
as framed off the wire and returns the MRZ text (lines joined by newlines, the form
``drivers.cardreader.mrz.parse_mrz`` reads and ``Mrz.text`` gives) when that line completes an
MRZ whose every check digit is right; otherwise None.

What readers send (OCR-B passport page readers in serial or USB-CDC mode): the MRZ lines in
order, 2 x 44 (TD3), 2 x 36 (TD2) or 3 x 30 (TD1), each ended by CR or CR LF, often framed by
STX (0x02) before the first line and ETX (0x03) after the last.  Some send lower case, ``«``
for the filler ``<``, or blanks around or inside a line.  Each line is cleaned first:

- STX, ETX and every blank (space, tab, CR, LF) are removed, wherever they are; an MRZ has no
  blanks, so a blank is formatting (a reader that sends a blank *for* ``<`` gives lines of the
  wrong length, which are dropped as garbage, never guessed at);
- ``a``-``z`` become upper case and ``«`` becomes ``<``; any other character than ``A``-``Z``,
  ``0``-``9`` and ``<`` makes the line garbage.

Grouping: a cleaned line of 30, 36 or 44 characters is one MRZ line of that format; a line of
90, 72 or 88 characters is a whole MRZ run together (a reader set to send it as one line).
Lines of one format are kept as a sliding group of the format's line count: when the group is
full it is parsed and verified; a valid MRZ is returned and the group cleared; an invalid one
is dropped with its reason and slides by one line, so that a partial document followed by a
complete one still gives the complete one.  The check digits cover every field BAC uses (a mix
of two documents' number and dates does not pass), but not the name line, which is why a group
also ends at the markers below and on a pause.  A new document resets the group: an STX, a line of another size,
or a garbage line drops the lines held (``mrz_incomplete``), and so does an ETX that ends a
group before it is complete; the driver ends a group on a pause between lines (``end_group``).
Empty lines (and lines of nothing but STX, ETX or blanks) are ignored.

Every drop keeps its reason (``last_reason``, ``last_detail``, ``dropped``) for diagnostics:

    mrz_garbage       a line that is no MRZ line (length or characters); its text is not kept
    mrz_incomplete    a group ended (STX, ETX, garbage, another size, ``end_group``) before its last line
    mrz_check_digit   a complete group with a wrong check digit (``detail`` names the field)
    mrz_format        a complete group that is no MRZ (document code, sex) (``detail`` says why)

The details never hold MRZ text: an MRZ is personal data.
"""

from __future__ import annotations

import re

from .mrz import MrzError, MrzFormat, parse_mrz

STX = "\x02"
ETX = "\x03"
MAX_LINE = 256
"""Longer lines are garbage without being looked at."""

_BY_WIDTH = {f.width: f for f in MrzFormat}
_BY_TOTAL = {f.lines * f.width: f for f in MrzFormat}
_CLEAN = str.maketrans({**{chr(c): chr(c - 32) for c in range(ord("a"), ord("z") + 1)}, "«": "<",
                        " ": None, "\t": None, "\r": None, "\n": None})
_MARKERS = re.compile(f"([{STX}{ETX}])")
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")


class MrzAssembler:
    """Feed lines one at a time; ``feed`` returns a check-digit-valid MRZ when one completes."""

    def __init__(self) -> None:
        self._format: MrzFormat | None = None
        self._lines: list[str] = []
        self._fresh = 0             # lines held that were not yet part of a group found invalid
        self.last_reason = ""
        """Key of the last drop ('' before any): mrz_garbage, mrz_incomplete, mrz_check_digit, mrz_format."""
        self.last_detail = ""
        """What was wrong, without MRZ text."""
        self.dropped = 0
        """How many drops since creation."""

    @property
    def pending(self) -> int:
        """Lines held: a group not yet complete, or the last lines of one found invalid."""
        return len(self._lines)

    def reset(self) -> None:
        """Forget any lines held, without recording a drop (the port was reopened)."""
        self._format, self._lines, self._fresh = None, [], 0

    def end_group(self, why: str) -> None:
        """End the group held (the driver saw a pause on the line): a partial one is dropped as
        ``mrz_incomplete``, ``why`` saying what ended it."""
        self._end_group(why)

    def garbage(self, detail: str) -> None:
        """Count something the driver could not even frame (an over-long run) as a garbage line."""
        self._end_group("a garbage line")
        self._record("mrz_garbage", detail)

    def feed(self, line: str) -> str | None:
        """One line as received; the MRZ text (lines joined by newlines) when it completes a valid MRZ.

        STX and ETX act where they stand in the line (an ETX of one document and the STX of the
        next may arrive on one line); if one line completes two MRZs, the later one is returned.
        """
        if len(line) > MAX_LINE:
            self.garbage(f"a line of {len(line)} characters")
            return None
        result = None
        for piece in _MARKERS.split(line):
            if piece == STX:
                self._end_group("a new document (STX)")
            elif piece == ETX:
                self._end_group("the end of the document (ETX)")
            elif text := piece.translate(_CLEAN):
                result = self._take(text) or result
        return result

    # -- grouping -----------------------------------------------------------------------

    def _take(self, text: str) -> str | None:
        if not _ALLOWED.issuperset(text):
            self.garbage(f"a line of {len(text)} characters with some not A-Z, 0-9 or <")
            return None
        whole = _BY_TOTAL.get(len(text))
        if whole is not None:
            self._end_group("a whole MRZ on one line")
            return self._check(text, whole)
        fmt = _BY_WIDTH.get(len(text))
        if fmt is None:
            sizes = ", ".join(f"{f.width} ({f.name})" for f in MrzFormat)
            self.garbage(f"a line of {len(text)} characters; MRZ lines have {sizes}")
            return None
        if fmt is not self._format:
            self._end_group(f"a {fmt.name} line")
            self._format = fmt
        self._lines.append(text)
        self._fresh += 1
        if len(self._lines) < fmt.lines:
            return None
        result = self._check("\n".join(self._lines), fmt)
        if result is not None:
            self.reset()
        else:
            del self._lines[0]      # slide: the next line may complete a document these lines start
            self._fresh = 0         # their drop is already recorded: ending them later adds nothing
        return result

    def _check(self, text: str, fmt: MrzFormat) -> str | None:
        try:
            mrz = parse_mrz(text)
        except MrzError as exc:
            where = f" ({exc.field})" if exc.field else ""
            self._record(exc.reason, f"{fmt.name}{where}: {exc}")
            return None
        return mrz.text

    def _end_group(self, why: str) -> None:
        if self._fresh and self._format is not None:
            fmt, held = self._format, len(self._lines)
            self._record("mrz_incomplete", f"{fmt.name} group of {held} of {fmt.lines} lines ended by {why}")
        self.reset()

    def _record(self, reason: str, detail: str) -> None:
        self.last_reason, self.last_detail = reason, detail
        self.dropped += 1
