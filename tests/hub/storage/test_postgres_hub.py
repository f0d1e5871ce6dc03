"""A real hub on PostgreSQL (one config key): simulators -> recorder -> PostgreSQL -> the HTTP history API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from hub.core import Hub
from hub.reading import Reading
from hub.storage.postgres import PostgreSQLStorage
from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for
from tests.hub.storage.backends import Location, sql

T0 = datetime(2024, 5, 1, tzinfo=UTC)  # a day of history written through the hub's store, long before now


def postgresql_config(location: Location) -> str:
    section = location.section
    storage = f"storage:\n  backend: postgresql\n  dsn: {section['dsn']}\n  schema: {section['schema']}\n"
    return SIMULATED_CONFIG + storage


async def get(http: aiohttp.ClientSession, hub: Hub, query: str) -> dict[str, Any]:
    async with http.get(f"{hub.http_url}/api/v1/bms/data/one/history?{query}") as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_a_hub_stores_and_serves_history_from_postgresql(
    pg_location: Location, start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(postgresql_config(pg_location))
    assert isinstance(hub.storage, PostgreSQLStorage) and hub.storage.schema == pg_location.schema

    async def polled() -> bool:  # the simulators' readings went through the recorder into PostgreSQL
        assert hub.storage is not None
        rows = await sql(hub.storage, "SELECT COUNT(*) FROM readings r JOIN batteries b ON b.pk = r.battery_pk")
        return bool(rows[0][0] >= 6) and await hub.store.latest("two") is not None

    await wait_for(polled, timeout=30)
    now = datetime.now(UTC)
    live = await get(http, hub, f"from={stamp(now - timedelta(hours=1))}&to={stamp(now)}&resolution=raw&limit=1000")
    assert live["data"] and live["data"][-1]["battery_id"] == "one" and len(live["data"][-1]["cells"]) == 16
    rolled = await get(http, hub, f"from={stamp(now - timedelta(hours=1))}&resolution=5m&fields=voltage,charged_wh")
    assert rolled["meta"]["table"] == "rollups" and sum(r["samples"] for r in rolled["data"]) >= 1

    series = [
        Reading("one", timestamp=T0 + timedelta(minutes=i), voltage=53.0 + (i % 10) / 100, current=4.0, soc=80.0)
        for i in range(24 * 60)
    ]
    await hub.store.write_readings(series)
    day = f"from={stamp(T0)}&to={stamp(T0 + timedelta(days=1) - timedelta(seconds=1))}"
    hourly = await get(http, hub, f"{day}&resolution=1h&fields=voltage,charged_wh")
    assert [r["samples"] for r in hourly["data"]] == [60] * 24
    assert hourly["data"][0]["voltage_max"] == 53.09 and hourly["data"][0]["voltage_min"] == 53.0
    # 4 A at about 53 V for a minute between readings: about 3.5 Wh a minute, 59 intervals in the first hour
    assert hourly["data"][0]["charged_wh"] > 59 * 53.0 * 4 / 60
    raw = await get(http, hub, f"{day}&resolution=raw&limit=5000")
    assert len(raw["data"]) == 24 * 60 and raw["data"][0]["timestamp"] == "2024-05-01T00:00:00Z"
