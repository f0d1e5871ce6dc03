"""Hub lifecycle: plugins from entry points, failure isolation, graceful shutdown."""

from __future__ import annotations

import sqlite3
import textwrap
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from hub.bus import DATA_BMS_NEW, SYSTEM_CONFIG_CHANGED, Event
from hub.core import MAINTENANCE
from hub.plugins import PluginManager
from hub.registry import Health
from tests.helpers import HubFactory, wait_for

PLUGIN_SOURCE = '''
"""A third-party plugin written by a test: a driver that counts."""
from hub.hookspecs import hookimpl
from hub.reading import Reading
from hub.specs import DriverSpec
import voluptuous as vol


class CountingDriver:
    def __init__(self, config, context):
        self.start = float(config.options["start"])
        self.polls = 0

    async def connect(self):
        pass

    async def poll(self):
        self.polls += 1
        return Reading(battery_id="x", voltage=self.start + self.polls, current=-1.5, cells=(3.3, 3.4))

    async def close(self):
        pass


@hookimpl
def register_drivers(drivers):
    drivers.add(DriverSpec(name="counting", description="counts", factory=CountingDriver,
                           schema={vol.Required("start"): vol.Coerce(float)}))
'''


def install_plugin(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Create a plugin package with entry-point metadata in a directory on sys.path."""
    package = root / "countingplug"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE)
    dist = root / "countingplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: countingplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[trackingbms.plugins]\ncounting = countingplug\n")
    monkeypatch.syspath_prepend(str(root))


async def test_entry_point_plugin_adds_a_driver(
    start_hub: HubFactory, http: aiohttp.ClientSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path / "site", monkeypatch)
    hub = await start_hub(
        textwrap.dedent("""
        hub: {{data_dir: {data_dir}}}
        http: {{port: 0}}
        logging: {{file: null}}
        batteries:
          - {{id: counted, driver: counting, start: 48, poll_interval: 0.2}}
    """)
    )
    assert hub.plugins.plugins["counting"].distribution == "countingplug"

    async def reading() -> dict[str, object] | None:
        async with http.get(f"{hub.http_url}/api/v1/bms/data/counted") as response:
            return (await response.json())["data"] if response.status == 200 else None

    data = await wait_for(reading)
    assert data["voltage"] > 48 and data["power"] == pytest.approx(data["voltage"] * -1.5)  # type: ignore[operator]
    assert data["state"] == "discharging" and data["cell_max"] == {"voltage": 3.4, "index": 2}
    async with http.get(f"{hub.http_url}/api/v1/bms/types") as response:
        types = {t["name"]: t["plugin"] for t in (await response.json())["data"]}
    assert types["counting"] == "counting"


class FailingPlugin:
    """A plugin whose start raises."""

    from hub.hookspecs import hookimpl

    @hookimpl
    def hub_started(self, hub: object) -> None:
        raise RuntimeError("cannot reach the moon")


async def test_failing_plugin_is_reported_and_hub_keeps_serving(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    plugins = PluginManager()
    plugins.discover()
    plugins.register(FailingPlugin(), "moon")
    hub = await start_hub(plugins=plugins)
    async with http.get(f"{hub.http_url}/api/v1/core/services") as response:
        services = {s["name"]: s for s in (await response.json())["data"]["services"]}
    assert services["plugin.moon"]["health"] == "failed"
    assert "cannot reach the moon" in services["plugin.moon"]["reason"]
    assert services["plugin.daly"]["health"] == "ok"

    async def served() -> bool:
        async with http.get(f"{hub.http_url}/api/v1/bms/data/one") as response:
            return response.status == 200

    await wait_for(served)
    async with http.get(f"{hub.http_url}/api/v1/core/health") as response:
        assert (await response.json())["data"]["status"] == "degraded"


async def test_disabled_plugin_is_not_loaded(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(
        textwrap.dedent("""
        hub: {{data_dir: {data_dir}}}
        http: {{port: 0}}
        logging: {{file: null}}
        plugins: {{disabled: [webui]}}
    """)
    )
    assert hub.plugins.plugins["webui"].state == "disabled"
    async with http.get(f"{hub.http_url}/") as response:
        assert response.status == 404


async def test_stop_flushes_every_published_reading(start_hub: HubFactory) -> None:
    hub = await start_hub()
    published: list[Event] = []
    hub.bus.subscribe(DATA_BMS_NEW, published.append, name="test")
    await wait_for(lambda: len(published) >= 6)
    await hub.stop()
    db = sqlite3.connect(hub.data_dir / "trackingbms.db")
    stored = db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    db.close()
    assert stored >= len(published)
    hub.batteries = None  # already stopped; the fixture's stop must not fail either


async def test_storage_maintenance_shows_in_health(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    pruner = getattr(hub.storage, "pruner", None)
    assert pruner is not None  # the hub runs compaction and retention in the background
    service = hub.registry.get(MAINTENANCE)
    assert service is not None and service.health == Health.OK
    outcome = await pruner.run_and_report()
    assert outcome.error is None
    assert service.details["last_run"] == outcome.finished_at.isoformat() and "compacted" in service.details
    async with http.get(f"{hub.http_url}/api/v1/core/services") as response:
        assert MAINTENANCE in await response.text()
    pruner.on_result(replace(outcome, error="StorageError: disk I/O error"))
    assert (service.health, service.reason) == (Health.DEGRADED, "StorageError: disk I/O error")


async def test_a_config_change_is_published(start_hub: HubFactory) -> None:
    hub = await start_hub()
    changes: list[Event] = []
    hub.bus.subscribe(SYSTEM_CONFIG_CHANGED, changes.append, name="test")
    assert await hub.reload_section("logging") == {"applied": True, "restart_required": False}
    assert await hub.reload_section("storage") == {"applied": False, "restart_required": True}
    await hub.bus.drain()
    assert [c.data for c in changes] == [
        {"section": "logging", "applied": True, "restart_required": False},
        {"section": "storage", "applied": False, "restart_required": True},
    ]
