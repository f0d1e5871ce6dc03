"""GET /api/v1/bms/data/{id}/history on a real hub: resolutions, downsampling, fields, 422s and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from hub.core import Hub
from hub.reading import Reading
from tests.helpers import HubFactory

T0 = datetime(2024, 5, 1, tzinfo=UTC)  # long before the simulated readings the hub stores meanwhile
PATH = "/api/v1/bms/data/one/history"
SPIKE = 1500


def stamp(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def hub_with_history(start_hub: HubFactory) -> Hub:
    """A hub whose battery 'one' has three days of readings a minute apart, with one 70 V spike."""
    hub = await start_hub()
    series = [
        Reading(
            "one",
            timestamp=T0 + timedelta(minutes=i),
            voltage=70.0 if i == SPIKE else 53.0 + (i % 10) / 100,
            current=4.0,
            soc=80.0,
        )
        for i in range(3 * 24 * 60)
    ]
    for i in range(0, len(series), 500):
        await hub.store.write_readings(series[i : i + 500])
    return hub


async def get(http: aiohttp.ClientSession, hub: Hub, query: str, **headers: str) -> tuple[int, Any, str]:
    async with http.get(f"{hub.http_url}{PATH}?{query}", headers=headers) as response:
        text = await response.text()
        return response.status, text, response.headers.get("Content-Type", "")


async def get_json(http: aiohttp.ClientSession, hub: Hub, query: str) -> dict[str, Any]:
    async with http.get(f"{hub.http_url}{PATH}?{query}") as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def test_resolution_choice_downsampling_and_fields(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await hub_with_history(start_hub)
    short = await get_json(http, hub, f"from={stamp(0)}&to={stamp(59)}")
    assert short["meta"]["resolution"] == "raw" and len(short["data"]) == 60
    assert short["data"][0]["battery_id"] == "one" and short["data"][0]["timestamp"] == "2024-05-01T00:00:00Z"

    week = f"from={stamp(0)}&to={stamp(3 * 24 * 60)}"
    chart = await get_json(http, hub, f"{week}&points=200&fields=voltage,charged_wh")
    meta = chart["meta"]
    assert (meta["resolution"], meta["requested"], meta["table"]) == ("5m", "auto", "rollups")
    assert meta["downsampled"] and meta["count"] == len(chart["data"]) <= 200
    assert max(r["voltage_max"] for r in chart["data"]) == 70.0  # the single spike survives
    assert set(chart["data"][0]) == {
        "timestamp", "samples", "voltage", "voltage_min", "voltage_max", "voltage_last", "charged_wh",
    }  # fmt: skip
    assert sum(r["samples"] for r in chart["data"]) == 3 * 24 * 60
    assert sum(r["charged_wh"] for r in chart["data"]) == pytest.approx(
        (3 * 24 * 60 - 1) / 60 * 4 * 53.045, rel=0.01
    )  # about 212 W for 72 hours, less the spike's share

    daily = await get_json(http, hub, f"{week}&resolution=1d&fields=soc")
    assert [r["samples"] for r in daily["data"]] == [1440, 1440, 1440]
    assert daily["meta"]["bucket_s"] == 86400 and not daily["meta"]["downsampled"]
    raw = await get_json(http, hub, f"from={stamp(SPIKE - 1)}&to={stamp(SPIKE + 1)}&fields=voltage")
    assert [r["voltage"] for r in raw["data"]] == [53.09, 70.0, 53.01]


@pytest.mark.parametrize(
    "query",
    [
        "fields=voltage,bogus",
        "fields=,",
        "resolution=2m",
        "points=0",
        "points=10001",
        "points=many",
        "format=xml",
        "resolution=raw&fields=charged_wh",
    ],
)
async def test_bad_parameters_are_422(start_hub: HubFactory, http: aiohttp.ClientSession, query: str) -> None:
    hub = await start_hub()
    status, text, content_type = await get(http, hub, query)
    assert status == 422, text
    assert content_type.startswith("application/json")


async def test_csv_by_parameter_and_by_accept_header(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await hub_with_history(start_hub)
    window = f"from={stamp(0)}&to={stamp(120)}"
    status, text, content_type = await get(http, hub, f"{window}&format=csv&fields=voltage,soc")
    assert status == 200 and content_type == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    assert reader.fieldnames == ["timestamp", "voltage_V", "soc_%"]
    assert len(rows) == 121 and rows[0] == {"timestamp": "2024-05-01T00:00:00Z", "voltage_V": "53.0", "soc_%": "80.0"}
    assert datetime.fromisoformat(rows[-1]["timestamp"]) == T0 + timedelta(minutes=120)

    status, text, content_type = await get(http, hub, f"{window}&resolution=1h", Accept="text/csv")
    assert status == 200 and content_type == "text/csv; charset=utf-8"
    header, *lines = list(csv.reader(io.StringIO(text, newline="")))
    assert header[:4] == ["timestamp", "samples", "voltage_mean_V", "voltage_min_V"] and "discharged_Wh" in header
    assert [line[1] for line in lines] == ["60", "60", "60"]  # whole buckets starting in the range

    # CSV without fields at raw resolution: every metric, never whole readings.
    status, text, _ = await get(http, hub, f"{window}&resolution=raw&format=csv")
    assert status == 200 and text.startswith("timestamp,voltage_V,current_A,power_W,soc_%,cell_min_V")
    status, text, content_type = await get(http, hub, f"{window}&format=json", Accept="text/csv")
    assert content_type.startswith("application/json")
