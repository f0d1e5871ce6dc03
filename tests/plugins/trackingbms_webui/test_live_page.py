"""The live page in headless Chromium (Debian's, driven by Playwright) against a real hub."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.async_api import Browser, Page

from tests.helpers import HubFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
# Without these, Chromium keeps trying to reach Google services this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


async def field(page: Page, battery: str, name: str) -> str:
    return await page.locator(f'article.battery[data-battery-id="{battery}"] [data-field="{name}"]').first.inner_text()


async def test_page_values_change_without_reload(start_hub: HubFactory, browser: Browser) -> None:
    hub = await start_hub()
    # Playwright's wait_for_function evaluates strings, which the hub's CSP forbids to the page itself
    # (test_csp.py checks the page under the real CSP).
    page = await browser.new_page(bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(hub.http_url or "")
    await page.wait_for_function("document.body.dataset.live === 'true'", timeout=15_000)
    card = 'article.battery[data-battery-id="one"]'
    await page.wait_for_function(f"document.querySelector('{card}').dataset.updatedAt !== undefined", timeout=15_000)
    first_stamp = await page.get_attribute(card, "data-updated-at")
    voltage = await field(page, "one", "voltage")
    assert voltage.endswith(" V") and voltage != "—"
    assert (await field(page, "one", "soc")).endswith(" %")
    assert await page.locator(f"{card} [data-field=cells] [data-cell]").count() == 16
    assert await page.locator('article.battery[data-battery-id="two"] [data-field=cells] [data-cell]').count() == 4
    title = await page.locator(f'{card} [data-cell="1"]').get_attribute("title")
    assert title is not None and title.startswith("Cell 1: ")
    # The same document (no navigation) shows newer values pushed over the WebSocket.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    cells_js = f"[...document.querySelectorAll('{card} [data-cell]')].map(c => c.title).join('|')"
    before = await page.evaluate(cells_js)
    await page.wait_for_function(
        f"document.querySelector('{card}').dataset.updatedAt !== {first_stamp!r}", timeout=15_000
    )
    await page.wait_for_function(f"{cells_js} !== {before!r}", timeout=15_000)
    assert navigations == []
    assert errors == []
    shot = Path(hub.data_dir) / "live-page.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
