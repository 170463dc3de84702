"""MrzAssembler (pure): document scanner lines in, a check-digit-valid MRZ out, every drop named.

Vectors: the ICAO specimens of PROTOCOLS.md §2.2 (TD3, TD1, TD2 with a long document number).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.cardreader.mrz import parse_mrz
from drivers.cardreader.mrz_lines import ETX, STX, MrzAssembler

TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD2 = ("I<UTOSTEVENSON<<PETER<JOHN<<<<<<<<<<", "D23145890<UTO3407127M95071227349<<<8")
KAZ = ("IDKAZN123456785900101300018<<<", "9001011M3001019KAZ<<<<<<<<<<<9", "TESTOV<<TEST<<<<<<<<<<<<<<<<<<")
BAD_TD3 = (TD3[0], TD3[1][:-1] + "5")                   # composite 5, expected 0
BAD_TD1 = (TD1[0], TD1[1][:6] + "3" + TD1[1][7:], TD1[2])  # birth date check digit 3, expected 2


def text(lines: tuple[str, ...]) -> str:
    """The MRZ as parse_mrz reads it and the assembler returns it."""
    return "\n".join(lines)


def feed_all(lines: list[str], assembler: MrzAssembler | None = None) -> list[str | None]:
    """What ``feed`` returned for each line."""
    assembler = assembler or MrzAssembler()
    return [assembler.feed(line) for line in lines]


def only_result(lines: list[str]) -> list[str]:
    """The MRZs the lines gave, in order."""
    return [r for r in feed_all(lines) if r is not None]


@pytest.mark.parametrize(("lines", "expected"), [
    pytest.param(list(TD3), text(TD3), id="td3"),
    pytest.param(list(TD1), text(TD1), id="td1"),
    pytest.param(list(TD2), text(TD2), id="td2-long-document-number"),
    pytest.param(list(KAZ), text(KAZ), id="td1-kaz"),
    pytest.param([STX + TD3[0], TD3[1] + ETX], text(TD3), id="stx-etx-on-the-lines"),
    pytest.param([STX, *TD1, ETX], text(TD1), id="stx-etx-on-their-own-lines"),
    pytest.param([f"{STX}{TD3[0]}\r", f"{TD3[1]}\r\n{ETX}"], text(TD3), id="cr-and-crlf-left-in"),
    pytest.param([line.lower() for line in TD1], text(TD1), id="lower-case"),
    pytest.param([line.replace("<", "«") for line in TD3], text(TD3), id="guillemet-for-filler"),
    pytest.param(["  " + TD3[0] + " ", "\t" + TD3[1][:22] + " " + TD3[1][22:]], text(TD3), id="blanks"),
    pytest.param(["", TD3[0], "", TD3[1]], text(TD3), id="empty-lines-ignored"),
    pytest.param(["".join(TD3)], text(TD3), id="td3-run-together"),
    pytest.param([" ".join(TD1)], text(TD1), id="td1-on-one-line"),
    pytest.param(["garbage!", "READY", "x" * 44, *TD3], text(TD3), id="noise-before"),
    pytest.param([TD1[0], *TD1], text(TD1), id="partial-then-complete"),
    pytest.param([TD3[0], TD1[0], TD1[1], TD1[2]], text(TD1), id="new-size-resets"),
    pytest.param([TD1[1], TD1[2], *TD1], text(TD1), id="tail-of-one-then-whole"),
    pytest.param([*BAD_TD3, *TD3], text(TD3), id="bad-check-digit-then-good"),
    pytest.param([STX + TD3[0], ETX + STX + TD3[0], TD3[1] + ETX], text(TD3), id="etx-and-stx-on-one-line"),
])
def test_complete_mrz_is_returned_on_its_last_line(lines: list[str], expected: str) -> None:
    """The line that completes a valid MRZ returns it (the form parse_mrz reads); every other one None."""
    last = max(i for i, line in enumerate(lines) if line.strip(STX + ETX + " \t\r\n"))
    results = feed_all(lines)
    assert results[last] == expected
    assert results[:last] + results[last + 1:] == [None] * (len(lines) - 1)
    assert parse_mrz(expected).text == expected


@pytest.mark.parametrize(("lines", "reason", "detail"), [
    pytest.param(list(BAD_TD3), "mrz_check_digit", "TD3 (composite): check digit of composite is '5', expected 0",
                 id="td3-composite"),
    pytest.param([STX, *BAD_TD1, ETX], "mrz_check_digit",
                 "TD1 (birth_date): check digit of birth_date is '3', expected 2", id="td1-birth-date"),
    pytest.param(["Q" + TD3[0][1:], TD3[1]], "mrz_format",
                 "TD3 (document_code): document code 'Q<' is not a TD3 document", id="td3-document-code"),
    pytest.param([TD3[0], TD3[1][:20] + "Q" + TD3[1][21:]], "mrz_format", "TD3 (sex): sex 'Q' is not M, F, X or <",
                 id="td3-sex"),
    pytest.param([STX + TD3[0], ETX], "mrz_incomplete",
                 "TD3 group of 1 of 2 lines ended by the end of the document (ETX)", id="etx-too-early"),
    pytest.param([TD1[0], TD1[1], STX + TD1[0]], "mrz_incomplete",
                 "TD1 group of 2 of 3 lines ended by a new document (STX)", id="stx-starts-another"),
    pytest.param([TD3[0], TD1[0]], "mrz_incomplete", "TD3 group of 1 of 2 lines ended by a TD1 line",
                 id="another-size"),
    pytest.param([TD3[0], "READY"], "mrz_garbage", "a line of 5 characters; MRZ lines have 30 (TD1), 36 (TD2), "
                 "44 (TD3)", id="garbage-length"),
    pytest.param([TD3[0], TD3[1][:-1] + "é"], "mrz_garbage",
                 "a line of 44 characters with some not A-Z, 0-9 or <", id="garbage-characters"),
    pytest.param([TD3[0], TD3[1].replace("<", " ")], "mrz_garbage",
                 "a line of 39 characters; MRZ lines have 30 (TD1), 36 (TD2), 44 (TD3)", id="blank-for-filler"),
    pytest.param(["x" * 300], "mrz_garbage", "a line of 300 characters", id="huge-line"),
    pytest.param([text(BAD_TD3)], "mrz_check_digit",
                 "TD3 (composite): check digit of composite is '5', expected 0", id="run-together-invalid"),
])
def test_dropped_groups_give_nothing_and_keep_their_reason(lines: list[str], reason: str, detail: str) -> None:
    """Garbage, partial and invalid groups return None; the last drop's reason and detail are kept."""
    assembler = MrzAssembler()
    assert feed_all(lines, assembler) == [None] * len(lines)
    assert (assembler.last_reason, assembler.last_detail) == (reason, detail)
    assert assembler.dropped >= 1


def test_reason_of_an_invalid_group_survives_its_etx() -> None:
    """STX, bad TD3, ETX: the check digit stays the reason (the ETX only ends leftovers already reported)."""
    assembler = MrzAssembler()
    assert feed_all([STX + BAD_TD3[0], BAD_TD3[1], ETX], assembler) == [None, None, None]
    assert (assembler.last_reason, assembler.dropped) == ("mrz_check_digit", 1)


def test_details_never_hold_mrz_text() -> None:
    """A drop names sizes, fields and digits, never the document number or the name."""
    assembler = MrzAssembler()
    for lines in ([TD3[0], "L898902C3"], list(BAD_TD3), [TD1[0], TD1[1][:-1] + "#"]):
        feed_all(lines, assembler)
        assert "L898902C" not in assembler.last_detail and "ERIKSSON" not in assembler.last_detail
        assert "D23145890" not in assembler.last_detail


def test_nothing_is_returned_before_the_last_line_and_the_group_clears() -> None:
    """After a valid MRZ nothing is held; the same document scanned twice gives it twice."""
    assembler = MrzAssembler()
    assert feed_all([*TD1, *TD1], assembler) == [None, None, text(TD1), None, None, text(TD1)]
    assert assembler.pending == 0 and assembler.last_reason == ""


def test_end_group_drops_a_partial_group() -> None:
    """The driver ends a group on a pause: the line before it does not combine with the next."""
    assembler = MrzAssembler()
    assert assembler.feed(TD3[0]) is None
    assembler.end_group("a pause of more than 2 s")
    assert (assembler.last_reason, assembler.last_detail) == (
        "mrz_incomplete", "TD3 group of 1 of 2 lines ended by a pause of more than 2 s")
    assert assembler.feed(TD3[1]) is None
    assert feed_all(list(TD3), assembler)[-1] == text(TD3)


def test_garbage_from_the_driver_and_reset() -> None:
    """``garbage`` ends the group as a garbage line would; ``reset`` forgets lines without a drop."""
    assembler = MrzAssembler()
    assembler.feed(TD1[0])
    assembler.garbage("a run of more than 128 bytes without a line end")
    assert (assembler.last_reason, assembler.dropped) == ("mrz_garbage", 2)   # the partial group, then garbage
    assembler.feed(TD1[0])
    assembler.reset()
    assert assembler.pending == 0 and assembler.dropped == 2


def test_two_documents_one_after_the_other() -> None:
    """A TD3 then a TD1 then a TD2 in one stream: each returned on its own last line."""
    assert only_result([STX, *TD3, ETX, STX, *TD1, ETX, *TD2]) == [text(TD3), text(TD1), text(TD2)]


def test_mixing_two_documents_does_not_pass() -> None:
    """Line 1 of one TD1 with lines 2-3 of another: the composite check digit refuses it."""
    assembler = MrzAssembler()
    assert feed_all([KAZ[0], TD1[1], TD1[2]], assembler) == [None, None, None]
    assert assembler.last_reason == "mrz_check_digit"


# -- hostile input -------------------------------------------------------------------

BOUNDED = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SPECIMENS = [TD3, TD1, TD2, KAZ]
MRZ_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<<<<<<abcxyz«  \x02\x03\r\n\t"


def mutate(line: str, data: st.DataObject) -> str:
    """A specimen line with one character replaced, removed or added."""
    pos = data.draw(st.integers(0, len(line) - 1))
    char = data.draw(st.sampled_from(MRZ_CHARS))
    op = data.draw(st.sampled_from(["replace", "delete", "insert"]))
    if op == "replace":
        return line[:pos] + char + line[pos + 1:]
    if op == "delete":
        return line[:pos] + line[pos + 1:]
    return line[:pos] + char + line[pos:]


noise_line = st.one_of(
    st.text(max_size=100),
    st.text(alphabet=MRZ_CHARS, min_size=28, max_size=46),
    st.text(alphabet=MRZ_CHARS, max_size=92),
    st.sampled_from([line for spec in SPECIMENS for line in spec]),
)


@BOUNDED
@given(st.lists(noise_line, max_size=12))
def test_random_lines_only_give_values_or_none(lines: list[str]) -> None:
    """Any lines: feed returns None or an MRZ that parses with every check digit; nothing raises."""
    assembler = MrzAssembler()
    for line in lines:
        result = assembler.feed(line)
        assert result is None or parse_mrz(result).text == result
        assert isinstance(assembler.last_reason, str) and assembler.pending <= 3


@BOUNDED
@given(st.lists(noise_line, max_size=8), st.sampled_from(SPECIMENS), st.data())
def test_noise_or_damaged_scans_then_a_good_scan_gives_it(lines: list[str], spec: tuple[str, ...],
                                                          data: st.DataObject) -> None:
    """Whatever came before (noise, a damaged scan of the same document), a clean scan gives the MRZ."""
    damaged = [mutate(line, data) for line in spec]
    assembler = MrzAssembler()
    for line in [*lines, *damaged]:
        result = assembler.feed(line)
        assert result is None or parse_mrz(result).text == result
    assert feed_all(list(spec), assembler)[-1] == text(spec)
