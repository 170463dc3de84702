"""The kiosk in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
card to gate and the refusal screens, driven from the /sim panel like a demo user would,
with a screenshot of each screen saved under test-output/screens/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

LRI, PDI = "\u2066", "\u2069"     # the page isolates amounts so they read left-to-right in Uyghur too


def yuan(text: str) -> str:
    """An amount as the page shows it."""
    return LRI + text + PDI


FLOUR, OIL, CARPET, UNKNOWN = "4870204100013", "4607001200031", "4870204100099", "4879999000119"


@pytest.fixture
def pages(browser: Any, live: Any) -> Iterator[tuple[Any, Any, Any]]:
    """The kiosk screen (1280x800, like the touchscreen) and the /sim panel, in one context."""
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the app's CSP forbids.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True)
    screen = context.new_page()
    screen.goto(live.url + "/")
    screen.wait_for_selector("body[data-version]")
    panel = context.new_page()
    panel.goto(live.url + "/sim/")
    yield screen, panel, context
    context.close()


@pytest.fixture
def shots(output_dir: Path) -> Path:
    """The resident screen's screenshots go to screens/ (the consoles' to screenshots/, conftest.py)."""
    folder = output_dir / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_phase(screen: Any, phase: str) -> None:
    screen.wait_for_selector(f'body[data-phase="{phase}"]', timeout=8000)


def test_card_to_gate_in_chromium(pages: Any, shots: Path, demo: Any) -> None:
    """A resident taps, scans, switches to English, confirms; the gate opens; the screen resets."""
    screen, panel, _ = pages
    wait_phase(screen, "idle")
    assert screen.locator('[data-screen="idle"] h1').inner_text() == "请将身份证放在读卡器上"
    screen.screenshot(path=shots / "01-idle.png")
    panel.click('[data-card="eligible"]')
    wait_phase(screen, "identified")
    assert screen.locator("#remaining").inner_text() == yuan("¥8,000.00")
    assert screen.locator("#who-name").inner_text() == "韩*芸"
    screen.screenshot(path=shots / "02-identified.png")
    panel.click(f'[data-code="{FLOUR}"]')
    screen.wait_for_selector("#basket tbody tr")
    panel.click(f'[data-code="{FLOUR}"]')
    panel.click(f'[data-code="{OIL}"]')
    screen.wait_for_function("document.querySelectorAll('#basket tbody tr').length === 2 && "
                             f"document.querySelector('#total').textContent === '{yuan('¥261.00')}'")
    assert "小麦面粉" in screen.locator("#basket tbody tr").first.inner_text()
    screen.screenshot(path=shots / "03-scanning.png")
    screen.click('[data-lang="en"]')
    assert screen.locator("#confirm").inner_text() == "Declare and go"
    assert "Wheat flour" in screen.locator("#basket tbody tr").first.inner_text()
    screen.screenshot(path=shots / "04-scanning-en.png")
    screen.click('[data-lang="ug"]')
    assert screen.evaluate("document.documentElement.dir") == "rtl"
    assert screen.locator("#total").inner_text() == yuan("¥261.00")        # amounts stay left-to-right
    screen.screenshot(path=shots / "04-scanning-ug.png")
    screen.click('[data-lang="en"]')
    screen.click("#confirm")
    wait_phase(screen, "approved")                      # during the 1 s relay pulse
    screen.screenshot(path=shots / "05-approved.png")
    wait_phase(screen, "gate")
    assert screen.locator("#gate-remaining").inner_text() == yuan("¥7,739.00")
    screen.screenshot(path=shots / "06-gate.png")
    _kiosk, sim = demo
    assert len(sim.gate.on_periods(1)) == 1
    wait_phase(screen, "idle")


def test_refusals_show_plain_reasons(pages: Any, shots: Path) -> None:
    """Expired card, unknown barcode, over quota: each shows a plain sentence, never a trace."""
    screen, panel, _ = pages
    panel.click('[data-card="card_expired"]')
    wait_phase(screen, "rejected")
    assert screen.locator('#rejected-reasons li[data-reason="card_expired"]').inner_text() == "身份证已过有效期"
    screen.screenshot(path=shots / "07-rejected-expired.png")
    panel.click("#remove-card")
    wait_phase(screen, "idle")
    panel.click('[data-card="eligible_long_term"]')
    wait_phase(screen, "identified")
    panel.click(f'[data-code="{UNKNOWN}"]')
    screen.wait_for_selector('#notice[data-reason="unknown_barcode"]')
    assert UNKNOWN in screen.locator("#notice").inner_text()
    screen.screenshot(path=shots / "08-unknown-barcode.png")
    screen.locator("#basket tbody tr button").first.click()      # remove the unknown line
    screen.wait_for_function("document.querySelectorAll('#basket tbody tr').length === 0")
    for _ in range(3):
        panel.click(f'[data-code="{CARPET}"]')
    screen.wait_for_function(f"document.querySelector('#total').textContent === '{yuan('¥9,600.00')}'")
    assert not screen.locator("#over").is_hidden()
    screen.click("#confirm")
    wait_phase(screen, "referred")
    assert "超出今日免税额度" in screen.locator('#referred-reasons li[data-reason="over_quota"]').inner_text()
    screen.screenshot(path=shots / "09-referred-over-quota.png")


def test_screen_resyncs_after_losing_its_stream(pages: Any, shots: Path, demo: Any) -> None:
    """GIVEN the screen's event stream drops and cannot reconnect WHEN a card is read meanwhile
    THEN once the stream is back the page shows the identified resident (fetched snapshot)."""
    screen, _panel, context = pages
    kiosk, sim = demo
    wait_phase(screen, "idle")
    context.route("**/api/v1/events/**", lambda route: route.abort())   # reconnects fail
    for sub in list(kiosk.bus._subs):                                    # the server ends the stream
        kiosk.bus.unsubscribe(sub)
    sim.place_card("eligible")
    for _ in range(50):
        if kiosk.checkpoint.snapshot()["phase"] == "identified":
            break
        screen.wait_for_timeout(100)
    screen.wait_for_timeout(500)
    assert screen.locator("body").get_attribute("data-phase") == "idle"   # it cannot know yet
    context.unroute("**/api/v1/events/**")
    wait_phase(screen, "identified")
    screen.screenshot(path=shots / "10-resynced.png")


def test_out_of_service_banner_when_the_reader_is_unplugged(pages: Any, shots: Path) -> None:
    """Unplugging the ID reader puts an out-of-service banner on the screen; plugging clears it."""
    screen, panel, _ = pages
    panel.click('tr[data-role="idcard"] .unplug')
    screen.wait_for_selector("#service:not([hidden])")
    assert screen.locator("#service").inner_text() == "本机暂停服务，请到人工通道"
    screen.screenshot(path=shots / "11-out-of-service.png")
    panel.click('tr[data-role="idcard"] .plug')
    screen.wait_for_selector("#service[hidden]", state="attached", timeout=8000)


def test_weighed_goods_show_kilograms_and_price_per_kg(pages: Any, shots: Path) -> None:
    """A scale label of 1.250 kg at 128.00/kg reads as kilograms on the screen, not as 1250 pieces."""
    screen, panel, _ = pages
    wait_phase(screen, "idle")
    panel.click('[data-card="eligible"]')
    wait_phase(screen, "identified")
    panel.click('[data-code="2100101012501"]')
    screen.wait_for_selector("#basket tbody tr")
    cells = screen.locator("#basket tbody tr").first.locator("td").all_inner_texts()
    assert cells[1:4] == [yuan("¥128.00") + "/kg", "1.250 kg", yuan("¥160.00")]
    screen.screenshot(path=shots / "09-weighed-goods.png")


def test_goods_that_refer_the_declaration_are_named_in_the_resident_s_language(pages: Any, shots: Path) -> None:
    """Sugar over its 1 kg daily cap and vodka (excluded) beside flour: the referral screen names the sugar under
    the cap reason and the vodka under the exclusion reason, not the flour, in the language the resident chose."""
    screen, panel, _ = pages

    def referred_with_goods(language: str) -> dict[str, list[str]]:
        wait_phase(screen, "idle")
        panel.click('[data-card="eligible"]')
        wait_phase(screen, "identified")
        screen.click(f'[data-lang="{language}"]')
        for code in (FLOUR, "2100104015004", "4870204100129"):
            panel.click(f'[data-code="{code}"]')
        screen.wait_for_function("document.querySelectorAll('#basket tbody tr').length === 3")
        screen.click("#confirm")
        wait_phase(screen, "referred")
        named = {reason: screen.locator(f'#referred-reasons li[data-reason="{reason}"] .goods li').all_inner_texts()
                 for reason in ("goods_over_cap", "goods_excluded")}
        screen.screenshot(path=shots / f"12-referred-goods-named-{language}.png")
        panel.click("#remove-card")
        return named

    assert referred_with_goods("zh") == {"goods_over_cap": ["白砂糖（散称）"], "goods_excluded": ["伏特加 0.5升"]}
    assert referred_with_goods("ru") == {"goods_over_cap": ["Сахар, на вес"], "goods_excluded": ["Водка 0,5 л"]}
