"""Where rate-limit counters and login failures live: this process's memory, or Redis shared by hubs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from redis import asyncio as aioredis

from hub.web.limits_config import LoginSettings


class LimitStore(Protocol):
    """Counters of fixed windows and login-failure records."""

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        """Count one request: how many in the current window, and seconds until the window ends."""

    async def wait(self, keys: Sequence[str]) -> float:
        """Seconds until every one of these failure records allows another attempt (0 = now)."""

    async def fail(self, keys: Sequence[tuple[str, int]], login: LoginSettings) -> None:
        """Record one failure on each (key, free failures) and start its doubled delay."""

    async def reset(self, keys: Sequence[str]) -> None:
        """Forget these failure records."""

    async def close(self) -> None:
        """Release connections."""


class MemoryStore:
    """Counters in this process only: each hub limits on its own."""

    SWEEP_EVERY = 1024  # insertions between sweeps of expired entries (bounds memory)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, window end)
        self._failures: dict[str, tuple[int, float, float]] = {}  # key -> (failures, wait until, forget at)
        self._inserts = 0

    def _sweep(self) -> None:
        self._inserts += 1
        if self._inserts % self.SWEEP_EVERY:
            return
        now = self.clock()
        self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        self._failures = {k: v for k, v in self._failures.items() if v[2] > now}

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        now = self.clock()
        count, end = self._windows.get(key, (0, 0.0))
        if end <= now:
            count, end = 0, now + window
            self._sweep()
        self._windows[key] = (count + 1, end)
        return count + 1, end - now

    async def wait(self, keys: Sequence[str]) -> float:
        now = self.clock()
        waits = [self._live(key, now)[1] - now for key in keys]
        return max([0.0, *waits])

    def _live(self, key: str, now: float) -> tuple[int, float, float]:
        record = self._failures.get(key, (0, 0.0, 0.0))
        return record if record[2] > now else (0, 0.0, 0.0)

    async def fail(self, keys: Sequence[tuple[str, int]], login: LoginSettings) -> None:
        now = self.clock()
        for key, free in keys:
            failures = self._live(key, now)[0] + 1
            delay = login.delay(failures, free)
            self._failures[key] = (failures, now + delay, now + max(login.forget_after, delay))
            self._sweep()

    async def reset(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    async def close(self) -> None:
        self._windows.clear()
        self._failures.clear()


# INCR and the expiry of a new window in one atomic step: every hub counts into the same window.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""
# Times come from the Redis server's clock, so hubs whose clocks differ still agree.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_WAIT = (
    _NOW
    + """
local wait = 0
for _, key in ipairs(KEYS) do
  local left = tonumber(redis.call('HGET', key, 'until') or '0') - now
  if left > wait then wait = left end
end
return wait
"""
)
# ARGV: base ms, max ms, forget ms, then the free failures of each key.
_FAIL = (
    _NOW
    + """
for i, key in ipairs(KEYS) do
  local n = redis.call('HINCRBY', key, 'n', 1)
  local over = n - tonumber(ARGV[3 + i])
  local delay = 0
  if over > 0 then delay = math.min(tonumber(ARGV[1]) * 2 ^ math.min(over - 1, 64), tonumber(ARGV[2])) end
  delay = math.floor(delay)
  redis.call('HSET', key, 'until', now + delay)
  redis.call('PEXPIRE', key, math.max(tonumber(ARGV[3]), delay))
end
return 1
"""
)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class RedisStore:
    """Counters in Redis (``redis.asyncio``): hubs on the same Redis and key prefix share every limit."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        # Short timeouts: a Redis that hangs must not hang every request behind it.
        self.client: Any = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._hit = self.client.register_script(_HIT)
        self._wait = self.client.register_script(_WAIT)
        self._fail = self.client.register_script(_FAIL)

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        count, ttl_ms = await self._hit(keys=[key], args=[_ms(window)])
        return int(count), int(ttl_ms) / 1000

    async def wait(self, keys: Sequence[str]) -> float:
        return int(await self._wait(keys=list(keys))) / 1000

    async def fail(self, keys: Sequence[tuple[str, int]], login: LoginSettings) -> None:
        args = [_ms(login.base_delay), _ms(login.max_delay), _ms(login.forget_after), *(free for _, free in keys)]
        await self._fail(keys=[key for key, _ in keys], args=args)

    async def reset(self, keys: Sequence[str]) -> None:
        await self.client.delete(*keys)

    async def close(self) -> None:
        await self.client.aclose()
