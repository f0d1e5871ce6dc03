"""The live page works under the hub's Content-Security-Policy (no inline or evaluated script)."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.helpers import HubFactory


async def test_live_page_runs_under_the_csp(start_hub: HubFactory, browser: Browser) -> None:
    hub = await start_hub()
    page = await browser.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda err: violations.append(str(err)))
    await page.goto(hub.http_url or "")
    # CSS selectors only: Playwright's string predicates would themselves be evaluated script.
    await page.wait_for_selector('body[data-live="true"]', state="attached", timeout=15_000)
    card = 'article.battery[data-battery-id="one"]'
    await page.wait_for_selector(f"{card}[data-updated-at]", state="attached", timeout=15_000)
    assert await page.locator(f"{card} [data-field=cells] [data-cell]").count() == 16
    voltage = await page.locator(f'{card} [data-field="voltage"]').first.inner_text()
    assert voltage.endswith(" V")
    assert violations == []
