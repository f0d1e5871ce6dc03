"""The login throttle: failures grow the delay (doubling, capped), success resets it, Redis shares it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.web.limits_config import LoginSettings, RateLimitSettings
from hub.web.ratelimit import GuardedStore, LoginThrottle, build_limits
from hub.web.ratelimit_store import MemoryStore
from tests.hub.web.ratelimit_helpers import REDIS_URL, drop_keys, require_redis, unique_prefix

LOGIN = LoginSettings(free_failures=1, ip_free_failures=4, base_delay=100.0, max_delay=350.0, forget_after=3600.0)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test only, its keys deleted afterwards."""
    require_redis()
    name = unique_prefix()
    yield name
    await drop_keys(name)


def test_delays_double_from_the_first_costly_failure_up_to_the_cap() -> None:
    assert [LOGIN.delay(n, 1) for n in range(7)] == [0.0, 0.0, 100.0, 200.0, 350.0, 350.0, 350.0]
    assert LOGIN.delay(10_000, 0) == 350.0  # no overflow however many failures


async def test_memory_failures_grow_the_delay_and_success_resets_it() -> None:
    now = [0.0]
    throttle = LoginThrottle(LOGIN, GuardedStore(MemoryStore(clock=lambda: now[0])), "t")
    assert await throttle.delay_for("ann", "10.0.0.1") == 0.0
    await throttle.failed("ann", "10.0.0.1")
    assert await throttle.delay_for("ann", "10.0.0.1") == 0.0  # the free failure
    await throttle.failed("ann", "10.0.0.1")
    assert await throttle.delay_for("ann", "10.0.0.1") == 100.0
    assert await throttle.delay_for("ANN", "10.0.0.2") == 100.0  # the username, from anywhere, any case
    assert await throttle.delay_for("bob", "10.0.0.1") == 0.0  # the address is still under its allowance
    now[0] += 60
    assert await throttle.delay_for("ann", "10.0.0.1") == 40.0
    now[0] += 40
    await throttle.failed("ann", "10.0.0.1")
    assert await throttle.delay_for("ann", "10.0.0.1") == 200.0
    now[0] += 200
    await throttle.failed("ann", "10.0.0.1")
    assert await throttle.delay_for("ann", "10.0.0.1") == 350.0  # capped
    await throttle.succeeded("ann", "10.0.0.1")
    assert await throttle.delay_for("ann", "10.0.0.1") == 0.0
    await throttle.failed("ann", "10.0.0.1")
    assert await throttle.delay_for("ann", "10.0.0.1") == 0.0  # counting starts again


async def test_memory_failures_across_usernames_slow_the_address() -> None:
    now = [0.0]
    throttle = LoginThrottle(LOGIN, GuardedStore(MemoryStore(clock=lambda: now[0])), "t")
    for name in ("a", "b", "c", "d", "e"):
        await throttle.failed(name, "10.0.0.1")  # one failure each: no username is slowed
    assert await throttle.delay_for("f", "10.0.0.1") == 100.0  # the fifth failure of the address
    assert await throttle.delay_for("f", "10.0.0.2") == 0.0


async def test_memory_failures_are_forgotten_after_a_while() -> None:
    now = [0.0]
    throttle = LoginThrottle(LOGIN, GuardedStore(MemoryStore(clock=lambda: now[0])), "t")
    for _ in range(2):
        await throttle.failed("ann", "10.0.0.1")
    now[0] += 3600
    await throttle.failed("ann", "10.0.0.1")
    assert await throttle.delay_for("ann", "10.0.0.1") == 0.0  # first failure of a new series


async def test_redis_throttles_share_delays_and_resets(prefix: str) -> None:
    settings = RateLimitSettings(redis_url=REDIS_URL, key_prefix=prefix, login=LOGIN)
    one, two = build_limits(settings), build_limits(settings)  # as two hubs on one Redis
    try:
        await one.throttle.failed("ann", "10.0.0.1")
        assert await two.throttle.delay_for("ann", "10.0.0.1") == 0.0
        await two.throttle.failed("ann", "10.0.0.1")
        first = await one.throttle.delay_for("Ann", "10.0.0.3")
        assert 50 < first <= 100  # generous: the wait counts down while the test runs
        await one.throttle.failed("ann", "10.0.0.1")
        second = await two.throttle.delay_for("ann", "10.0.0.1")
        assert 150 < second <= 200
        for _ in range(3):
            await two.throttle.failed("ann", "10.0.0.1")
        assert 300 < await one.throttle.delay_for("ann", "10.0.0.1") <= 350  # capped
        assert await one.throttle.delay_for("bob", "10.0.0.9") == 0.0
        await one.throttle.succeeded("ann", "10.0.0.1")
        assert await two.throttle.delay_for("ann", "10.0.0.1") == 0.0
    finally:
        await one.store.close()
        await two.store.close()
