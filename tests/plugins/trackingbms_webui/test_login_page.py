"""Logging in through the login page in headless Chromium against a hub that requires login."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.helpers import HubFactory

PASSWORD = "browser login password"
CONFIG = """
hub:
  data_dir: {data_dir}
http:
  port: 0
logging:
  file: null
auth:
  required: true
simulators:
  - kind: daly
    link: sim/one
    cells: 4
    temps: 1
    seed: 1
batteries:
  - id: one
    name: Pack one
    driver: daly
    port: sim/one
    poll_interval: 0.3
"""


async def test_login_page_opens_the_live_page(
    start_hub: HubFactory, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", PASSWORD)
    hub = await start_hub(CONFIG)
    page = await browser.new_page(bypass_csp=True)  # wait_for_function evaluates strings
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(hub.http_url or "")
    assert page.url.endswith("/login")  # no session: the live page (which names batteries) is not shown
    assert await page.locator("article.battery").count() == 0
    await page.fill("#username", "admin")
    await page.fill("#password", "not the password")
    await page.click("button[type=submit]")
    await page.wait_for_selector('[data-field="error"]:not([hidden])', timeout=15_000)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{hub.http_url}/", timeout=15_000)
    # The API answers through the session cookie and the WebSocket accepts it: values go live.
    await page.wait_for_function("document.body.dataset.live === 'true'", timeout=15_000)
    card = 'article.battery[data-battery-id="one"]'
    await page.wait_for_function(f"document.querySelector('{card}').dataset.updatedAt !== undefined", timeout=15_000)
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["trackingbms_access"]["httpOnly"] and not cookies["trackingbms_csrf"]["httpOnly"]
    assert "access_token" not in await page.evaluate("document.cookie")
    # Logging out ends the session: the live page sends the browser back to the login page.
    await page.click('[data-action="logout"]')
    await page.wait_for_url(f"{hub.http_url}/login", timeout=15_000)
    await page.goto(hub.http_url or "")
    assert page.url.endswith("/login")
    assert errors == []
