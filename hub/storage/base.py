"""The storage interface: every query goes through a tenant scope."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.reading import Reading

DEFAULT_TENANT = "default"


class StorageError(Exception):
    """The backend failed (disk full, database gone); the caller keeps its data and retries."""


@dataclass(frozen=True, slots=True)
class BatteryRecord:
    """A battery as the storage knows it."""

    id: str
    name: str
    driver: str


class TenantStore(abc.ABC):
    """Reads and writes within one tenant; it cannot see other tenants' rows."""

    tenant_id: str

    @abc.abstractmethod
    async def ensure_battery(self, battery_id: str, name: str, driver: str) -> None:
        """Create or update a battery row."""

    @abc.abstractmethod
    async def batteries(self) -> list[BatteryRecord]:
        """Every battery of the tenant."""

    @abc.abstractmethod
    async def write_readings(self, readings: Sequence[Reading]) -> None:
        """Store readings in one transaction; raises StorageError and stores none on failure."""

    @abc.abstractmethod
    async def latest(self, battery_id: str) -> Reading | None:
        """The newest stored reading of a battery."""

    @abc.abstractmethod
    async def history(self, battery_id: str, start: datetime | None, end: datetime | None, limit: int) -> list[Reading]:
        """Readings in [start, end], oldest first, at most ``limit`` (the newest ones)."""


class Storage(abc.ABC):
    """A backend: lifecycle, migrations and tenant scopes."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate to the newest schema."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and disconnect."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The newest applied migration."""

    @abc.abstractmethod
    def for_tenant(self, tenant_id: str) -> TenantStore:
        """A scope for one tenant's data."""
