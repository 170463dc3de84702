"""drivers.scanner.keymap, table-tested: key codes to text with the US map, Shift, Ctrl, ALT mode, terminators."""

from __future__ import annotations

import pytest
from evdev import ecodes as e

from drivers.scanner import keymap
from drivers.scanner.keymap import KEYPAD, US, KeyDecoder, KeyLine, keystrokes
from drivers.sim.wedge import key_events


def test_constants_are_the_kernels() -> None:
    """Our key numbers equal linux/input-event-codes.h as python-evdev compiled them."""
    for name in ("KEY_TAB", "KEY_ENTER", "KEY_KPENTER", "KEY_LEFTSHIFT", "KEY_RIGHTSHIFT", "KEY_LEFTCTRL",
                 "KEY_RIGHTCTRL", "KEY_LEFTALT", "KEY_RIGHTALT", "KEY_CAPSLOCK", "KEY_NUMLOCK", "EV_KEY", "EV_SYN",
                 "EV_MSC"):
        assert getattr(keymap, name) == getattr(e, name), name


@pytest.mark.parametrize(("key", "plain", "shifted"), [
    ("KEY_1", "1", "!"), ("KEY_2", "2", "@"), ("KEY_6", "6", "^"), ("KEY_0", "0", ")"), ("KEY_MINUS", "-", "_"),
    ("KEY_EQUAL", "=", "+"), ("KEY_Q", "q", "Q"), ("KEY_P", "p", "P"), ("KEY_LEFTBRACE", "[", "{"),
    ("KEY_RIGHTBRACE", "]", "}"), ("KEY_A", "a", "A"), ("KEY_SEMICOLON", ";", ":"), ("KEY_APOSTROPHE", "'", '"'),
    ("KEY_GRAVE", "`", "~"), ("KEY_BACKSLASH", "\\", "|"), ("KEY_Z", "z", "Z"), ("KEY_M", "m", "M"),
    ("KEY_COMMA", ",", "<"), ("KEY_DOT", ".", ">"), ("KEY_SLASH", "/", "?"), ("KEY_SPACE", " ", " "),
])
def test_us_map(key: str, plain: str, shifted: str) -> None:
    assert US[getattr(e, key)] == (plain, shifted)


def test_us_map_covers_printable_ascii_and_the_keypad_its_digits() -> None:
    typable = {c for pair in US.values() for c in pair}
    assert typable == {chr(c) for c in range(0x20, 0x7F)}
    assert {KEYPAD[getattr(e, f"KEY_KP{d}")] for d in range(10)} == set("0123456789")
    assert KEYPAD[e.KEY_KPDOT] == "." and KEYPAD[e.KEY_KPMINUS] == "-" and KEYPAD[e.KEY_KPSLASH] == "/"


def feed(decoder: KeyDecoder, events: list[tuple[int, int, int]]) -> list[KeyLine]:
    lines = [decoder.feed(*ev) for ev in events]
    return [line for line in lines if line is not None]


@pytest.mark.parametrize("text", ["4006381333931", "Badge-00042/A", "]C1010950110153000310AB\x1d17290331",
                                  "https://id.gs1.org/01/09501101530003?17=260630", "a b~|{}\x1e\x04"])
def test_typed_text_decodes_back(text: str) -> None:
    """What a US-layout wedge types (Shift and Ctrl held around keys) decodes to the same text."""
    assert feed(KeyDecoder(), key_events(text)) == [KeyLine(text)]


def test_gs_is_ctrl_right_bracket() -> None:
    assert keystrokes("\x1d") == [(e.KEY_RIGHTBRACE, False, True)]
    with pytest.raises(ValueError, match="US keyboard"):
        keystrokes("中")


@pytest.mark.parametrize(("suffix", "terminator", "lines"), [
    ("enter", "enter", ["123"]), ("enter", "kpenter", ["123"]), ("enter", "tab", []),
    ("tab", "tab", ["123"]), ("tab", "enter", []), ("enter_or_tab", "tab", ["123"]),
    ("enter_or_tab", "kpenter", ["123"]),
])
def test_terminators(suffix: str, terminator: str, lines: list[str]) -> None:
    assert [line.text for line in feed(KeyDecoder(suffix), key_events("123", terminator))] == lines


def test_keypad_digits_right_shift_repeat_and_locks() -> None:
    """Keypad emulation mode, right Shift, autorepeat (ignored) and lock keys (ignored)."""
    events = [(e.EV_KEY, e.KEY_NUMLOCK, 1), (e.EV_KEY, e.KEY_KP4, 1), (e.EV_KEY, e.KEY_KP4, 2),
              (e.EV_KEY, e.KEY_KP4, 0), (e.EV_KEY, e.KEY_RIGHTSHIFT, 1), (e.EV_KEY, e.KEY_A, 1),
              (e.EV_KEY, e.KEY_RIGHTSHIFT, 0), (e.EV_KEY, e.KEY_A, 1), (e.EV_KEY, e.KEY_CAPSLOCK, 1),
              (e.EV_MSC, e.MSC_SCAN, 0x70004), (e.EV_KEY, e.KEY_KPENTER, 1)]
    assert feed(KeyDecoder(), events) == [KeyLine("4Aa")]


def test_alt_mode_types_decimal_codes() -> None:
    """Alt held, 0 2 9 on the keypad, Alt released: GS.  Codes above 127 are refused, not guessed."""
    def alt(*kp: int) -> list[tuple[int, int, int]]:
        return ([(e.EV_KEY, e.KEY_LEFTALT, 1)] + [(e.EV_KEY, k, 1) for k in kp] + [(e.EV_KEY, e.KEY_LEFTALT, 0)])
    events = alt(e.KEY_KP0, e.KEY_KP2, e.KEY_KP9) + [(e.EV_KEY, e.KEY_1, 1)] + alt(e.KEY_KP6, e.KEY_KP5)
    assert feed(KeyDecoder(), events + [(e.EV_KEY, e.KEY_ENTER, 1)]) == [KeyLine("\x1d1A")]
    high = feed(KeyDecoder(), alt(e.KEY_KP2, e.KEY_KP0, e.KEY_KP0) + [(e.EV_KEY, e.KEY_ENTER, 1)])
    assert high == [KeyLine("", (e.KEY_LEFTALT,))]


def test_keys_without_a_character_are_reported() -> None:
    events = [(e.EV_KEY, e.KEY_1, 1), (e.EV_KEY, e.KEY_F5, 1), (e.EV_KEY, e.KEY_102ND, 1), (e.EV_KEY, e.KEY_ENTER, 1)]
    assert feed(KeyDecoder(), events) == [KeyLine("1", (e.KEY_F5, e.KEY_102ND))]


def test_empty_codes_and_reset() -> None:
    """Enter alone gives nothing; reset drops a half-typed code and the held Shift."""
    decoder = KeyDecoder()
    assert feed(decoder, [(e.EV_KEY, e.KEY_ENTER, 1)]) == []
    feed(decoder, [(e.EV_KEY, e.KEY_LEFTSHIFT, 1), (e.EV_KEY, e.KEY_A, 1)])
    decoder.reset()
    assert feed(decoder, [(e.EV_KEY, e.KEY_A, 1), (e.EV_KEY, e.KEY_ENTER, 1)]) == [KeyLine("a")]
    with pytest.raises(ValueError):
        KeyDecoder("space")
