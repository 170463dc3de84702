"""What of a SAM-V reader's wire the technician's page may show (a ``drivers.frames`` policy).

Commands carry no personal data and are shown whole.  Replies are followed frame by frame as
they arrive in chunks (PROTOCOLS.md §1.2): the preamble, LEN, SW1 SW2 SW3 and the checksum are
always shown; the data is shown only for replies that cannot carry card data (find, select,
SAM status and id).  Replies to read-base (30 01), read-base-with-fingerprint (30 10) and the
new address (30 03) keep only their length fields (text, photo, fingerprint lengths); a reply
to a command not seen, or any reply longer than ``SHOWN_DATA_MAX``, is withheld whole.  Bytes
outside a frame (garbage while resynchronising, which may be the middle of a card's data) are
withheld too.
"""

from __future__ import annotations

from drivers.frames import TX, Segment

from .samv_frames import MAX_LEN, PREAMBLE, Command

SHOWN_DATA_MAX = 32
"""Longest reply data ever shown (SAM id: 16 bytes; select: 8)."""
LENGTH_FIELDS = {Command.READ_BASE.value: 4, Command.READ_BASE_FP.value: 6, Command.READ_NEW_ADDRESS.value: 0}
"""Replies that carry card data: how many leading data bytes are length fields (shown)."""
_SAFE = frozenset(c.value for c in (Command.RESET_SAM, Command.SAM_STATUS, Command.SAM_ID,
                                    Command.FIND_CARD, Command.SELECT_CARD))
_HEAD = 5                       # LEN_H LEN_L SW1 SW2 SW3 after the preamble


class SamvCapture:
    """Frame-aware masking of one SAM-V port's traffic (keeps state: one instance per open port)."""

    def __init__(self) -> None:
        self._command: bytes | None = None   # CMD PARA of the last command sent
        self._pre = 0                        # preamble bytes matched so far (hunting)
        self._head = bytearray()             # LEN and SW bytes of the reply being read
        self._data_left = 0                  # data bytes still to come
        self._data_shown = 0                 # ... of which this many more may be shown
        self._chk_left = 0                   # the checksum byte still to come

    def shown(self, direction: str, data: bytes) -> list[Segment]:
        """Commands whole; replies as framing plus the data that may be shown."""
        if direction == TX:
            if len(data) >= len(PREAMBLE) + 4 and data.startswith(PREAMBLE):
                self._command = bytes(data[7:9])
            return [data]
        out: list[Segment] = []
        i = 0
        while i < len(data):
            i = self._step(data, i, out)
        return out

    def _step(self, data: bytes, i: int, out: list[Segment]) -> int:
        """Consume from ``data[i:]`` in the current state; return the new position."""
        if self._data_left:
            take = min(self._data_left, len(data) - i)
            show = min(take, self._data_shown)
            _add(out, data[i:i + show])
            _add(out, take - show)
            self._data_left -= take
            self._data_shown -= show
            return i + take
        if self._chk_left:
            _add(out, data[i:i + 1])
            self._chk_left = 0
            return i + 1
        if self._pre == len(PREAMBLE):
            take = min(_HEAD - len(self._head), len(data) - i)
            self._head += data[i:i + take]
            _add(out, data[i:i + take])
            if len(self._head) == _HEAD:
                self._start_data()
            return i + take
        self._hunt(data[i], out)
        return i + 1

    def _hunt(self, byte: int, out: list[Segment]) -> None:
        """Match the preamble byte by byte; bytes that turn out not to be one are withheld."""
        old = self._pre
        if byte == PREAMBLE[old]:
            new = old + 1
        elif byte == PREAMBLE[0]:
            new = 3 if old == 3 else 1          # AA AA AA AA: still the start of a preamble
        else:
            new = 0
        _add(out, old + 1 - new)                # bytes that left the partial match
        self._pre = new
        if new == len(PREAMBLE):
            _add(out, PREAMBLE)
            self._head.clear()

    def _start_data(self) -> None:
        length = int.from_bytes(self._head[:2], "big")
        self._pre = 0
        if length < 4 or length > MAX_LEN:      # not a frame after all: look for the next preamble
            return
        self._data_left = length - 4
        self._chk_left = 1
        command = self._command
        if command in LENGTH_FIELDS:
            self._data_shown = LENGTH_FIELDS[command]
        elif command in _SAFE and self._data_left <= SHOWN_DATA_MAX:
            self._data_shown = self._data_left
        else:
            self._data_shown = 0


def _add(out: list[Segment], seg: bytes | int) -> None:
    """Append ``seg`` (bytes shown or a withheld count), merging with the last segment of its kind."""
    if not seg:
        return
    last = out[-1] if out else None
    if isinstance(seg, int) and isinstance(last, int):
        out[-1] = last + seg
    elif isinstance(seg, bytes) and isinstance(last, bytes):
        out[-1] = last + seg
    else:
        out.append(seg)
