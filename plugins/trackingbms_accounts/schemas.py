"""Request schemas shared by the accounts routes."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from hub.auth.policy import ROLES
from hub.auth.principal import NODE_TYPES
from hub.web.api import describe


def _storable(value: Any) -> str:
    """Text both databases can store and argon2 can hash: valid UTF-8 (no lone surrogates), no NUL."""
    if not isinstance(value, str):
        raise vol.Invalid("expected a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise vol.Invalid("not valid UTF-8 text") from err
    if "\x00" in value:
        raise vol.Invalid("must not contain NUL characters")
    return value


STORABLE = describe(_storable, {"type": "string"})


def text(max_length: int, min_length: int = 0) -> Any:
    """A string of storable text within these lengths."""
    return vol.All(STORABLE, vol.Length(min=min_length, max=max_length))


PASSWORD = text(1024, 8)
LOCALE = vol.All(str, vol.Match(r"^[a-z]{2}(-[A-Z]{2})?$"))
EMAIL = vol.Any(None, vol.All(text(254), vol.Match(r"^[^@\s]+@[^@\s]+$")))
USERNAME = vol.All(str, vol.Match(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"))
TOKEN = text(512)
GRANT = vol.Schema(
    {
        vol.Required("node_type"): vol.In(list(NODE_TYPES)),
        vol.Required("node_id"): text(128, 1),
        vol.Required("role"): vol.In(list(ROLES)),
    }
)
