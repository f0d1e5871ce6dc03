"""Request validation (voluptuous) and answer schemas (JSON Schema) of the client manager's endpoints."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

import voluptuous as vol

from hub.storage.tenancy import ENTITIES, FIELD_TYPES, ID_RE, NAME_RE
from hub.web.api import describe
from hub.web.params import page_query
from hub.web.schemas import BOOL, INT, N_STR, STR, TIME, array, nullable, obj

SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
NODE_ID = vol.All(str, vol.Match(ID_RE.pattern))
# Text the databases cannot store (PostgreSQL refuses NUL; neither encodes a lone surrogate).
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable(value: Any) -> str:
    """Text without NUL characters or lone surrogates."""
    if not isinstance(value, str) or UNSTORABLE.search(value):
        raise vol.Invalid("must be text without NUL characters or lone surrogates")
    return value


describe(storable, {"type": "string"})
NO_NUL = storable
NAME = vol.All(str, vol.Length(min=1, max=200), NO_NUL)
SORT_RE = r"^-?(name|id|created_at|custom\.[a-z][a-z0-9_]{0,62})$"


def custom_values(value: Any) -> dict[str, Any]:
    """A JSON object of custom field values (scalars; null removes a value)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise vol.Invalid("expected an object of custom field values")
    for key, item in value.items():
        if item is not None and not isinstance(item, str | int | float):
            raise vol.Invalid(f"custom field {key!r}: expected text, a number or null")
        if UNSTORABLE.search(key) or (isinstance(item, str) and UNSTORABLE.search(item)):
            raise vol.Invalid("custom field values must not contain NUL characters or lone surrogates")
    return value


describe(custom_values, {"type": "object", "additionalProperties": SCALAR})


def timezone(value: Any) -> str | None:
    """An IANA time zone name, or null."""
    if value is None:
        return None

    if not isinstance(value, str) or not value or len(value) > 64:
        raise vol.Invalid("expected an IANA time zone name")
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, OSError, zoneinfo.ZoneInfoNotFoundError) as err:
        raise vol.Invalid(f"unknown time zone {value!r}") from err
    return value


describe(timezone, {"anyOf": [{"type": "string"}, {"type": "null"}]})

TENANT_QUERY = {vol.Optional("tenant"): NODE_ID}  # a system administrator's choice of tenant


def list_query(parent: str) -> dict[Any, Any]:
    """Query of a listing: page, parent filter, name search and sort (``-`` first: descending).
    Custom fields filter as ``custom.<name>=value`` (read by the handler, any field of the tenant)."""
    return {
        **page_query(),
        **TENANT_QUERY,
        vol.Optional(parent): NODE_ID,
        vol.Optional("top"): vol.In(["true", "false"]),
        vol.Optional("q"): vol.All(str, vol.Length(max=200), NO_NUL),
        vol.Optional("sort", default="name"): vol.All(str, vol.Match(SORT_RE)),
    }


DELETE_QUERY = {**TENANT_QUERY, vol.Optional("cascade", default="false"): vol.In(["true", "false"])}
TENANT_CREATE = {vol.Required("id"): NODE_ID, vol.Required("name"): NAME}
TENANT_RENAME = {vol.Required("name"): NAME}
CLIENT_CREATE = {
    vol.Optional("id"): NODE_ID,
    vol.Required("name"): NAME,
    vol.Optional("parent_id", default=None): vol.Any(None, NODE_ID),
    vol.Optional("custom", default={}): custom_values,
}
CLIENT_UPDATE = {vol.Optional("name"): NAME, vol.Optional("custom"): custom_values}
MOVE = {vol.Required("parent_id"): vol.Any(None, NODE_ID)}
SITE_CREATE = {
    vol.Optional("id"): NODE_ID,
    vol.Required("name"): NAME,
    vol.Optional("client_id", default=None): vol.Any(None, NODE_ID),
    vol.Optional("timezone", default=None): timezone,
    vol.Optional("custom", default={}): custom_values,
}
SITE_UPDATE = {
    vol.Optional("name"): NAME,
    vol.Optional("client_id"): vol.Any(None, NODE_ID),
    vol.Optional("timezone"): timezone,
    vol.Optional("custom"): custom_values,
}
BATTERY_UPDATE = {
    vol.Optional("name"): NAME,
    vol.Optional("site_id"): vol.Any(None, NODE_ID),
    vol.Optional("custom"): custom_values,
}
FIELD_BODY = {
    vol.Required("label"): NAME,
    vol.Required("type"): vol.In(list(FIELD_TYPES)),
    vol.Optional("required", default=False): bool,
    vol.Optional("choices", default=None): vol.Any(None, [vol.All(str, vol.Length(min=1, max=200), NO_NUL)]),
}
ENTITY = vol.In(list(ENTITIES))
FIELD_NAME = vol.All(str, vol.Match(NAME_RE.pattern))

CUSTOM = {"type": "object", "additionalProperties": SCALAR}
TENANT = obj(id=STR, name=STR, created_at=TIME)
CLIENT = obj(id=STR, name=STR, parent_id=N_STR, custom=CUSTOM, created_at=TIME)
SITE = obj(id=STR, name=STR, client_id=N_STR, timezone=N_STR, custom=CUSTOM, created_at=TIME)
BATTERY = obj(id=STR, name=STR, driver=STR, site_id=N_STR, custom=CUSTOM, created_at=TIME)
FIELD = obj(entity=STR, name=STR, label=STR, type=STR, choices=nullable(array(STR)))
FIELD["properties"]["required"] = BOOL  # "required" is also obj()'s own argument
FIELD["required"].append("required")
CLIENT_DELETED = obj(id=STR, deleted=array(STR))
SITE_DELETED = obj(id=STR, unplaced_batteries=INT)
COUNTS = obj(clients=INT, sites=INT, batteries=INT, open_alerts=INT)
ALERT = obj(id=STR, severity=STR, state=STR, battery_id=STR, rule_id=STR, raised_at=TIME)
NODE: dict[str, Any] = obj(
    type=STR, id=STR, name=STR, counts=COUNTS, worst_alert=nullable(ALERT), children=array({"type": "object"})
)
TREE = obj(tenant_id=STR, counts=COUNTS, worst_alert=nullable(ALERT), roots=array(NODE))
