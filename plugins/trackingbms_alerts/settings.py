"""The ``alerts:`` section of the hub's config file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol

from trackingbms_alerts.engine import Policy
from trackingbms_alerts.validators import duration, positive_duration, timezone
from trackingbms_alerts.windows import WINDOW_SCHEMA, Calendar, window_from

CONFIG_SCHEMA: dict[Any, Any] = {
    vol.Optional("enabled", default=True): vol.Boolean(),
    # Relative to the directory of the main config file.
    vol.Optional("rules_dir", default="alerts"): str,
    vol.Optional("reminder_interval", default="1h"): duration,
    vol.Optional("remind_acknowledged", default=False): vol.Boolean(),
    vol.Optional("timezone", default=None): vol.Any(None, timezone),
    vol.Optional("quiet_hours", default=[]): [WINDOW_SCHEMA],
    vol.Optional("maintenance", default=[]): [WINDOW_SCHEMA],
    # How often freshness, reminders and the end of quiet hours are checked.
    vol.Optional("check_interval", default="1s"): vol.All(positive_duration, vol.Range(min=0.05, max=3600)),
    # How often a battery's place in the tenancy tree (site, clients) is looked up again.
    vol.Optional("scope_refresh", default="5m"): positive_duration,
    vol.Optional("queue_size", default=1000): vol.All(vol.Coerce(int), vol.Range(min=10, max=1_000_000)),
    # How long the test endpoints look back when a rule needs history (rate windows, delays).
    vol.Optional("test_lookback", default="1h"): positive_duration,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated section."""

    enabled: bool = True
    rules_dir: str = "alerts"
    reminder_interval: float = 3600.0
    remind_acknowledged: bool = False
    timezone: str | None = None
    calendar: Calendar = field(default_factory=Calendar)
    check_interval: float = 1.0
    scope_refresh: float = 300.0
    queue_size: int = 1000
    test_lookback: float = 3600.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Settings from the section (validated again: validation is idempotent and fills defaults)."""
        data: dict[str, Any] = vol.Schema(CONFIG_SCHEMA)(dict(config))
        tz = data.get("timezone")
        calendar = Calendar(
            quiet_hours=tuple(window_from(w) for w in data.get("quiet_hours", [])),
            maintenance=tuple(window_from(w) for w in data.get("maintenance", [])),
            timezone=tz,
        )
        return cls(
            enabled=data.get("enabled", True),
            rules_dir=data.get("rules_dir", "alerts"),
            reminder_interval=float(data.get("reminder_interval", 3600.0)),
            remind_acknowledged=data.get("remind_acknowledged", False),
            timezone=tz,
            calendar=calendar,
            check_interval=float(data.get("check_interval", 1.0)),
            scope_refresh=float(data.get("scope_refresh", 300.0)),
            queue_size=int(data.get("queue_size", 1000)),
            test_lookback=float(data.get("test_lookback", 3600.0)),
        )

    def policy(self) -> Policy:
        """The engine's lifecycle policy."""
        return Policy(self.calendar, self.reminder_interval, self.remind_acknowledged)

    def rules_path(self, config_file: Path) -> Path:
        """The rules directory: absolute, or relative to the config file's directory."""
        path = Path(self.rules_dir).expanduser()
        return path if path.is_absolute() else config_file.parent / path
