"""The core config schema and validation of a whole config against core and plugin schemas."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from hub.auth.config import AUTH_SCHEMA
from hub.config.loader import ConfigError, ConfigIssue, LoadedConfig
from hub.plugins import PluginManager
from hub.storage.backup import BACKUP_SCHEMA
from hub.storage.pg_settings import POSTGRES_KEYS
from hub.storage.retention import RETENTION_SCHEMA
from hub.web.limits_config import RATE_LIMIT_KEYS
from hub.web.settings import GATEWAY_KEYS

CORE_SECTIONS = ("hub", "http", "logging", "storage", "auth", "plugins", "simulators", "batteries")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def battery_id(value: Any) -> str:
    """A battery id: lower-case letters, digits, '-' and '_' (it appears in URLs)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise vol.Invalid("expected an id of lower-case letters, digits, '-' or '_' (max 64)")
    return value


def device_path(value: Any) -> str:
    """A serial device: a path (/dev/ttyUSB0, a pty link) or a pyserial URL (socket://h:p)."""
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\0\n"):
        raise vol.Invalid("expected a serial device path")
    return value


def byte_value(value: Any) -> int:
    """An int 0..255, given as a number or a hex string such as '0x40'."""
    try:
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError) as err:
        raise vol.Invalid("expected a byte such as 0x40") from err
    if isinstance(value, bool) or not 0 <= number <= 255:
        raise vol.Invalid("expected a byte such as 0x40")
    return number


ROLES = ("all", "edge", "central")

CORE_SCHEMA: dict[Any, Any] = {
    vol.Optional("hub", default={}): {
        vol.Optional("name", default="TrackingBMS"): str,
        vol.Optional("data_dir", default="data"): str,
        # DESIGN §8: all (poll, process, store, serve), edge (poll and forward), central (ingest, store, serve).
        vol.Optional("role", default="all"): vol.In(ROLES),
        vol.Optional("shutdown_timeout", default=10.0): vol.All(vol.Coerce(float), vol.Range(min=0.5)),
    },
    vol.Optional("http", default={}): {
        vol.Optional("enabled", default=True): vol.Boolean(),
        vol.Optional("host", default="127.0.0.1"): str,
        vol.Optional("port", default=8080): vol.All(vol.Coerce(int), vol.Range(min=0, max=65535)),
        **GATEWAY_KEYS,  # cors, security_headers, request_log (hub/web/settings.py)
        **RATE_LIMIT_KEYS,  # rate_limit: per_ip, per_user, window, redis_url, login (hub/web/limits_config.py)
    },
    vol.Optional("logging", default={}): {
        vol.Optional("level", default="INFO"): vol.All(vol.Upper, vol.In(LOG_LEVELS)),
        vol.Optional("format", default="text"): vol.In(["text", "json"]),
        vol.Optional("file", default="logs/trackingbms.log"): vol.Any(None, str),
        vol.Optional("max_bytes", default=5_000_000): vol.All(vol.Coerce(int), vol.Range(min=10_000)),
        vol.Optional("backup_count", default=5): vol.All(vol.Coerce(int), vol.Range(min=0, max=100)),
        vol.Optional("ring_size", default=5000): vol.All(vol.Coerce(int), vol.Range(min=100, max=1_000_000)),
        vol.Optional("levels", default={}): {str: vol.All(vol.Upper, vol.In(LOG_LEVELS))},
    },
    vol.Optional("storage", default={}): {
        vol.Optional("backend", default="sqlite"): vol.In(["sqlite", "postgresql"]),
        vol.Optional("path", default="trackingbms.db"): str,  # sqlite: the file under hub.data_dir
        **POSTGRES_KEYS,  # postgresql: dsn or host/port/user/password/database, schema, pool sizes
        vol.Optional("batch_size", default=500): vol.All(vol.Coerce(int), vol.Range(min=1, max=100_000)),
        vol.Optional("flush_interval", default=1.0): vol.All(vol.Coerce(float), vol.Range(min=0.01, max=60)),
        vol.Optional("queue_size", default=10_000): vol.All(vol.Coerce(int), vol.Range(min=10)),
        vol.Optional("backups", default={}): BACKUP_SCHEMA,
        vol.Optional("retention", default={}): RETENTION_SCHEMA,
    },
    vol.Optional("auth", default={}): AUTH_SCHEMA,  # login, tokens and cookies (hub/auth/config.py)
    vol.Optional("plugins", default={}): {vol.Optional("disabled", default=[]): [str]},
}

_BATTERY_BASE: dict[Any, Any] = {
    vol.Required("id"): battery_id,
    vol.Optional("name"): str,
    vol.Required("driver"): str,
    vol.Optional("poll_interval", default=5.0): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=86400)),
    vol.Optional("enabled", default=True): vol.Boolean(),
    # Silence (s) after a reading with no current before the link shows "asleep", not "offline".
    # Control writes (MOSFETs, SOC, restart) are off unless enabled per battery.
    vol.Optional("control", default=False): vol.Boolean(),
    vol.Optional("asleep_after", default=120.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=86400)),
}


def _battery_validator(plugins: PluginManager) -> Any:
    def validate(entry: Any) -> Any:
        if not isinstance(entry, dict):
            raise vol.Invalid("expected a mapping with id and driver")
        base = vol.Schema(_BATTERY_BASE, extra=vol.ALLOW_EXTRA)(entry)
        spec = plugins.drivers.get(base["driver"])
        if spec is None:
            known = ", ".join(plugins.drivers.names()) or "none"
            raise vol.Invalid(f"unknown driver {base['driver']!r} (available: {known})", path=["driver"])
        result = vol.Schema({**_BATTERY_BASE, **spec.schema})(entry)
        result.setdefault("name", result["id"])
        return result

    return validate


def _simulator_validator(plugins: PluginManager) -> Any:
    def validate(entry: Any) -> Any:
        if not isinstance(entry, dict):
            raise vol.Invalid("expected a mapping with kind and link")
        kind = vol.Schema({vol.Required("kind"): str}, extra=vol.ALLOW_EXTRA)(entry)["kind"]
        spec = plugins.simulators.get(kind)
        if spec is None:
            known = ", ".join(plugins.simulators.names()) or "none"
            raise vol.Invalid(f"unknown simulator {kind!r} (available: {known})", path=["kind"])
        return vol.Schema({vol.Required("kind"): str, **spec.schema})(entry)

    return validate


def build_schema(plugins: PluginManager) -> vol.Schema:
    """The schema of a whole config file: core sections plus one section per plugin."""
    schema: dict[Any, Any] = dict(CORE_SCHEMA)
    schema[vol.Optional("batteries", default=[])] = [_battery_validator(plugins)]
    schema[vol.Optional("simulators", default=[])] = [_simulator_validator(plugins)]
    for name, info in plugins.plugins.items():
        section = plugins.schemas.get(name, {})
        # A disabled or broken plugin keeps its section accepted as-is so disabling is cheap.
        schema[vol.Optional(name, default={})] = section if info.state == "loaded" else object
    return vol.Schema(schema)


def validate_config(loaded: LoadedConfig, plugins: PluginManager) -> dict[str, Any]:
    """Validate expanded config data; raises ConfigError listing every issue with its line."""
    try:
        result: dict[str, Any] = build_schema(plugins)(loaded.data)
    except vol.MultipleInvalid as err:
        raise ConfigError(sorted((_issue(loaded, e) for e in err.errors), key=lambda i: (i.line or 0, i.path))) from err
    issues = _duplicate_ids(loaded, result.get("batteries", []))
    issues += _central_polls_nothing(loaded, result)
    if issues:
        raise ConfigError(issues)
    return result


def _issue(loaded: LoadedConfig, err: vol.Invalid) -> ConfigIssue:
    message = err.error_message or str(err.msg)
    if message == "extra keys not allowed":
        message = "unknown key" if len(err.path) > 1 else "unknown section (no plugin provides it)"
    return loaded.issue(err.path, message)


def _duplicate_ids(loaded: LoadedConfig, batteries: list[Mapping[str, Any]]) -> list[ConfigIssue]:
    seen: set[str] = set()
    issues = []
    for index, entry in enumerate(batteries):
        if entry["id"] in seen:
            issues.append(loaded.issue(["batteries", index, "id"], f"duplicate battery id {entry['id']!r}"))
        seen.add(entry["id"])
    return issues


def _central_polls_nothing(loaded: LoadedConfig, data: Mapping[str, Any]) -> list[ConfigIssue]:
    """A central hub's batteries are its edges'; it polls none and runs no simulator."""
    if data.get("hub", {}).get("role") != "central":
        return []
    return [
        loaded.issue([section], f"a central hub (hub.role: central) has no {section}: configure them on an edge hub")
        for section in ("batteries", "simulators")
        if data.get(section)
    ]


def validate_section(loaded: LoadedConfig, plugins: PluginManager, name: str, value: Any) -> dict[str, Any]:
    """Validate the whole config with one section replaced (for PUT /core/config/{module})."""
    if name not in CORE_SECTIONS and name not in plugins.plugins:
        raise ConfigError([ConfigIssue(loaded.display_path, None, name, "unknown section")])
    candidate = LoadedConfig(loaded.path, loaded.raw, {**loaded.data, name: value})
    return validate_config(candidate, plugins)
