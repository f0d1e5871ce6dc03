"""Retention per storage class and the background task that compacts raw readings and prunes what expired.

Config (``storage.retention``): ``raw_days`` (30), ``rollup_5m_days`` (365), ``rollup_1h_days``,
``rollup_1d_days``, ``rollup_1mo_days`` (None = forever) and ``prune_interval`` (s, 3600). A
class never keeps less than the finer class it is rebuilt from, so a rebuild always finds the
finer rows it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from hub.reading import utc_now

if TYPE_CHECKING:
    from hub.storage.base import Storage

_LOGGER = logging.getLogger(__name__)
# Config key -> storage class ("raw" readings or a rollup class), finest first.
CLASS_KEYS = {
    "raw_days": "raw",
    "rollup_5m_days": "5m",
    "rollup_1h_days": "1h",
    "rollup_1d_days": "1d",
    "rollup_1mo_days": "1mo",
}
DEFAULT_DAYS: dict[str, float | None] = {"raw": 30, "5m": 365, "1h": None, "1d": None, "1mo": None}
# Raw readings of an hour are compacted once the hour ended this long ago: a reading that arrives
# later (a driver's buffer, a replay) is still stored, as a row folded in at the next run.
COMPACT_GRACE = timedelta(minutes=10)
_DAYS = vol.Any(None, vol.All(vol.Coerce(float), vol.Range(min=1, max=365_000)))


def _finer_keeps_less(section: dict[str, Any]) -> dict[str, Any]:
    for fine, coarse in itertools.pairwise(CLASS_KEYS):
        kept_fine, kept_coarse = section[fine], section[coarse]
        if kept_coarse is not None and (kept_fine is None or kept_fine > kept_coarse):
            message = f"must be at least {fine} (a class is rebuilt from the finer one)"
            raise vol.Invalid(message, path=[coarse])
    return section


RETENTION_SCHEMA: Any = vol.All(
    {
        **{vol.Optional(key, default=DEFAULT_DAYS[name]): _DAYS for key, name in CLASS_KEYS.items()},
        vol.Optional("prune_interval", default=3600.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=86_400)),
    },
    _finer_keeps_less,
)


@dataclass(frozen=True, slots=True)
class Retention:
    """Days kept per class (None = forever), how often to prune, and rows deleted per transaction."""

    days: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_DAYS))
    interval_s: float = 3600.0
    chunk: int = 5000

    @classmethod
    def from_config(cls, storage_section: Mapping[str, Any]) -> Retention:
        """From the ``storage`` config section (its ``retention`` mapping may be absent)."""
        section = vol.Schema(RETENTION_SCHEMA)(dict(storage_section.get("retention") or {}))
        days = {name: section[key] for key, name in CLASS_KEYS.items()}
        return cls(days=days, interval_s=section["prune_interval"])

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per class with a limit: rows older than this are expired."""
        return {name: now - timedelta(days=days) for name, days in self.days.items() if days is not None}


@dataclass(frozen=True, slots=True)
class MaintenanceOutcome:
    """One background run: readings compacted and rows pruned per class, or why it failed."""

    finished_at: datetime
    compacted: int = 0
    pruned: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None


class Pruner:
    """Compacts and deletes expired rows now and then; started and stopped with the storage.

    ``on_result`` (set by the hub) hears of every background run, failed ones included.
    """

    def __init__(self, storage: Storage, retention: Retention, *, first_delay: float = 60.0) -> None:
        self.storage = storage
        self.retention = retention
        self.first_delay = first_delay
        self.last_result: dict[str, int] = {}
        self.last_compacted = 0
        self.on_result: Callable[[MaintenanceOutcome], None] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run in the background: first after ``first_delay`` seconds, then every interval."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="core.storage.pruner")

    async def stop(self) -> None:
        """Cancel the background task (a chunk in progress is rolled back or committed whole)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """Compact the raw readings of the hours closed by ``now`` (less a grace period for late
        readings), then prune everything expired at ``now``; rows deleted per class."""
        now = now or utc_now()
        self.last_compacted = await self.storage.compact(now - COMPACT_GRACE)
        if self.last_compacted:
            _LOGGER.info("Compacted %d raw readings into hourly chunks", self.last_compacted)
        result = await self.storage.prune(self.retention.cutoffs(now), self.retention.chunk)
        self.last_result = result
        if any(result.values()):
            _LOGGER.info("Retention pruned %s", ", ".join(f"{n} {name}" for name, n in result.items() if n))
        return result

    async def run_and_report(self, now: datetime | None = None) -> MaintenanceOutcome:
        """:meth:`run_once`, its outcome told to ``on_result``; a failure is logged, not raised
        (the next interval retries)."""
        try:
            pruned = await self.run_once(now)
        except Exception as err:
            _LOGGER.exception("Storage maintenance (compaction and retention) failed")
            outcome = MaintenanceOutcome(utc_now(), self.last_compacted, error=f"{type(err).__name__}: {err}")
        else:
            outcome = MaintenanceOutcome(utc_now(), self.last_compacted, pruned)
        if self.on_result is not None:
            self.on_result(outcome)
        return outcome

    async def _run(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            await self.run_and_report()
            await asyncio.sleep(self.retention.interval_s)
