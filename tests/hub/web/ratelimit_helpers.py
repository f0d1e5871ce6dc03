"""Helpers of the rate-limit tests: the Redis at 127.0.0.1:6379, unique key prefixes, hub processes."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from tests.helpers import IN_CI

REDIS_URL = os.environ.get("TRACKINGBMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[3]


@functools.cache
def redis_down() -> str | None:
    """Why the test Redis cannot be used, or None (asked once per run, from sync fixtures)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except (RedisError, OSError) as err:
        return f"Redis at {REDIS_URL} is unreachable: {err}"
    finally:
        client.close()
    return None


def require_redis() -> None:
    """Skip when Redis is down; under CI=true fail instead (the CI has one)."""
    reason = redis_down()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def unique_prefix() -> str:
    """A key prefix no other test (or earlier run) uses."""
    return f"tbms-test-{uuid.uuid4().hex}"


async def drop_keys(prefix: str) -> None:
    """Delete every key of a test prefix."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hub_process(config: Path) -> subprocess.Popen[bytes]:
    """``trackingbms run`` on a config, as an operator starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port (a hub's web server is the last
    thing it starts, so this means the hub is up; no API request is spent on it)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True
