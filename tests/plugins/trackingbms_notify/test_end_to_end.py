"""End to end: a simulated pack crosses a rule -> alert -> email (aiosmtpd), signed webhook, MQTT; then it clears."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.core import Hub
from tests.helpers import HubFactory, wait_for
from tests.plugins.trackingbms_mqtt.mqtt_helpers import (
    BROKER_HOST,
    BROKER_PORT,
    Watcher,
    clear_retained,
    port_open,
    require,
)
from tests.plugins.trackingbms_notify.alert_hub import HEAD, alerts_in, bodies, set_soc, write_rules
from tests.plugins.trackingbms_notify.conftest import ReceiverFactory, SmtpFactory
from tests.plugins.trackingbms_notify.notify_helpers import Request

SECRET = "end-to-end-secret"


def sections(base: str, smtp_port: int, hook_url: str) -> str:
    """MQTT bridge on the real broker; an email notifier in French and a webhook in English."""
    return f"""
mqtt:
  host: {BROKER_HOST}
  port: {BROKER_PORT}
  base_topic: {base}
  discovery_prefix: {base}-ha
  reconnect_min: 0.2
  reconnect_max: 1
notify:
  notifications:
    - name: mail
      kind: email
      locale: fr
      security: none
      host: 127.0.0.1
      port: {smtp_port}
      from: alerts@example.com
      to: [installer@example.com]
    - name: hook
      kind: webhook
      url: {hook_url}/alerts
      secret: {SECRET}
"""


@pytest.fixture
async def watcher() -> AsyncIterator[tuple[Watcher, str]]:
    """A watcher on a unique base topic of the real Mosquitto; retained messages removed at the end."""
    require(port_open(BROKER_HOST, BROKER_PORT), f"Mosquitto is not reachable at {BROKER_HOST}:{BROKER_PORT}")
    base = f"tbms-e2e-{uuid.uuid4().hex[:12]}"
    filters = [f"{base}/#", f"{base}-ha/#"]
    watching = Watcher()
    await watching.start(filters)
    yield watching, base
    await watching.stop()
    await clear_retained(filters)


def signed(request: Request) -> bool:
    """The receiver's check of X-TrackingBMS-Signature (docs/notifications.md)."""
    timestamp = request.headers["X-TrackingBMS-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, request.headers["X-TrackingBMS-Signature"])


async def test_a_crossing_reaches_email_webhook_and_mqtt_then_its_clear_does(
    start_hub: HubFactory,
    receivers: ReceiverFactory,
    smtp: SmtpFactory,
    watcher: tuple[Watcher, str],
    tmp_path: Path,
) -> None:
    mqtt, base = watcher
    inbox, smtp_port = await smtp()
    receiver = await receivers()
    write_rules(tmp_path)
    hub = await start_hub(HEAD + sections(base, smtp_port, receiver.url))
    await mqtt.wait(f"{base}/one/state")  # readings flow; nothing is raised at 60 % SOC
    assert await alerts_in(hub, "open") == []

    set_soc(hub, 95.0)
    raised = (await wait_for(lambda: alerts_in(hub, "open"), timeout=30))[0]
    event = await mqtt.wait(f"{base}/one/alerts/event", timeout=30)
    assert (event.json()["event"], event.json()["id"], event.json()["severity"]) == ("generated", raised.id, "critical")
    summary = await mqtt.wait(f"{base}/one/alerts/open", lambda m: m.json()["count"] == 1)
    assert summary.json()["alerts"][0]["id"] == raised.id
    await wait_for(lambda: len(receiver.completed) == 1, timeout=30)
    await wait_for(lambda: len(inbox.envelopes) == 1, timeout=30)
    hook = receiver.completed[0]
    assert hook.path == "/alerts" and signed(hook) and hook.headers["X-TrackingBMS-Event"] == "generated"
    body = bodies([hook])[0]
    assert body["alert"]["id"] == raised.id and body["locale"] == "en" and body["text"].startswith("CRITICAL")
    assert body["delivery_id"] == hook.headers["X-TrackingBMS-Delivery"]
    mail = inbox.messages()[0]
    assert mail["Subject"].startswith("[TrackingBMS] CRITIQUE - Alerte déclenchée - Pack one")
    assert mail["X-TrackingBMS-Delivery"] != body["delivery_id"]  # one delivery per notifier

    set_soc(hub, 50.0)
    await wait_for(lambda: alerts_in(hub, "cleared"), timeout=30)
    cleared = await mqtt.wait(f"{base}/one/alerts/event", lambda m: m.json()["event"] == "cleared", timeout=30)
    assert cleared.json()["id"] == raised.id
    await mqtt.wait(f"{base}/one/alerts/open", lambda m: m.json()["count"] == 0)
    await wait_for(lambda: len(receiver.completed) == 2, timeout=30)
    await wait_for(lambda: len(inbox.envelopes) == 2, timeout=30)
    assert signed(receiver.completed[1]) and bodies(receiver.completed)[1]["event"] == "cleared"
    assert inbox.messages()[1]["Subject"].startswith("[TrackingBMS] CRITIQUE - Alerte terminée - Pack one")
    await wait_for(lambda: _history_has(hub, raised.id), timeout=30)


async def _history_has(hub: Hub, alert_id: str) -> bool:
    """Both steps were notified by both notifiers, in the alert's delivery history."""
    steps = await hub.store.alert_events(alert_id)
    notified = {(s.details["notifier"], s.details["event"]) for s in steps if s.kind == "notified"}
    return notified == {("mail", "generated"), ("hook", "generated"), ("mail", "cleared"), ("hook", "cleared")}
