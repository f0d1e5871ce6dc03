"""History queries over a real store on both backends: resolution choice, downsampling, fields, legacy readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.reading import Reading
from hub.storage import DEFAULT_TENANT
from hub.storage.base import Storage, TenantStore
from hub.storage.history import (
    HistoryError,
    HistoryQuery,
    choose_resolution,
    parse_fields,
    parse_resolution,
    run_history,
)
from hub.storage.packing import to_millis

T0 = datetime(2025, 3, 1, tzinfo=UTC)
HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.fixture
async def store(storage: Storage) -> TenantStore:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    return store


def series(count: int, step_s: float, spike_at: int | None = None) -> list[Reading]:
    """Readings every ``step_s``; at ``spike_at`` one reading jumps to 70 V (and the next dips to 30 V)."""
    out = []
    for i in range(count):
        voltage = (
            70.0 if i == spike_at else 30.0 if spike_at is not None and i == spike_at + 1 else 52.0 + (i % 7) / 100
        )
        out.append(Reading("pack", timestamp=T0 + timedelta(seconds=i * step_s), voltage=voltage, current=-10.0))
    return out


async def write(store: TenantStore, readings: list[Reading]) -> None:
    for i in range(0, len(readings), 500):
        await store.write_readings(readings[i : i + 500])


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("span_ms", "points", "expected"),
    [
        (HOUR, 1000, "raw"),
        (40 * HOUR, 1000, "raw"),  # 480 five-minute buckets < 500
        (42 * HOUR, 1000, "5m"),
        (30 * DAY, 1000, "1h"),
        (730 * DAY, 1000, "1d"),
        (60 * 365 * DAY, 1000, "1mo"),
        (30 * DAY, 10, "1d"),
        (2 * HOUR, 10, "5m"),
        (2 * HOUR, 10_000, "raw"),
    ],
)
def test_auto_picks_the_coarsest_class_with_enough_buckets(span_ms: int, points: int, expected: str) -> None:
    assert choose_resolution(0, span_ms, points, {}) == (expected, None)


def test_auto_needs_a_rollup_for_energy_and_skips_pruned_tables() -> None:
    assert choose_resolution(0, HOUR, 1000, {}, energy=True) == ("5m", None)
    start = to_millis(T0)
    # Raw readings kept from 10 days after the range start, rollups from long before: use 5-minute.
    oldest = {"raw": start + 10 * DAY + 1234, "5m": start - 300 * DAY, "1h": start - 900 * DAY}
    resolution, reason = choose_resolution(start, start + HOUR, 1000, oldest)
    assert resolution == "5m" and reason is not None and "raw kept only from" in reason
    # A battery that simply started recently: its first bucket is where its first reading is.
    fresh = {"raw": start + 1234, "5m": start, "1h": start, "1d": start, "1mo": start - 5 * DAY}
    assert choose_resolution(start - DAY, start + HOUR, 1000, fresh) == ("raw", None)


def test_parameters_are_validated() -> None:
    assert parse_fields(None) is None
    assert parse_fields("voltage, soc,voltage") == ("voltage", "soc")
    with pytest.raises(HistoryError) as err:
        parse_fields("voltage,volts,cells")
    assert err.value.details["unknown"] == ["volts", "cells"]
    with pytest.raises(HistoryError):
        parse_fields(" , ")
    assert parse_resolution(None) == "auto" and parse_resolution("1mo") == "1mo"
    with pytest.raises(HistoryError):
        parse_resolution("15m")


async def test_raw_without_fields_returns_full_readings_newest_first_capped(store: TenantStore) -> None:
    await write(store, series(50, 10))
    result = await run_history(store, HistoryQuery("pack", resolution="raw", limit=20), at(1000))
    assert len(result.data) == 20 and result.data[-1]["timestamp"] == "2025-03-01T00:08:10Z"
    assert result.data[0]["cells"] == [] and result.data[0]["battery_id"] == "pack"  # whole readings
    assert result.meta | {"truncated": True, "table": "readings", "resolution": "raw"} == result.meta
    short = await run_history(store, HistoryQuery("pack"), at(1000))  # auto over 8 minutes: raw
    assert len(short.data) == 50 and "battery_id" in short.data[0] and short.meta["resolution"] == "raw"


async def test_a_single_spike_survives_downsampling(store: TenantStore) -> None:
    readings = series(3000, 2, spike_at=1234)
    await write(store, readings)
    query = HistoryQuery("pack", at(0), at(6000), resolution="raw", points=50, fields=("voltage",))
    result = await run_history(store, query, at(7000))
    assert len(result.data) <= 50 and result.meta["downsampled"] and result.aggregated
    assert max(r["voltage_max"] for r in result.data) == 70.0
    assert min(r["voltage_min"] for r in result.data) == 30.0
    assert sum(r["samples"] for r in result.data) == 3000
    assert result.data[-1]["voltage_last"] == readings[-1].voltage
    assert set(result.data[0]) == {"timestamp", "samples", "voltage", "voltage_min", "voltage_max", "voltage_last"}
    spiky = [r for r in result.data if r["voltage_max"] == 70.0]
    assert len(spiky) == 1 and spiky[0]["voltage"] < 53.0  # the mean hides the spike, the max does not


async def test_auto_over_a_long_raw_range_downsamples_instead_of_truncating(store: TenantStore) -> None:
    await write(store, series(1500, 2, spike_at=700))
    result = await run_history(store, HistoryQuery("pack", at(0), at(3000), points=100), at(4000))
    assert result.meta["resolution"] == "raw" and result.meta["downsampled"] and len(result.data) <= 100
    assert max(r["voltage_max"] for r in result.data) == 70.0
    assert "energy_wh" not in result.data[0] and "charged_wh" not in result.data[0]  # no energy from raw


async def test_rollups_downsample_exactly(store: TenantStore) -> None:
    await write(store, series(4000, 30, spike_at=2500))  # about 33 hours at 30 s
    window = (at(0), at(4000 * 30))
    full = await run_history(store, HistoryQuery("pack", *window, resolution="5m"), at(200_000))
    assert full.meta["table"] == "rollups" and not full.meta["downsampled"] and len(full.data) == 400
    assert full.meta["bucket_s"] == 300
    small = await run_history(store, HistoryQuery("pack", *window, resolution="5m", points=7), at(200_000))
    assert len(small.data) <= 7 and small.meta["downsampled"]
    assert small.meta["bucket_s"] % 300 == 0  # whole 5-minute buckets
    for key in ("samples", "discharged_wh"):
        assert sum(r[key] for r in small.data) == pytest.approx(sum(r[key] for r in full.data))
    assert max(r["voltage_max"] for r in small.data) == 70.0
    assert sum(r["discharged_wh"] for r in full.data) > 0 and all(r["charged_wh"] == 0 for r in full.data)


async def test_fields_select_metrics_and_energy_needs_rollups(store: TenantStore) -> None:
    await write(store, series(100, 10))
    query = HistoryQuery("pack", at(0), at(1000), resolution="5m", fields=("soc", "discharged_wh"))
    result = await run_history(store, query, at(2000))
    assert set(result.data[0]) == {"timestamp", "samples", "soc", "soc_min", "soc_max", "soc_last", "discharged_wh"}
    assert result.data[0]["soc"] is None  # absent values stay null
    raw = await run_history(store, HistoryQuery("pack", at(0), at(1000), fields=("voltage",)), at(2000))
    assert raw.data[0] == {"timestamp": "2025-03-01T00:00:00Z", "voltage": 52.0} and not raw.aggregated
    with pytest.raises(HistoryError):
        await run_history(store, HistoryQuery("pack", resolution="raw", fields=("charged_wh",)), at(2000))
    auto = await run_history(store, HistoryQuery("pack", at(0), at(1000), fields=("charged_wh",)), at(2000))
    assert auto.meta["resolution"] == "5m"


async def test_an_unknown_battery_or_empty_range_is_empty(store: TenantStore) -> None:
    for query in (HistoryQuery("nobody"), HistoryQuery("pack", resolution="1h"), HistoryQuery("pack", fields=("soc",))):
        result = await run_history(store, query, at(0))
        assert result.data == []
