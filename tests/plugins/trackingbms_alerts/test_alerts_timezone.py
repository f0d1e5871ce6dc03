"""Quiet hours and maintenance windows read the clock in the battery's site time zone, else the hub's."""

from __future__ import annotations

from datetime import UTC, datetime

from trackingbms_alerts.engine import Policy
from trackingbms_alerts.lifecycle import Battery
from trackingbms_alerts.windows import Calendar, Window

from hub.storage.base import Storage
from hub.storage.records import BatteryScope
from tests.hub.storage.backends import sql
from tests.hub.storage.conftest import backend, location, storage  # noqa: F401 - the two-backend fixtures
from tests.plugins.trackingbms_alerts.alerts_synthetic import T0, actions, engine, feed, rule

NIGHT = Window(start="22:00", end="07:00")  # no zone of its own
TOKYO = BatteryScope("tokyo-site", timezone="Asia/Tokyo")  # UTC+9, no daylight saving time
AT_14_UTC = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo, 14:00 in the section's UTC


def test_a_window_without_zone_follows_the_site_then_the_section() -> None:
    calendar = Calendar(quiet_hours=(NIGHT,), timezone="UTC")
    assert calendar.holds("one", TOKYO, "warning", AT_14_UTC)  # night on the site
    assert not calendar.holds("one", BatteryScope("no-zone-site"), "warning", AT_14_UTC)  # the section's UTC
    assert not calendar.holds("one", BatteryScope(), "warning", AT_14_UTC)  # not on a site
    # A zone this system does not know (typed into the site) falls back to the section's.
    assert not calendar.holds("one", BatteryScope("x", timezone="Mars/Olympus"), "warning", AT_14_UTC)
    # A window's own zone wins over the site's.
    own = Calendar(quiet_hours=(Window(start="22:00", end="07:00", timezone="UTC"),), timezone="UTC")
    assert not own.holds("one", TOKYO, "warning", AT_14_UTC)


def test_maintenance_follows_the_site_zone_too() -> None:
    calendar = Calendar(maintenance=(Window(start="22:00", end="23:30"),), timezone="Europe/Paris")
    assert calendar.in_maintenance("one", TOKYO, AT_14_UTC)
    assert not calendar.in_maintenance("one", BatteryScope(), AT_14_UTC)  # 16:00 in Paris


def test_the_engine_holds_the_event_of_a_battery_at_night_on_its_site_only() -> None:
    batteries = (Battery("one", "One", TOKYO), Battery("two", "Two", BatteryScope()))
    eng = engine(rule(delay=0), policy=Policy(Calendar((NIGHT,), timezone="UTC")), batteries=batteries)
    start = (AT_14_UTC - T0).total_seconds()
    held = feed(eng, "cell_max", [(start, 3.9)], battery="one")
    told = feed(eng, "cell_max", [(start, 3.9)], battery="two")
    assert actions(held) == ["raised"] and not held[0].publish and held[0].alert.details["held"]
    assert actions(told) == ["raised"] and told[0].publish


async def test_battery_scope_carries_the_site_time_zone(storage: Storage) -> None:  # noqa: F811
    store = storage.for_tenant("default")
    await store.ensure_battery("one", "One", "daly")
    await store.ensure_battery("two", "Two", "daly")
    for site, zone in (("tokyo-site", "Asia/Tokyo"), ("plain", None)):
        await sql(
            storage,
            "INSERT INTO sites (tenant_id, id, name, timezone, created_at) VALUES ('default', ?, ?, ?, ?)",
            site,
            site,
            zone,
            T0,
        )
    await sql(storage, "UPDATE batteries SET site_id = 'tokyo-site' WHERE id = 'one'")
    await sql(storage, "UPDATE batteries SET site_id = 'plain' WHERE id = 'two'")
    assert await store.battery_scope("one") == TOKYO
    assert await store.battery_scope("two") == BatteryScope("plain")
