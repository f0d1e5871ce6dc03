"""The event payload of the alerts contract (docs/alerts.md, /work/briefs/alerts_contract.md)."""

from __future__ import annotations

from typing import Any

from hub.storage.records import AlertRecord, iso
from trackingbms_alerts import messages
from trackingbms_alerts.lifecycle import Decision, base_rule


def event_message(decision: Decision) -> dict[str, str]:
    """The one-line text per locale of a step: the raise text, or the reminder / ack / clear text."""
    alert = decision.alert
    if decision.action == "cleared":
        text = alert.details.get("clear_message")
        return dict(text) if isinstance(text, dict) else dict(alert.message)
    if decision.action == "reminder":
        return messages.reminder(alert.message)
    if decision.action == "acknowledged":
        return messages.acknowledged(alert.message, alert.acknowledged_by or "?")
    return dict(alert.message)


def _value(decision: Decision) -> float | None:
    if decision.action == "cleared":
        value = decision.alert.details.get("clear_value")
        return None if value is None else float(value)
    return decision.alert.value


def alert_payload(alert: AlertRecord, tenant_id: str) -> dict[str, Any]:
    """Every contract key of an alert that does not depend on the step being published."""
    details = alert.details
    return {
        "id": alert.id,
        "tenant_id": tenant_id,
        "rule_id": alert.rule_id,
        "rule_name": str(details.get("rule_name", base_rule(alert.rule_id))),
        "kind": alert.kind,
        "battery_id": alert.battery_id,
        "battery_name": str(details.get("battery_name", alert.battery_id)),
        "site_id": details.get("site_id"),
        "client_path": list(details.get("client_path") or []),
        "severity": alert.severity,
        "state": alert.state,
        "metric": alert.metric,
        "value": alert.value,
        "threshold": alert.threshold,
        "unit": details.get("unit"),
        "message": dict(alert.message),
        "raised_at": iso(alert.raised_at),
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "comment": alert.comment,
        "cleared_at": iso(alert.cleared_at),
    }


def event_payload(decision: Decision, tenant_id: str, sequence: int) -> dict[str, Any]:
    """The ``event.data`` of a published alert event: a plain JSON-ready dict with every contract key."""
    return {
        **alert_payload(decision.alert, tenant_id),
        "value": _value(decision),
        "message": event_message(decision),
        "reminder": decision.reminder,
        "sequence": sequence,
    }
