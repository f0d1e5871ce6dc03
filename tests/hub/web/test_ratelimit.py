"""Rate limits per address and per user (memory and Redis), shared by two hub processes on one Redis."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import voluptuous as vol

from hub.config import ConfigError
from hub.registry import Health
from hub.web.limits_config import RateLimitSettings
from hub.web.ratelimit import GuardedStore, RateLimiter, build_limits
from hub.web.ratelimit_store import MemoryStore
from tests.helpers import HubFactory, wait_for
from tests.hub.web.ratelimit_helpers import (
    REDIS_URL,
    drop_keys,
    free_port,
    listening,
    require_redis,
    start_hub_process,
    unique_prefix,
)

HEALTH = "/api/v1/core/health"


def config(per_ip: int, per_user: int, extra: str = "") -> str:
    return f"""
hub:
  data_dir: {{data_dir}}
http:
  port: 0
  rate_limit:
    per_ip: {per_ip}
    per_user: {per_user}
    window: 3600  # far longer than any test: counts never reset mid-test
{extra}
logging:
  level: INFO
  file: null
auth:
  required: false
"""


@pytest.fixture
async def second_address() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose requests come from 127.0.0.2 (all of 127/8 is loopback on Linux)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as session:
        yield session


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test only, its keys deleted afterwards."""
    require_redis()
    name = unique_prefix()
    yield name
    await drop_keys(name)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], Any]:
    async with session.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, dict(response.headers), body


async def test_memory_limit_per_address_answers_429_with_retry_after(
    start_hub: HubFactory, http: aiohttp.ClientSession, second_address: aiohttp.ClientSession
) -> None:
    hub = await start_hub(config(per_ip=3, per_user=0))
    statuses = [(await get(http, hub.http_url + HEALTH))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, headers, body = await get(http, f"{hub.http_url}/api/v1/core/services")
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 3600
    assert headers["X-Request-ID"] == body["request_id"]
    assert (body["status"], body["code"]) == ("error", 429)
    assert body["data"] == {"scope": "ip", "limit": 3, "window_s": 3600.0, "retry_after": int(headers["Retry-After"])}
    # Another address has a count of its own; pages outside /api/ are never limited.
    assert (await get(second_address, hub.http_url + HEALTH))[0] == 200
    assert (await get(http, hub.http_url + "/no-such-page"))[0] == 404


async def test_memory_limit_per_user_spans_addresses(
    start_hub: HubFactory, http: aiohttp.ClientSession, second_address: aiohttp.ClientSession
) -> None:
    hub = await start_hub(config(per_ip=0, per_user=4))  # auth off: every request is the user "local"
    for session in (http, second_address, http, second_address):
        assert (await get(session, hub.http_url + HEALTH))[0] == 200
    status, headers, body = await get(second_address, hub.http_url + HEALTH)
    assert status == 429
    assert body["data"]["scope"] == "user"
    assert int(headers["Retry-After"]) >= 1


async def test_both_limits_off_never_refuse(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(config(per_ip=0, per_user=0))
    assert [(await get(http, hub.http_url + HEALTH))[0] for _ in range(30)] == [200] * 30


async def test_a_window_ends_and_counting_starts_again() -> None:
    now = [1000.0]
    settings = RateLimitSettings(per_ip=2, window=60)
    limiter = RateLimiter(settings, GuardedStore(MemoryStore(clock=lambda: now[0])))
    assert [await limiter.check("ip", "10.0.0.1") for _ in range(2)] == [None, None]
    verdict = await limiter.check("ip", "10.0.0.1")
    assert verdict is not None and (verdict.scope, verdict.limit, verdict.retry_after) == ("ip", 2, 60.0)
    now[0] += 45
    verdict = await limiter.check("ip", "10.0.0.1")
    assert verdict is not None and verdict.retry_after == 15.0
    now[0] += 15
    assert await limiter.check("ip", "10.0.0.1") is None


def test_config_defaults_and_errors() -> None:
    settings = RateLimitSettings.from_config({})
    assert (settings.enabled, settings.redis_url, settings.per_ip > 0, settings.per_user > 0) == (
        True,
        None,
        True,
        True,
    )
    assert settings.login.max_delay >= settings.login.base_delay
    assert RateLimitSettings.from_config({"redis_url": REDIS_URL, "window": "30"}).window == 30.0
    for bad in ({"redis_url": "http://x"}, {"per_ip": -1}, {"window": 0}, {"key_prefix": "a b"}):
        with pytest.raises(vol.Invalid):
            RateLimitSettings.from_config(bad)


async def test_a_bad_rate_limit_section_is_a_config_error(start_hub: HubFactory) -> None:
    with pytest.raises(ConfigError, match="rate_limit"):
        await start_hub(config(1, 1).replace("window: 3600", "window: soon"))


async def test_redis_counts_are_shared_between_limiters(prefix: str) -> None:
    settings = RateLimitSettings(per_user=5, window=3600, redis_url=REDIS_URL, key_prefix=prefix)
    first, second = build_limits(settings), build_limits(settings)  # two clients, as two hubs have
    try:
        verdicts = [await limits.limiter.check("user", "u1") for _ in range(4) for limits in (first, second)]
        refused = [v for v in verdicts if v is not None]
        assert len(refused) == 3
        assert all(v.scope == "user" and 3000 < v.retry_after <= 3600 for v in refused)
        assert await first.limiter.check("user", "u2") is None  # every user has a count of its own
    finally:
        await first.store.close()
        await second.store.close()


async def test_an_unreachable_redis_lets_requests_through_and_reports_it() -> None:
    reports: list[tuple[Health, str | None]] = []
    settings = RateLimitSettings(per_ip=1, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    limits = build_limits(settings, lambda health, reason: reports.append((health, reason)))
    try:
        assert [await limits.limiter.check("ip", "10.0.0.9") for _ in range(3)] == [None, None, None]
        assert await limits.throttle.delay_for("ann", "10.0.0.9") == 0.0
        await limits.throttle.failed("ann", "10.0.0.9")  # logged, never raised
    finally:
        await limits.store.close()
    assert [h for h, _ in reports] == [Health.DEGRADED]  # reported once, not per request
    assert reports[0][1] is not None and "rate limit" in reports[0][1]


HUB_CONFIG = """
hub:
  data_dir: {data}
http:
  port: {port}
  rate_limit:
    per_ip: 10
    per_user: 0
    window: 3600
    redis_url: {redis}
    key_prefix: {prefix}
logging:
  level: INFO
  file: null
auth:
  required: false
"""


async def test_two_hub_processes_on_one_redis_enforce_one_limit(tmp_path: Path, prefix: str) -> None:
    ports = [free_port(), free_port()]
    hubs = []
    for n, port in enumerate(ports):
        path = tmp_path / f"hub{n}.yaml"
        text = HUB_CONFIG.format(data=tmp_path / f"data{n}", port=port, redis=REDIS_URL, prefix=prefix)
        path.write_text(text, encoding="utf-8")
        hubs.append(start_hub_process(path))
    try:
        for port in ports:
            await wait_for(lambda port=port: listening(port), timeout=90)
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(
                *(get(session, f"http://127.0.0.1:{port}{HEALTH}") for port in ports for _ in range(6))
            )
    finally:
        for process in hubs:
            process.send_signal(signal.SIGTERM)
        errors = [await asyncio.to_thread(p.communicate, timeout=60) for p in hubs]
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * 10 + [429] * 2, [e[1].decode()[-2000:] for e in errors]
    assert all(int(headers["Retry-After"]) >= 1 for status, headers, _ in answers if status == 429)
    assert [p.returncode for p in hubs] == [0, 0], [e[1].decode()[-2000:] for e in errors]


async def test_with_login_the_user_is_limited_and_bad_tokens_count_per_address(
    start_hub: HubFactory, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", "correct horse battery staple")
    text = config(per_ip=7, per_user=3).replace("auth:\n  required: false", "auth:\n  required: true")
    hub = await start_hub(text)
    body = {"username": "admin", "password": "correct horse battery staple"}
    async with http.post(f"{hub.http_url}/api/v1/auth/login", json=body) as response:  # address: 1
        assert response.status == 200
        token = (await response.json())["data"]["access_token"]
    services = f"{hub.http_url}/api/v1/core/services"
    for _ in range(3):  # address: 2-4, user: 1-3
        async with http.get(services, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200
    async with http.get(services, headers={"Authorization": f"Bearer {token}"}) as response:  # address: 5
        assert response.status == 429
        assert (await response.json())["data"]["scope"] == "user"
    for _ in range(2):  # address: 6-7; a wrong token is refused by auth, after being counted
        async with http.get(services, headers={"Authorization": "Bearer not-a-token"}) as response:
            assert response.status == 401
    async with http.get(services, headers={"Authorization": "Bearer not-a-token"}) as response:
        assert response.status == 429
        assert (await response.json())["data"]["scope"] == "ip"
