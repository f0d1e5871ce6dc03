"""Routing, isolation of slow notifiers, health and delivery history, in a running hub."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.bus import Event
from hub.core import Hub
from hub.registry import Health
from tests.helpers import HubFactory, wait_for
from tests.plugins.trackingbms_notify.conftest import ReceiverFactory
from tests.plugins.trackingbms_notify.notify_helpers import (
    ACK,
    CLEARED,
    HUB_HEAD,
    Request,
    alert_event,
    history,
    later,
    publish,
    settle,
)

BATTERY = """
simulators:
  - kind: daly
    link: sim/one
    cells: 4
    temps: 1
    seed: 1
batteries:
  - id: one
    driver: daly
    port: sim/one
    poll_interval: 0.2
"""


def hook(name: str, url: str, extra: str = "") -> str:
    """One webhook entry of the notifications list."""
    return f"""
    - name: {name}
      kind: webhook
      url: {url}
      secret: a-long-enough-secret
      retry:
        initial_delay: 0.05
        max_delay: 0.2
{extra}"""


def section(*entries: str) -> str:
    return "\nnotify:\n  notifications:" + "".join(entries) + "\n"


def sequences(requests: list[Request]) -> list[int]:
    return [int(json.loads(r.body)["alert"]["sequence"]) for r in requests]


async def test_a_hanging_endpoint_delays_neither_readings_nor_other_notifiers(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    async def hang(request: Request) -> web.StreamResponse:
        await stuck.release.wait()  # answers only when the test ends
        return web.json_response({})

    async def fail(request: Request) -> web.StreamResponse:
        return web.json_response({"error": "down"}, status=503)

    stuck = await receivers(hang)
    broken = await receivers(fail)
    quick = await receivers()
    config = (
        HUB_HEAD
        + BATTERY
        + section(
            hook("stuck", stuck.url, "      timeout: 600\n"),  # it will not time out during the test
            hook("broken", broken.url),  # fails every attempt, retrying with backoff
            hook("quick", quick.url),
        )
    )
    hub = await start_hub(config)
    await wait_for(lambda: hub.store.latest("one"))
    payloads = [await publish(hub, alert_event()) for _ in range(5)]

    await wait_for(lambda: len(quick.completed) == 5)
    assert sequences(quick.completed) == [p["sequence"] for p in payloads]
    # The stuck endpoint holds the first delivery; the others wait in its outbox, none is lost.
    assert len(stuck.requests) == 1 and stuck.completed == []
    pending = await hub.store.outbox_pending("notify.stuck")
    assert [item.payload["alert"]["sequence"] for item in pending] == [p["sequence"] for p in payloads]

    # Readings are still polled and stored while the stuck notifier waits.
    before = await hub.store.latest("one")
    assert before is not None

    async def newer_reading() -> bool:
        latest = await hub.store.latest("one")
        return latest is not None and latest.timestamp > before.timestamp

    await wait_for(newer_reading)
    assert stuck.completed == []  # still hanging after all of that
    quick_service = hub.registry.get("notifier.quick")
    assert quick_service is not None and quick_service.health == Health.OK
    # The failing one shows its failures in health and in the alert's delivery history.
    broken_service = await wait_for(lambda: _in_health(hub, "notifier.broken", Health.DEGRADED))
    assert broken_service.reason is not None and "HTTP 503" in broken_service.reason

    async def failed() -> list[dict[str, Any]]:
        return [e for e in await history(hub, payloads[0]) if e["kind"] == "delivery_failed"]

    assert {e["notifier"] for e in await wait_for(failed)} == {"broken"}
    notified = {e["notifier"] for e in await history(hub, payloads[0]) if e["kind"] == "notified"}
    assert notified == {"quick"}


def _in_health(hub: Hub, name: str, health: Health) -> Any:
    service = hub.registry.get(name)
    return service if service is not None and service.health == health else None


async def test_failures_show_in_health_and_history_until_the_endpoint_recovers(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    status = {"code": 500}

    async def flaky(request: Request) -> web.StreamResponse:
        return web.json_response({"error": "database down"}, status=status["code"])

    receiver = await receivers(flaky)
    hub = await start_hub(HUB_HEAD + section(hook("ops", receiver.url)))
    payload = await publish(hub, alert_event())

    async def failures() -> list[dict[str, Any]]:
        return [e for e in await history(hub, payload) if e["kind"] == "delivery_failed"]

    await wait_for(lambda: _at_least(failures(), 2))
    service = hub.registry.get("notifier.ops")
    assert service is not None and service.kind == "notifier"
    assert service.health == Health.DEGRADED
    assert service.reason is not None and "HTTP 500" in service.reason and "database down" in service.reason
    first = (await failures())[0]
    assert first["notifier"] == "ops" and first["notifier_kind"] == "webhook" and first["event"] == "generated"
    assert first["attempt"] == 1 and first["final"] is False and "HTTP 500" in first["error"]

    status["code"] = 200
    await wait_for(lambda: hub.registry.get("notifier.ops").health == Health.OK)  # type: ignore[union-attr]
    entries = await history(hub, payload)
    assert entries[-1]["kind"] == "notified"
    assert entries[-1]["attempt"] == len(entries)  # every attempt before it failed and was recorded
    assert len({e["delivery_id"] for e in entries}) == 1  # one delivery id over all attempts
    assert hub.registry.get("notifier.ops").details["delivered"] == 1  # type: ignore[union-attr]


async def _at_least(entries: Any, count: int) -> bool:
    return len(await entries) >= count


async def test_routes_by_severity_battery_site_client_tenant_and_event(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    receiver = await receivers()
    url = receiver.url
    config = HUB_HEAD + section(
        hook("all", f"{url}/all"),
        hook("critical", f"{url}/critical", "      route:\n        severities: [critical]\n"),
        hook("garage", f"{url}/garage", "      route:\n        batteries: [garage]\n"),
        hook("site", f"{url}/site", "      route:\n        sites: [north]\n"),
        hook("acme", f"{url}/acme", "      route:\n        clients: [acme]\n"),
        hook("other", f"{url}/other", "      route:\n        tenants: [other]\n"),
        hook("raised", f"{url}/raised", "      route:\n        events: [generated]\n"),
        hook("done", f"{url}/done", "      route:\n        events: [cleared]\n        severities: [warning]\n"),
        hook("off", f"{url}/off", "      enabled: false\n"),
    )
    hub = await start_hub(config)
    await _add_tenant(hub, "other")
    sent = {
        "warn-garage": await publish(hub, alert_event(severity="warning", battery_id="garage")),
        "crit-shed": await publish(
            hub, alert_event(battery_id="shed", site_id="north", client_path=["acme", "acme-n"])
        ),
        "info-other": await publish(hub, alert_event(severity="info", tenant_id="other")),
        "reminder": await publish(hub, alert_event(battery_id="garage", reminder=True)),
    }
    warn = sent["warn-garage"]
    sent["ack"] = await publish(hub, later(warn, state="acknowledged"), ACK)
    sent["clear"] = await publish(hub, later(warn, state="cleared"), CLEARED)
    await settle(hub)

    def got(path: str) -> list[int]:
        return sequences(receiver.paths(path))

    seq = {name: payload["sequence"] for name, payload in sent.items()}
    assert got("/all") == [seq[n] for n in ("warn-garage", "crit-shed", "info-other", "reminder", "ack", "clear")]
    assert got("/critical") == [seq["crit-shed"], seq["reminder"]]
    assert got("/garage") == [seq["warn-garage"], seq["reminder"], seq["ack"], seq["clear"]]
    assert got("/site") == [seq["crit-shed"]]
    assert got("/acme") == [seq["crit-shed"]]  # "acme" covers its sub-client "acme-n"
    assert got("/other") == [seq["info-other"]]
    assert got("/raised") == [seq["warn-garage"], seq["crit-shed"], seq["info-other"]]  # no reminder
    assert got("/done") == [seq["clear"]]
    assert got("/off") == []
    off = hub.registry.get("notifier.off")
    assert off is not None and off.health == Health.DISABLED
    # The other tenant's delivery went through that tenant's outbox and history.
    entries = await history(hub, sent["info-other"])
    assert {e["notifier"] for e in entries if e["kind"] == "notified"} == {"all", "other", "raised"}


async def test_reload_replaces_notifiers_and_keeps_pending_deliveries(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    receiver = await receivers()
    hub = await start_hub(HUB_HEAD + section(hook("first", f"{receiver.url}/first")))
    await publish(hub, alert_event())
    await settle(hub)
    data = hub.config.section_as_written("notify")
    data["notifications"][0]["name"] = "second"
    data["notifications"][0]["url"] = f"{receiver.url}/second"
    await hub.config.update_section("notify", data)
    await hub.reload_section("notify")
    assert hub.registry.get("notifier.first") is None  # removed with its entry
    payload = await publish(hub, alert_event())
    await settle(hub)
    assert sequences(receiver.paths("/second")) == [payload["sequence"]]
    assert len(receiver.paths("/first")) == 1


async def _add_tenant(hub: Hub, tenant: str) -> None:
    # No tenant API exists yet; the storage tests create tenants the same way.
    async with hub.storage.transaction("tenant") as db:  # type: ignore[union-attr]
        await db.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, '2026-01-01')", (tenant, tenant))


async def test_a_full_intake_queue_drops_new_events_and_says_so(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    receiver = await receivers()
    hub = await start_hub(HUB_HEAD + section(hook("tiny", receiver.url, "      queue_size: 1\n")))
    changes: list[Event] = []
    hub.bus.subscribe("system.module.health_changed", changes.append, name="test.health")
    payloads = [alert_event() for _ in range(20)]
    for payload in payloads:  # published in one go: the dispatcher routes them all before the intake runs
        hub.bus.publish("data.alert.generated", payload)
    await settle(hub)
    assert sequences(receiver.requests) == [payloads[0]["sequence"]]
    service = hub.registry.get("notifier.tiny")
    assert service is not None and service.details["dropped"] == 19  # kept after the next success
    await wait_for(lambda: [e for e in changes if e.data["name"] == "notifier.tiny"])
    first = next(e.data for e in changes if e.data["name"] == "notifier.tiny")
    assert first["health"] == "degraded" and first["reason"] == "intake queue full (1), alert events dropped: 1"


async def test_history_waits_for_an_alert_stored_after_its_event(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    # The alerts plugin publishes first and stores afterwards (storage never delays a notification).
    receiver = await receivers()
    hub = await start_hub(HUB_HEAD + section(hook("ops", receiver.url)))
    payload = alert_event()
    hub.bus.publish("data.alert.generated", payload)
    await wait_for(lambda: receiver.completed)
    await settle(hub)
    assert await history(hub, payload) == []  # nothing stored yet: not even the alert
    # Now the alert row exists; its next event (a reminder) is delivered and recorded behind the first.
    await publish(hub, later(payload, reminder=True))
    await wait_for(lambda: receiver_count(receiver, 2))

    async def notified_twice() -> bool:
        return [e["kind"] for e in await history(hub, payload)] == ["notified", "notified"]

    await wait_for(notified_twice)


def receiver_count(receiver: Any, count: int) -> bool:
    return len(receiver.completed) == count
