"""The OpenAPI 3.1 document, generated from the recorded endpoints (never written by hand)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import voluptuous as vol
import voluptuous_openapi as vo
from aiohttp import web

from hub.web.api import SCHEMAS_OF_VALIDATORS, Endpoint, add_endpoints, endpoints_of

_LOGGER = logging.getLogger(__name__)
ANY_JSON = {"type": ["string", "number", "integer", "boolean", "object", "array", "null"]}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Body is not valid JSON",
    401: "Not logged in, or the token is invalid or expired",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    422: "Invalid request: data lists the field errors",
    429: "Too many requests (Retry-After says when to retry)",
    503: "A service this endpoint needs is not available",
    504: "A device did not answer",
    507: "The config file could not be written",
}
_TRANSFORMS = frozenset({"lower", "upper", "capitalize", "title", "strip"})
ENVELOPE_KEYS = ("status", "code", "message", "timestamp", "request_id", "data", "meta")


def _custom(schema: Any) -> Any:
    """Schemas of validators the converter cannot read: described functions, ``object`` (any value)."""
    if schema is object:
        return dict(ANY_JSON)
    if isinstance(schema, vol.In) and isinstance(schema.container, tuple):
        # The converter merges enums as lists and fails on a tuple.
        return json_schema(vol.In(list(schema.container)))
    try:
        described = SCHEMAS_OF_VALIDATORS.get(schema)
    except TypeError:  # an unhashable schema (dict, list) is the converter's business
        return vo.UNSUPPORTED
    return dict(described) if described is not None else vo.UNSUPPORTED


def _nullable_31(schema: Any) -> Any:
    """OpenAPI 3.1 has no ``nullable``: the converter still emits it in places, so rewrite it."""
    if isinstance(schema, list | tuple):  # tuples (enums of In(...)) are not JSON arrays to a validator
        return [_nullable_31(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _nullable_31(value) for key, value in schema.items() if key != "nullable"}
    if result.get("format") in _TRANSFORMS:  # vol.Upper and the like change a value, they are no format
        del result["format"]
    if result.get("type") == "array":  # the converter writes vol.Length of a list as a string's length
        for length, items in (("minLength", "minItems"), ("maxLength", "maxItems")):
            if length in result:
                result[items] = result.pop(length)
    if not schema.get("nullable"):
        return result
    if isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
        return result
    return {"anyOf": [result, {"type": "null"}]}


def json_schema(schema: Any) -> dict[str, Any]:
    """A voluptuous schema as JSON Schema (OpenAPI 3.1 dialect)."""
    converted = vo.convert(schema, custom_serializer=_custom, openapi_version=vo.OpenApiVersion.V3_1)
    return dict(_nullable_31(converted))


def _closed(schema: Any) -> Any:
    """Mark the objects of a body that refuses unknown keys with ``additionalProperties: false``:
    voluptuous refuses them (422) but the converter leaves the keyword out. A nested object that
    allows extra keys says so already (``true``) and keeps its own rule below it."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict) or schema.get("additionalProperties") is True:
        return schema
    result = {key: _closed(value) for key, value in schema.items()}
    if "properties" in result and "additionalProperties" not in result:
        result["additionalProperties"] = False
    return result


def body_json_schema(schema: vol.Schema) -> dict[str, Any]:
    """A request body's JSON Schema, closed to unknown keys when voluptuous refuses them."""
    converted = json_schema(schema)
    return dict(_closed(converted)) if schema.extra == vol.PREVENT_EXTRA else converted


def _documented(schema: Any, where: str, convert: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    """``json_schema``, or "any value" marked ``x-schema-error`` (logged) so one odd validator cannot
    take the whole document down; the tests fail on any such mark."""
    try:
        return dict((convert or json_schema)(schema))
    except Exception as err:
        _LOGGER.error("Cannot document the schema of %s: %s: %s", where, type(err).__name__, err)
        return {**ANY_JSON, "x-schema-error": f"{type(err).__name__}: {err}"}


def openapi_path(path: str) -> str:
    """An aiohttp path as an OpenAPI path (``{name:regex}`` becomes ``{name}``)."""
    return _PARAM.sub(r"{\1}", path)


def _query_parameter(key: Any, value: Any) -> dict[str, Any]:
    name = str(key.schema if isinstance(key, vol.Marker) else key)
    schema = _documented(value, f"query parameter {name}")
    if isinstance(key, vol.Optional) and key.default is not vol.UNDEFINED:
        schema["default"] = key.default()  # type: ignore[operator]  # a callable once set
    parameter: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": isinstance(key, vol.Required),
        "schema": schema,
    }
    if isinstance(key, vol.Marker) and key.description:
        parameter["description"] = key.description
    return parameter


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    path = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(endpoint.path)
    ]
    query = [_query_parameter(k, v) for k, v in (endpoint.query or {}).items()]
    return path + query


def _accepts_nothing(endpoint: Endpoint) -> bool:
    schema = endpoint.body_schema()
    try:
        schema(None) if schema is not None else None
    except vol.Invalid:
        return False
    return True


def _envelope(data: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(ENVELOPE_KEYS),
        "properties": {
            "status": {"type": "string", "enum": ["success", "error"]},
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "request_id": {"type": "string"},
            "data": dict(data) if data is not None else {},
            "meta": {"type": "object"},
        },
    }


def _error_statuses(endpoint: Endpoint) -> list[int]:
    statuses = {*endpoint.errors, 429}  # the rate limits apply to every endpoint
    if endpoint.action is not None:
        statuses |= {401, 403}
    if endpoint.query is not None or endpoint.body is not None:
        statuses.add(422)
    if endpoint.body is not None:
        statuses.add(400)
    return sorted(statuses)


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.raw:
        success: dict[str, Any] = {"description": STATUS_TEXT.get(endpoint.status, "Answer (not an envelope)")}
    else:
        content = {"application/json": {"schema": _envelope(endpoint.data)}}
        success = {"description": STATUS_TEXT.get(endpoint.status, "Success"), "content": content}
    responses = {str(endpoint.status): success}
    for status in _error_statuses(endpoint):
        responses[str(status)] = {
            "description": STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
        }
    return responses


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{endpoint.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', openapi_path(endpoint.path))}",
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        "parameters": _parameters(endpoint),
        "responses": _responses(endpoint),
    }
    if endpoint.handler.__doc__:
        operation["description"] = endpoint.handler.__doc__.strip()
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": not _accepts_nothing(endpoint),
            "content": {
                "application/json": {
                    "schema": _documented(
                        endpoint.body_schema(), f"{endpoint.method} {endpoint.path}", body_json_schema
                    )
                }
            },
        }
    if endpoint.action is None:
        operation["security"] = []
    else:
        operation["x-action"] = endpoint.action
    return operation


def document(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these endpoints."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(openapi_path(endpoint.path), {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TrackingBMS API",
            "version": version,
            "description": "Every answer but raw ones (CSV, WebSocket, this document) is an envelope.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API token"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "trackingbms_access"},
            },
            "schemas": {"ErrorEnvelope": _envelope(None)},
        },
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
    }


_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document", dict)


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of this hub (built once: routes cannot change after start)."""
    from hub.web.app import get_hub  # the app module imports this one

    cache = request.app[_DOCUMENT]  # filled on the first request: the app is frozen by then
    if not cache:
        cache.update(document(endpoints_of(request.app), get_hub(request).version))
    return web.json_response(cache)


def setup(app: web.Application) -> None:
    """Add ``GET /api/v1/openapi.json`` (public)."""
    app[_DOCUMENT] = {}
    add_endpoints(
        app,
        Endpoint("GET", "/api/v1/openapi.json", openapi_json, "This OpenAPI 3.1 document", None, ("meta",), raw=True),
    )
