"""Fixtures of the accounts tests: a hub requiring login, with a known admin password."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.storage.backends import Location, drop_schema, in_thread, require_postgresql
from tests.plugins.trackingbms_accounts.accounts_helpers import ADMIN_PASSWORD


@pytest.fixture(autouse=True)
def admin_password(monkeypatch: pytest.MonkeyPatch) -> str:
    """First start creates ``admin`` with this password."""
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    return ADMIN_PASSWORD


@pytest.fixture
def pg_location(tmp_path: Path) -> Iterator[Location]:
    """A fresh PostgreSQL schema, dropped afterwards (skips without the server; fails under CI=true)."""
    require_postgresql()
    place = Location("postgresql", tmp_path / "data" / "hub.db", f"t_{uuid.uuid4().hex}")
    yield place
    in_thread(drop_schema(place.schema))
