"""The client manager's storage interface: clients, sites, battery placement, custom fields, tenants."""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hub.storage.records import iso

ENTITIES = ("client", "site", "battery")
FIELD_TYPES = ("text", "number", "date", "choice")
# Deepest client nesting accepted: the scope of a battery is followed at most this far (records.py).
MAX_DEPTH = 64
MAX_TEXT = 1000
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # custom field names: safe inside JSON paths
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class TenancyError(Exception):
    """A tenancy write that cannot be done; ``status`` is the HTTP status it maps to."""

    status = 400


class NotFoundError(TenancyError):
    """The client, site, battery, field or tenant does not exist in this tenant."""

    status = 404


class ConflictError(TenancyError):
    """The id is taken, the move would make a cycle, or the node is not empty."""

    status = 409


class FieldError(TenancyError):
    """Custom field values that break the tenant's definitions; ``errors`` name each field."""

    status = 422

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client: a company or person an installer looks after, nested under another client or not."""

    id: str
    name: str
    parent_id: str | None
    custom: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "id": self.id,
            "name": self.name,
            "parent_id": self.parent_id,
            "custom": self.custom,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """A place with batteries, belonging to a client (or to the tenant directly)."""

    id: str
    name: str
    client_id: str | None
    timezone: str | None
    custom: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "id": self.id,
            "name": self.name,
            "client_id": self.client_id,
            "timezone": self.timezone,
            "custom": self.custom,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class PlacedBattery:
    """A battery as the client manager shows it: where it is placed and its custom fields."""

    id: str
    name: str
    driver: str
    site_id: str | None
    custom: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "id": self.id,
            "name": self.name,
            "driver": self.driver,
            "site_id": self.site_id,
            "custom": self.custom,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A custom field a tenant defines on one kind of entity."""

    entity: str  # one of ENTITIES
    name: str
    label: str
    type: str  # one of FIELD_TYPES
    required: bool = False
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "entity": self.entity,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "choices": list(self.choices) if self.type == "choice" else None,
        }


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant: an installer company; every other row belongs to one."""

    id: str
    name: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {"id": self.id, "name": self.name, "created_at": iso(self.created_at)}


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a listing selects and how it sorts.

    ``parent`` is the direct parent (clients), the client (sites) or the site (batteries); ``top``
    selects rows without one. ``custom`` holds equality filters on custom fields; ``sort`` is
    ``name``, ``id``, ``created_at`` or ``custom.<field>`` (rows without a value last). ``within``
    restricts the rows to these ids (what the caller may see); None = no restriction.
    """

    parent: str | None = None
    top: bool = False
    custom: Mapping[str, Any] = field(default_factory=dict)
    search: str | None = None
    sort: str = "name"
    descending: bool = False
    within: frozenset[str] | None = None
    limit: int = 100
    offset: int = 0


def _check_value(spec: FieldDef, value: Any) -> str | None:
    """Why a value does not fit its field, or None when it does."""
    if spec.type == "number":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "expected a number"
        try:
            return None if math.isfinite(float(value)) else "expected a finite number"
        except OverflowError:  # an integer too large for a float
            return "number out of range"
    if not isinstance(value, str):
        return f"expected {'a date (YYYY-MM-DD)' if spec.type == 'date' else 'text'}"
    if "\x00" in value:
        return "must not contain NUL characters"
    if spec.type == "text":
        return None if len(value) <= MAX_TEXT else f"at most {MAX_TEXT} characters"
    if spec.type == "choice":
        return None if value in spec.choices else f"expected one of {', '.join(spec.choices)}"
    try:
        if _DATE_RE.match(value):
            date.fromisoformat(value)
            return None
    except ValueError:
        pass
    return "expected a date (YYYY-MM-DD)"


def check_custom(
    definitions: Sequence[FieldDef], changes: Mapping[str, Any], current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The custom values after applying ``changes`` (None removes a value) to ``current``, checked
    against the definitions; FieldError naming every field that is wrong."""
    specs = {d.name: d for d in definitions}
    result = {k: v for k, v in (current or {}).items() if k in specs}  # values of deleted fields go
    errors = []
    for name, value in changes.items():
        spec = specs.get(name)
        if spec is None:
            errors.append({"path": f"custom.{name}", "message": "no such custom field"})
        elif value is None:
            result.pop(name, None)
        elif (problem := _check_value(spec, value)) is not None:
            errors.append({"path": f"custom.{name}", "message": problem})
        else:
            result[name] = value
    for spec in definitions:
        if spec.required and spec.name not in result and spec.name not in changes:
            errors.append({"path": f"custom.{spec.name}", "message": "required field missing"})
        elif spec.required and spec.name in changes and changes[spec.name] is None:
            errors.append({"path": f"custom.{spec.name}", "message": "required field cannot be removed"})
    if errors:
        raise FieldError(errors)
    return dict(sorted(result.items()))


def check_field(definition: FieldDef) -> None:
    """FieldError when a definition is not well formed (name, type, choices)."""
    errors = []
    if definition.entity not in ENTITIES:
        errors.append({"path": "entity", "message": f"expected one of {', '.join(ENTITIES)}"})
    if not NAME_RE.match(definition.name):
        errors.append({"path": "name", "message": "lower-case letters, digits and '_', starting with a letter"})
    if definition.type not in FIELD_TYPES:
        errors.append({"path": "type", "message": f"expected one of {', '.join(FIELD_TYPES)}"})
    if definition.type == "choice" and not definition.choices:
        errors.append({"path": "choices", "message": "a choice field needs at least one choice"})
    if definition.type != "choice" and definition.choices:
        errors.append({"path": "choices", "message": "only a choice field has choices"})
    if errors:
        raise FieldError(errors)


def check_id(value: str, what: str) -> str:
    """An id given by the caller, or FieldError."""
    if not ID_RE.match(value):
        raise FieldError([{"path": "id", "message": f"invalid {what} id: letters, digits, '_', '.', '-' (max 64)"}])
    return value


class TenancyStore(abc.ABC):
    """Clients, sites, battery placement and custom fields of one tenant."""

    @abc.abstractmethod
    async def create_client(
        self, client_id: str, name: str, parent_id: str | None = None, custom: Mapping[str, Any] | None = None
    ) -> ClientRecord:
        """A new client (under ``parent_id``); ConflictError if the id is taken or too deep,
        NotFoundError for an unknown parent, FieldError for wrong custom values."""

    @abc.abstractmethod
    async def get_client(self, client_id: str) -> ClientRecord | None:
        """One client, or None (also for another tenant's)."""

    @abc.abstractmethod
    async def update_client(
        self, client_id: str, *, name: str | None = None, custom: Mapping[str, Any] | None = None
    ) -> ClientRecord:
        """Rename and/or change custom values (None removes one); returns the new record."""

    @abc.abstractmethod
    async def move_client(self, client_id: str, parent_id: str | None) -> ClientRecord:
        """Put a client under another (None: top level); ConflictError when that makes a cycle."""

    @abc.abstractmethod
    async def delete_client(self, client_id: str, cascade: bool = False) -> list[str]:
        """Delete a client; ConflictError when it has clients or sites unless ``cascade``, which
        deletes its whole subtree (batteries stay, unplaced). Returns the deleted client ids."""

    @abc.abstractmethod
    async def list_clients(self, query: ListQuery) -> tuple[list[ClientRecord], int]:
        """A page of clients and the total count."""

    @abc.abstractmethod
    async def client_parents(self) -> dict[str, str | None]:
        """Every client of the tenant with its parent."""

    @abc.abstractmethod
    async def create_site(
        self,
        site_id: str,
        name: str,
        client_id: str | None = None,
        timezone: str | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> SiteRecord:
        """A new site of a client (or of the tenant)."""

    @abc.abstractmethod
    async def get_site(self, site_id: str) -> SiteRecord | None:
        """One site, or None."""

    @abc.abstractmethod
    async def update_site(self, site_id: str, **changes: Any) -> SiteRecord:
        """Change ``name``, ``timezone``, ``client_id`` (moves it) and/or ``custom``."""

    @abc.abstractmethod
    async def delete_site(self, site_id: str, cascade: bool = False) -> int:
        """Delete a site; ConflictError when batteries are placed on it unless ``cascade``, which
        unplaces them. Returns the number of batteries unplaced."""

    @abc.abstractmethod
    async def list_sites(self, query: ListQuery) -> tuple[list[SiteRecord], int]:
        """A page of sites and the total count."""

    @abc.abstractmethod
    async def site_clients(self) -> dict[str, str | None]:
        """Every site of the tenant with its client."""

    @abc.abstractmethod
    async def get_battery(self, battery_id: str) -> PlacedBattery | None:
        """One battery with its placement, or None."""

    @abc.abstractmethod
    async def update_battery(self, battery_id: str, **changes: Any) -> PlacedBattery:
        """Change ``name``, ``site_id`` (places it; None unplaces) and/or ``custom``."""

    @abc.abstractmethod
    async def list_batteries(self, query: ListQuery) -> tuple[list[PlacedBattery], int]:
        """A page of batteries and the total count."""

    @abc.abstractmethod
    async def battery_sites(self) -> dict[str, str | None]:
        """Every battery of the tenant with its site."""

    @abc.abstractmethod
    async def fields(self, entity: str | None = None) -> list[FieldDef]:
        """Custom field definitions (of one entity), by entity then name."""

    @abc.abstractmethod
    async def save_field(self, definition: FieldDef) -> bool:
        """Create or replace a definition; True when it is new."""

    @abc.abstractmethod
    async def delete_field(self, entity: str, name: str) -> None:
        """Delete a definition and its values; NotFoundError when there is none."""


class TenantDirectory(abc.ABC):
    """Tenants, for system administrators (on the storage: above every tenant)."""

    @abc.abstractmethod
    async def tenants(self) -> list[TenantRecord]:
        """Every tenant, by id."""

    @abc.abstractmethod
    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        """One tenant, or None."""

    @abc.abstractmethod
    async def create_tenant(self, tenant_id: str, name: str) -> TenantRecord:
        """A new tenant; ConflictError when the id is taken."""

    @abc.abstractmethod
    async def rename_tenant(self, tenant_id: str, name: str) -> TenantRecord:
        """Rename a tenant; NotFoundError when there is none."""
