"""Service registry: every module the hub runs, with its health (ok / degraded / failed)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.bus import SYSTEM_MODULE_HEALTH_CHANGED, EventBus
from hub.reading import utc_now


class Health(enum.StrEnum):
    """A module's health."""

    STARTING = "starting"
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"
    STOPPED = "stopped"
    DISABLED = "disabled"


@dataclass(slots=True)
class Service:
    """One registered module: a plugin, a battery link, the recorder, the web server."""

    name: str
    kind: str
    health: Health = Health.STARTING
    reason: str | None = None
    since: datetime = field(default_factory=utc_now)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for the services endpoint."""
        return {
            "name": self.name,
            "kind": self.kind,
            "health": self.health.value,
            "reason": self.reason,
            "since": self.since.isoformat().replace("+00:00", "Z"),
            "details": self.details,
        }


class ServiceRegistry:
    """Keeps the services and publishes system.module.health_changed when one changes."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._services: dict[str, Service] = {}

    def register(self, name: str, kind: str, health: Health = Health.STARTING) -> Service:
        """Add (or reset) a service."""
        service = Service(name, kind, health)
        self._services[name] = service
        return service

    def set_health(self, name: str, health: Health, reason: str | None = None, **details: Any) -> None:
        """Change a service's health; publishes an event only on a real change."""
        service = self._services.get(name) or self.register(name, "module")
        if details:
            service.details.update(details)
        if service.health == health and service.reason == reason:
            return
        previous = service.health
        service.health, service.reason, service.since = health, reason, utc_now()
        self._bus.publish(
            SYSTEM_MODULE_HEALTH_CHANGED,
            {"name": name, "kind": service.kind, "health": health.value, "previous": previous.value, "reason": reason},
        )

    def get(self, name: str) -> Service | None:
        """One service by name."""
        return self._services.get(name)

    def remove(self, name: str) -> None:
        """Forget a service (a battery removed at runtime)."""
        self._services.pop(name, None)

    def all(self) -> list[Service]:
        """Every service, sorted by name."""
        return sorted(self._services.values(), key=lambda s: s.name)

    def overall(self) -> Health:
        """The hub's health: failed if a core service failed, degraded if anything is not ok."""
        states = [s.health for s in self._services.values() if s.health != Health.DISABLED]
        if any(s.health == Health.FAILED for s in self._services.values() if s.kind == "core"):
            return Health.FAILED
        if any(h in (Health.FAILED, Health.DEGRADED) for h in states):
            return Health.DEGRADED
        return Health.OK
