"""``kiosk catalog|rates|rules import`` as the market office runs them: the real console script on files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kiosk.catalog_import import COLUMNS
from kiosk.demo import CONFIG_TEMPLATE, DATA
from kiosk.goods_store import GoodsStore

ROOT = Path(__file__).resolve().parent.parent
KIOSK = ROOT / ".venv" / "bin" / "kiosk"
HEADER = ",".join(COLUMNS) + "\n"
GOOD = "4870204100020,蜂蜜,ھەسەل,Бал,Мёд,Honey,piece,120.00,CNY,04090000,KZ,2026-01-01\n"


def kiosk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KIOSK), *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_catalog_import_reports_every_bad_line_and_changes_nothing(tmp_path: Path) -> None:
    """GIVEN a file with one good and three bad rows THEN exit 1, a summary and `line N: reason` for each bad
    row, and the store is empty; WITH --partial exit 0 and the good row is stored."""
    store = tmp_path / "goods.db"
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + GOOD
                    + "4870204100021,糖,,,,Sweets,piece,32.00,CNY,17049000,RU,2026-01-01\n"
                    + "4607001200031,油,,,,=cmd|' /c calc'!A1,piece,1e3,USD,1512,XX,2026-02-30\n"
                    + "2100104,白砂糖,,,,Sugar,kg,-480,KZT,17019900,KZ,2026-01-01\n", encoding="utf-8")
    result = kiosk("catalog", "import", str(path), "--store", str(store))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (f"{path}: catalog: 1 rows accepted, 3 rejected; nothing imported (fix the rows below, "
                        "or import the good ones with --partial)")
    assert lines[1:] == [
        "line 3: code 4870204100021 has a bad check digit",
        "line 4: name_en \"=cmd|' /c calc'!A1\" starts with '=', which spreadsheets run as a formula",
        "line 4: price '1e3' uses exponent notation",
        "line 4: currency 'USD' is not one of CNY, KZT",
        "line 4: hs_code '1512' is not 6, 8 or 10 digits",
        "line 4: origin 'XX' is not an ISO 3166 alpha-2 country code",
        "line 4: price_from '2026-02-30' is not a real date",
        "line 5: price '-480' is negative",
    ]
    opened = GoodsStore(store)
    assert opened.products() == []
    opened.close()
    partial = kiosk("catalog", "import", str(path), "--store", str(store), "--partial")
    assert partial.returncode == 0, partial.stderr
    assert "imported: 1 added, 0 replaced, 0 unchanged" in partial.stdout.splitlines()[0]
    assert "line 5: price '-480' is negative" in partial.stdout
    opened = GoodsStore(store)
    assert [p.code for p in opened.products()] == ["4870204100020"]
    opened.close()


def test_rates_and_rules_import_through_the_config(tmp_path: Path) -> None:
    """With --config the store is the config's [data] goods_db (goods.db next to the SQLite ledger)."""
    config = tmp_path / "kiosk.toml"
    config.write_text(CONFIG_TEMPLATE.format(ledger=tmp_path / "ledger.db", residents=DATA / "residents.csv",
                                             catalog=DATA / "catalog.csv", idcard="/dev/null", scanner="/dev/null",
                                             gate="/dev/null", result_s=8, pulse_s=0.5), encoding="utf-8")
    env = {"KIOSK_SITE_SECRET": "data-cli-test-secret-0123"}
    rates = tmp_path / "rates.csv"
    rates.write_text("date,currency,cny_per_100\n2026-11-01,KZT,1.3765\n", encoding="utf-8")
    result = kiosk("rates", "import", str(rates), "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{rates}: rates: 1 rows accepted, 0 rejected; imported: 1 added, 0 replaced, 0 unchanged",
        f"stored in {tmp_path / 'goods.db'}; restart the kiosk service to use it"]
    rules = kiosk("rules", "import", str(DATA / "goods_rules.csv"), "--config", str(config), env=env)
    assert rules.returncode == 0, rules.stderr
    assert "25 rows accepted, 0 rejected; imported: 1 added" in rules.stdout
    bad_rules = tmp_path / "rules.csv"
    bad_rules.write_text("version,hs_prefix,kind,rule,cap,unit\n2027-01-01,24,excluded,tobacco,,\n"
                         "2027-01-01,1701,capped,sugar,,kg\n", encoding="utf-8")
    refused = kiosk("rules", "import", str(bad_rules), "--config", str(config), env=env)
    assert refused.returncode == 1
    assert refused.stdout.splitlines()[1:] == ["line 3: cap is empty (want kilograms with at most 3 decimals)"]
    assert "--partial" not in kiosk("rules", "import", "--help").stdout    # rule versions are all or nothing
    store = GoodsStore(tmp_path / "goods.db")
    assert len(store.rates()) == 1 and len(store.goods_rules()) == 25
    store.close()


def test_a_file_that_is_not_a_catalog_exits_2_with_its_reason(tmp_path: Path) -> None:
    """Not UTF-8 (a GBK export) or the old three-column format: exit 2, the reason on stderr, no traceback."""
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + GOOD.replace("ھەسەل", "").replace("Бал", "").replace("Мёд", "")).encode("gbk"))
    result = kiosk("catalog", "import", str(gbk), "--store", str(tmp_path / "goods.db"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{gbk}: nothing imported", "not UTF-8 text (bad byte at offset 105)"]
    old = tmp_path / "old.csv"
    old.write_text("code,name_zh,name_en,name_ru,name_kk,name_ug,unit_price_fen\n4870204100020,蜂蜜,,,,,100\n",
                   encoding="utf-8")
    result = kiosk("catalog", "import", str(old), "--store", str(tmp_path / "goods.db"))
    assert result.returncode == 2 and "header is missing column(s) unit, price" in result.stderr
    assert "Traceback" not in result.stderr
