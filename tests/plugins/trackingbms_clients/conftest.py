"""Fixtures of the client-manager tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.hub.storage.backends import PG_DSN, drop_schema, in_thread, require_postgresql
from tests.plugins.trackingbms_clients.clients_http import BARE_CONFIG


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_config(request: pytest.FixtureRequest) -> Iterator[str]:
    """BARE_CONFIG on SQLite, then on a fresh PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        yield BARE_CONFIG
        return
    require_postgresql()
    schema = f"t_{uuid.uuid4().hex}"
    yield BARE_CONFIG + f"storage:\n  backend: postgresql\n  dsn: {PG_DSN}\n  schema: {schema}\n"
    in_thread(drop_schema(schema))
