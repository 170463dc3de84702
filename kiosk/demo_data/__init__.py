"""Fictional demo data for `kiosk demo`: ID cards to present, barcodes to scan, and the CSV files.

Every person is invented (see README.md).  Each card demonstrates one outcome of
``kiosk.residents.check_eligibility`` against ``residents.csv`` on any day of 2026-2030;
``tests/kiosk/test_demo_data.py`` holds the expected outcome of every card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from drivers.base import CardType, IdCard

DEMO_DIR = Path(__file__).resolve().parent
RESIDENTS_CSV = DEMO_DIR / "residents.csv"
CATALOG_CSV = DEMO_DIR / "catalog.csv"


@dataclass(frozen=True)
class DemoCard:
    """A card the demo operator can place on the simulated reader."""

    key: str
    label: str
    card: IdCard
    note: str


def _resident(name: str, gender: str, nation: str, born: date, address: str, id_number: str,
              authority: str, valid_from: date, valid_to: date | None) -> IdCard:
    """A PRC resident ID card with an empty photo."""
    return IdCard(CardType.RESIDENT, name, gender, nation, born, address, id_number, authority,
                  valid_from, valid_to)


DEMO_CARDS: list[DemoCard] = [
    DemoCard(
        "eligible", "Eligible resident (Han, card valid to 2035)",
        _resident("韩秀芸", "2", "01", date(1985, 3, 12), "新疆塔城市杏林路88号3栋2单元501室",
                  "654201198503120046", "塔城市公安局", date(2015, 6, 20), date(2035, 6, 20)),
        "Registered and active: identified and shown the full daily quota.",
    ),
    DemoCard(
        "eligible_long_term", "Eligible resident (Kazakh, long-term card)",
        _resident("叶尔江·别克波拉提", "1", "17", date(1958, 6, 7), "新疆塔城市白杨河村七组22号",
                  "654201195806070038", "塔城市公安局", date(2012, 9, 3), None),
        "Long-term (长期) card, registered and active: identified and granted.",
    ),
    DemoCard(
        "card_expired", "Expired ID card (Uyghur)",
        _resident("艾克拜尔·吐尔逊", "1", "05", date(1976, 9, 18), "新疆塔城市石榴巷15号",
                  "654201197609180050", "塔城市公安局", date(2005, 10, 9), date(2025, 10, 9)),
        "Registered, but the card expired on 2025-10-09: referred with card_expired.",
    ),
    DemoCard(
        "id_checksum", "ID number with a wrong check digit (Russian)",
        _resident("安娜·彼得罗娃", "2", "44", date(1992, 2, 14), "新疆额敏县白桦街6号",
                  "654221199202140061", "额敏县公安局", date(2018, 4, 2), date(2038, 4, 2)),
        "The card's number ends in 1 where the check digit is X (the registry has the right "
        "number): referred with id_checksum.",
    ),
    DemoCard(
        "not_registered", "Valid card, not in the registry (Han, Wusu)",
        _resident("赵立新", "1", "01", date(1988, 7, 30), "新疆乌苏市向阳街21号",
                  "654202198807300018", "乌苏市公安局", date(2019, 11, 11), date(2039, 11, 11)),
        "A valid card of someone with no border-resident filing: referred with not_registered.",
    ),
    DemoCard(
        "filing_suspended", "Filing suspended (Kazakh, Emin)",
        _resident("阿依努尔·哈布都拉", "2", "17", date(1981, 11, 5), "新疆额敏县牧场路9号",
                  "654221198111050021", "额敏县公安局", date(2016, 3, 15), date(2036, 3, 15)),
        "Registered with status suspended: referred with filing_suspended.",
    ),
    DemoCard(
        "filing_expired", "Filing expired (Kazakh, Yumin)",
        _resident("努尔兰·加肯", "1", "17", date(1969, 2, 22), "新疆裕民县山花路3号",
                  "654225196902220070", "裕民县公安局", date(2014, 8, 1), date(2034, 8, 1)),
        "Registered, but the filing ran out on 2025-12-31: referred with filing_expired.",
    ),
    DemoCard(
        "permit_hmt", "Hong Kong/Macau/Taiwan residence permit",
        IdCard(CardType.PERMIT_HMT, "陈嘉欣", "2", "", date(1995, 7, 15), "新疆塔城市文化路40号",
               "810000199507150027", "塔城市公安局", date(2023, 5, 1), date(2028, 5, 1)),
        "Not a resident ID card, so no border-resident quota: referred with card_type_not_accepted.",
    ),
]

# (code, label) to offer as "scan" buttons; all but the last two are in catalog.csv.
DEMO_GOODS: list[tuple[str, str]] = [
    ("4870204100013", "Wheat flour 25 kg (98.00)"),
    ("4607001200031", "Sunflower oil 5 L (65.00)"),
    ("4607001200048", "Milk chocolate 100 g (18.50)"),
    ("4870204100020", "Honey 1 kg (120.00)"),
    ("4870204100051", "Dried fruit mix 500 g (45.00)"),
    ("6903214600063", "Brick tea 1 kg (58.00)"),
    ("4620100300075", "Assorted sweets 1 kg (32.00)"),
    ("6932158800086", "Enamel kettle 3 L (129.00)"),
    ("4870204100099", "Wool carpet (3,200.00; three exceed the 8,000.00 quota)"),
    ("4879999000119", "Unknown barcode (valid EAN-13, not in the catalog)"),
    ("4607001200995", "Misread barcode (wrong check digit)"),
]
