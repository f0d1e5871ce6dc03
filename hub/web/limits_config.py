"""Config keys of request rate limits and the login throttle (``http.rate_limit``), and their settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def redis_url(value: Any) -> str:
    """A Redis URL: redis://[user:password@]host[:port][/db], rediss:// (TLS) or unix://path."""
    if not isinstance(value, str) or not value.startswith(("redis://", "rediss://", "unix://")):
        raise vol.Invalid("expected a Redis URL such as redis://127.0.0.1:6379/0")
    return value


def key_prefix(value: Any) -> str:
    """A Redis key prefix: letters, digits and _ . : - (hubs sharing limits use the same one)."""
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise vol.Invalid("expected 1-64 letters, digits or _ . : -")
    return value


def _count() -> Any:
    return vol.All(vol.Coerce(int), vol.Range(min=0, max=10_000_000))


def _seconds(low: float, high: float) -> Any:
    return vol.All(vol.Coerce(float), vol.Range(min=low, max=high))


LOGIN_SCHEMA: dict[Any, Any] = {
    # Failed logins allowed without delay, per username and per source address.
    vol.Optional("free_failures", default=3): _count(),
    vol.Optional("ip_free_failures", default=20): _count(),
    # Then each failure doubles the wait, from base_delay up to max_delay (seconds).
    vol.Optional("base_delay", default=1.0): _seconds(0.001, 86400),
    vol.Optional("max_delay", default=300.0): _seconds(0.001, 86400),
    # Failures are forgotten this long after the last one.
    vol.Optional("forget_after", default=3600.0): _seconds(1, 30 * 86400),
}
RATE_LIMIT_SCHEMA: dict[Any, Any] = {
    vol.Optional("enabled", default=True): vol.Boolean(),
    # Requests to /api/ per window: per source address and per user; 0 = no limit of that kind.
    vol.Optional("per_ip", default=1000): _count(),
    vol.Optional("per_user", default=1000): _count(),
    vol.Optional("window", default=10.0): _seconds(0.1, 86400),
    # Set: the counters live in Redis, so every hub using the same Redis and prefix shares them.
    vol.Optional("redis_url", default=None): vol.Any(None, redis_url),
    vol.Optional("key_prefix", default="trackingbms"): key_prefix,
    vol.Optional("login", default={}): LOGIN_SCHEMA,
}
# Spread into the ``http:`` section of the core schema.
RATE_LIMIT_KEYS: dict[Any, Any] = {vol.Optional("rate_limit", default={}): RATE_LIMIT_SCHEMA}


@dataclass(frozen=True, slots=True)
class LoginSettings:
    """How failed logins slow down the next attempt."""

    free_failures: int = 3
    ip_free_failures: int = 20
    base_delay: float = 1.0
    max_delay: float = 300.0
    forget_after: float = 3600.0

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after ``failures`` failures of which ``free`` cost nothing: doubling, capped."""
        over = failures - free
        if over <= 0:
            return 0.0
        return min(self.base_delay * 2.0 ** min(over - 1, 64), self.max_delay)


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """The validated ``http.rate_limit`` section."""

    enabled: bool = True
    per_ip: int = 1000
    per_user: int = 1000
    window: float = 10.0
    redis_url: str | None = None
    key_prefix: str = "trackingbms"
    login: LoginSettings = LoginSettings()

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> RateLimitSettings:
        """Settings from the section (validated here too, so a partial dict gets the defaults)."""
        data = vol.Schema(RATE_LIMIT_SCHEMA)(dict(section or {}))
        return cls(**{**data, "login": LoginSettings(**data["login"])})
