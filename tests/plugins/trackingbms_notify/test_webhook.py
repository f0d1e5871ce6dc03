"""Webhooks against a real receiver: signature, headers, body, and nothing lost while it is down."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from trackingbms_notify.delivery import Delivery
from trackingbms_notify.webhook import body as webhook_body
from trackingbms_notify.webhook import sign

from hub.core import Hub
from hub.registry import Health
from hub.storage.records import OutboxItem
from tests.helpers import HubFactory, wait_for
from tests.plugins.trackingbms_notify.conftest import ReceiverFactory
from tests.plugins.trackingbms_notify.notify_helpers import (
    ACK,
    HUB_HEAD,
    Request,
    alert_event,
    doc_snippet,
    free_port,
    history,
    later,
    publish,
    settle,
)

SECRET = "s3cret-for-tests"


def config(url: str, *, name: str = "hook", extra: str = "") -> str:
    return (
        HUB_HEAD
        + f"""
notify:
  notifications:
    - name: {name}
      kind: webhook
      url: {url}
      secret: {SECRET}
      retry:
        initial_delay: 0.05
        max_delay: 0.3
{extra}
"""
    )


def verifier() -> Any:
    """The verification function exactly as docs/notifications.md shows it."""
    namespace: dict[str, Any] = {}
    exec(doc_snippet("verify-snippet"), namespace)
    return namespace["verify"]


def authentic(request: Request) -> bool:
    headers = request.headers
    return bool(
        verifier()(SECRET, headers["X-TrackingBMS-Timestamp"], headers["X-TrackingBMS-Signature"], request.body)
    )


def body(request: Request) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(request.body)
    return result


async def test_signed_post_with_the_documented_headers_and_body(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    receiver = await receivers()
    hub = await start_hub(config(receiver.url + "/hook", extra="      locale: fr\n"))
    payload = await publish(hub, alert_event())
    await wait_for(lambda: receiver.completed)
    request = receiver.requests[0]
    assert request.path == "/hook"
    assert request.headers["Content-Type"].startswith("application/json")
    assert authentic(request)
    data = body(request)
    assert data["delivery_id"] == request.headers["X-TrackingBMS-Delivery"]
    assert data["event"] == "generated" == request.headers["X-TrackingBMS-Event"]
    assert data["event_name"] == "data.alert.generated"
    assert data["alert"] == payload
    assert data["locale"] == "fr"
    assert data["text"] == "CRITIQUE Alerte déclenchée - Pack one : Cellule 3 à 3,66 V, au-dessus de 3,65 V"
    # Anything changed in transit breaks the signature.
    tampered = Request(request.path, request.headers, request.body.replace(b"3.66", b"3.99"))
    assert not authentic(tampered)
    assert await wait_for(lambda: kinds(hub, payload)) == ["notified"]


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    signature = sign(SECRET, "1700000000", b'{"a":1}')
    # Known answer from `printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret-for-tests`.
    assert signature == "sha256=2eb70eca19cbc2d1bbbc45dada8fc186f829f7c84eb9a408e16c06cfb4e48262"
    verify = verifier()
    now = str(int(time.time()))
    assert verify(SECRET, now, sign(SECRET, now, b"{}"), b"{}")
    assert not verify("another-secret", now, sign(SECRET, now, b"{}"), b"{}")
    old = str(int(time.time()) - 3600)
    assert not verify(SECRET, old, sign(SECRET, old, b"{}"), b"{}")  # a replay of an old request


async def kinds(hub: Hub, payload: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in await history(hub, payload)]


async def test_endpoint_down_across_a_restart_gets_everything_in_order_once(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    port = free_port()  # nothing listens there yet: the endpoint is down
    text = config(f"http://127.0.0.1:{port}/hook")
    first = await start_hub(text)
    early = [await publish(first, alert_event(battery_id=f"b{n}")) for n in range(3)]
    acked = await publish(first, later(early[0], state="acknowledged", acknowledged_by="ann"), ACK)

    async def failed_twice() -> bool:
        return (await kinds(first, early[0])).count("delivery_failed") >= 2

    await wait_for(failed_twice)
    service = first.registry.get("notifier.hook")
    assert service is not None and service.health == Health.DEGRADED
    assert service.reason is not None and "attempt" in service.reason
    await first.stop()  # the hub goes away with four deliveries pending

    second = await start_hub(text)  # same data directory, same config
    late = [await publish(second, alert_event(battery_id=f"b{n}")) for n in range(3, 5)]
    await wait_for(lambda: second.registry.get("notifier.hook").health == Health.DEGRADED)  # type: ignore[union-attr]

    seen: set[str] = set()

    async def lose_first_ack(request: Request) -> web.StreamResponse:
        # The receiver stores the delivery but the hub never hears back the first time (a lost
        # acknowledgement): the retry carries the same delivery id, and the receiver skips it.
        delivery = request.headers["X-TrackingBMS-Delivery"]
        if delivery in seen:
            return web.json_response({"duplicate": True})
        seen.add(delivery)
        if body(request)["alert"]["battery_id"] == "b1":
            return web.json_response({"error": "lost"}, status=503)
        return web.json_response({"ok": True})

    receiver = await receivers(lose_first_ack, port=port)  # the endpoint comes back
    await wait_for(lambda: len(seen) == 6, timeout=30)
    await settle(second)

    assert all(authentic(r) for r in receiver.requests)
    ids = [r.headers["X-TrackingBMS-Delivery"] for r in receiver.requests]
    unique = list(dict.fromkeys(ids))
    arrivals = [(body(r)["alert"]["battery_id"], body(r)["event"]) for r in receiver.requests]
    expected = [("b0", "generated"), ("b1", "generated"), ("b2", "generated"), ("b0", "acknowledged")]
    expected += [("b3", "generated"), ("b4", "generated")]
    # In order, with the one retried delivery repeated right after itself (head of line).
    assert [arrivals[ids.index(i)] for i in unique] == expected
    assert ids == [*unique[:2], unique[1], *unique[2:]]
    assert body(receiver.requests[4])["alert"] == acked
    assert second.registry.get("notifier.hook").health == Health.OK  # type: ignore[union-attr]
    for payload in [*early, *late]:
        # early[0] was notified twice: raised, then acknowledged.
        assert (await kinds(second, payload)).count("notified") == (2 if payload is early[0] else 1)
    assert "delivery_failed" in await kinds(second, early[1])  # the lost acknowledgement


def test_delivery_body_is_identical_across_attempts() -> None:
    when = datetime(2026, 5, 1, tzinfo=UTC)
    payload = {"event": "generated", "event_name": "data.alert.generated", "alert": alert_event()}
    item = OutboxItem(1, "notify.hook", "abc", payload, when, 0, when)
    first = Delivery.from_outbox(item, "hook", "en")
    third = Delivery.from_outbox(dataclasses.replace(item, attempts=2, last_error="HTTP 500"), "hook", "en")
    assert third.attempt == 3
    assert webhook_body(first) == webhook_body(third)
