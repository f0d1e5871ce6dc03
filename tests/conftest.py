"""Shared fixtures: a real hub on a temporary config, data directory and free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.core import Hub
from tests.helpers import SIMULATED_CONFIG, HubFactory, write_config


@pytest.fixture
async def start_hub(tmp_path: Path) -> AsyncIterator[HubFactory]:
    """Start hubs on given config text; every hub started is stopped at the end."""
    hubs: list[Hub] = []

    async def start(text: str = SIMULATED_CONFIG, **kwargs: Any) -> Hub:
        hub = Hub(write_config(tmp_path, text), console_logs=False, **kwargs)
        hub.load(discover="plugins" not in kwargs)
        await hub.start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        await hub.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real HTTP client."""
    async with aiohttp.ClientSession() as session:
        yield session
