"""The demo data loads, and every demo card and barcode demonstrates what its label says."""

from __future__ import annotations

from datetime import date

import pytest

from drivers.base import CardType
from kiosk.catalog import Catalog, gtin_check_ok
from kiosk.demo_data import CATALOG_CSV, DEMO_CARDS, DEMO_GOODS, RESIDENTS_CSV, DemoCard
from kiosk.identity import validate_id_number
from kiosk.money import format_fen
from kiosk.policy import decide
from kiosk.residents import Registry, check_eligibility

DEMO_DAY = date(2026, 11, 25)

EXPECTED = {
    "eligible": None,
    "eligible_long_term": None,
    "card_expired": "card_expired",
    "id_checksum": "id_checksum",
    "not_registered": "not_registered",
    "filing_suspended": "filing_suspended",
    "filing_expired": "filing_expired",
    "permit_hmt": "card_type_not_accepted",
}
UNKNOWN_CODE = "4879999000119"
BAD_CHECK_CODE = "4607001200995"
CARPET = "4870204100099"


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The demo registry."""
    return Registry.from_csv(RESIDENTS_CSV)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The demo catalog."""
    return Catalog.from_csv(CATALOG_CSV)


def test_demo_files_load(registry: Registry, catalog: Catalog) -> None:
    """Both CSV files load without problems."""
    assert len(registry) == 8
    assert len(catalog) == 9


def test_card_keys_are_unique_and_all_expected() -> None:
    """Each demo card has a unique key with a known outcome."""
    keys = [c.key for c in DEMO_CARDS]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(EXPECTED)


@pytest.mark.parametrize("demo", DEMO_CARDS, ids=[c.key for c in DEMO_CARDS])
def test_demo_card_outcome(demo: DemoCard, registry: Registry) -> None:
    """Each card yields its outcome on the demo day and on the first and last day of 2026-2030."""
    for day in (DEMO_DAY, date(2026, 1, 1), date(2030, 12, 31)):
        assert check_eligibility(demo.card, registry, day) == EXPECTED[demo.key], day


def test_demo_cards_cover_the_brief() -> None:
    """Long-term card, a mix of nations, Tacheng-area numbers and Chinese-character names."""
    cards = [c.card for c in DEMO_CARDS]
    assert any(c.valid_to is None and EXPECTED[d.key] is None for d, c in zip(DEMO_CARDS, cards, strict=True))
    assert {"01", "05", "17", "44"} <= {c.nation for c in cards}
    residents = [c for c in cards if c.card_type is CardType.RESIDENT]
    assert all(c.id_number[:4] == "6542" for c in residents)
    assert all("\u4e00" <= c.name[0] <= "\u9fff" for c in cards)
    assert all(c.address.startswith("新疆") for c in cards)


def test_only_the_bad_card_has_a_bad_number() -> None:
    """Every demo number is valid except the deliberate checksum failure; the registry has its fix."""
    for demo in DEMO_CARDS:
        expected = "id_checksum" if demo.key == "id_checksum" else None
        assert validate_id_number(demo.card.id_number) == expected, demo.key


def test_registry_has_the_right_number_for_the_bad_card(registry: Registry) -> None:
    """The person behind the bad card is registered under the correct number."""
    bad = next(c.card for c in DEMO_CARDS if c.key == "id_checksum")
    entry = registry.lookup(bad.id_number[:17] + "X")
    assert entry is not None and entry.name == bad.name


@pytest.mark.parametrize(("code", "label"), DEMO_GOODS)
def test_demo_goods(code: str, label: str, catalog: Catalog) -> None:
    """Every demo code is in the catalog, except the deliberate unknown and misread ones."""
    product, reason = catalog.lookup(code)
    if code == UNKNOWN_CODE:
        assert (product, reason) == (None, "unknown_barcode")
        assert gtin_check_ok(code)
    elif code == BAD_CHECK_CODE:
        assert (product, reason) == (None, "bad_check_digit")
    else:
        assert product is not None and reason is None
        assert len(code) == 13 and code[:3] in ("487", *map(str, range(460, 470)), *map(str, range(690, 700)))
        assert format_fen(product.unit_price_fen) in label
        assert set(product.names) == {"zh", "en", "ru", "kk", "ug"}


def test_demo_goods_cover_the_catalog(catalog: Catalog) -> None:
    """Every catalog product has a demo button."""
    codes = {code for code, _ in DEMO_GOODS} - {UNKNOWN_CODE, BAD_CHECK_CODE}
    assert len(codes) == len(catalog)


def test_three_carpets_exceed_the_quota(catalog: Catalog) -> None:
    """The carpet lets the demo go over 8,000.00 CNY with three items."""
    carpet, _ = catalog.lookup(CARPET)
    assert carpet is not None
    assert decide(3 * carpet.unit_price_fen, 800000, 0).reasons == ("over_quota",)
    assert decide(2 * carpet.unit_price_fen, 800000, 0).approve
