"""Key codes to text for keyboard-wedge barcode scanners, with the US layout whatever the host's is. Pure.

Linux evdev reports physical keys (``linux/input-event-codes.h``), not characters: the character
depends on a layout, and the scanner picks its key codes for the layout *it* is set to.  Scanners
are set to "USA keyboard" (PROTOCOLS.md §3.4), so this module decodes with the US map and never
asks the host's layout, which on a Kazakh or Chinese kiosk would turn digits into other letters.

Handled: Shift (left and right) for upper case and symbols; the keypad (digits typed as keypad
keys in "keypad emulation" mode, NumLock taken as on); Ctrl + key for the control characters
some scanners emulate that way (Ctrl+] is GS, the GS1 separator; Ctrl+^ is RS); Alt + keypad
digits ("ALT mode": Alt held, the decimal code typed on the keypad, released) for ASCII 0-127.
Enter, keypad Enter and Tab end a code, as ``suffix`` says.  Key up and autorepeat are ignored.
A key with no US character inside a code is kept as its code in ``KeyLine.unmapped`` so that
the driver can refuse the line instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2

# linux/input-event-codes.h (tests check these against python-evdev's ecodes)
KEY_TAB, KEY_ENTER, KEY_KPENTER = 15, 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
KEY_LEFTCTRL, KEY_RIGHTCTRL = 29, 97
KEY_LEFTALT, KEY_RIGHTALT = 56, 100
KEY_CAPSLOCK, KEY_NUMLOCK, KEY_SCROLLLOCK = 58, 69, 70

_ROWS: list[tuple[int, str, str]] = [
    (2, "1234567890-=", "!@#$%^&*()_+"),
    (16, "qwertyuiop[]", "QWERTYUIOP{}"),
    (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    (43, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
]
US: dict[int, tuple[str, str]] = {code + i: (plain[i], shifted[i])
                                  for code, plain, shifted in _ROWS for i in range(len(plain))}
"""Key code -> (character, character with Shift) on a US keyboard."""
US[57] = (" ", " ")                                   # KEY_SPACE

KEYPAD: dict[int, str] = {82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8",
                          73: "9", 83: ".", 74: "-", 78: "+", 55: "*", 98: "/"}
"""Keypad key code -> character (NumLock on)."""

_IGNORED = {KEY_CAPSLOCK, KEY_NUMLOCK, KEY_SCROLLLOCK}
_CONTROL_SYMBOLS = {"[": 0x1B, "\\": 0x1C, "]": 0x1D, "^": 0x1E, "_": 0x1F, "@": 0x00}
SUFFIXES: dict[str, frozenset[int]] = {
    "enter": frozenset({KEY_ENTER, KEY_KPENTER}),
    "tab": frozenset({KEY_TAB}),
    "enter_or_tab": frozenset({KEY_ENTER, KEY_KPENTER, KEY_TAB}),
}
"""Suffix setting -> the keys that end a code."""


@dataclass(frozen=True)
class KeyLine:
    """One code as typed: its text, and the key codes that had no US character (should be none)."""

    text: str
    unmapped: tuple[int, ...] = field(default=())


class KeyDecoder:
    """Turn (type, code, value) key events into KeyLines, one per terminator key."""

    def __init__(self, suffix: str = "enter") -> None:
        if suffix not in SUFFIXES:
            raise ValueError(f"suffix {suffix!r} is not one of {', '.join(SUFFIXES)}")
        self.suffix = suffix
        self._ends = SUFFIXES[suffix]
        self.reset()

    def reset(self) -> None:
        """Forget a half-typed code and every held modifier (after a reconnect)."""
        self._chars: list[str] = []
        self._unmapped: list[int] = []
        self._held: set[int] = set()
        self._alt_digits = ""

    def feed(self, etype: int, code: int, value: int) -> KeyLine | None:
        """One input event; a KeyLine when it ended a code (empty codes give None)."""
        if etype != EV_KEY or value == KEY_REPEAT:
            return None   # EV_SYN and EV_MSC (scan codes) come between keys; repeats would double characters
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT):
            self._modifier(code, value == KEY_DOWN)
            return None
        if value != KEY_DOWN or code in _IGNORED:
            return None
        if code in self._ends and not self._alt_held:
            return self._finish()
        self._key(code)
        return None

    @property
    def _shift(self) -> bool:
        return bool(self._held & {KEY_LEFTSHIFT, KEY_RIGHTSHIFT})

    @property
    def _alt_held(self) -> bool:
        return bool(self._held & {KEY_LEFTALT, KEY_RIGHTALT})

    def _modifier(self, code: int, down: bool) -> None:
        if down:
            self._held.add(code)
            return
        self._held.discard(code)
        if code in (KEY_LEFTALT, KEY_RIGHTALT) and not self._alt_held and self._alt_digits:
            number, self._alt_digits = int(self._alt_digits), ""
            if number < 128:
                self._chars.append(chr(number))
            else:   # above 127 the host's OEM code page decides the character: refuse to guess
                self._unmapped.append(code)

    def _key(self, code: int) -> None:
        if self._alt_held:
            digit = KEYPAD.get(code, "")
            if digit.isdigit():
                self._alt_digits += digit
            else:
                self._unmapped.append(code)
            return
        if code in KEYPAD:
            self._chars.append(KEYPAD[code])
            return
        pair = US.get(code)
        if pair is None:
            self._unmapped.append(code)
        elif self._held & {KEY_LEFTCTRL, KEY_RIGHTCTRL}:
            self._control(code, pair[1] if self._shift else pair[0])
        else:
            self._chars.append(pair[1] if self._shift else pair[0])

    def _control(self, code: int, char: str) -> None:
        if char.isalpha():
            self._chars.append(chr(ord(char.upper()) - 0x40))   # Ctrl+A = 0x01 ... Ctrl+Z = 0x1A
        elif char in _CONTROL_SYMBOLS:
            self._chars.append(chr(_CONTROL_SYMBOLS[char]))
        else:
            self._unmapped.append(code)

    def _finish(self) -> KeyLine | None:
        line = KeyLine("".join(self._chars), tuple(self._unmapped))
        self._chars, self._unmapped, self._alt_digits = [], [], ""
        return line if line.text or line.unmapped else None


_TYPED: dict[str, tuple[int, bool]] = {}
for _code, (_plain, _shifted) in US.items():
    _TYPED.setdefault(_plain, (_code, False))
    _TYPED.setdefault(_shifted, (_code, True))


def keystrokes(text: str) -> list[tuple[int, bool, bool]]:
    """How a US-layout wedge scanner types ``text``: (key code, shift, ctrl) per character.

    GS and the other control characters are typed as Ctrl + key.  ValueError for characters
    a US keyboard cannot type (a wedge scanner would need ALT mode for them).
    """
    out: list[tuple[int, bool, bool]] = []
    for char in text:
        if char in _TYPED:
            code, shift = _TYPED[char]
            out.append((code, shift, False))
        elif ord(char) < 0x20:
            symbol = {v: k for k, v in _CONTROL_SYMBOLS.items()}.get(ord(char)) or chr(ord(char) + 0x60)
            code, shift = _TYPED[symbol]
            out.append((code, shift, True))
        else:
            raise ValueError(f"{char!r} cannot be typed on a US keyboard")
    return out
