"""The technician's /diag page in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
sign in, see the devices and their frames, run the card self-test with a card placed on the simulated reader,
try the gate pulse without and then with the confirmation box; screenshots land in test-output/screenshots/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiosk.demo_data import DEMO_CARDS
from kiosk.identity import mask_id
from tests.web.staff import fill_signin_form

pytestmark = pytest.mark.browser


def test_technician_page_runs_self_tests(browser: Any, live: Any, demo: Any, shots: Path) -> None:
    kiosk, panel = demo
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(live.url + "/signin")
        fill_signin_form(page, "tech")
        page.wait_for_url("**/diag/")                               # the technician's home
        assert page.locator('.device[data-role="gate"] .state').get_attribute("data-state") == "connected"
        assert page.locator('.device[data-role="gate"] tbody td.hex').first.inner_text() == "a0 01 00 a1"

        page.click('form[data-test="card"] button')
        page.wait_for_selector("#result-headline:has-text('运行中')")
        panel.place_card("eligible")
        page.wait_for_selector('#result[data-ok="true"]', timeout=15000)
        card = next(c.card for c in DEMO_CARDS if c.key == "eligible")
        shown = page.locator("#result-json").inner_text()
        assert mask_id(card.id_number) in shown and card.id_number not in shown and card.name not in shown
        assert kiosk.checkpoint.snapshot()["phase"] == "idle"          # the test card never became a resident
        # the frames refresh by themselves: the read-base reply, its card data withheld
        page.wait_for_selector('.device[data-role="idcard"] td.hex:has-text("bytes withheld")', timeout=8000)
        page.screenshot(path=shots / "diag-01-card-self-test.png", full_page=True)

        page.click('form[data-test="gate"] button')                    # no confirmation ticked
        page.wait_for_selector('#result[data-ok="false"]')
        assert "confirmation_required" in page.locator("#result-json").inner_text()
        assert panel.gate.on_periods(1) == []
        page.check('form[data-test="gate"] input[name="confirm"]')
        page.click('form[data-test="gate"] button')
        page.wait_for_selector('#result[data-ok="true"]', timeout=10000)
        assert '"test": "gate"' in page.locator("#result-json").inner_text()
        assert len(panel.gate.on_periods(1)) == 1
        page.wait_for_selector('.device[data-role="gate"] td.hex:has-text("a0 01 01 a2")', timeout=8000)
        page.screenshot(path=shots / "diag.png", full_page=True)
        assert page.locator("body").inner_text().count(card.id_number) == 0

        page.click("nav a[href$='/diag/system']")
        page.wait_for_selector("table.config")
        assert "****" in page.locator("table.config").inner_text()
        page.screenshot(path=shots / "diag-02-system.png", full_page=True)
        page.click("nav a[href$='/diag/doctor']")
        page.wait_for_selector('table.doctor tr[data-status="ok"]')
        page.screenshot(path=shots / "diag-03-doctor.png", full_page=True)
    finally:
        context.close()
