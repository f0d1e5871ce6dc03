"""The retained open-alert summary includes alerts already open in storage when the bridge starts."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.storage.records import AlertRecord
from tests.plugins.trackingbms_mqtt.conftest import BridgeEnv
from tests.plugins.trackingbms_mqtt.mqtt_helpers import retained_when


def stored(alert_id: str, rule_id: str, state: str) -> AlertRecord:
    return AlertRecord(
        id=alert_id,
        rule_id=rule_id,
        kind="threshold",
        battery_id="one",
        severity="warning",
        state=state,
        raised_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        metric="soc",
        value=95.0,
        threshold=90.0,
        message={"en": "SOC high", "fr": "SOC élevé"},
        details={"rule_name": "SOC high", "unit": "%"},
        cleared_at=datetime(2026, 11, 24, 12, 5, tzinfo=UTC) if state == "cleared" else None,
    )


async def test_alerts_open_before_the_bridge_started_are_in_the_summary(env: BridgeEnv) -> None:
    hub = await env.start()
    # Raised while the bridge did not run (the alerts plugin starts first, or the section reloaded):
    await hub.store.save_alert(stored("open-1", "soc-high", "acknowledged"))
    await hub.store.save_alert(stored("gone-1", "soc-low", "cleared"))
    await hub.reload_section("mqtt")
    topic = f"{env.base}/one/alerts/open"

    def has_the_open_alert(found: dict[str, bytes]) -> bool:
        return b'"count":1' in found.get(topic, b"")

    snapshot = await retained_when([topic], has_the_open_alert)
    assert b'"id":"open-1"' in snapshot[topic] and b"gone-1" not in snapshot[topic]
    assert b'"highest_severity":"warning"' in snapshot[topic] and b'"text":"SOC high"' in snapshot[topic]
