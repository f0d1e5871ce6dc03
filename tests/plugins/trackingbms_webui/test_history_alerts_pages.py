"""The history and alerts pages in headless Chromium (Debian's, driven by Playwright) on a real hub."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import aiohttp
from playwright.async_api import Browser

from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for
from tests.plugins.trackingbms_alerts.test_alerts_hub import ALERTS, CELL_RULE, api
from tests.plugins.trackingbms_banks.test_banks_hub import BANKS
from tests.plugins.trackingbms_webui.test_login_page import CONFIG as LOGIN_CONFIG


async def energy_rows(http: aiohttp.ClientSession, url: str, battery: str) -> int:
    path = f"/api/v1/bms/data/{battery}/history?fields=voltage,charged_wh"
    async with http.get(f"{url}{path}") as response:
        return len((await response.json())["data"])


async def test_history_page_draws_the_stored_history(
    start_hub: HubFactory, browser: Browser, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub()
    url = hub.http_url or ""
    await wait_for(lambda: energy_rows(http, url, "two"), timeout=20)
    page = await browser.new_page(bypass_csp=True)  # wait_for_function evaluates strings
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{url}/history?battery=two&range=21600")
    await page.wait_for_function("document.body.dataset.loaded === 'two:21600'", timeout=15_000)
    assert await page.input_value('[data-field="battery"]') == "two"
    assert await page.get_attribute('[data-range="21600"]', "aria-pressed") == "true"
    summary = await page.inner_text('[data-field="summary"]')
    assert re.fullmatch(r"\d+ points of 5 min each \(lowest, mean and highest value\)", summary), summary
    assert await page.locator(".history-charts .uplot").count() == 4
    assert (await page.inner_text('[data-field="charged"]')).endswith("Wh")
    assert await page.is_hidden('[data-field="empty"]')
    # The CSV link asks the same range as a file with units in its header.
    csv = await page.get_attribute('[data-field="csv"]', "href")
    assert csv is not None and "format=csv" in csv
    async with http.get(f"{url}{csv}") as response:
        assert response.status == 200 and response.content_type == "text/csv"
        assert (await response.text()).startswith("timestamp,samples,voltage_mean_V,")
    # Another range and battery: the same document reloads its data and keeps them in the URL.
    await page.click('[data-range="604800"]')
    await page.wait_for_function("document.body.dataset.loaded === 'two:604800'", timeout=15_000)
    await page.select_option('[data-field="battery"]', "one")
    await page.wait_for_function("document.body.dataset.loaded === 'one:604800'", timeout=15_000)
    assert page.url.endswith("/history?battery=one&range=604800")
    assert errors == []


async def test_alerts_page_lists_and_acknowledges(
    start_hub: HubFactory, browser: Browser, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(SIMULATED_CONFIG + ALERTS)
    url = hub.http_url or ""
    rule = {**CELL_RULE, "scope": {"batteries": ["one"]}}
    assert (await api(http, hub, "POST", "/api/v1/alerts/rules", json=rule))[0] == 201

    async def open_alerts() -> list[dict[str, object]]:
        return list((await api(http, hub, "GET", "/api/v1/alerts?state=open"))[1]["data"])

    (alert,) = await wait_for(open_alerts, timeout=20)
    page = await browser.new_page(bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{url}/alerts")
    row = page.locator(f'tr[data-alert-id="{alert["id"]}"]')
    await row.wait_for(timeout=15_000)
    assert await page.inner_text('[data-field="summary"]') == "1 open alert"
    assert await row.get_attribute("data-state") == "raised"
    assert "(Cell test)" in await row.inner_text()  # the rule's message, in the browser's language
    await row.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_selector(f'tr[data-alert-id="{alert["id"]}"][data-state="acknowledged"]', timeout=15_000)
    _, stored = await api(http, hub, "GET", f"/api/v1/alerts/{alert['id']}")
    assert stored["data"]["state"] == "acknowledged"
    assert await row.get_by_role("button", name="Acknowledge").count() == 0
    assert errors == []


async def test_pages_need_a_session_when_the_hub_requires_login(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(LOGIN_CONFIG)
    for path in ("/history?battery=one&range=86400", "/alerts"):
        async with http.get(f"{hub.http_url}{path}", allow_redirects=False) as response:
            assert response.status == 302
            location = urlsplit(response.headers["Location"])
            # The login page comes back here afterwards, range and battery included.
            assert location.path == "/login" and parse_qs(location.query) == {"next": [path]}
    async with http.get(f"{hub.http_url}/", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/login"


async def test_history_page_offers_banks_too(
    start_hub: HubFactory, browser: Browser, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(SIMULATED_CONFIG + BANKS)  # banks: readings in storage, no coordinator
    url = hub.http_url or ""
    await wait_for(lambda: energy_rows(http, url, "house"), timeout=20)
    page = await browser.new_page(bypass_csp=True)
    await page.goto(f"{url}/history?battery=house&range=21600")
    options = await page.eval_on_selector_all('[data-field="battery"] option', "os => os.map(o => o.value)")
    assert options == ["one", "two", "house", "string"]  # polled first, then what only storage knows
    assert await page.inner_text('[data-field="battery"] option[value="house"]') == "House bank"
    await page.wait_for_function("document.body.dataset.loaded === 'house:21600'", timeout=15_000)
    assert re.match(r"\d+ points of 5 min each", await page.inner_text('[data-field="summary"]'))
    # The live page has no card for a bank at first; one appears with the bank's first reading.
    await page.goto(url)
    await page.wait_for_selector('article.battery[data-battery-id="house"]', timeout=15_000)
