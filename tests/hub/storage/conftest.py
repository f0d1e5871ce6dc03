"""Storage fixtures run on both backends: SQLite in a temporary file, PostgreSQL in a fresh schema.

See tests/hub/storage/backends.py for where the PostgreSQL test server is and what happens when it
is down (skip; fail under CI=true).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hub.storage.base import Storage
from hub.storage.postgres import PostgreSQLStorage
from tests.hub.storage.backends import BACKENDS, Location, drop_schema, in_thread, require_postgresql


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once per backend."""
    if request.param == "postgresql":
        require_postgresql()
    return str(request.param)


@pytest.fixture
def location(backend: str, tmp_path: Path) -> Iterator[Location]:
    """A fresh database of the test's backend; a PostgreSQL schema is dropped afterwards."""
    place = Location(backend, tmp_path / "data" / "hub.db", f"t_{uuid.uuid4().hex}")
    yield place
    if backend == "postgresql":
        in_thread(drop_schema(place.schema))


@pytest.fixture
async def storage(location: Location) -> AsyncIterator[Storage]:
    """An open storage on a fresh database."""
    opened = location.make()
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def pg_location(tmp_path: Path) -> Iterator[Location]:
    """A fresh PostgreSQL schema, for tests of what only that backend has."""
    require_postgresql()
    place = Location("postgresql", tmp_path / "data" / "hub.db", f"t_{uuid.uuid4().hex}")
    yield place
    in_thread(drop_schema(place.schema))


@pytest.fixture
async def pg_storage(pg_location: Location) -> AsyncIterator[PostgreSQLStorage]:
    """An open PostgreSQL storage on a fresh schema."""
    opened = pg_location.make()
    assert isinstance(opened, PostgreSQLStorage)
    await opened.open()
    yield opened
    await opened.close()
