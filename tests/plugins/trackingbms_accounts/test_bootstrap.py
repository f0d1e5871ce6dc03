"""First start: the ``admin`` user, with the environment's password or a random one printed once."""

from __future__ import annotations

import logging
import re

import aiohttp
import pytest

from hub.registry import Health
from tests.helpers import HubFactory
from tests.plugins.trackingbms_accounts.accounts_helpers import ADMIN_PASSWORD, AUTH_CONFIG, call, login


async def test_admin_from_environment(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    tokens = await login(http, hub, "admin", ADMIN_PASSWORD)
    status, body = await call(http, hub, "GET", "/api/v1/auth/permissions", token=tokens["access_token"])
    assert status == 200 and body["data"]["principal"]["system_admin"] is True


async def test_random_password_printed_once(
    start_hub: HubFactory,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("TRACKINGBMS_ADMIN_PASSWORD")
    caplog.set_level(logging.DEBUG)
    hub = await start_hub(AUTH_CONFIG)
    printed = capfd.readouterr().err
    found = re.search(r"user 'admin' created with password (\S+)", printed)
    assert found is not None, printed
    password = found.group(1)
    assert len(password) >= 16 and password != ADMIN_PASSWORD
    assert password not in caplog.text  # console only, never the logs
    await login(http, hub, "admin", password)
    await hub.stop()
    again = await start_hub(AUTH_CONFIG)  # same data directory: the admin exists, nothing printed
    assert "created with password" not in capfd.readouterr().err
    await login(http, again, "admin", password)


async def test_short_environment_password_refused(
    start_hub: HubFactory, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", "short")
    hub = await start_hub(AUTH_CONFIG)
    # The provider did not start: protected routes are refused, never let through.
    service = hub.registry.get("core.auth")
    assert service is not None and service.health == Health.FAILED
    status, _ = await call(http, hub, "GET", "/api/v1/bms", token="anything")
    assert status == 503
    status, _ = await call(http, hub, "GET", "/api/v1/bms")
    assert status == 401
