"""The storage interface: every query goes through a tenant scope."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.reading import Reading, utc_now
from hub.storage.audit import AuditQuery
from hub.storage.records import AlertStore, OutboxStore, ScopeStore
from hub.storage.rollups import Bucket, Sample
from hub.storage.tenancy import TenancyStore, TenantDirectory

DEFAULT_TENANT = "default"


class StorageError(Exception):
    """The backend failed (disk full, database gone); the caller keeps its data and retries."""


@dataclass(frozen=True, slots=True)
class BatteryRecord:
    """A battery as the storage knows it."""

    id: str
    name: str
    driver: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited write: who did what to which target, the target before and after, and how it ended."""

    actor: str  # username; "local" with auth off, "anonymous" unauthenticated, or a service ("mqtt")
    action: str
    target: str
    result: str  # ok | failed | rejected
    request: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    source_ip: str | None = None
    timestamp: datetime = field(default_factory=utc_now)
    user_id: str | None = None
    request_id: str | None = None
    before: Any = None  # JSON-ready state of the target before the write (None: not recorded)
    after: Any = None
    tenant_id: str | None = None  # set on entries read back (the store's tenant is written)
    id: int | None = field(default=None, compare=False)  # set on entries read back

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "id": self.id,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "tenant_id": self.tenant_id,
            "actor": self.actor,
            "user_id": self.user_id,
            "source_ip": self.source_ip,
            "request_id": self.request_id,
            "action": self.action,
            "target": self.target,
            "request": self.request,
            "result": self.result,
            "details": self.details,
            "before": self.before,
            "after": self.after,
        }


class TenantStore(AlertStore, OutboxStore, ScopeStore, TenancyStore, abc.ABC):
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
    async def load_state(self, battery_id: str, key: str) -> dict[str, Any] | None:
        """A processor's saved state for a battery (JSON object), or None."""

    @abc.abstractmethod
    async def save_state(self, battery_id: str, key: str, value: dict[str, Any]) -> None:
        """Save (replace) a processor's state for a battery; committed before returning."""

    @abc.abstractmethod
    async def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit entry (committed before returning)."""

    @abc.abstractmethod
    async def audit(
        self, limit: int, offset: int = 0, target: str | None = None, query: AuditQuery | None = None
    ) -> tuple[list[AuditEntry], int]:
        """This tenant's audit entries matching ``query`` (and ``target``), newest first, with the total count."""

    @abc.abstractmethod
    def iter_audit(self, query: AuditQuery | None = None, chunk: int = 500) -> AsyncIterator[list[AuditEntry]]:
        """This tenant's audit entries matching ``query``, newest first, ``chunk`` at a time (exports)."""

    @abc.abstractmethod
    async def history(self, battery_id: str, start: datetime | None, end: datetime | None, limit: int) -> list[Reading]:
        """Readings in [start, end], oldest first, at most ``limit`` (the newest ones)."""

    @abc.abstractmethod
    async def data_start(self, battery_id: str) -> dict[str, datetime]:
        """The oldest row per table holding any: ``raw`` (reading time) and each rollup class (bucket start)."""

    @abc.abstractmethod
    async def count_rows(self, battery_id: str, resolution: str, start: datetime | None, end: datetime | None) -> int:
        """Rows of ``raw`` readings or of a rollup class (by bucket start) in [start, end]."""

    @abc.abstractmethod
    def iter_samples(
        self, battery_id: str, start: datetime | None, end: datetime | None, chunk: int = 5000
    ) -> AsyncIterator[list[Sample]]:
        """Raw readings in [start, end] reduced to their metrics, oldest first, ``chunk`` at a time."""

    @abc.abstractmethod
    def iter_buckets(
        self, battery_id: str, resolution: str, start: datetime | None, end: datetime | None, chunk: int = 5000
    ) -> AsyncIterator[list[Bucket]]:
        """Rollup buckets of a class whose start lies in [start, end], oldest first, ``chunk`` at a time."""

    @abc.abstractmethod
    async def rebuild_rollups(self, battery_id: str, start: datetime | None = None, end: datetime | None = None) -> int:
        """Recompute every class's buckets over [start, end] from the raw readings still stored.

        Buckets before the oldest stored reading are left as they are. Returns the number of
        5-minute buckets written.
        """


class Storage(TenantDirectory, abc.ABC):
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

    @abc.abstractmethod
    async def audit_entries(self, query: AuditQuery, limit: int, offset: int = 0) -> tuple[list[AuditEntry], int]:
        """Audit entries of every tenant (or ``query.tenant``), newest first, with the total count:
        for system administrators only (tenant users read through their TenantStore)."""

    @abc.abstractmethod
    def iter_audit_entries(self, query: AuditQuery, chunk: int = 500) -> AsyncIterator[list[AuditEntry]]:
        """Audit entries of every tenant (or ``query.tenant``), newest first, ``chunk`` at a time."""

    @abc.abstractmethod
    async def compact(self, before: datetime, chunk: int = 10_000) -> int:
        """Fold every battery's raw readings of the hours that ended by ``before`` into one
        compressed chunk per hour (about ``chunk`` readings per transaction); readings folded.
        Reads give the same readings before and after; a reading written later into a compacted
        hour is kept as a row and folded in by the next call."""

    @abc.abstractmethod
    async def prune(self, cutoffs: Mapping[str, datetime], chunk: int = 5000) -> dict[str, int]:
        """Delete rows older than their class's cutoff (``raw`` or a rollup class), ``chunk`` rows per
        transaction; rows deleted per class. Retention is maintenance over every tenant alike: it
        reads no data and returns only counts."""
