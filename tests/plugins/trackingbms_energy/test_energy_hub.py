"""The analytics in a running hub: counters continue across a restart, the event, the endpoint, a failing store."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from trackingbms_energy.board import ANALYTICS_EVENT, FIELDS, AnalyticsBoard
from trackingbms_energy.plugin import board_of

from hub.bus import Event
from hub.core import Hub
from hub.registry import Health
from hub.storage.base import DEFAULT_TENANT, StorageError
from hub.storage.sqlite import SQLiteStorage, SQLiteTenantStore
from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for

ENERGY = """
energy:
  save_interval_s: 0.5
  batteries:
    one:
      capacity_ah: 120
      full_cell_voltage: 3.6
"""
GHOST = """
  - id: ghost
    driver: daly
    port: sim/nobody-there
    poll_interval: 0.3
"""
COUNTERS = ("energy_charged_kwh", "energy_discharged_kwh", "equivalent_cycles")


def board(hub: Hub) -> AnalyticsBoard:
    found = board_of(hub)
    assert found is not None
    return found


def has_energy(hub: Hub, battery_id: str) -> bool:
    payload = board(hub).latest(battery_id)
    return payload is not None and payload["energy_charged_kwh"] + payload["energy_discharged_kwh"] > 0


def record(hub: Hub) -> list[Event]:
    events: list[Event] = []
    hub.bus.subscribe(ANALYTICS_EVENT, events.append, name="test.analytics")
    return events


def assert_never_decrease(events: list[Event], battery_id: str) -> None:
    payloads = [e.data for e in events if e.data["battery_id"] == battery_id]
    for key in COUNTERS:
        values = [p[key] for p in payloads]
        assert values == sorted(values), key


async def saved_state(hub: Hub, battery_id: str, key: str) -> dict[str, Any] | None:
    storage = SQLiteStorage(hub.data_dir / "trackingbms.db")
    await storage.open()
    try:
        return await storage.for_tenant(DEFAULT_TENANT).load_state(battery_id, key)
    finally:
        await storage.close()


async def test_counters_continue_from_where_they_were_after_a_restart(start_hub: HubFactory) -> None:
    config = SIMULATED_CONFIG + ENERGY
    first = await start_hub(config)
    events = record(first)
    await wait_for(lambda: has_energy(first, "one") and has_energy(first, "two"))
    await first.stop()
    final = {b: board(first).latest(b) for b in ("one", "two")}
    saved = await saved_state(first, "one", "energy")
    assert final["one"] is not None and saved is not None
    assert round(saved["charged_kwh"], 6) == final["one"]["energy_charged_kwh"]  # saved at shutdown
    assert round(saved["discharged_kwh"], 6) == final["one"]["energy_discharged_kwh"]

    second = await start_hub(config)  # a new hub on the same data directory and config
    later = record(second)
    await wait_for(lambda: has_grown(board(second), final))
    await wait_for(lambda: all(sum(e.data["battery_id"] == b for e in later) >= 3 for b in ("one", "two")))
    for battery_id, before in final.items():
        assert before is not None
        earliest = next(e.data for e in later if e.data["battery_id"] == battery_id)
        assert all(earliest[key] >= before[key] for key in COUNTERS), (battery_id, before, earliest)
        after = board(second).latest(battery_id)
        assert after is not None
        assert all(after[key] >= before[key] for key in COUNTERS), (battery_id, before, after)
        assert_never_decrease(events + later, battery_id)


def has_grown(board: AnalyticsBoard, final: dict[str, dict[str, Any] | None]) -> bool:
    """Both batteries counted more energy than before the restart."""
    for battery_id, before in final.items():
        after = board.latest(battery_id)
        assert before is not None
        if after is None or sum(after[k] for k in COUNTERS[:2]) <= sum(before[k] for k in COUNTERS[:2]):
            return False
    return True


async def test_analytics_event_and_endpoint(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(SIMULATED_CONFIG + GHOST + ENERGY)
    events = record(hub)
    await wait_for(lambda: any(e.data["battery_id"] == "one" for e in events))
    event = next(e for e in events if e.data["battery_id"] == "one")
    assert event.origin == "plugin.energy"
    assert set(event.data) == {"battery_id", "timestamp", *FIELDS}

    async with http.get(f"{hub.http_url}/api/v1/bms/analytics/one") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "success" and body["meta"]["problems"] == {}
    assert set(body["data"]) == {"battery_id", "timestamp", *FIELDS}
    assert body["data"]["battery_id"] == "one" and body["data"]["energy_charged_kwh"] >= 0
    assert 0 <= body["data"]["soc_coulomb"] <= 100

    for battery_id, message in (("ghost", "no analytics yet"), ("nope", "unknown battery")):
        async with http.get(f"{hub.http_url}/api/v1/bms/analytics/{battery_id}") as response:
            assert response.status == 404
            body = await response.json()
        assert body["status"] == "error" and message in body["message"]


@pytest.mark.parametrize(("method", "problem"), [("save_state", "state not saved"), ("load_state", "state not loaded")])
async def test_a_failing_state_store_degrades_the_plugin_but_not_the_pipeline(
    start_hub: HubFactory, monkeypatch: pytest.MonkeyPatch, method: str, problem: str
) -> None:
    async def broken(self: SQLiteTenantStore, *args: object) -> None:
        raise StorageError("SQLite state access failed: disk I/O error")

    monkeypatch.setattr(SQLiteTenantStore, method, broken)
    hub = await start_hub(SIMULATED_CONFIG + ENERGY)
    service = await wait_for(
        lambda: (s := hub.registry.get("plugin.energy")) is not None and s.health == Health.DEGRADED and s
    )
    assert problem in service.reason and "disk I/O error" in service.reason
    assert await wait_for(lambda: hub.store.history("one", None, None, 5))  # readings are still stored
    payload = await wait_for(lambda: board(hub).latest("one"))  # and the analytics still published
    if method == "save_state":
        assert await wait_for(lambda: has_energy(hub, "one"))  # counted in memory
    else:
        assert payload["energy_charged_kwh"] is None  # not counted from zero over the saved counters
    steps = [name for name, _ in hub.pipeline.steps]
    assert {"energy", "coulomb_soc", "equivalent_cycles", "soh_estimate", "analytics"} <= set(steps)
    assert all(hub.registry.get(f"processor.{name}").health == Health.OK for name in steps)  # type: ignore[union-attr]


async def test_a_reload_of_the_section_keeps_the_counters_and_applies_the_new_settings(start_hub: HubFactory) -> None:
    hub = await start_hub(SIMULATED_CONFIG + ENERGY)
    events = record(hub)
    await wait_for(lambda: has_energy(hub, "one"))
    await hub.config.update_section("energy", {"save_interval_s": 5, "batteries": {"one": {"capacity_ah": 240}}})
    assert (await hub.reload_section("energy"))["applied"]
    before = board(hub).latest("one")
    assert before is not None
    await wait_for(lambda: has_grown(board(hub), {"one": before}))
    energy_step = dict(hub.pipeline.steps)["energy"]
    assert energy_step.settings.for_battery("one").capacity_ah == 240.0  # type: ignore[attr-defined]
    assert board(hub).hub is hub and events
    assert_never_decrease(events, "one")
