"""PostgreSQL connection settings: the ``storage`` config keys of the postgresql backend."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import voluptuous as vol

# A schema name used unquoted in SQL and in search_path: lower-case, as PostgreSQL folds names.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CONNECT_TIMEOUT = 10.0  # seconds to reach the server before the storage gives up


def schema_name(value: Any) -> str | None:
    """A PostgreSQL schema name (or None: the server's search_path, usually ``public``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SCHEMA_NAME.match(value) or value.startswith("pg_"):
        raise vol.Invalid("expected a schema name of lower-case letters, digits and '_' (max 63, not pg_...)")
    return value


_OPTIONAL_STR = vol.Any(None, vol.All(str, vol.Length(min=1)))

# The PostgreSQL keys of the ``storage`` section (the sqlite backend ignores them). Connection
# parameters left out come from the libpq environment (PGHOST, PGUSER, PGPASSWORD, ...), and the
# separate keys override the matching parts of ``dsn``.
POSTGRES_KEYS: dict[Any, Any] = {
    vol.Optional("dsn", default=None): _OPTIONAL_STR,
    vol.Optional("host", default=None): _OPTIONAL_STR,
    vol.Optional("port", default=None): vol.Any(None, vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))),
    vol.Optional("user", default=None): _OPTIONAL_STR,
    vol.Optional("password", default=None): vol.Any(None, str),
    vol.Optional("database", default=None): _OPTIONAL_STR,
    vol.Optional("schema", default=None): schema_name,
    vol.Optional("pool_min_size", default=1): vol.All(vol.Coerce(int), vol.Range(min=0, max=1000)),
    vol.Optional("pool_max_size", default=10): vol.All(vol.Coerce(int), vol.Range(min=1, max=1000)),
}


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """Where the PostgreSQL database is and how many connections the hub keeps to it."""

    dsn: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    database: str | None = None
    schema: str | None = None
    min_size: int = 1
    max_size: int = 10

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> PostgresSettings:
        """From a ``storage`` section (validated or not: absent keys take their defaults)."""
        checked = vol.Schema(POSTGRES_KEYS, extra=vol.ALLOW_EXTRA)(dict(section))
        return cls(
            dsn=checked["dsn"],
            host=checked["host"],
            port=checked["port"],
            user=checked["user"],
            password=checked["password"],
            database=checked["database"],
            schema=checked["schema"],
            min_size=min(checked["pool_min_size"], checked["pool_max_size"]),
            max_size=checked["pool_max_size"],
        )

    def connect_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``asyncpg.connect`` / ``create_pool`` (without server settings)."""
        found = {
            "dsn": self.dsn,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
        }
        return {key: value for key, value in found.items() if value is not None} | {"timeout": CONNECT_TIMEOUT}

    @property
    def application_name(self) -> str:
        """How the hub's sessions show in pg_stat_activity (restore refuses while one is there)."""
        return f"trackingbms:{self.schema or ''}"

    def server_settings(self, *, read_only: bool = False) -> dict[str, str]:
        """Session settings: the schema (search_path), the application name, read-only sessions."""
        settings = {"application_name": self.application_name}
        if self.schema is not None:
            settings["search_path"] = self.schema
        if read_only:
            settings["default_transaction_read_only"] = "on"
        return settings

    def describe(self) -> str:
        """``postgresql://user@host:port/database`` (schema s), never the password."""
        parts = urlsplit(self.dsn or "postgresql://")
        host = self.host or parts.hostname or "(default host)"
        port = self.port or parts.port
        user = self.user or parts.username
        database = self.database or parts.path.lstrip("/") or "(default database)"
        where = f"postgresql://{f'{user}@' if user else ''}{host}{f':{port}' if port else ''}/{database}"
        return where + (f" (schema {self.schema})" if self.schema else "")
