"""The officer console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright), beside the
kiosk screen: a resident's over-quota declaration is referred on the kiosk, the officer's queue shows it live
(no reload), the officer approves it, and the kiosk screen follows live to approved while the relay pulses.
Screenshots of the console land in test-output/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.demo import make_demo
from tests.web.conftest import wait_for
from tests.web.staff import fill_signin_form
from tests.web.test_browser import CARPET
from web import create_app
from web.server import BackgroundServer

pytestmark = pytest.mark.browser


@pytest.fixture
def kiosk_site(tmp_path: Path) -> Iterator[tuple[Any, Any, BackgroundServer]]:
    """The demo behind waitress, with outcome screens that stay 30 s (the resident waits for the officer)."""
    kiosk, panel, _ = make_demo(tmp_path / "demo", result_s=30.0, pulse_s=1.0)
    kiosk.start()
    wait_for(lambda: kiosk.checkpoint.snapshot()["service"] == "ok", "devices connected", timeout=15)
    server = BackgroundServer(create_app({"TESTING": True, "SSE_PING_S": 0.5}, service=kiosk, sim=panel)).start()
    yield kiosk, panel, server
    kiosk.bus.close()
    server.stop()
    kiosk.stop()
    panel.stop()


def test_officer_approves_a_referral_and_the_kiosk_follows_live(browser: Any, kiosk_site: Any,
                                                                 shots: Path) -> None:
    kiosk, panel, server = kiosk_site
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the app's CSP forbids.
    officer_ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True)
    kiosk_ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True)
    try:
        console = officer_ctx.new_page()
        console.goto(server.url + "/signin?next=/officer/")
        fill_signin_form(console, "officer")
        console.wait_for_url("**/officer/")
        console.wait_for_selector('#live[data-state="live"]')
        console.evaluate("window.__sameDocument = true")           # gone if the page ever reloads
        assert console.locator("#queue li").count() == 0

        screen = kiosk_ctx.new_page()
        screen.goto(server.url + "/")
        screen.wait_for_selector('body[data-phase="idle"]')
        panel.place_card("eligible")
        screen.wait_for_selector('body[data-phase="identified"]', timeout=8000)
        for n in range(1, 4):
            panel.scan(CARPET)
            screen.wait_for_function("document.querySelector('#basket tbody tr td:nth-child(3)')?.textContent"
                                     f" === '×{n}'")
        screen.click("#confirm")
        screen.wait_for_selector('body[data-phase="referred"]', timeout=8000)
        decl_id = kiosk.checkpoint.snapshot()["declaration_id"]

        # live, no reload; "at this kiosk" once the console has seen the kiosk's referral screen
        card = console.wait_for_selector(f'#queue li[data-decl="{decl_id}"][data-at-kiosk="true"]', timeout=8000)
        text = card.inner_text()
        assert "6542**********0046" in text and "超出今日免税额度" in text and "¥9,600.00" in text
        assert "654201198503120046" not in console.content()
        console.screenshot(path=shots / "officer-01-queue.png")

        card.evaluate("node => { node.__seen = true; }")
        version = int(console.evaluate("document.body.dataset.queueVersion"))
        # another console's action on another declaration: every open console refreshes its queue
        kiosk.bus.publish("officer.queue", {"change": "void", "declaration_id": "another"})
        console.wait_for_function(f"Number(document.body.dataset.queueVersion) > {version}")
        # the refresh kept the card's node (same referral): a tap in flight is not lost to a re-render
        assert console.evaluate(f"document.querySelector('#queue li[data-decl=\"{decl_id}\"]').__seen === true")
        console.locator(f'#queue li[data-decl="{decl_id}"] button[data-action="decide"]').click()
        console.wait_for_selector("#decide-dialog[open]")
        console.click('label[data-choice="approved"]')
        console.select_option('#decide-form select[name="reason"]', "quota_exceeded_taxed")
        console.fill('#decide-form textarea[name="note"]', "三块地毯已查验 carpets checked")
        console.screenshot(path=shots / "officer-02-decision-dialog.png")
        console.click("#decide-submit")

        screen.wait_for_selector('body[data-phase="approved"], body[data-phase="gate"]', timeout=8000)
        screen.wait_for_selector('body[data-phase="gate"]', timeout=8000)
        note = screen.locator('[data-screen="gate"] .officer-note')
        assert note.is_visible() and note.inner_text() == "海关工作人员已批准免税部分，闸门正在打开"
        screen.screenshot(path=shots / "officer-03-kiosk-approved-gate.png")
        periods = wait_for(lambda: (p := panel.gate.on_periods(1)) and p[0][1] is not None and p, "relay pulsed")
        assert len(periods) == 1 and 0.9 <= periods[0][1] - periods[0][0] <= 2.0

        console.wait_for_selector("#toast:not([hidden])")
        assert "已批准免税部分" in console.inner_text("#toast")
        console.wait_for_function("document.querySelectorAll('#queue li').length === 0")
        assert console.evaluate("window.__sameDocument") is True
        console.screenshot(path=shots / "officer-04-decided.png")
        assert kiosk.ledger.get(decl_id).status.value == "approved"
    finally:
        officer_ctx.close()
        kiosk_ctx.close()
