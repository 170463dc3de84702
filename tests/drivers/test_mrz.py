"""MRZ parsing and check digits against the ICAO vectors of PROTOCOLS.md §2.2."""

from __future__ import annotations

from datetime import date

import pytest

from drivers.cardreader.mrz import MrzError, MrzFormat, check_digit, parse_mrz, split_lines, yymmdd

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
TD2 = "I<UTOSTEVENSON<<PETER<JOHN<<<<<<<<<<D23145890<UTO3407127M95071227349<<<8"
NLD = "I<NLDXI85935F86999999990<<<<<<7208148F1108268NLD<<<<<<<<<<<4VAN<DER<STEEN<<MARIANNE<LOUISE"
KAZ = "IDKAZN123456785900101300018<<<\n9001011M3001019KAZ<<<<<<<<<<<9\nTESTOV<<TEST<<<<<<<<<<<<<<<<<<"
TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(("text", "digit"), [
    ("L898902C<", 3), ("690806", 1), ("940623", 6), ("D23145890734", 9), ("340712", 7), ("950712", 2),
    ("L898902C3", 6), ("", 0), ("<<<<<<", 0),
])
def test_check_digit_vectors(text: str, digit: int) -> None:
    """7-3-1 weights, '<' = 0, letters 10-35 (Fethbita cases + ICAO samples)."""
    assert check_digit(text) == digit


def test_td3_passport_sample() -> None:
    """ICAO 9303-4 App. B: every field, and the BAC key input built from the 9+1, 6+1, 6+1 fields."""
    m = parse_mrz(TD3)
    assert m.format is MrzFormat.TD3
    assert (m.document_code, m.issuing_state, m.document_number, m.nationality) == ("P<", "UTO", "L898902C3", "UTO")
    assert (m.birth_date, m.sex, m.expiry_date, m.optional_data) == ("740812", "F", "120415", "ZE184226B")
    assert (m.surname, m.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert m.key_input == "L898902C36" + "7408122" + "1204159"
    assert m.text == TD3


def test_td1_id_card_sample() -> None:
    """ICAO 9303-5 TD1: document number in line 1, dates in line 2, name in line 3."""
    m = parse_mrz(TD1)
    assert m.format is MrzFormat.TD1
    assert (m.document_number, m.document_number_cd, m.birth_date, m.expiry_date) == ("D23145890", "7", "740812",
                                                                                      "120415")
    assert (m.surname, m.given_names, m.nationality) == ("ERIKSSON", "ANNA MARIA", "UTO")
    assert m.key_input == "D231458907" + "7408122" + "1204159"


def test_td2_with_a_long_document_number() -> None:
    """9303-11 App. D.2: a 12-character number overflows into optional data; BAC uses all of it."""
    m = parse_mrz(TD2)
    assert m.format is MrzFormat.TD2
    assert (m.document_number, m.document_number_cd, m.optional_data) == ("D23145890734", "9", "")
    assert m.key_input == "D23145890734934071279507122"
    assert (m.surname, m.given_names, m.sex) == ("STEVENSON", "PETER JOHN", "M")


def test_nld_vector_parses_but_its_composite_is_wrong() -> None:
    """The NLD sample's composite recomputes to 8, not 4: parse-only; verifying names the composite."""
    m = parse_mrz(NLD, verify=False)
    assert (m.document_number, m.surname, m.given_names) == ("XI85935F8", "VAN DER STEEN", "MARIANNE LOUISE")
    assert m.optional_data == "999999990"
    with pytest.raises(MrzError) as err:
        parse_mrz(NLD)
    assert (err.value.reason, err.value.field) == ("mrz_check_digit", "composite")
    assert "expected 8" in str(err.value)


def test_synthetic_kazakh_td1() -> None:
    """The generated KZ-style TD1 validates; its optional data keeps the IIN-like digits."""
    m = parse_mrz(KAZ)
    assert (m.document_code, m.issuing_state, m.document_number, m.optional_data) == ("ID", "KAZ", "N12345678",
                                                                                      "900101300018")


@pytest.mark.parametrize(("position", "field"), [
    (45 + 9, "document_number"), (45 + 19, "birth_date"), (45 + 27, "expiry_date"), (45 + 42, "optional_data"),
    (45 + 43, "composite"),
])
def test_each_wrong_check_digit_is_named(position: int, field: str) -> None:
    """Changing one check digit fails on exactly that field."""
    wrong = TD3[:position] + str((int(TD3[position]) + 1) % 10) + TD3[position + 1:]
    with pytest.raises(MrzError) as err:
        parse_mrz(wrong)
    assert (err.value.reason, err.value.field) == ("mrz_check_digit", field)


def test_a_misread_data_character_fails_its_check_digit() -> None:
    """One OCR slip in the birth date (8 read as B is caught by the alphabet, 1 as 7 by the digit)."""
    with pytest.raises(MrzError) as err:
        parse_mrz(TD3.replace("7408122F", "7408722F"))
    assert err.value.field == "birth_date"


@pytest.mark.parametrize("text", [
    TD3.replace("\n", ""), TD3.replace("\n", " "), TD3.lower(), "  " + TD3 + "\n", TD3.replace("\n", "\r\n"),
])
def test_lines_may_come_joined_spaced_or_lower_case(text: str) -> None:
    """Typed or scanned input: the same MRZ whatever the separators and case."""
    assert parse_mrz(text).lines == tuple(TD3.split("\n"))


@pytest.mark.parametrize(("text", "words"), [
    ("", "0 characters"),
    (TD3[:-1], "87 characters"),
    (TD3.replace("ANNA", "ANNÅ"), "only A-Z"),
    (TD3.replace("<<<<<10", "<<<<-10"), "only A-Z"),
    ("P<UTO ERIKSSON" + TD3.replace("\n", "")[13:], "lines of"),
    ("X" + TD3[1:], "document code"),
    ("P" + TD1[1:], "document code"),
    (TD3.replace("2F12", "2Q12"), "sex"),
])
def test_format_errors_are_named(text: str, words: str) -> None:
    """Wrong sizes, characters, codes and sexes are mrz_format errors that say what is wrong."""
    with pytest.raises(MrzError) as err:
        parse_mrz(text)
    assert err.value.reason == "mrz_format"
    assert words in str(err.value)


def test_overflow_without_its_check_digit_is_a_format_error() -> None:
    """A '<' in the document check digit place must be followed by overflow digits and a check digit."""
    with pytest.raises(MrzError) as err:
        parse_mrz(TD2.replace("7349<<<8", "<<<<<<<8"))
    assert (err.value.reason, err.value.field) == ("mrz_format", "document_number")


def test_split_lines_names_the_format() -> None:
    """Sizes 90, 72 and 88 are TD1, TD2 and TD3."""
    assert split_lines(TD1)[0] is MrzFormat.TD1
    assert split_lines(TD2)[0] is MrzFormat.TD2
    assert split_lines(TD3)[0] is MrzFormat.TD3


def test_repr_hides_personal_data() -> None:
    """An Mrz in a log line shows its format, never the holder."""
    assert "ERIKSSON" not in repr(parse_mrz(TD3)) and "L898902C" not in repr(parse_mrz(TD3))


@pytest.mark.parametrize(("text", "past", "expected"), [
    ("740812", True, date(1974, 8, 12)),
    ("261125", True, date(2026, 11, 25)),      # born today
    ("261126", True, date(1926, 11, 26)),      # tomorrow's date: a century ago
    ("100101", True, date(2010, 1, 1)),
    ("120415", False, date(2012, 4, 15)),
    ("950712", False, date(1995, 7, 12)),
    ("351231", False, date(2035, 12, 31)),
])
def test_yymmdd_centuries(text: str, past: bool, expected: date) -> None:
    """Birth dates are never in the future; expiry dates lie within 50 years of today."""
    assert yymmdd(text, today=TODAY, past=past, field="f") == expected


@pytest.mark.parametrize("text", ["7408<<", "741332", "000230", "12345"])
def test_yymmdd_rejects_unknown_or_impossible_dates(text: str) -> None:
    """ICAO allows '<' for an unknown day; it is no usable date, and neither is 30 February."""
    with pytest.raises(MrzError) as err:
        yymmdd(text, today=TODAY, past=True, field="birth_date")
    assert (err.value.reason, err.value.field) == ("mrz_date", "birth_date")
