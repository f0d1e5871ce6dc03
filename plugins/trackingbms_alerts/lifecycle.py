"""The alert lifecycle as pure functions: raised -> (reminded) -> acknowledged -> cleared, each a Decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.storage.records import AlertRecord, BatteryScope, iso
from trackingbms_alerts import messages
from trackingbms_alerts.rules import Rule

# The events this plugin publishes (docs/alerts.md; the lead adds them to hub/bus.py).
DATA_ALERT_GENERATED = "data.alert.generated"
DATA_ALERT_ACKNOWLEDGED = "data.alert.acknowledged"
DATA_ALERT_CLEARED = "data.alert.cleared"
EVENTS = {
    "raised": DATA_ALERT_GENERATED,
    "reminder": DATA_ALERT_GENERATED,
    "released": DATA_ALERT_GENERATED,
    "acknowledged": DATA_ALERT_ACKNOWLEDGED,
    "cleared": DATA_ALERT_CLEARED,
}


@dataclass(frozen=True, slots=True)
class Battery:
    """What the engine knows of a battery: its name and its place in the tenancy tree."""

    id: str
    name: str
    place: BatteryScope = field(default_factory=BatteryScope)


@dataclass(frozen=True, slots=True)
class Decision:
    """One step of an alert's life: the record after the step, whether to publish an event now, and
    the details of the history entry (``action`` is the history kind)."""

    action: str  # raised | reminder | released | acknowledged | cleared
    alert: AlertRecord
    publish: bool
    history: Mapping[str, Any] = field(default_factory=dict)

    @property
    def event(self) -> str:
        """The bus event this step publishes."""
        return EVENTS[self.action]

    @property
    def reminder(self) -> bool:
        """A reminder of an alert that is still open."""
        return self.action == "reminder"


def base_rule(alert_key: str) -> str:
    """The rule id of an alert's rule id (a BMS alarm alert is ``<rule>:<code>:<level>``)."""
    return alert_key.split(":", 1)[0]


def new_alert(
    alert_id: str,
    rule: Rule,
    battery: Battery,
    key: str,
    now: datetime,
    *,
    severity: str,
    value: float | None,
    threshold: float | None,
    message: dict[str, str],
    held: bool,
    extra: Mapping[str, Any] | None = None,
) -> Decision:
    """A raised alert; ``held`` (quiet hours) keeps its event back until the quiet hours end."""
    record = AlertRecord(
        id=alert_id,
        rule_id=key,
        kind=rule.kind,
        battery_id=battery.id,
        severity=severity,
        state="raised",
        raised_at=now,
        metric=None if rule.kind in ("stale", "bms_alarm") else rule.metric,
        value=value,
        threshold=threshold,
        message=message,
        details={
            "rule": rule.id,
            "rule_name": rule.name,
            "rule_name_fr": rule.name_fr,
            "battery_name": battery.name,
            "site_id": battery.place.site_id,
            "client_path": list(battery.place.client_path),
            "unit": rule.unit,
            "held": held,
            "announced": not held,
            "notified_at": None if held else iso(now),
            **(extra or {}),
        },
    )
    return Decision("raised", record, publish=not held, history={"value": value, "threshold": threshold, "held": held})


def _with(record: AlertRecord, **details: Any) -> dict[str, Any]:
    return {**record.details, **details}


def clear(record: AlertRecord, rule: Rule, now: datetime, value: float | None, reason: str | None = None) -> Decision:
    """The alert closed: its clear condition held, or its rule or scope went away (``reason``).

    An alert whose raise was held back by quiet hours and never announced closes silently."""
    alarm = record.details.get("alarm")
    info = (alarm["code"], alarm["level"], alarm["text"]) if isinstance(alarm, dict) else None
    text = messages.cleared(rule, str(record.details.get("battery_name", record.battery_id)), value, reason, info)
    announced = bool(record.details.get("announced", True))
    closed = record.replace(
        state="cleared",
        cleared_at=now,
        details=_with(record, held=False, clear_value=value, clear_message=text, cleared_reason=reason),
    )
    return Decision("cleared", closed, publish=announced, history={"value": value, "reason": reason})


def acknowledge(record: AlertRecord, actor: str, comment: str | None, now: datetime) -> Decision:
    """Someone took the alert in hand; this also cancels an announcement held by quiet hours."""
    acked = record.replace(
        state="acknowledged",
        acknowledged_at=now,
        acknowledged_by=actor,
        comment=comment,
        details=_with(record, held=False, announced=True),
    )
    return Decision("acknowledged", acked, publish=True, history={"by": actor, "comment": comment})


def remind(record: AlertRecord, now: datetime) -> Decision:
    """A reminder that the alert is still open."""
    count = int(record.details.get("reminders", 0)) + 1
    reminded = record.replace(details=_with(record, notified_at=iso(now), reminders=count))
    return Decision("reminder", reminded, publish=True, history={"count": count})


def release(record: AlertRecord, now: datetime) -> Decision:
    """The quiet hours ended and the alert is still raised: announce it now."""
    released = record.replace(details=_with(record, held=False, announced=True, notified_at=iso(now)))
    return Decision("released", released, publish=True, history={})


def rule_of(record: AlertRecord) -> Rule:
    """A stand-in rule with the names an alert recorded, for texts about an alert whose rule is gone."""
    details = record.details
    name = str(details.get("rule_name", base_rule(record.rule_id)))
    return Rule(
        id=base_rule(record.rule_id),
        kind=record.kind,
        name=name,
        name_fr=str(details.get("rule_name_fr", name)),
        severity=record.severity,
        scope={},
        definition={},
        metric=record.metric,
    )
