"""LineFramer: table tests over exact bytes and chunk boundaries."""

from __future__ import annotations

import pytest

from drivers.framing import TERMINATORS, LineFramer

GS1_DATA = b"010541234500001310ABC123\x1d17290331"


def feed_all(framer: LineFramer, chunks: list[bytes]) -> list[bytes]:
    """Feed every chunk in order; return all lines produced."""
    lines: list[bytes] = []
    for chunk in chunks:
        lines += framer.feed(chunk)
    return lines


@pytest.mark.parametrize(("terminator", "chunks", "expected"), [
    # cr: CR ends a line; an LF right after a CR is swallowed, also across chunks
    ("cr", [b"5901234123457\r"], [b"5901234123457"]),
    ("cr", [b"5901234123457\r\n"], [b"5901234123457"]),
    ("cr", [b"5901234123457\r", b"\n"], [b"5901234123457"]),
    ("cr", [b"123\r", b"\n456\r"], [b"123", b"456"]),
    ("cr", [b"123\r\n456\r\n"], [b"123", b"456"]),
    ("cr", [b"123\r", b"", b"\n456\r"], [b"123", b"456"]),
    ("cr", [b"\r\r"], [b"", b""]),
    ("cr", [b"1\r\n\r\n"], [b"1", b""]),
    ("cr", [b"a\nb\r"], [b"a\nb"]),
    ("cr", [b"123\r", b"4\n"], [b"123"]),
    # crlf: CR LF is one terminator, and a lone CR still ends the line
    ("crlf", [b"4870000000015\r\n"], [b"4870000000015"]),
    ("crlf", [b"4870000000015\r", b"\n"], [b"4870000000015"]),
    ("crlf", [b"4870000000015\r", b"\n", b"6901234567892\r\n"], [b"4870000000015", b"6901234567892"]),
    ("crlf", [b"4870000000015\r"], [b"4870000000015"]),
    # lf: LF ends a line; a CR just before it is dropped, also when it came in the previous chunk
    ("lf", [b"123\n"], [b"123"]),
    ("lf", [b"123\r\n"], [b"123"]),
    ("lf", [b"123\r", b"\n"], [b"123"]),
    ("lf", [b"a\rb\n"], [b"a\rb"]),
    ("lf", [b"123\r"], []),
    # tab: TAB only; CR and LF are data
    ("tab", [b"123\t456\t"], [b"123", b"456"]),
    ("tab", [b"a\rb\nc\t"], [b"a\rb\nc"]),
    # GS (0x1D) is data in every mode
    ("cr", [b"]C1" + GS1_DATA + b"\r"], [b"]C1" + GS1_DATA]),
    ("lf", [GS1_DATA + b"\n"], [GS1_DATA]),
    ("tab", [b"\x1d\x1d\t"], [b"\x1d\x1d"]),
    # no terminator yet: nothing
    ("cr", [b"590123"], []),
    ("cr", [b""], []),
])
def test_lines(terminator: str, chunks: list[bytes], expected: list[bytes]) -> None:
    """Each chunk sequence yields exactly the expected lines."""
    assert feed_all(LineFramer(terminator), chunks) == expected


@pytest.mark.parametrize("terminator", ["cr", "lf", "crlf", "tab"])
def test_every_split_point_gives_the_same_lines(terminator: str) -> None:
    """GIVEN two codes with the scanner's suffix WHEN cut anywhere (or byte by byte) THEN the same lines."""
    suffix = TERMINATORS[terminator]
    stream = b"5901234123457" + suffix + b"]C1" + GS1_DATA + suffix
    want = [b"5901234123457", b"]C1" + GS1_DATA]
    for cut in range(len(stream) + 1):
        assert feed_all(LineFramer(terminator), [stream[:cut], stream[cut:]]) == want, cut
    assert feed_all(LineFramer(terminator), [bytes([b]) for b in stream]) == want


@pytest.mark.parametrize(("terminator", "chunks", "expected", "dropped"), [
    ("cr", [b"1234\r"], [b"1234"], 0),
    ("cr", [b"12345\r"], [], 1),
    ("cr", [b"12345678", b"9\rok\r"], [b"ok"], 1),
    ("cr", [b"123", b"45", b"6789\r", b"ab\r"], [b"ab"], 1),
    ("cr", [b"12345\r", b"67890\r", b"x\r"], [b"x"], 2),
    ("cr", [b"123456789", b"\n", b"\r\nok\r"], [b"ok"], 1),
    ("lf", [b"1234\r\n"], [b"1234"], 0),
    ("lf", [b"12345\n"], [], 1),
    ("lf", [b"1234\r", b"\n"], [b"1234"], 0),
    ("tab", [b"12\x1d45\t"], [], 1),
])
def test_over_long_runs_are_dropped_and_counted(
        terminator: str, chunks: list[bytes], expected: list[bytes], dropped: int) -> None:
    """A run over max_length is dropped up to its terminator, counted, and the next line is clean."""
    framer = LineFramer(terminator, max_length=4)
    assert feed_all(framer, chunks) == expected
    assert framer.dropped == dropped


def test_over_long_run_is_reported_before_any_terminator() -> None:
    """GIVEN a stream with no terminator THEN it is dropped as soon as it passes max_length, not buffered."""
    framer = LineFramer("cr", max_length=8)
    assert framer.feed(b"12345678") == []
    assert (framer.dropped, framer.pending) == (0, 8)
    assert framer.feed(b"9") == []
    assert (framer.dropped, framer.pending) == (1, 0)
    assert framer.feed(b"x" * 10_000) == []
    assert (framer.dropped, framer.pending) == (1, 0)
    assert framer.feed(b"\rgood\r") == [b"good"]


def test_reset_forgets_partial_line_and_pending_lf() -> None:
    """After reset a half line from the old connection does not glue onto the next one."""
    framer = LineFramer("cr")
    framer.feed(b"half")
    framer.reset()
    assert framer.feed(b"whole\r") == [b"whole"]
    framer.feed(b"x\r")
    framer.reset()
    assert framer.feed(b"\n1\r") == [b"\n1"]


@pytest.mark.parametrize(("terminator", "max_length"), [("cr\n", 256), ("CR", 256), ("cr", 0)])
def test_bad_settings_are_rejected(terminator: str, max_length: int) -> None:
    """An unknown terminator or a non-positive max_length is a ValueError naming it."""
    with pytest.raises(ValueError, match="terminator|max_length"):
        LineFramer(terminator, max_length)


def test_terminator_table_is_the_scanner_suffix_bytes() -> None:
    """The suffix settings map to exactly the bytes of PROTOCOLS.md §3.1."""
    assert TERMINATORS == {"cr": b"\x0d", "lf": b"\x0a", "crlf": b"\x0d\x0a", "tab": b"\x09"}
