"""Stored alerts, alert rules and outbox deliveries, and the tenant-scoped interface to them."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ALERT_STATES = ("raised", "acknowledged", "cleared")
SEVERITIES = ("info", "warning", "critical")


def iso(moment: datetime | None) -> str | None:
    """A UTC timestamp as stored and as the API shows it ("...Z"); None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    """The inverse of :func:`iso`."""
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert over its whole life: raised, maybe acknowledged, then cleared."""

    id: str
    rule_id: str
    kind: str  # threshold | rate | stale | bms_alarm
    battery_id: str
    severity: str  # info | warning | critical
    state: str  # raised | acknowledged | cleared
    raised_at: datetime
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    message: dict[str, str] = field(default_factory=dict)  # text per locale
    details: dict[str, Any] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    comment: str | None = None
    cleared_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Not cleared yet."""
        return self.state != "cleared"

    def replace(self, **changes: Any) -> AlertRecord:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        data = dataclasses.asdict(self)
        for key in ("raised_at", "acknowledged_at", "cleared_at"):
            data[key] = iso(getattr(self, key))
        return data


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One step of an alert's history (raised, reminder, acknowledged, cleared, notified...)."""

    alert_id: str
    kind: str
    timestamp: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {"alert_id": self.alert_id, "kind": self.kind, "timestamp": iso(self.timestamp), "details": self.details}


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A delivery waiting for its endpoint; ``key`` is its delivery id, unique per channel."""

    id: int
    channel: str
    key: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class BatteryScope:
    """Where a battery sits in the tenancy tree."""

    site_id: str | None = None
    client_path: tuple[str, ...] = ()  # from the top client down to the site's client
    timezone: str | None = None  # the site's IANA time zone (sites.timezone), when it has one


class AlertStore(abc.ABC):
    """Alerts, their history and the rules created through the API, within one tenant."""

    @abc.abstractmethod
    async def save_alert(self, alert: AlertRecord) -> None:
        """Insert or update an alert by id; StorageError if another alert of the same rule and
        battery is still open (one open alert per rule and battery)."""

    @abc.abstractmethod
    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        """One alert by id, or None (also for another tenant's alert)."""

    @abc.abstractmethod
    async def alerts(
        self,
        *,
        battery_id: str | None = None,
        battery_ids: Collection[str] | None = None,
        state: str | None = None,
        severity: str | None = None,
        rule_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[AlertRecord], int]:
        """Alerts, newest raised first, with the total count. ``state`` is one of ALERT_STATES or
        "open" (not cleared); start/end bound ``raised_at``; ``battery_ids`` keeps only those
        batteries' alerts (the ones a caller may see; empty = none)."""

    @abc.abstractmethod
    async def add_alert_event(self, alert_id: str, kind: str, details: dict[str, Any] | None = None) -> None:
        """Append a step to an alert's history."""

    @abc.abstractmethod
    async def alert_events(self, alert_id: str) -> list[AlertEvent]:
        """An alert's history, oldest first."""

    @abc.abstractmethod
    async def save_rule(self, rule_id: str, definition: dict[str, Any]) -> None:
        """Create or replace a rule made through the API."""

    @abc.abstractmethod
    async def rules(self) -> dict[str, dict[str, Any]]:
        """Every rule made through the API, by id."""

    @abc.abstractmethod
    async def delete_rule(self, rule_id: str) -> bool:
        """Delete a rule; False when there was none."""


class OutboxStore(abc.ABC):
    """Deliveries kept until their endpoint took them, within one tenant."""

    @abc.abstractmethod
    async def outbox_add(self, channel: str, key: str, payload: dict[str, Any]) -> int:
        """Queue a delivery (due now); adding the same key twice keeps the first. Returns its id."""

    @abc.abstractmethod
    async def outbox_due(self, channel: str, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Undelivered items of a channel due at ``now``, in the order they were added."""

    @abc.abstractmethod
    async def outbox_pending(self, channel: str) -> list[OutboxItem]:
        """Every undelivered item of a channel, due or not, in the order they were added."""

    @abc.abstractmethod
    async def outbox_retry(self, item_id: int, next_attempt_at: datetime, error: str) -> None:
        """Record a failed attempt and when to try again."""

    @abc.abstractmethod
    async def outbox_done(self, item_id: int) -> None:
        """Mark an item delivered (kept for a while as delivery history)."""


class ScopeStore(abc.ABC):
    """The tenancy tree as far as readings and alerts need it."""

    @abc.abstractmethod
    async def battery_scope(self, battery_id: str) -> BatteryScope:
        """The battery's site and client path; empty when it is not placed in the tree."""
