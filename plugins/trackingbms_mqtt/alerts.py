"""Alert events (the alerts plugin's ``data.alert.*`` contract) as MQTT payloads, and each battery's open alerts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.reading import utc_now
from hub.storage.records import AlertRecord, iso

EVENT_PREFIX = "data.alert."
ALERT_EVENTS = ("data.alert.generated", "data.alert.acknowledged", "data.alert.cleared")
SEVERITIES = ("info", "warning", "critical")  # lowest to highest
_SUMMARY_KEYS = ("id", "rule_id", "rule_name", "kind", "severity", "state", "metric", "value", "threshold", "unit")


def localized(message: Any, locale: str) -> str | None:
    """The alert text in the wanted locale, else English, else any; None without text."""
    if not isinstance(message, Mapping) or not message:
        return None
    text = message.get(locale) or message.get(locale.split("-")[0]) or message.get("en")
    return str(text if text is not None else next(iter(message.values())))


def event_payload(event_name: str, data: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """The contract's payload, plus ``event`` (generated, acknowledged, cleared) and ``text`` in the locale."""
    return {"event": event_name.removeprefix(EVENT_PREFIX), "text": localized(data.get("message"), locale), **data}


def _iso_now() -> str:
    return utc_now().isoformat().replace("+00:00", "Z")


def record_event(record: AlertRecord) -> dict[str, Any]:
    """The contract keys the open-alert summary reads, from a stored alert (sequence 0: any event is newer)."""
    details = record.details
    return {
        "id": record.id,
        "battery_id": record.battery_id,
        "rule_id": record.rule_id,
        "rule_name": details.get("rule_name", record.rule_id),
        "kind": record.kind,
        "severity": record.severity,
        "state": record.state,
        "metric": record.metric,
        "value": record.value,
        "threshold": record.threshold,
        "unit": details.get("unit"),
        "message": dict(record.message),
        "raised_at": iso(record.raised_at),
        "acknowledged_at": iso(record.acknowledged_at),
        "sequence": 0,
    }


class OpenAlerts:
    """The alerts of each battery that are raised or acknowledged and not yet cleared.

    Seeded from storage when the bridge starts (alerts raised before it, or while it reloaded), then
    kept up by the events. ``sequence`` keeps a late older event from undoing a newer.
    """

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._open: dict[str, dict[str, dict[str, Any]]] = {}
        self._sequence: dict[str, int] = {}

    def apply(self, event_name: str, data: Mapping[str, Any]) -> bool:
        """Update from one event; False when it was older than one already applied for that alert."""
        alert_id, battery = str(data["id"]), str(data["battery_id"])
        sequence = int(data.get("sequence") or 0)
        if sequence and sequence < self._sequence.get(alert_id, 0):
            return False
        self._sequence[alert_id] = max(sequence, self._sequence.get(alert_id, 0))
        alerts = self._open.setdefault(battery, {})
        if event_name.endswith(".cleared") or data.get("state") == "cleared":
            alerts.pop(alert_id, None)
        else:
            alerts[alert_id] = {key: data.get(key) for key in _SUMMARY_KEYS}
            alerts[alert_id].update(
                text=localized(data.get("message"), self.locale),
                raised_at=data.get("raised_at"),
                acknowledged_at=data.get("acknowledged_at"),
            )
        return True

    def seed(self, data: Mapping[str, Any]) -> bool:
        """Add a stored open alert unless an event about it was applied already (that one is newer)."""
        if str(data["id"]) in self._sequence:
            return False
        return self.apply("data.alert.generated", data)

    def summary(self, battery_id: str) -> dict[str, Any]:
        """The retained ``alerts/open`` payload of a battery."""
        alerts = sorted(self._open.get(battery_id, {}).values(), key=lambda a: str(a.get("raised_at") or ""))
        severities = [a["severity"] for a in alerts if a.get("severity") in SEVERITIES]
        highest = max(severities, key=SEVERITIES.index) if severities else None
        return {
            "battery_id": battery_id,
            "count": len(alerts),
            "highest_severity": highest,
            "alerts": alerts,
            "updated_at": _iso_now(),
        }
