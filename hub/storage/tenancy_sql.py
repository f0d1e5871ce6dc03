"""The tenancy store in SQL shared by SQLite and PostgreSQL; each backend gives its dialect and transactions."""

from __future__ import annotations

import abc
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from hub.reading import utc_now
from hub.storage.tenancy import (
    ENTITIES,
    MAX_DEPTH,
    ClientRecord,
    ConflictError,
    FieldDef,
    ListQuery,
    NotFoundError,
    PlacedBattery,
    SiteRecord,
    TenancyStore,
    check_custom,
    check_field,
)
from hub.storage.tenancy_query import BUILD, TABLES, Dialect, Tx, list_order, list_where


class SqlTenancy(TenancyStore):
    """Every tenancy query, scoped to ``tenant_id``."""

    tenant_id: str
    dialect: Dialect

    @abc.abstractmethod
    def _tx_write(self, what: str) -> contextlib.AbstractAsyncContextManager[Tx]:
        """A write transaction serialized with the tenant's other tree writes."""

    @abc.abstractmethod
    def _tx_read(self, what: str) -> contextlib.AbstractAsyncContextManager[Tx]:
        """A connection for reads."""

    async def _row(self, tx: Tx, entity: str, node_id: str) -> Any:
        table, parent, extra = TABLES[entity]
        rows = await tx.fetch(
            f"SELECT id, name, {parent}, custom, created_at{extra} FROM {table} WHERE tenant_id = ? AND id = ?",
            self.tenant_id,
            node_id,
        )
        return BUILD[entity](rows[0]) if rows else None

    async def _must(self, tx: Tx, entity: str, node_id: str | None) -> Any:
        found = None if node_id is None else await self._row(tx, entity, node_id)
        if found is None:
            raise NotFoundError(f"no {entity} {node_id!r}")
        return found

    async def _defs(self, tx: Tx, entity: str | None) -> list[FieldDef]:
        where, args = ("tenant_id = ?", [self.tenant_id])
        if entity is not None:
            where, args = where + " AND entity = ?", [*args, entity]
        rows = await tx.fetch(
            f"SELECT entity, name, label, type, required, choices FROM custom_fields WHERE {where} "
            f"ORDER BY entity{self.dialect.collate}, name{self.dialect.collate}",
            *args,
        )
        return [FieldDef(r[0], r[1], r[2], r[3], bool(r[4]), tuple(json.loads(r[5] or "[]"))) for r in rows]

    async def _custom(self, tx: Tx, entity: str, changes: Mapping[str, Any] | None, current: Any) -> str:
        defs = await self._defs(tx, entity)
        return json.dumps(check_custom(defs, changes or {}, None if current is None else current.custom))

    # --- clients -----------------------------------------------------------------------------------

    async def _ancestors(self, tx: Tx, client_id: str | None) -> list[str]:
        """The client and its ancestors, bottom-up (at most MAX_DEPTH + 1 of them)."""
        chain: list[str] = []
        while client_id is not None and client_id not in chain and len(chain) <= MAX_DEPTH:
            chain.append(client_id)
            rows = await tx.fetch(
                "SELECT parent_id FROM clients WHERE tenant_id = ? AND id = ?", self.tenant_id, client_id
            )
            client_id = rows[0][0] if rows else None
        return chain

    async def _depth_below(self, tx: Tx, client_id: str) -> int:
        """Levels of clients under a client (0: none)."""
        depth, level = 0, [client_id]
        while level and depth <= MAX_DEPTH:
            cond, args = self.dialect.in_list("parent_id", level)
            rows = await tx.fetch(f"SELECT id FROM clients WHERE tenant_id = ? AND {cond}", self.tenant_id, *args)
            level = [r[0] for r in rows]
            depth += 1 if level else 0
        return depth

    async def create_client(
        self, client_id: str, name: str, parent_id: str | None = None, custom: Mapping[str, Any] | None = None
    ) -> ClientRecord:
        async with self._tx_write("client write") as tx:
            if await self._row(tx, "client", client_id) is not None:
                raise ConflictError(f"client {client_id!r} already exists")
            if parent_id is not None:
                await self._must(tx, "client", parent_id)
                if len(await self._ancestors(tx, parent_id)) >= MAX_DEPTH:
                    raise ConflictError(f"clients nest at most {MAX_DEPTH} levels deep")
            values = await self._custom(tx, "client", custom, None)
            await tx.execute(
                "INSERT INTO clients (tenant_id, id, parent_id, name, custom, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                self.tenant_id,
                client_id,
                parent_id,
                name,
                values,
                utc_now(),
            )
            return await self._must(tx, "client", client_id)  # type: ignore[no-any-return]

    async def get_client(self, client_id: str) -> ClientRecord | None:
        async with self._tx_read("client read") as tx:
            return await self._row(tx, "client", client_id)  # type: ignore[no-any-return]

    async def update_client(
        self, client_id: str, *, name: str | None = None, custom: Mapping[str, Any] | None = None
    ) -> ClientRecord:
        return await self._update("client", client_id, {"name": name, "custom": custom})  # type: ignore[no-any-return]

    async def _update(self, entity: str, node_id: str, changes: Mapping[str, Any]) -> Any:
        """Set the given columns and custom values; returns the new record."""
        table, parent, _ = TABLES[entity]
        async with self._tx_write(f"{entity} write") as tx:
            current = await self._must(tx, entity, node_id)
            # None leaves a value as it is, except where None is a value: no parent, no time zone.
            clearable = (parent, "timezone")
            sets = {k: v for k, v in changes.items() if k != "custom" and (v is not None or k in clearable)}
            if changes.get("custom") is not None:
                sets["custom"] = await self._custom(tx, entity, changes["custom"], current)
            if changes.get(parent) is not None:  # placing a site or a battery: the new parent must exist
                await self._must(tx, "client" if entity == "site" else "site", changes[parent])
            if sets:
                assign = ", ".join(f"{column} = ?" for column in sets)
                await tx.execute(
                    f"UPDATE {table} SET {assign} WHERE tenant_id = ? AND id = ?",
                    *sets.values(),
                    self.tenant_id,
                    node_id,
                )
            return await self._row(tx, entity, node_id)

    async def move_client(self, client_id: str, parent_id: str | None) -> ClientRecord:
        async with self._tx_write("client move") as tx:
            await self._must(tx, "client", client_id)
            if parent_id is not None:
                await self._must(tx, "client", parent_id)
                above = await self._ancestors(tx, parent_id)
                if client_id in above:
                    raise ConflictError(f"moving client {client_id!r} under {parent_id!r} would make a cycle")
                if len(above) + 1 + await self._depth_below(tx, client_id) > MAX_DEPTH:
                    raise ConflictError(f"clients nest at most {MAX_DEPTH} levels deep")
            await tx.execute(
                "UPDATE clients SET parent_id = ? WHERE tenant_id = ? AND id = ?", parent_id, self.tenant_id, client_id
            )
            return await self._must(tx, "client", client_id)  # type: ignore[no-any-return]

    async def delete_client(self, client_id: str, cascade: bool = False) -> list[str]:
        async with self._tx_write("client delete") as tx:
            await self._must(tx, "client", client_id)
            subtree, level = [client_id], [client_id]
            while level:
                cond, args = self.dialect.in_list("parent_id", level)
                rows = await tx.fetch(f"SELECT id FROM clients WHERE tenant_id = ? AND {cond}", self.tenant_id, *args)
                level = [r[0] for r in rows if r[0] not in subtree]
                subtree.extend(level)
            cond, args = self.dialect.in_list("client_id", subtree)
            sites = [
                r[0]
                for r in await tx.fetch(f"SELECT id FROM sites WHERE tenant_id = ? AND {cond}", self.tenant_id, *args)
            ]
            if (len(subtree) > 1 or sites) and not cascade:
                raise ConflictError(
                    f"client {client_id!r} has {len(subtree) - 1} clients and {len(sites)} sites under it; "
                    "delete them first or ask for a cascade"
                )
            await self._delete_sites(tx, sites)
            await self._forget_grants(tx, "client", subtree)
            cond, args = self.dialect.in_list("id", subtree)
            await tx.execute(f"DELETE FROM clients WHERE tenant_id = ? AND {cond}", self.tenant_id, *args)
            return subtree

    async def _delete_sites(self, tx: Tx, sites: list[str]) -> int:
        """Delete sites, unplacing their batteries first; the number of batteries unplaced."""
        if not sites:
            return 0
        cond, args = self.dialect.in_list("site_id", sites)
        moved = await tx.execute(
            f"UPDATE batteries SET site_id = NULL WHERE tenant_id = ? AND {cond}", self.tenant_id, *args
        )
        await self._forget_grants(tx, "site", sites)
        cond, args = self.dialect.in_list("id", sites)
        await tx.execute(f"DELETE FROM sites WHERE tenant_id = ? AND {cond}", self.tenant_id, *args)
        return moved

    async def _forget_grants(self, tx: Tx, node_type: str, ids: list[str]) -> None:
        # A role on a deleted node must not come back to life on a new node given the same id.
        cond, args = self.dialect.in_list("node_id", ids)
        await tx.execute(
            f"DELETE FROM role_grants WHERE tenant_id = ? AND node_type = ? AND {cond}",
            self.tenant_id,
            node_type,
            *args,
        )

    async def list_clients(self, query: ListQuery) -> tuple[list[ClientRecord], int]:
        return await self._list("client", query)

    async def client_parents(self) -> dict[str, str | None]:
        return await self._parents("client")

    async def _parents(self, entity: str) -> dict[str, str | None]:
        table, parent, _ = TABLES[entity]
        async with self._tx_read(f"{entity} read") as tx:
            rows = await tx.fetch(f"SELECT id, {parent} FROM {table} WHERE tenant_id = ?", self.tenant_id)
        return {r[0]: r[1] for r in rows}

    # --- sites and batteries -------------------------------------------------------------------------

    async def create_site(
        self,
        site_id: str,
        name: str,
        client_id: str | None = None,
        timezone: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> SiteRecord:
        async with self._tx_write("site write") as tx:
            if await self._row(tx, "site", site_id) is not None:
                raise ConflictError(f"site {site_id!r} already exists")
            if client_id is not None:
                await self._must(tx, "client", client_id)
            values = await self._custom(tx, "site", custom, None)
            await tx.execute(
                "INSERT INTO sites (tenant_id, id, client_id, name, timezone, custom, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                self.tenant_id,
                site_id,
                client_id,
                name,
                timezone,
                values,
                utc_now(),
            )
            return await self._must(tx, "site", site_id)  # type: ignore[no-any-return]

    async def get_site(self, site_id: str) -> SiteRecord | None:
        async with self._tx_read("site read") as tx:
            return await self._row(tx, "site", site_id)  # type: ignore[no-any-return]

    async def update_site(self, site_id: str, **changes: Any) -> SiteRecord:
        unknown = set(changes) - {"name", "timezone", "client_id", "custom"}
        if unknown:
            raise TypeError(f"cannot change {sorted(unknown)} of a site")
        return await self._update("site", site_id, changes)  # type: ignore[no-any-return]

    async def delete_site(self, site_id: str, cascade: bool = False) -> int:
        async with self._tx_write("site delete") as tx:
            await self._must(tx, "site", site_id)
            rows = await tx.fetch(
                "SELECT COUNT(*) FROM batteries WHERE tenant_id = ? AND site_id = ?", self.tenant_id, site_id
            )
            if rows[0][0] and not cascade:
                raise ConflictError(f"site {site_id!r} holds {rows[0][0]} batteries; move them or ask for a cascade")
            return await self._delete_sites(tx, [site_id])

    async def list_sites(self, query: ListQuery) -> tuple[list[SiteRecord], int]:
        return await self._list("site", query)

    async def site_clients(self) -> dict[str, str | None]:
        return await self._parents("site")

    async def get_battery(self, battery_id: str) -> PlacedBattery | None:
        async with self._tx_read("battery read") as tx:
            return await self._row(tx, "battery", battery_id)  # type: ignore[no-any-return]

    async def update_battery(self, battery_id: str, **changes: Any) -> PlacedBattery:
        unknown = set(changes) - {"name", "site_id", "custom"}
        if unknown:
            raise TypeError(f"cannot change {sorted(unknown)} of a battery")
        return await self._update("battery", battery_id, changes)  # type: ignore[no-any-return]

    async def list_batteries(self, query: ListQuery) -> tuple[list[PlacedBattery], int]:
        return await self._list("battery", query)

    async def battery_sites(self) -> dict[str, str | None]:
        return await self._parents("battery")

    # --- listings --------------------------------------------------------------------------------------

    async def _list(self, entity: str, query: ListQuery) -> tuple[list[Any], int]:
        table, parent, extra = TABLES[entity]
        async with self._tx_read(f"{entity} list") as tx:
            defs = {d.name: d for d in await self._defs(tx, entity)}
            where, args = list_where(self.tenant_id, self.dialect, entity, query, defs)
            order = list_order(self.dialect, query, defs)
            total = (await tx.fetch(f"SELECT COUNT(*) FROM {table} WHERE {where}", *args))[0][0]
            rows = await tx.fetch(
                f"SELECT id, name, {parent}, custom, created_at{extra} FROM {table} WHERE {where} "
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                *args,
                query.limit,
                query.offset,
            )
        return [BUILD[entity](r) for r in rows], int(total)

    # --- custom fields -----------------------------------------------------------------------------------

    async def fields(self, entity: str | None = None) -> list[FieldDef]:
        async with self._tx_read("field read") as tx:
            return await self._defs(tx, entity)

    async def save_field(self, definition: FieldDef) -> bool:
        check_field(definition)
        async with self._tx_write("field write") as tx:
            known = {d.name for d in await self._defs(tx, definition.entity)}
            new = definition.name not in known
            if not new:
                await tx.execute(
                    "DELETE FROM custom_fields WHERE tenant_id = ? AND entity = ? AND name = ?",
                    self.tenant_id,
                    definition.entity,
                    definition.name,
                )
            await tx.execute(
                "INSERT INTO custom_fields (tenant_id, entity, name, label, type, required, choices) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                self.tenant_id,
                definition.entity,
                definition.name,
                definition.label,
                definition.type,
                definition.required,
                json.dumps(list(definition.choices)) if definition.type == "choice" else None,
            )
            return new

    async def delete_field(self, entity: str, name: str) -> None:
        if entity not in ENTITIES:
            raise NotFoundError(f"no custom field {entity}.{name}")
        async with self._tx_write("field delete") as tx:
            deleted = await tx.execute(
                "DELETE FROM custom_fields WHERE tenant_id = ? AND entity = ? AND name = ?",
                self.tenant_id,
                entity,
                name,
            )
            if not deleted:
                raise NotFoundError(f"no custom field {entity}.{name}")
            table = TABLES[entity][0]
            # The values go with their definition: a field defined again later starts empty.
            await tx.execute(
                f"UPDATE {table} SET custom = {self.dialect.remove_key(name)} WHERE tenant_id = ?", self.tenant_id
            )
