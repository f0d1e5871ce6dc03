"""Banks in a running hub: config checks, and bank readings that reach storage through the pipeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from trackingbms_banks.plugin import banks_of, check_banks

from hub.config import ConfigError
from hub.core import Hub
from hub.reading import Reading
from hub.registry import Health
from tests.helpers import SIMULATED_CONFIG, wait_for, write_config

StartHub = Callable[..., Awaitable[Hub]]

BANKS = """
banks:
  house:
    name: House bank
    topology: parallel
    members: [one, two]
  string:
    topology: series
    members: [two, one]
    max_age: 30
"""


def load(tmp_path: Path, banks: str) -> dict[str, Any]:
    hub = Hub(write_config(tmp_path, SIMULATED_CONFIG.format(data_dir=tmp_path) + banks), console_logs=False)
    return hub.load()


def test_config_is_validated(tmp_path: Path) -> None:
    data = load(tmp_path, BANKS)
    assert data["banks"]["house"]["max_age"] == 10.0
    assert data["banks"]["string"]["members"] == ["two", "one"]
    for bad, message in (
        ("banks:\n  house:\n    topology: parallel\n    members: [one]\n", "at least 2 members"),
        ("banks:\n  house:\n    topology: mesh\n    members: [one, two]\n", "topology"),
        ("banks:\n  house:\n    topology: series\n    members: [one, one]\n", "listed twice"),
        ("banks:\n  House!:\n    topology: series\n    members: [one, two]\n", "lower-case"),
    ):
        with pytest.raises(ConfigError, match=message):
            load(tmp_path, bad)


def test_cross_checks_name_unknown_members_and_colliding_ids() -> None:
    banks = {"house": {"members": ["one", "ghost"]}, "one": {"members": ["one", "two"]}}
    assert check_banks(banks, ["one", "two"]) == [
        "banks.house.members: unknown battery 'ghost'",
        "banks.one: id 'one' is already a battery id",
    ]
    assert check_banks({"a": {"members": ["one", "two"]}, "b": {"members": ["two", "one"]}}, ["one", "two"]) == []


async def test_unknown_member_fails_the_plugin_clearly(start_hub: StartHub, tmp_path: Path) -> None:
    text = (
        SIMULATED_CONFIG.format(data_dir=tmp_path)
        + "banks:\n  house:\n    topology: parallel\n    members: [one, ghost]\n"
    )
    hub = await start_hub(text)
    service = hub.registry.get("plugin.banks")
    assert service is not None and service.health == Health.FAILED
    assert service.reason is not None and "unknown battery 'ghost'" in service.reason


async def test_bank_readings_are_processed_and_stored(start_hub: StartHub, tmp_path: Path) -> None:
    hub = await start_hub(SIMULATED_CONFIG.format(data_dir=tmp_path) + BANKS)
    assert {b.id for b in (await hub.store.batteries()) if b.driver == "bank"} == {"house", "string"}

    async def stored(bank_id: str) -> list[Reading]:
        return await hub.store.history(bank_id, None, None, 100)

    for bank_id in ("house", "string"):
        await wait_for(lambda bank_id=bank_id: _at_least(stored(bank_id), 3), timeout=60)
    house = await stored("house")
    string = await stored("string")
    # A member reading is stored before any bank reading made from it (the recorder keeps bus order).
    ones = [r.current for r in await hub.store.history("one", None, None, 100_000) if r.current is not None]
    twos = [r.current for r in await hub.store.history("two", None, None, 100_000) if r.current is not None]
    for reading in house + string:
        assert len(reading.cells) == 20  # 16 cells of one, then 4 of two (or the other way round)
        assert reading.state is not None and reading.cell_delta is not None  # the pipeline derived them
    for reading in house:
        # The simulated packs report voltage as the sum of their cells, rounded to 0.1 V.
        assert reading.voltage == pytest.approx((sum(reading.cells[:16]) + sum(reading.cells[16:])) / 2, abs=0.2)
        assert reading.current is not None and any(
            reading.current == pytest.approx(a + b, abs=0.01) for a in ones for b in twos
        )
    for reading in string:
        assert reading.voltage == pytest.approx(sum(reading.cells), abs=0.2)
        assert reading.current is not None and any(
            reading.current == pytest.approx((a + b) / 2, abs=0.01) for a in ones for b in twos
        )
    latest = await hub.store.latest("house")
    assert latest is not None and latest.battery_id == "house"
    # The API serves a bank like a battery, from storage (it has no link of its own).
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{hub.http_url}/api/v1/bms/data/house") as answer:
            data = await answer.json()
        assert answer.status == 200 and data["data"]["battery_id"] == "house", data
        assert data["meta"]["link_state"] == "virtual" and len(data["data"]["cells"]) == 20
        async with http.get(f"{hub.http_url}/api/v1/bms/data/house/history?resolution=raw") as answer:
            history = await answer.json()
        assert answer.status == 200 and history["data"], history
        async with http.get(f"{hub.http_url}/api/v1/bms/data/nobank/history") as answer:
            assert answer.status == 404
    banks = banks_of(hub)
    assert banks is not None
    await wait_for(lambda: all(_health(hub, b.service) == Health.OK for b in banks.banks), timeout=30)


def _health(hub: Hub, name: str) -> Health | None:
    service = hub.registry.get(name)
    return None if service is None else service.health


async def _at_least(readings: Awaitable[list[Reading]], count: int) -> bool:
    return len(await readings) >= count
