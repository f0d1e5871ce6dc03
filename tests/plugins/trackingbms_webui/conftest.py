"""The browser the web UI tests drive: Debian's chromium through Playwright (no browser download)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.helpers import IN_CI
from tests.plugins.trackingbms_webui.test_live_page import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        if IN_CI:
            pytest.fail("Debian's chromium is required in CI (make browser installs it)")
        pytest.skip("chromium is not installed (make browser installs it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()
