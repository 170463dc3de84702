"""The resident screen's texts (web/static/i18n.js): one complete table per language button.

i18n.js keeps the object assigned to ``window.KIOSK_I18N`` as strict JSON, with comments only on
lines of their own, so these tests read it with ``json`` and no JavaScript engine.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from kiosk.reasons import REASONS

ROOT = Path(__file__).resolve().parents[2]
I18N_JS = ROOT / "web" / "static" / "i18n.js"
RESIDENT_JS = ROOT / "web" / "static" / "resident.js"
TEMPLATE = ROOT / "web" / "templates" / "resident" / "index.html"
CHECKPOINT = ROOT / "kiosk" / "checkpoint.py"
SCREEN = ROOT / "kiosk" / "screen.py"

REFERENCE = "en"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
ARABIC = re.compile(r"[\u0600-\u06FF\uFB50-\uFDFF\uFE70-\uFEFF]")
UYGHUR_ONLY = re.compile(r"[ېۆۈۇۋە]")           # UEY vowels and ۋ, absent from Arabic and Persian
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
KAZAKH_ONLY = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")   # absent from Russian
CJK = re.compile(r"[\u3400-\u9FFF]")
SCRIPTS = {"ru": ("Cyrillic", CYRILLIC), "kk": ("Cyrillic", CYRILLIC), "ug": ("Arabic", ARABIC)}


def _value_after(text: str, name: str) -> Any:
    """The JSON value assigned by ``window.<name> = ...`` in ``text``."""
    match = re.search(rf"^window\.{name}\s*=\s*", text, re.MULTILINE)
    assert match, f"i18n.js no longer assigns window.{name}"
    try:
        value, _end = json.JSONDecoder().raw_decode(text, match.end())
    except json.JSONDecodeError as exc:
        raise AssertionError(f"window.{name} in i18n.js is not strict JSON (quoted keys, no trailing commas, "
                             f"comments only on their own lines): {exc}") from exc
    return value


@cache
def load() -> tuple[dict[str, Any], list[str]]:
    """(KIOSK_I18N, KIOSK_RTL) from i18n.js; full-line // comments are blanked first.

    Blanking whole lines is safe: a JSON string cannot span lines, so a line starting with // is
    never inside one.  Blanking (not dropping) keeps the line numbers of JSON errors right."""
    lines = I18N_JS.read_text(encoding="utf-8").splitlines()
    text = "\n".join("" if line.lstrip().startswith("//") else line for line in lines)
    return _value_after(text, "KIOSK_I18N"), _value_after(text, "KIOSK_RTL")


def tables() -> dict[str, Any]:
    return load()[0]


def button_languages() -> list[str]:
    return re.findall(r'data-lang="([a-z]+)"', TEMPLATE.read_text(encoding="utf-8"))


def texts(table: dict[str, Any]) -> dict[str, str]:
    """Every string of a table, reasons included, keyed ``key`` or ``reasons.key``."""
    out = {k: v for k, v in table.items() if k != "reasons"}
    out.update({f"reasons.{k}": v for k, v in table["reasons"].items()})
    return out


def notice_keys() -> set[str]:
    """The reason keys the checkpoint shows as notices (``self._set_notice("...")`` literals)."""
    return set(re.findall(r'_set_notice\("([a-z_]+)"', CHECKPOINT.read_text(encoding="utf-8")))


LANGS = button_languages()
TRANSLATIONS = [lang for lang in LANGS if lang != REFERENCE]


def test_every_language_button_has_a_table_and_every_table_a_button() -> None:
    assert LANGS == ["zh", "ug", "kk", "ru", "en"], "the template's language buttons changed: update this test"
    assert sorted(tables()) == sorted(LANGS)


def test_right_to_left_languages() -> None:
    """Uyghur is written right to left; every language marked RTL has a table."""
    rtl = load()[1]
    assert "ug" in rtl
    assert set(rtl) <= set(tables())


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_table_has_exactly_the_keys_of_en(lang: str) -> None:
    table, en = tables()[lang], tables()[REFERENCE]
    for where, mine, ref in (("", table, en), ("reasons.", table["reasons"], en["reasons"])):
        assert sorted(ref.keys() - mine.keys()) == [], f"{lang}: missing {where}keys"
        assert sorted(mine.keys() - ref.keys()) == [], f"{lang}: {where}keys that en does not have"


@pytest.mark.parametrize("lang", LANGS)
def test_texts_are_non_empty_strings(lang: str) -> None:
    for key, text in texts(tables()[lang]).items():
        assert isinstance(text, str) and text.strip(), f"{lang}.{key} is empty"
        assert text == text.strip(), f"{lang}.{key} has leading or trailing blanks"


@pytest.mark.parametrize("lang", LANGS)
def test_every_kiosk_reason_has_a_screen_text(lang: str) -> None:
    """Every key of kiosk.reasons.REASONS has a text in every language.

    Some REASONS keys never reach the screen today (``cancelled`` and ``session_timeout`` only go to
    the log: the screen just returns to idle), but they are required all the same: the rule stays
    "every reason key has a screen text", and a later change that shows one of them cannot make a
    resident see a raw key such as ``session_timeout``."""
    missing = sorted(REASONS.keys() - tables()[lang]["reasons"].keys())
    assert missing == [], f"{lang} has no screen text for {missing}"


def test_screen_only_reasons_are_the_checkpoint_notices() -> None:
    """The screen's reasons table holds REASONS plus the notices the checkpoint sets that are not in
    REASONS (identify_first, session_in_progress); any other key is stale."""
    notices = notice_keys()
    assert {"identify_first", "session_in_progress"} <= notices, "the _set_notice scan is out of date"
    screen_reasons = set(tables()[REFERENCE]["reasons"])
    assert sorted(notices - screen_reasons) == []
    assert sorted(screen_reasons - REASONS.keys() - notices) == []


def test_every_ui_key_the_page_uses_exists() -> None:
    """data-t keys in the template, t("...") keys in resident.js and the service states."""
    ui = set(tables()[REFERENCE]) - {"reasons"}
    used = set(re.findall(r'data-t="([a-z_]+)"', TEMPLATE.read_text(encoding="utf-8")))
    used |= set(re.findall(r'\bt\("([a-z_]+)"\)', RESIDENT_JS.read_text(encoding="utf-8")))
    services = set(re.findall(r'return "([a-z_]+)"', SCREEN.read_text(encoding="utf-8"))) - {"ok"}
    assert services == {"degraded", "out_of_service"}, "the service-state scan is out of date"
    assert len(used) >= 20, f"the scan found only {sorted(used)}: the pattern is out of date"
    assert sorted((used | services) - ui) == []


@pytest.mark.parametrize("lang", TRANSLATIONS)
def test_placeholders_are_kept(lang: str) -> None:
    """{code} and {amount} stay exactly as in English: none lost, none renamed, none added."""
    en = texts(tables()[REFERENCE])
    for key, text in texts(tables()[lang]).items():
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(en[key])), f"{lang}.{key}"


@pytest.mark.parametrize("lang", sorted(SCRIPTS))
def test_texts_are_in_the_language_script(lang: str) -> None:
    """Every ru/kk text has Cyrillic letters and every ug text Arabic-script letters (so no English
    or Chinese text was left untranslated), and none has Chinese characters."""
    script, letters = SCRIPTS[lang]
    for key, text in texts(tables()[lang]).items():
        assert letters.search(PLACEHOLDER.sub("", text)), f"{lang}.{key} has no {script} letters: {text!r}"
        assert not CJK.search(text), f"{lang}.{key} contains Chinese characters: {text!r}"


def test_kazakh_and_uyghur_are_not_look_alikes() -> None:
    """The kk table uses Kazakh letters (it is not Russian) and the ug table Uyghur vowels (not Arabic)."""
    kk = "".join(texts(tables()["kk"]).values())
    ug = "".join(texts(tables()["ug"]).values())
    assert len(KAZAKH_ONLY.findall(kk)) >= 50
    assert len(UYGHUR_ONLY.findall(ug)) >= 100
