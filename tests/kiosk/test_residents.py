"""Resident registry import (errors with line numbers) and eligibility on a given day."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest

from drivers.base import CardType, IdCard
from kiosk.errors import DataError
from kiosk.identity import check_digit
from kiosk.residents import (
    REFERRAL_REASONS,
    ImportReport,
    Registry,
    RegistryEntry,
    RejectedRow,
    check_eligibility,
    import_registry,
    write_registry,
)

TODAY = date(2026, 11, 25)
HEADER = "id_number,name,filing_valid_until,status,site\n"


def _id(first17: str) -> str:
    """A number with its correct check digit."""
    return first17 + check_digit(first17)


OK = "654201199001010036"                 # male, 1990-01-01, active
SUSPENDED = _id("65420119850312004")      # female, 1985-03-12, suspended and filing long expired
FILING_EXPIRED = _id("65422119811105002")  # female, 1981-11-05, filing ended yesterday
FILING_TODAY = _id("65422519690222007")   # male, 1969-02-22, filing ends today
X_NUMBER = "44011320141005001X"           # male, 2014-10-05, active
UNREGISTERED = _id("65420219880730001")   # male, 1988-07-30

PEOPLE = {
    OK: (date(1990, 1, 1), "1"),
    SUSPENDED: (date(1985, 3, 12), "2"),
    FILING_EXPIRED: (date(1981, 11, 5), "2"),
    FILING_TODAY: (date(1969, 2, 22), "1"),
    X_NUMBER: (date(2014, 10, 5), "1"),
    UNREGISTERED: (date(1988, 7, 30), "1"),
}

REGISTRY = Registry([
    RegistryEntry(OK, "甲", date(2027, 12, 31), "active", "巴克图"),
    RegistryEntry(SUSPENDED, "乙", date(2020, 1, 1), "suspended", "巴克图"),
    RegistryEntry(FILING_EXPIRED, "丙", TODAY - timedelta(days=1), "active", "巴克图"),
    RegistryEntry(FILING_TODAY, "丁", TODAY, "active", "巴克图"),
    RegistryEntry(X_NUMBER, "戊", date(2027, 12, 31), "active", "巴克图"),
])

EXPIRED = {"valid_to": TODAY - timedelta(days=1)}


def card(number: str = OK, **changes: object) -> IdCard:
    """A resident card valid 2020-2040 whose fields agree with ``number`` unless changed."""
    born, gender = PEOPLE.get(number.upper(), (date(1990, 1, 1), "1"))
    base = IdCard(CardType.RESIDENT, "测试", gender, "01", born, "新疆塔城市测试路1号", number,
                  "塔城市公安局", date(2020, 1, 1), date(2040, 1, 1))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# One row per reason key, in check order.  Each card also fails later checks where it can,
# so that a wrong order returns the wrong key.
ELIGIBILITY = [
    ("visitor_no_quota", card("N12345678", card_type=CardType.PASSPORT, **EXPIRED)),
    ("visitor_no_quota", card(OK, card_type=CardType.FOREIGN_ID, valid_from=TODAY + timedelta(days=1))),
    ("card_type_not_accepted", card("654201199001010035", card_type=CardType.PERMIT_HMT, **EXPIRED)),
    ("card_type_not_accepted", card(UNREGISTERED, card_type=CardType.FOREIGN_PR)),
    ("id_format", card("65420119900101003", **EXPIRED)),
    ("id_checksum", card("654201199001010035", **EXPIRED)),
    ("id_birth_date", card("360426199113010079", **EXPIRED)),
    ("id_mismatch", card(UNREGISTERED, birth_date=date(1988, 7, 31), **EXPIRED)),
    ("id_mismatch", card(UNREGISTERED, gender="2", valid_from=TODAY + timedelta(days=1))),
    ("id_mismatch", card(OK, gender="9")),
    ("card_not_yet_valid", card(UNREGISTERED, valid_from=TODAY + timedelta(days=1), **EXPIRED)),
    ("card_expired", card(UNREGISTERED, **EXPIRED)),
    ("card_expired", card(SUSPENDED, valid_to=TODAY - timedelta(days=365))),
    ("not_registered", card(UNREGISTERED, valid_to=None)),
    ("filing_suspended", card(SUSPENDED)),
    ("filing_expired", card(FILING_EXPIRED)),
    (None, card(OK)),
]

BOUNDARIES = [
    ("valid on the valid_from day", card(OK, valid_from=TODAY), None),
    ("valid on the valid_to day", card(OK, valid_to=TODAY), None),
    ("expired the day after valid_to", card(OK, valid_to=TODAY - timedelta(days=1)), "card_expired"),
    ("not valid the day before valid_from", card(OK, valid_from=TODAY + timedelta(days=1)),
     "card_not_yet_valid"),
    ("long-term card (valid_to None)", card(OK, valid_to=None), None),
    ("filing valid on its last day", card(FILING_TODAY), None),
    ("lower-case x on the card, X in the registry", card("44011320141005001x"), None),
    ("spaces around the number", card(" " + OK + " "), None),
]


@pytest.mark.parametrize(("reason", "id_card"), ELIGIBILITY)
def test_eligibility_reason_order(reason: str | None, id_card: IdCard) -> None:
    """The first failing check decides the reason key."""
    assert check_eligibility(id_card, REGISTRY, TODAY) == reason


@pytest.mark.parametrize(("case", "id_card", "reason"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_eligibility_boundaries(case: str, id_card: IdCard, reason: str | None) -> None:
    """Validity days are inclusive; long-term cards never expire; x/X and spaces do not matter."""
    assert check_eligibility(id_card, REGISTRY, TODAY) == reason


def test_filing_expires_the_day_after() -> None:
    """A filing valid until today refuses tomorrow."""
    assert check_eligibility(card(FILING_TODAY), REGISTRY, TODAY + timedelta(days=1)) == "filing_expired"


# --- CSV import -------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "registry.csv", encoding: str = "utf-8") -> Path:
    """Write a CSV file for one test."""
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_from_csv_loads_good_file(tmp_path: Path) -> None:
    """A clean file loads every row; lookup ignores x case and spaces; status is normalised."""
    path = write(tmp_path, HEADER
                 + f"{OK},艾力,2027-12-31,active,巴克图\n"
                 + f"{X_NUMBER.lower()},古丽,2026-06-30,Suspended,巴克图\n"
                 + "\n"
                 + f" {UNREGISTERED} , 张三 ,2030-01-01, ACTIVE ,塔城\n")
    registry = Registry.from_csv(path)
    assert len(registry) == 3
    assert registry.lookup(OK) == RegistryEntry(OK, "艾力", date(2027, 12, 31), "active", "巴克图")
    entry = registry.lookup("44011320141005001x")
    assert entry is not None and entry.id_number == X_NUMBER and entry.status == "suspended"
    assert registry.lookup(f" {UNREGISTERED}") == RegistryEntry(
        UNREGISTERED, "张三", date(2030, 1, 1), "active", "塔城")
    assert registry.lookup(FILING_TODAY) is None


def test_from_csv_accepts_bom_and_crlf(tmp_path: Path) -> None:
    """Excel-style UTF-8 with BOM and CRLF line ends loads."""
    text = "\ufeff" + HEADER.replace("\n", "\r\n") + f"{OK},艾力,2027-12-31,active,巴克图\r\n"
    path = write(tmp_path, text)
    assert len(Registry.from_csv(path)) == 1


BAD_ROWS = [
    (2, f"{OK},好,2027-12-31,active,巴克图", None),
    (3, f"{FILING_TODAY},甲,2026-13-01,active,巴克图",
     "bad filing_valid_until '2026-13-01' (want YYYY-MM-DD)"),
    (4, f"{SUSPENDED},乙,31/12/2026,active,巴克图", "bad filing_valid_until '31/12/2026' (want YYYY-MM-DD)"),
    (5, f"{FILING_EXPIRED},丙,2027-01-01,revoked,巴克图",
     "unknown status 'revoked' (want active or suspended)"),
    (6, "654201199001010035,丁,2027-01-01,active,巴克图",
     "invalid ID number 6542**********0035 (id_checksum)"),
    (7, "6542011990,戊,2027-01-01,active,巴克图", "invalid ID number ********** (id_format)"),
    (8, f"{OK.lower()},己,2027-01-01,active,巴克图",
     "duplicate id_number 6542**********0036 (first on line 2)"),
    (9, f"{UNREGISTERED},庚,2027-01-01,active", "4 fields, expected 5 (missing column(s) site)"),
    (10, f"{UNREGISTERED},,2027-01-01,active,巴克图", "empty name"),
    (11, f"{UNREGISTERED},辛,2027-01-01,active,巴克图,extra", "6 fields, expected 5 (too many fields)"),
    (12, f"{UNREGISTERED},壬,2027-01-01,active,", "empty site"),
    (13, "", None),
    (14, f"{X_NUMBER},癸,2027-01-01,active,巴克图", None),
]


def test_from_csv_reports_every_bad_row_with_its_line(tmp_path: Path) -> None:
    """All bad rows are reported at once, in file order, each with its line number."""
    path = write(tmp_path, HEADER + "".join(row + "\n" for _, row, _ in BAD_ROWS))
    with pytest.raises(DataError) as info:
        Registry.from_csv(path)
    expected = [f"line {line}: {problem}" for line, _, problem in BAD_ROWS if problem]
    assert info.value.problems == expected
    assert info.value.source == str(path)
    assert OK not in str(info.value)  # ID numbers are masked in error text


def test_from_csv_reports_several_problems_of_one_row(tmp_path: Path) -> None:
    """One row with several faults lists each of them."""
    path = write(tmp_path, HEADER + "123,,someday,gone,\n")
    with pytest.raises(DataError) as info:
        Registry.from_csv(path)
    assert info.value.problems == [
        "line 2: invalid ID number *** (id_format)",
        "line 2: empty name",
        "line 2: bad filing_valid_until 'someday' (want YYYY-MM-DD)",
        "line 2: unknown status 'gone' (want active or suspended)",
        "line 2: empty site",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty file"),
        ("\n\n", "empty file"),
        (HEADER, "no data rows"),
        ("id_number,name,valid_until,status,site\n" + f"{OK},甲,2027-01-01,active,巴克图\n",
         "missing column(s) filing_valid_until"),
        ("id_number;name;filing_valid_until;status;site\n", "missing column(s)"),
        (HEADER.strip() + ",notes\n", "unexpected column(s) 'notes'"),
        ("id_number,name,name,filing_valid_until,status,site\n", "repeats column(s) name"),
        (HEADER + f'{OK},"unterminated,2027-01-01,active,巴克图\n', "malformed CSV"),
    ],
)
def test_from_csv_file_level_errors(tmp_path: Path, text: str, problem: str) -> None:
    """Empty files, wrong headers and broken CSV are DataErrors."""
    with pytest.raises(DataError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Registry.from_csv(write(tmp_path, text))


def test_from_csv_not_utf8(tmp_path: Path) -> None:
    """A GBK-encoded file is refused rather than read as mojibake."""
    path = write(tmp_path, HEADER + f"{OK},艾力,2027-12-31,active,巴克图\n", encoding="gbk")
    with pytest.raises(DataError, match="not UTF-8"):
        Registry.from_csv(path)


def test_from_csv_missing_file(tmp_path: Path) -> None:
    """A missing file is a DataError naming it."""
    with pytest.raises(DataError, match="cannot read file") as info:
        Registry.from_csv(tmp_path / "absent.csv")
    assert info.value.source.endswith("absent.csv")


def test_constructor_rejects_duplicates() -> None:
    """Two entries for the same person (x and X) are a ValueError."""
    entry = RegistryEntry(X_NUMBER, "甲", TODAY, "active", "巴克图")
    with pytest.raises(ValueError, match="duplicate"):
        Registry([entry, dataclasses.replace(entry, id_number=X_NUMBER.lower())])


def test_len_and_lookup_missing() -> None:
    """len counts entries; an unknown number looks up as None."""
    assert len(REGISTRY) == 5
    assert REGISTRY.lookup(UNREGISTERED) is None
    assert len(Registry([])) == 0


def test_from_csv_blank_lines_keep_physical_line_numbers(tmp_path: Path) -> None:
    """Blank lines before the header and between rows are skipped but still counted."""
    path = write(tmp_path, "\n" + HEADER + f"{OK},甲,2027-01-01,active,巴克图\n\n{OK},乙,2027-01-01,active,巴克图\n")
    with pytest.raises(DataError) as info:
        Registry.from_csv(path)
    assert info.value.problems == ["line 5: duplicate id_number 6542**********0036 (first on line 3)"]


# --- import with a report of rejected rows (issue #3) --------------------------------------------

GOOD_ROWS = (f"{OK},艾力,2027-12-31,active,巴克图\n" + f"{X_NUMBER.lower()},古丽,2026-06-30,suspended,巴克图\n"
             + f"{UNREGISTERED},张三,2030-01-01,active,塔城\n")


def test_import_of_a_clean_file_imports_everything(tmp_path: Path) -> None:
    """Every row good: all accepted, none rejected, and the registry holds them."""
    report = import_registry(write(tmp_path, HEADER + GOOD_ROWS))
    assert (report.accepted, report.rejected, report.imported) == (3, (), True)
    assert report.registry is not None and len(report.registry) == 3
    assert report.registry.lookup(X_NUMBER) is not None
    assert report.lines() == [f"{tmp_path / 'registry.csv'}: 3 rows accepted, 0 rejected; imported 3 residents"]


def test_import_with_bad_rows_imports_nothing_and_reports_each(tmp_path: Path) -> None:
    """By default one bad row stops the whole import; the report names every bad row and reason."""
    report = import_registry(write(tmp_path, HEADER + "".join(row + "\n" for _, row, _ in BAD_ROWS)))
    assert report.imported is False and report.registry is None
    expected = {line: problem for line, _, problem in BAD_ROWS if problem}
    assert [(r.line, r.reasons) for r in report.rejected if r.line != 2] == [
        (line, (problem,)) for line, problem in expected.items()]
    assert report.accepted == 1            # line 14; line 2 is rejected with its repeat on line 8
    assert RejectedRow(2, ("id_number repeated on line 8",)) in report.rejected
    text = "\n".join(report.lines())
    assert "11 rejected; nothing imported" in text and "line 5: unknown status 'revoked'" in text
    assert OK not in text and "654201199001010035" not in text      # ID numbers masked


def test_partial_import_keeps_the_good_rows_only(tmp_path: Path) -> None:
    """allow_partial imports the good rows and still reports the rejected ones."""
    bad = "654201199001010035,丁,2027-01-01,active,巴克图\n" + f"{FILING_TODAY},甲,2026-13-01,active,巴克图\n"
    report = import_registry(write(tmp_path, HEADER + GOOD_ROWS + bad), allow_partial=True)
    assert report.imported and report.registry is not None
    assert sorted(e.id_number for e in report.registry) == sorted([OK, X_NUMBER, UNREGISTERED])
    assert [r.line for r in report.rejected] == [5, 6] and report.accepted == 3
    assert "imported 3 residents" in report.lines()[0]


def test_partial_import_rejects_every_row_of_a_repeated_number(tmp_path: Path) -> None:
    """Which of two rows for one person is right cannot be told: both are left out, even with allow_partial."""
    text = HEADER + f"{OK},艾力,2027-12-31,active,巴克图\n{SUSPENDED},乙,2027-01-01,active,巴克图\n" \
        + f"{OK},艾力,2027-12-31,suspended,巴克图\n"
    report = import_registry(write(tmp_path, text), allow_partial=True)
    assert report.registry is not None and [e.id_number for e in report.registry] == [SUSPENDED]
    assert [(r.line, r.reasons) for r in report.rejected] == [
        (2, ("id_number repeated on line 4",)),
        (4, ("duplicate id_number 6542**********0036 (first on line 2)",)),
    ]


@pytest.mark.parametrize("allow_partial", [False, True])
def test_import_file_level_errors_raise(tmp_path: Path, allow_partial: bool) -> None:
    """A wrong header or a non-UTF-8 file is a DataError either way: there are no rows to report."""
    with pytest.raises(DataError, match="missing column"):
        import_registry(write(tmp_path, "id,name\n1,2\n"), allow_partial=allow_partial)
    with pytest.raises(DataError, match="not UTF-8"):
        import_registry(write(tmp_path, HEADER + GOOD_ROWS, encoding="gbk"), allow_partial=allow_partial)


def test_write_registry_round_trips_and_replaces_atomically(tmp_path: Path) -> None:
    """An imported registry written as the kiosk's file loads back equal; no temporary file is left."""
    report = import_registry(write(tmp_path, HEADER + GOOD_ROWS))
    assert report.registry is not None
    target = tmp_path / "kiosk" / "residents.csv"
    target.parent.mkdir()
    target.write_text("old contents", encoding="utf-8")
    write_registry(report.registry, target)
    loaded = Registry.from_csv(target)
    assert sorted(loaded, key=lambda e: e.id_number) == sorted(report.registry, key=lambda e: e.id_number)
    assert target.read_text(encoding="utf-8").startswith(HEADER)
    assert sorted(p.name for p in target.parent.iterdir()) == ["residents.csv"]


def test_write_registry_failure_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails (disk full, read-only), the kiosk's file is untouched and no temporary is left."""
    target = tmp_path / "residents.csv"
    target.write_text("old contents", encoding="utf-8")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("kiosk.residents.os.replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_registry(Registry([RegistryEntry(OK, "甲", TODAY, "active", "巴克图")]), target)
    assert target.read_text(encoding="utf-8") == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["residents.csv"]


def test_report_type_and_referral_keys() -> None:
    """The report is a plain value; visitor_no_quota is the one referral key of eligibility."""
    report = ImportReport("f.csv", 0, (RejectedRow(2, ("empty name",)),))
    assert report.imported is False and report.lines()[1] == "line 2: empty name"
    assert REFERRAL_REASONS == {"visitor_no_quota"}
