"""Alerts raised while a notifier was not running (off, reloading, hub down) are delivered when it starts."""

from __future__ import annotations

from pathlib import Path

from trackingbms_notify.plugin import dispatcher_of

from hub.core import Hub
from hub.reading import utc_now
from tests.helpers import HubFactory, wait_for
from tests.hub.storage.backends import Location
from tests.hub.storage.conftest import backend, location  # noqa: F401 - the two-backend fixtures
from tests.plugins.trackingbms_notify.alert_hub import (
    HEAD,
    alerts_in,
    bodies,
    set_soc,
    stored_steps,
    write_rules,
)
from tests.plugins.trackingbms_notify.conftest import ReceiverFactory
from tests.plugins.trackingbms_notify.notify_helpers import HUB_HEAD, alert_event, publish, settle
from tests.plugins.trackingbms_notify.test_dispatcher import hook, section


async def test_an_alert_raised_while_the_notifier_was_off_is_sent_when_it_starts(
    start_hub: HubFactory, receivers: ReceiverFactory, tmp_path: Path
) -> None:
    receiver = await receivers()
    write_rules(tmp_path)
    hub = await start_hub(HEAD + section(hook("late", receiver.url, "      enabled: false\n")))
    set_soc(hub, 95.0)
    raised = await wait_for(lambda: alerts_in(hub, "open"))
    await wait_for(lambda: _steps_are(hub, raised[0].id, ["raised"]))
    assert receiver.requests == []  # the bus event went out while no notifier listened

    data = hub.config.section_as_written("notify")
    data["notifications"][0]["enabled"] = True
    await hub.config.update_section("notify", data)
    await hub.reload_section("notify")
    await wait_for(lambda: len(receiver.completed) == 1, timeout=30)
    first = bodies(receiver.completed)[0]
    assert (first["event"], first["alert"]["id"], first["alert"]["state"]) == ("generated", raised[0].id, "raised")
    assert first["alert"]["battery_name"] == "Pack one" and first["alert"]["value"] >= 90

    set_soc(hub, 50.0)  # the live path: the clear is routed from the bus
    await wait_for(lambda: len(receiver.completed) == 2, timeout=30)
    second = bodies(receiver.completed)[1]
    assert (second["event"], second["alert"]["id"]) == ("cleared", raised[0].id)
    assert second["delivery_id"] != first["delivery_id"]

    await settle(hub)
    dispatcher = dispatcher_of(hub)
    assert dispatcher is not None
    # Both steps are in the alert's delivery history now: another sweep finds nothing to send.
    await wait_for(lambda: _notified(hub, raised[0].id, 2))
    assert await dispatcher.channels["late"].catch_up.sweep(utc_now()) == 0
    assert len(receiver.requests) == 2


def storage_section(place: Location) -> str:
    """The ``storage:`` section of the test's backend (SQLite file or PostgreSQL schema)."""
    return "storage:\n" + "".join(f"  {key}: {value}\n" for key, value in place.section.items())


async def test_an_alert_raised_and_cleared_while_the_hub_ran_without_the_notifier_is_sent_in_order(
    location: Location,  # noqa: F811 - once per storage backend; first, so it is torn down after the hubs
    start_hub: HubFactory,
    receivers: ReceiverFactory,
    tmp_path: Path,
) -> None:
    receiver = await receivers()
    write_rules(tmp_path)
    head = HEAD + storage_section(location)
    hub = await start_hub(head)  # no notifier at all
    set_soc(hub, 95.0)
    raised = await wait_for(lambda: alerts_in(hub, "open"))
    set_soc(hub, 50.0)
    await wait_for(lambda: alerts_in(hub, "cleared"))
    await wait_for(lambda: _steps_are(hub, raised[0].id, ["raised", "cleared"]))
    await hub.stop()

    again = await start_hub(head + section(hook("ops", receiver.url)))  # same database
    await wait_for(lambda: len(receiver.completed) == 2, timeout=30)
    sent = bodies(receiver.completed)
    assert [(b["event"], b["alert"]["id"]) for b in sent] == [("generated", raised[0].id), ("cleared", raised[0].id)]
    assert sent[0]["alert"]["sequence"] < sent[1]["alert"]["sequence"]
    assert sent[1]["alert"]["state"] == "cleared" and sent[1]["alert"]["cleared_at"] is not None
    await wait_for(lambda: _notified(again, raised[0].id, 2))


async def test_held_steps_are_not_caught_up_and_delivered_ones_are_not_sent_again(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    receiver = await receivers()
    hub = await start_hub(HUB_HEAD + section(hook("ops", receiver.url)))
    held, announced = alert_event(), alert_event()
    for payload, published in ((held, False), (announced, True)):
        await publish(hub, payload, name="test.not-an-alert-event")  # stored only: the bus event is ignored
        details = {"sequence": payload["sequence"], "published": published}
        await hub.store.add_alert_event(payload["id"], "raised", details)
    dispatcher = dispatcher_of(hub)
    assert dispatcher is not None
    channel = dispatcher.channels["ops"]
    await channel.catch_up.sweep(utc_now())  # the start sweep may have run after the writes, or not
    await wait_for(lambda: len(receiver.completed) == 1)
    await wait_for(lambda: _notified(hub, announced["id"], 1))
    await settle(hub)
    assert [b["alert"]["id"] for b in bodies(receiver.requests)] == [announced["id"]]  # not the held one

    await hub.reload_section("notify")  # a new channel: nothing remembered in memory
    reloaded = dispatcher_of(hub)
    assert reloaded is not None and reloaded is not dispatcher
    assert await reloaded.channels["ops"].catch_up.sweep(utc_now()) == 0
    await settle(hub)
    assert len(receiver.requests) == 1


async def _steps_are(hub: Hub, alert_id: str, kinds: list[str]) -> bool:
    return await stored_steps(hub, alert_id) == kinds


async def _notified(hub: Hub, alert_id: str, count: int) -> bool:
    steps = await hub.store.alert_events(alert_id)
    return len([s for s in steps if s.kind == "notified"]) == count
