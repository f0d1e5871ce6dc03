"""Bulk loading helpers shared by ``migrate-data`` and PostgreSQL restore: tables, counts, identities."""

from __future__ import annotations

from typing import Any

from hub.storage.pg_schema import quote

# Every table the migrations create, parents before children (schema_migrations aside). A new
# migration adding a table adds it here; tests check this list against a freshly migrated schema.
TABLES = (
    "tenants",
    "clients",
    "sites",
    "batteries",
    "readings",
    "reading_chunks",
    "rollups",
    "audit_log",
    "battery_state",
    "custom_fields",
    "users",
    "role_grants",
    "tokens",
    "invitations",
    "alerts",
    "alert_events",
    "alert_rules",
    "outbox",
)
_COLUMNS = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
)
_IDENTITIES = (
    "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "WHERE c.relnamespace = to_regnamespace($1) AND a.attidentity <> '' AND NOT a.attisdropped "
    "AND NOT c.relispartition"
)


def qualified(schema: str, table: str) -> str:
    """``"schema"."table"``."""
    return f"{quote(schema)}.{quote(table)}"


async def table_columns(conn: Any, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of a table's columns in order, e.g. ("ts", "bigint")."""
    rows = await conn.fetch(_COLUMNS, qualified(schema, table))
    return [(str(row[0]), str(row[1])) for row in rows]


async def existing_tables(conn: Any, schema: str) -> list[str]:
    """The tables of TABLES present in the schema."""
    rows = await conn.fetch(
        "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(quote_ident($2) || '.' || quote_ident(t)) IS NOT NULL",
        list(TABLES),
        schema,
    )
    return [str(row[0]) for row in rows]


async def row_counts(conn: Any, schema: str) -> dict[str, int]:
    """Rows per table of TABLES present in the schema."""
    return {
        table: int(await conn.fetchval(f"SELECT COUNT(*) FROM {qualified(schema, table)}"))
        for table in await existing_tables(conn, schema)
    }


async def holding_data(conn: Any, schema: str) -> dict[str, int]:
    """The tables holding rows, besides the default tenant every new database has."""
    counts = await row_counts(conn, schema)
    if counts.get("tenants") == 1 and await conn.fetchval(f"SELECT id = 'default' FROM {qualified(schema, 'tenants')}"):
        counts["tenants"] = 0
    return {table: rows for table, rows in counts.items() if rows}


async def reset_identities(conn: Any, schema: str) -> None:
    """Move every identity sequence past the largest id loaded, so new rows get fresh ids."""
    for table, column in await conn.fetch(_IDENTITIES, schema):
        name = qualified(schema, str(table))
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({quote(str(column))}), 0) + 1, false) "
            f"FROM {name}",
            name,
            str(column),
        )


async def drop_tables(conn: Any, schema: str) -> None:
    """Drop every table of the hub (readings with its partitions) and the migration record."""
    for table in (*reversed(TABLES), "schema_migrations"):
        await conn.execute(f"DROP TABLE IF EXISTS {qualified(schema, table)} CASCADE")


async def in_use(conn: Any, application_name: str) -> int:
    """Other sessions of hubs on this database and schema (see PostgresSettings.application_name)."""
    return int(
        await conn.fetchval(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = $1 AND pid <> pg_backend_pid()",
            application_name,
        )
    )
